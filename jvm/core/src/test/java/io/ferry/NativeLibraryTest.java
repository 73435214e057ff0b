package io.ferry;

import static org.junit.Assert.assertEquals;
import static org.junit.Assert.assertNotNull;
import static org.junit.Assert.assertNull;
import static org.junit.Assert.assertSame;
import static org.junit.Assert.assertTrue;
import static org.junit.Assert.fail;

import java.net.URL;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.Callable;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import org.junit.Test;

public class NativeLibraryTest {
    private static final String RESOURCE = "/native/linux-x86_64/libferry_jni.so";

    @Test
    public void libraryLoadsFromTheJarResource() {
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
    }

    @Test
    public void unsupportedPlatformIsNamedInTheError() {
        try {
            NativeLibrary.resourcePath("Mac OS X", "aarch64");
            fail("osx-aarch64 is not supported yet");
        } catch (FerryException e) {
            assertTrue(e.getMessage(), e.getMessage().contains("osx-aarch64"));
            assertTrue(e.getMessage(), e.getMessage().contains("linux-x86_64"));
        }
    }
}
