package io.ferry.spark;

import static org.junit.Assert.assertArrayEquals;
import static org.junit.Assert.assertEquals;
import static org.junit.Assert.assertTrue;
import static org.junit.Assert.fail;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.net.InetSocketAddress;
import java.nio.ByteBuffer;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;

import org.junit.After;
import org.junit.Before;
import org.junit.Test;

import io.ferry.FerryNode;
import io.ferry.FetchRequest;

/** The reduce side's block streams over a real fetch from an in-process Ferry node. */
public class RemoteBlocksTest {
    private static final int SHUFFLE = 7;
    private static final long MAP = 42;

    private FerryNode server;
    private FerryNode client;
    private InetSocketAddress address;
    private byte[] data;
    private long[] bounds;

    @Before
    public void serveOneMapOutput() {
        Map<String, String> small = new HashMap<>();
        small.put("ferry.pool.buffer.size", "64k"); // partitions span several chunks
        small.put("ferry.pool.bytes", "4m");
        server = FerryNode.create(small);
        client = FerryNode.create(small);
        address = server.serve(new InetSocketAddress("127.0.0.1", 0));
        data = new byte[3 << 20];
        new Random(1).nextBytes(data);
        bounds = new long[] {0, 100, 100, 700_000, 2_000_000, 3 << 20};
        ByteBuffer direct = ByteBuffer.allocateDirect(data.length);
        direct.put(data).flip();
        server.registerSegmentedBlock(ShuffleBlocks.mapOutput(SHUFFLE, MAP), server.registerBuffer(direct), bounds);
    }

    @After
    public void close() {
        client.close();
        server.close();
    }

    private RemoteBlocks fetch(int[][] runs) {
        List<byte[]> ids = new ArrayList<>();
        for (int[] run : runs) {
            ids.add(ShuffleBlocks.partitions(SHUFFLE, MAP, run[0], run[1]));
        }
        return new RemoteBlocks(client.fetch(Collections.singletonList(new FetchRequest(address, ids))), runs.length);
    }

    private byte[] expected(int[] run) {
        return Arrays.copyOfRange(data, (int) bounds[run[0]], (int) bounds[run[1]]);
    }

    @Test
    public void everyBlockStreamsIntactInArrivalOrder() throws IOException, InterruptedException {
        int[][] runs = {{3, 5}, {0, 1}, {2, 3}, {0, 5}, {4, 5}};
        try (RemoteBlocks blocks = fetch(runs)) {
            boolean[] seen = new boolean[runs.length];
            for (int block = blocks.nextBlock(); block >= 0; block = blocks.nextBlock()) {
                assertTrue("block " + block + " handed out twice", !seen[block]);
                seen[block] = true;
                try (InputStream in = blocks.open(block)) {
                    ByteArrayOutputStream read = new ByteArrayOutputStream();
                    byte[] buffer = new byte[10_000];
                    for (int n = in.read(buffer); n >= 0; n = in.read(buffer)) {
                        read.write(buffer, 0, n);
                    }
                    assertArrayEquals("block " + block, expected(runs[block]), read.toByteArray());
                }
            }
            for (boolean s : seen) {
                assertTrue(s);
            }
            long total = 0;
            for (int[] run : runs) {
                total += bounds[run[1]] - bounds[run[0]];
            }
            assertEquals(total, blocks.bytes());
        }
        assertPoolDrains();
    }

    /**
     * Every pinned buffer returns to the pool. READs still in flight when a fetch closes give theirs
     * back as they complete, so this waits a little for them.
     */
    private void assertPoolDrains() throws InterruptedException {
        long deadline = System.nanoTime() + 5_000_000_000L;
        while (client.stats().poolInUseBytes() != 0 && System.nanoTime() < deadline) {
            Thread.sleep(10);
        }
        assertEquals(0, client.stats().poolInUseBytes());
    }

    @Test
    public void unreadRestsOfBlocksAreReleased() throws IOException, InterruptedException {
        try (RemoteBlocks blocks = fetch(new int[][] {{0, 5}, {3, 4}})) {
            int block = blocks.nextBlock();
            try (InputStream in = blocks.open(block)) {
                assertEquals(data[(int) bounds[block == 0 ? 0 : 3]] & 0xff, in.read());
            }
        }
        assertPoolDrains();
    }

    @Test
    public void aRefusedPieceFailsWithItsBlockIndex() throws IOException {
        try (RemoteBlocks blocks = fetch(new int[][] {{0, 1}, {4, 9}})) {
            try {
                for (int block = blocks.nextBlock(); block >= 0; block = blocks.nextBlock()) {
                    blocks.open(block).close();
                }
                fail("an out-of-range piece was served");
            } catch (RemoteBlocks.BlockFailedException expected) {
                assertEquals(1, expected.block);
                assertTrue(expected.getMessage(), expected.getMessage().contains("OutOfRange"));
            }
        }
    }
}
