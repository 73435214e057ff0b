package io.ferry;

import static org.junit.Assert.assertEquals;
import static org.junit.Assert.assertNotNull;
import static org.junit.Assert.assertNull;
import static org.junit.Assert.assertSame;
import static org.junit.Assert.assertTrue;
import static org.junit.Assert.fail;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.net.URL;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Paths;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.Callable;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import org.junit.Test;

public class NativeLibraryTest {
    private static final String RESOURCE = "/native/linux-x86_64/libferry_jni.so";
    /** ELF e_machine of each platform's library: EM_X86_64, EM_AARCH64. */
    private static final Map<String, Integer> ELF_MACHINES = new HashMap<>();

    static {
        ELF_MACHINES.put("linux-x86_64", 62);
        ELF_MACHINES.put("linux-aarch64", 183);
    }

    @Test
    public void libraryLoadsFromTheJarResource() throws IOException {
        assertNull("the test task must not set " + NativeLibrary.PATH_PROPERTY,
                System.getProperty(NativeLibrary.PATH_PROPERTY));
        URL resource = NativeLibrary.class.getResource(RESOURCE);
        assertNotNull(RESOURCE + " is on the classpath", resource);
        assertEquals("the resource comes from the ferry-core jar", "jar", resource.getProtocol());

        NativeLibrary.load();
        String loadedFrom = NativeLibrary.loadedFrom();
        assertNotNull(loadedFrom);
        assertTrue("extracted to a temporary file: " + loadedFrom,
                loadedFrom.startsWith(System.getProperty("java.io.tmpdir")));
        // The loader chose by os.arch: on an aarch64 JVM (tests/aarch64-jvm.sh), the aarch64 one.
        String platform = NativeLibrary.platform(System.getProperty("os.name"),
                System.getProperty("os.arch"));
        assertEquals("the loaded library is built for this JVM's platform, " + platform,
                (int) ELF_MACHINES.get(platform),
                elfMachine(Files.readAllBytes(Paths.get(loadedFrom)), loadedFrom));
    }

    @Test
    public void jarCarriesALibraryForEachBuiltPlatform() throws IOException {
        String property = System.getProperty("ferry.test.nativePlatforms");
        assertNotNull("the Gradle test task passes ferry.test.nativePlatforms", property);
        List<String> platforms = Arrays.asList(property.split(","));
        assertTrue("always built: " + platforms, platforms.contains("linux-x86_64"));
        for (String platform : platforms) {
            String resource = "/native/" + platform + "/libferry_jni.so";
            URL url = NativeLibrary.class.getResource(resource);
            assertNotNull(resource + " is in the jar", url);
            assertEquals(resource + " comes from the ferry-core jar", "jar", url.getProtocol());
            byte[] library = readAll(url);
            assertEquals(resource + " is built for " + platform,
                    (int) ELF_MACHINES.get(platform), elfMachine(library, resource));
            assertTrue(resource + " exports the JNI entry points",
                    new String(library, StandardCharsets.ISO_8859_1)
                            .contains("Java_io_ferry_NativeLibrary_nativeVersion"));
            assertEquals(platform + " is what the loader picks there", resource,
                    NativeLibrary.resourcePath("Linux", platform.substring("linux-".length())));
        }
    }

    /** The e_machine of a 64-bit little-endian ELF shared object. */
    private static int elfMachine(byte[] library, String name) {
        ByteBuffer elf = ByteBuffer.wrap(library).order(ByteOrder.LITTLE_ENDIAN);
        assertEquals(name + " is an ELF file", 0x464c457f, elf.getInt(0));
        assertEquals(name + " is 64-bit", 2, elf.get(4));
        assertEquals(name + " is a shared object", 3, elf.getShort(16));
        return elf.getShort(18) & 0xffff;
    }

    private static byte[] readAll(URL url) throws IOException {
        try (InputStream in = url.openStream()) {
            ByteArrayOutputStream out = new ByteArrayOutputStream();
            byte[] chunk = new byte[1 << 16];
            for (int n = in.read(chunk); n >= 0; n = in.read(chunk)) {
                out.write(chunk, 0, n);
            }
            return out.toByteArray();
        }
    }

    @Test
    public void versionEqualsTheProjectVersion() {
        String expected = System.getProperty("ferry.test.expectedVersion");
        assertNotNull("the Gradle test task passes ferry.test.expectedVersion", expected);
        assertEquals(expected, NativeLibrary.version());
    }

    @Test
    public void loadIsIdempotentAcrossThreads() throws Exception {
        ExecutorService pool = Executors.newFixedThreadPool(8);
        try {
            List<Future<String>> results = new ArrayList<>();
            for (int i = 0; i < 32; i++) {
                results.add(pool.submit((Callable<String>) () -> {
                    NativeLibrary.load();
                    return NativeLibrary.loadedFrom();
                }));
            }
            String first = results.get(0).get();
            for (Future<String> result : results) {
                assertSame("one load per process", first, result.get());
            }
        } finally {
            pool.shutdownNow();
        }
    }

    @Test
    public void nativePanicBecomesFerryException() {
        NativeLibrary.load();
        try {
            NativeLibrary.nativePanicForTest();
            fail("nativePanicForTest returned normally");
        } catch (FerryException e) {
            assertTrue(e.getMessage(), e.getMessage().contains("deliberate panic"));
        }
        // The JVM and the library keep working after the panic.
        assertEquals(System.getProperty("ferry.test.expectedVersion"), NativeLibrary.version());
    }

    @Test
    public void platformNamesAreNormalized() {
        assertEquals("linux-x86_64", NativeLibrary.platform("Linux", "amd64"));
        assertEquals("linux-x86_64", NativeLibrary.platform("Linux", "x86_64"));
        assertEquals("linux-aarch64", NativeLibrary.platform("Linux", "aarch64"));
        assertEquals("osx-aarch64", NativeLibrary.platform("Mac OS X", "arm64"));
        assertEquals("windows-x86_64", NativeLibrary.platform("Windows 11", "amd64"));
        assertEquals(RESOURCE, NativeLibrary.resourcePath("Linux", "amd64"));
        assertEquals(RESOURCE, NativeLibrary.resourcePath("Linux", "x86_64"));
        assertEquals("/native/linux-aarch64/libferry_jni.so",
                NativeLibrary.resourcePath("Linux", "aarch64"));
    }

    @Test
    public void unsupportedPlatformIsNamedInTheError() {
        try {
            NativeLibrary.resourcePath("Mac OS X", "aarch64");
            fail("osx-aarch64 is not supported yet");
        } catch (FerryException e) {
            assertTrue(e.getMessage(), e.getMessage().contains("osx-aarch64"));
            assertTrue(e.getMessage(), e.getMessage().contains("linux-x86_64"));
            assertTrue(e.getMessage(), e.getMessage().contains("linux-aarch64"));
        }
        try {
            NativeLibrary.resourcePath("Linux", "riscv64");
            fail("linux-riscv64 has no library in the jar");
        } catch (FerryException e) {
            assertTrue(e.getMessage(), e.getMessage().contains("linux-riscv64"));
            assertTrue("names the way out: " + e.getMessage(),
                    e.getMessage().contains("-D" + NativeLibrary.PATH_PROPERTY + "="));
        }
    }
}
