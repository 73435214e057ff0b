package io.ferry;

import static org.junit.Assert.assertArrayEquals;
import static org.junit.Assert.assertEquals;
import static org.junit.Assert.assertTrue;

import java.io.BufferedReader;
import java.io.File;
import java.io.IOException;
import java.io.InputStreamReader;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.zip.CRC32;
import org.junit.After;
import org.junit.Rule;
import org.junit.Test;
import org.junit.rules.TemporaryFolder;

/** A client node here, a server node in another JVM process ({@link ServeMain}). */
public class TwoProcessTest {
    @Rule public TemporaryFolder folder = new TemporaryFolder();

    private final List<Process> children = new ArrayList<>();

    @After
    public void stopChildren() {
        children.forEach(Process::destroyForcibly);
    }

    /** A file of `size` random bytes, served in blocks of `blockSize` by a child JVM. */
    private static final class Served {
        final byte[] content;
        final InetSocketAddress address;
        final Process process;
        final int blocks;
        final int blockSize;

        Served(byte[] content, InetSocketAddress address, Process process, int blockSize) {
            this.content = content;
            this.address = address;
            this.process = process;
            this.blockSize = blockSize;
            this.blocks = (content.length + blockSize - 1) / blockSize;
        }

        List<FetchRequest> all() {
            List<byte[]> ids = new ArrayList<>();
            for (int i = 0; i < blocks; i++) {
                ids.add(String.valueOf(i).getBytes(StandardCharsets.UTF_8));
            }
            return Collections.singletonList(new FetchRequest(address, ids));
        }

        byte[] block(int i) {
            return Arrays.copyOfRange(content, i * blockSize,
                    Math.min(content.length, (i + 1) * blockSize));
        }
    }

    private Served serve(int size, int blockSize, String... settings) throws IOException {
        byte[] content = FerryNodeTest.randomBytes(size, size);
        Path file = folder.newFile().toPath();
        Files.write(file, content);
        List<String> command = new ArrayList<>(Arrays.asList(
                System.getProperty("java.home") + File.separator + "bin" + File.separator + "java",
                "-cp", System.getProperty("java.class.path"),
                ServeMain.class.getName(), file.toString(), String.valueOf(blockSize)));
        command.addAll(Arrays.asList(settings));
        Process process = new ProcessBuilder(command)
                .redirectError(ProcessBuilder.Redirect.INHERIT).start();
        children.add(process);
        BufferedReader out = new BufferedReader(
                new InputStreamReader(process.getInputStream(), StandardCharsets.UTF_8));
        String line = out.readLine();
        assertTrue("server said " + line, line != null && line.startsWith("READY "));
        String[] hostPort = line.substring(6).split(":");
        InetSocketAddress address = new InetSocketAddress(hostPort[0], Integer.parseInt(hostPort[1]));
        return new Served(content, address, process, blockSize);
    }

    private static long crc(byte[] bytes) {
        CRC32 crc = new CRC32();
        crc.update(bytes);
        return crc.getValue();
    }

    private static void assertAllIntact(Served served, Object[] got) {
        for (int i = 0; i < served.blocks; i++) {
            assertEquals("block " + i, crc(served.block(i)), crc(FerryNodeTest.bytesOf(got[i])));
        }
    }

    @Test
    public void fetchesFileBlocksFromAnotherProcess() throws Exception {
        Served served = serve(9_000_001, 1_500_000);
        try (FerryNode client = FerryNode.create()) {
            assertAllIntact(served, FerryNodeTest.fetchAll(client, served.all()));
            assertEquals(0, client.stats().poolInUseBytes());
        }
    }

    @Test
    public void manyConcurrentFetchesShareTheConnection() throws Exception {
        Served served = serve(4_000_000, 20_000);
        ExecutorService pool = Executors.newFixedThreadPool(8);
        try (FerryNode client = FerryNode.create()) {
            List<Future<Object[]>> fetches = new ArrayList<>();
            for (int i = 0; i < 16; i++) {
                fetches.add(pool.submit(() -> FerryNodeTest.fetchAll(client, served.all())));
            }
            for (Future<Object[]> fetch : fetches) {
                assertAllIntact(served, fetch.get(60, TimeUnit.SECONDS));
            }
            assertEquals(0, client.stats().poolInUseBytes());
        } finally {
            pool.shutdownNow();
        }
    }

    @Test
    public void wrongSecretAcrossProcessesIsRefused() throws Exception {
        Served served = serve(10_000, 5_000, "ferry.auth.secret=right");
        Map<String, String> wrong = Collections.singletonMap("ferry.auth.secret", "wrong");
        try (FerryNode client = FerryNode.create(wrong)) {
            Object[] got = FerryNodeTest.fetchAll(client, served.all());
            assertTrue(String.valueOf(got[0]), got[0] instanceof FerryAuthenticationException);
        }
        Map<String, String> right = Collections.singletonMap("ferry.auth.secret", "right");
        try (FerryNode client = FerryNode.create(right)) {
            assertAllIntact(served, FerryNodeTest.fetchAll(client, served.all()));
        }
    }

    @Test(timeout = 30_000)
    public void peerKilledMidFetchFailsItsBlocksFast() throws Exception {
        Served served = serve(48 << 20, 1 << 20);
        Map<String, String> slow = new java.util.HashMap<>();
        slow.put("ferry.fetch.inflight.bytes", "1m");
        slow.put("ferry.pool.bytes", "4m");
        try (FerryNode client = FerryNode.create(slow);
                FetchStream stream = client.fetch(served.all())) {
            for (int i = 0; i < 3; i++) {
                FetchResult r = stream.next();
                assertTrue(r.chunk() != null);
                r.chunk().close();
            }
            served.process.destroyForcibly().waitFor();
            long killed = System.nanoTime();
            int failed = 0;
            for (FetchResult r = stream.next(); r != null; r = stream.next()) {
                if (r.failure() != null) {
                    failed++;
                    assertTrue(String.valueOf(r.failure()), r.failure() instanceof FerryPeerException);
                } else {
                    r.chunk().close();
                }
            }
            assertTrue("most blocks failed: " + failed, failed >= served.blocks - 6);
            assertTrue("failed fast", System.nanoTime() - killed < TimeUnit.SECONDS.toNanos(5));
            assertEquals(0, client.stats().poolInUseBytes());
        }
    }

    @Test(timeout = 30_000)
    public void closingTheNodeEndsFetchesInFlight() throws Exception {
        Served served = serve(32 << 20, 1 << 20);
        Map<String, String> slow = Collections.singletonMap("ferry.fetch.inflight.bytes", "1m");
        FerryNode client = FerryNode.create(slow);
        FetchStream stream = client.fetch(served.all());
        FetchResult first = stream.next();
        first.chunk().close();
        client.close();
        int results = 0;
        for (FetchResult r = stream.next(); r != null; r = stream.next()) {
            results++;
            if (r.chunk() != null) {
                r.chunk().close();
            }
        }
        stream.close();
        assertTrue("every block ended, delivered or failed", results >= served.blocks - 1);
    }
}
