package io.ferry;

import static org.junit.Assert.assertArrayEquals;
import static org.junit.Assert.assertEquals;
import static org.junit.Assert.assertNotNull;
import static org.junit.Assert.assertNull;
import static org.junit.Assert.assertTrue;
import static org.junit.Assert.fail;

import java.io.IOException;
import java.net.InetSocketAddress;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.Collections;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.TimeUnit;
import org.junit.After;
import org.junit.Before;
import org.junit.Rule;
import org.junit.Test;
import org.junit.rules.TemporaryFolder;

/** Two nodes in one JVM over loopback: the API end to end, and its errors. */
public class FerryNodeTest {
    static final InetSocketAddress LOOPBACK = new InetSocketAddress("127.0.0.1", 0);

    @Rule public TemporaryFolder folder = new TemporaryFolder();

    private FerryNode server;
    private FerryNode client;
    private InetSocketAddress address;

    @Before
    public void start() {
        server = FerryNode.create();
        address = server.serve(LOOPBACK);
        client = FerryNode.create();
    }

    @After
    public void stop() {
        client.close();
        server.close();
    }

    static byte[] id(String name) {
        return name.getBytes(StandardCharsets.UTF_8);
    }

    static byte[] randomBytes(long seed, int length) {
        byte[] bytes = new byte[length];
        new Random(seed).nextBytes(bytes);
        return bytes;
    }

    /** Reassembles every block of a fetch; a failed block's entry is its exception. */
    static Object[] fetchAll(FerryNode node, List<FetchRequest> requests) {
        int total = requests.stream().mapToInt(r -> r.blockIds().size()).sum();
        Object[] blocks = new Object[total];
        try (FetchStream stream = node.fetch(requests)) {
            for (FetchResult r = stream.next(); r != null; r = stream.next()) {
                if (r.failure() != null) {
                    blocks[r.block()] = r.failure();
                    continue;
                }
                try (FetchedChunk chunk = r.chunk()) {
                    if (blocks[r.block()] == null) {
                        blocks[r.block()] = ByteBuffer.allocate((int) chunk.blockLength());
                    }
                    ByteBuffer block = (ByteBuffer) blocks[r.block()];
                    assertEquals("chunks in order", chunk.offset(), block.position());
                    block.put(chunk.data());
                }
            }
        }
        return blocks;
    }

    static byte[] bytesOf(Object block) {
        if (block instanceof Throwable) {
            throw new AssertionError("block failed", (Throwable) block);
        }
        ByteBuffer buffer = (ByteBuffer) block;
        assertEquals("block complete", buffer.capacity(), buffer.position());
        return buffer.array();
    }

    @Test
    public void fileAndBufferBlocksArriveIntact() throws IOException {
        byte[] content = randomBytes(1, 3 << 20);
        Path file = folder.newFile("data").toPath();
        Files.write(file, content);
        Region fileRegion = server.registerFile(file, 0, content.length);
        server.registerBlock(id("head"), fileRegion, 0, 1000);
        server.registerBlock(id("body"), fileRegion, 1000, content.length - 1000);
        ByteBuffer direct = ByteBuffer.allocateDirect(50_000);
        direct.put(randomBytes(2, 50_000)).flip();
        Region bufferRegion = server.registerBuffer(direct);
        server.registerBlock(id("buf"), bufferRegion, 10, 40_000);

        Object[] got = fetchAll(client, Collections.singletonList(
                FetchRequest.of(address, id("head"), id("body"), id("buf"))));
        assertArrayEquals(Arrays.copyOfRange(content, 0, 1000), bytesOf(got[0]));
        assertArrayEquals(Arrays.copyOfRange(content, 1000, content.length), bytesOf(got[1]));
        assertArrayEquals(Arrays.copyOfRange(randomBytes(2, 50_000), 10, 40_010), bytesOf(got[2]));
        assertEquals(0, client.stats().poolInUseBytes());
        assertEquals(content.length + 40_000, client.stats().bytesFetched());
    }

    @Test
    public void runsOfSegmentsArriveAsOneBlock() {
        byte[] data = randomBytes(4, 90_000);
        ByteBuffer direct = ByteBuffer.allocateDirect(data.length);
        direct.put(data).flip();
        Region region = server.registerBuffer(direct);
        byte[] map = id("map");
        server.registerSegmentedBlock(map, region, new long[] {0, 1000, 1000, 60_000, 90_000});

        Object[] got = fetchAll(client, Collections.singletonList(FetchRequest.of(address,
                FerryNode.segmentRunId(map, 1, 4), FerryNode.segmentRunId(map, 0, 1),
                FerryNode.segmentRunId(map, 3, 5), FerryNode.segmentRunId(map, 4, 4))));
        assertArrayEquals(Arrays.copyOfRange(data, 1000, 90_000), bytesOf(got[0]));
        assertArrayEquals(Arrays.copyOfRange(data, 0, 1000), bytesOf(got[1]));
        assertTrue(got[2] instanceof FerryPeerException);
        assertTrue(((Throwable) got[2]).getMessage().contains("OutOfRange"));
        assertTrue(got[3] instanceof FerryPeerException);
        try {
            server.registerSegmentedBlock(map, region, new long[] {10, 5});
            fail("descending bounds accepted");
        } catch (IllegalArgumentException expected) {
            assertTrue(expected.getMessage().contains("ascending"));
        }
        assertTrue(server.removeBlock(map));
    }

    @Test
    public void unknownAndRevokedBlocksFailAlone() {
        Region region = server.registerBuffer(ByteBuffer.allocateDirect(100));
        server.registerBlock(id("gone"), region, 0, 100);
        server.registerBlock(id("kept"), server.registerBuffer(ByteBuffer.allocateDirect(10)), 0, 10);
        region.close();
        Object[] got = fetchAll(client, Collections.singletonList(
                FetchRequest.of(address, id("missing"), id("gone"), id("kept"))));
        assertTrue(got[0] instanceof FerryPeerException);
        assertTrue(((Throwable) got[0]).getMessage().contains("UnknownBlock"));
        assertTrue(got[1] instanceof FerryPeerException);
        assertEquals(10, bytesOf(got[2]).length);
    }

    @Test
    public void asyncFetchCompletesWithWholeBlocks() throws Exception {
        byte[] data = randomBytes(3, 2_500_000);
        ByteBuffer direct = ByteBuffer.allocateDirect(data.length);
        direct.put(data).flip();
        server.registerBlock(id("a"), server.registerBuffer(direct), 0, data.length);
        ExecutorService pool = Executors.newFixedThreadPool(2);
        try {
            List<ByteBuffer> blocks = new BlockFetcher(client, pool)
                    .fetchBlocks(Collections.singletonList(FetchRequest.of(address, id("a"))))
                    .get(30, TimeUnit.SECONDS);
            assertArrayEquals(data, blocks.get(0).array());
        } finally {
            pool.shutdownNow();
        }
    }

    @Test
    public void unknownKeyAndBadValueNameTheKey() {
        Map<String, String> settings = new HashMap<>();
        settings.put("ferry.pool.byts", "1m");
        try {
            FerryNode.create(settings).close();
            fail("accepted an unknown key");
        } catch (FerryConfigException e) {
            assertTrue(e.getMessage(), e.getMessage().contains("ferry.pool.byts"));
        }
        try {
            FerryNode.create(Collections.singletonMap("ferry.io.threads", "lots")).close();
            fail("accepted a bad value");
        } catch (FerryConfigException e) {
            assertTrue(e.getMessage(), e.getMessage().contains("ferry.io.threads"));
        }
        FerryNode.checkSettings(Collections.singletonMap("ferry.io.threads", "4"));
        try {
            FerryNode.checkSettings(Collections.singletonMap("ferry.io.threads", "lots"));
            fail("checkSettings accepted a bad value");
        } catch (FerryConfigException e) {
            assertTrue(e.getMessage(), e.getMessage().contains("ferry.io.threads"));
        }
    }

    @Test
    public void wrongSecretIsServedNothing() {
        try (FerryNode guarded = FerryNode.create(Collections.singletonMap("ferry.auth.secret", "s"));
                FerryNode stranger = FerryNode.create(
                        Collections.singletonMap("ferry.auth.secret", "not-s"))) {
            InetSocketAddress guardedAddress = guarded.serve(LOOPBACK);
            guarded.registerBlock(id("x"), guarded.registerBuffer(ByteBuffer.allocateDirect(8)), 0, 8);
            Object[] got = fetchAll(stranger,
                    Collections.singletonList(FetchRequest.of(guardedAddress, id("x"))));
            assertTrue(String.valueOf(got[0]), got[0] instanceof FerryAuthenticationException);
            assertEquals(0, guarded.stats().bytesServed());
        }
    }

    @Test
    public void adjacentBlocksShareABufferAndUnreturnedChunksGoBackWithTheStream() {
        int size = 40_000; // above the inline limit: READs, joined for adjacent blocks
        int count = 50;
        byte[] content = randomBytes(3, size * count);
        ByteBuffer direct = ByteBuffer.allocateDirect(content.length);
        direct.put(content).flip();
        Region region = server.registerBuffer(direct);
        byte[][] ids = new byte[count][];
        for (int i = 0; i < count; i++) {
            ids[i] = id("adj" + i);
            server.registerBlock(ids[i], region, (long) i * size, size);
        }
        long readsBefore = server.stats().readsServed();
        Object[] got = fetchAll(client, Collections.singletonList(FetchRequest.of(address, ids)));
        for (int i = 0; i < count; i++) {
            assertArrayEquals(Arrays.copyOfRange(content, i * size, (i + 1) * size), bytesOf(got[i]));
        }
        // 26 blocks of 40 000 bytes fill a 1 MiB buffer: 2 READs, not 50.
        assertEquals(2, server.stats().readsServed() - readsBefore);
        assertEquals(0, client.stats().poolInUseBytes());

        // One fetchNext hands over every chunk of a READ; closing the stream after taking one
        // returns the others to the pool, so only the taken chunk's buffer stays in use.
        FetchedChunk first;
        try (FetchStream stream = client.fetch(Collections.singletonList(FetchRequest.of(address, ids)))) {
            first = stream.next().chunk();
        }
        assertTrue(client.stats().poolInUseBytes() > 0);
        first.close();
        // The second READ may still be landing: it frees its buffer when it does.
        long deadline = System.nanoTime() + 10_000_000_000L;
        while (client.stats().poolInUseBytes() != 0 && System.nanoTime() < deadline) {
            Thread.yield();
        }
        assertEquals(0, client.stats().poolInUseBytes());
    }

    @Test
    public void closedNodeRefusesCallsAndChunksOutliveTheirStream() {
        server.registerBlock(id("c"), server.registerBuffer(ByteBuffer.allocateDirect(64)), 0, 64);
        FetchedChunk kept;
        try (FetchStream stream = client.fetch(
                Collections.singletonList(FetchRequest.of(address, id("c"))))) {
            kept = stream.next().chunk();
            assertNull(stream.next());
        }
        assertEquals(64, kept.data().remaining());
        assertTrue(client.stats().poolInUseBytes() > 0);
        kept.close();
        assertEquals(0, client.stats().poolInUseBytes());
        try {
            kept.data();
            fail("a closed chunk's buffer was handed out");
        } catch (IllegalStateException expected) {
            assertNotNull(expected.getMessage());
        }
        client.close();
        try {
            client.stats();
            fail("a closed node answered");
        } catch (IllegalStateException expected) {
            assertTrue(expected.getMessage().contains("closed"));
        }
    }
}
