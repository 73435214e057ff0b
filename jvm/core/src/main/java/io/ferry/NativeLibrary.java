package io.ferry;

import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.Paths;
import java.nio.file.StandardCopyOption;
import java.util.Locale;

/**
 * Loads Ferry's native library ({@code ferry_jni}) once per process.
 *
 * <p>The library for each supported platform ships inside the jar as
 * {@code native/<os>-<arch>/libferry_jni.so}: {@code linux-x86_64} and {@code linux-aarch64},
 * chosen by {@code os.name} and {@code os.arch}. It is extracted to a temporary file (deleted when
 * the JVM exits) and loaded with {@link System#load(String)}. Setting the system property {@value
 * #PATH_PROPERTY} to a file loads that file instead: for another platform (built from source), or
 * while developing the native code.
 *
 * <p>{@link #load()} is thread-safe and idempotent; every class with native methods calls it
 * before its first native call. A failed load is remembered: later calls throw again without
 * retrying.
 */
public final class NativeLibrary {
    /** System property naming a native library file to load instead of the one in the jar. */
    public static final String PATH_PROPERTY = "ferry.native.path";

    private static final String LIBRARY_NAME = "ferry_jni";
    private static final String[] SUPPORTED_PLATFORMS = {"linux-x86_64", "linux-aarch64"};

    private static final Object LOCK = new Object();
    /** Where the library was loaded from; null until loaded. */
    private static volatile String loadedFrom;
    /** Why loading failed; null unless it failed. */
    private static Throwable failure;

    private NativeLibrary() {}

    /**
     * Loads the native library unless this process already loaded it.
     *
     * @throws FerryException if this platform is unsupported or the library cannot be loaded
     */
    public static void load() {
        if (loadedFrom != null) {
            return;
        }
        synchronized (LOCK) {
            if (loadedFrom != null) {
                return;
            }
            if (failure != null) {
                throw new FerryException("Ferry's native library failed to load earlier", failure);
            }
            try {
                loadedFrom = loadOnce();
            } catch (FerryException | LinkageError | SecurityException e) {
                failure = e;
                throw e instanceof FerryException
                        ? (FerryException) e
                        : new FerryException("Cannot load Ferry's native library: " + e, e);
            }
        }
    }

    /**
     * Returns the version of the loaded native library, loading it first if needed. It equals the
     * version of the Ferry release, the same for the jar and the library inside it.
     *
     * @return the native library's version, such as {@code 0.1.0}
     * @throws FerryException if the native library cannot be loaded
     */
    public static String version() {
        load();
        return nativeVersion();
    }

    /** The file the library was loaded from, or null if it is not loaded yet. */
    static String loadedFrom() {
        return loadedFrom;
    }

    private static String loadOnce() {
        String override = System.getProperty(PATH_PROPERTY);
        if (override != null && !override.isEmpty()) {
            Path path = Paths.get(override).toAbsolutePath();
            if (!Files.isRegularFile(path)) {
                throw new FerryException(
                        "System property " + PATH_PROPERTY + " names " + path + ", which is not a file");
            }
            System.load(path.toString());
            return path.toString();
        }
        String osName = System.getProperty("os.name");
        String osArch = System.getProperty("os.arch");
        Path extracted = extract(resourcePath(osName, osArch), platform(osName, osArch));
        System.load(extracted.toString());
        return extracted.toString();
    }

    /**
     * The jar resource holding the library for a platform, such as {@code
     * /native/linux-x86_64/libferry_jni.so}.
     *
     * @throws FerryException if Ferry has no native library for the platform
     */
    static String resourcePath(String osName, String osArch) {
        String platform = platform(osName, osArch);
        for (String supported : SUPPORTED_PLATFORMS) {
            if (supported.equals(platform)) {
                return "/native/" + platform + "/" + System.mapLibraryName(LIBRARY_NAME);
            }
        }
        throw new FerryException("Ferry has no native library for platform " + platform
                + " (os.name=" + osName + ", os.arch=" + osArch + "); supported: "
                + String.join(", ", SUPPORTED_PLATFORMS) + ". Build libferry_jni.so for it from"
                + " source and name it with -D" + PATH_PROPERTY + "=/path/to/libferry_jni.so");
    }

    /** Normalizes os.name and os.arch to a platform name such as {@code linux-x86_64}. */
    static String platform(String osName, String osArch) {
        String os = String.valueOf(osName).toLowerCase(Locale.ROOT).replace(" ", "");
        if (os.startsWith("linux")) {
            os = "linux";
        } else if (os.startsWith("macos") || os.startsWith("darwin")) {
            os = "osx";
        } else if (os.startsWith("windows")) {
            os = "windows";
        }
        String arch = String.valueOf(osArch).toLowerCase(Locale.ROOT);
        if (arch.equals("amd64") || arch.equals("x86_64") || arch.equals("x64")) {
            arch = "x86_64";
        } else if (arch.equals("arm64")) {
            arch = "aarch64";
        }
        return os + "-" + arch;
    }

    private static Path extract(String resource, String platform) {
        try (InputStream in = NativeLibrary.class.getResourceAsStream(resource)) {
            if (in == null) {
                throw new FerryException("Resource " + resource + " is missing from the classpath:"
                        + " this ferry-core jar was built without the " + platform + " library (a"
                        + " build without its cross toolchain); use a release jar, or set -D"
                        + PATH_PROPERTY + "=/path/to/libferry_jni.so");
            }
            Path file = Files.createTempFile("libferry_jni-", ".so");
            file.toFile().deleteOnExit();
            Files.copy(in, file, StandardCopyOption.REPLACE_EXISTING);
            return file;
        } catch (IOException e) {
            throw new FerryException("Cannot extract " + resource + " to a temporary file: " + e, e);
        }
    }

    private static native String nativeVersion();

    /** Panics in native code on purpose; tests use it to check the panic guard. */
    static native void nativePanicForTest();
}
