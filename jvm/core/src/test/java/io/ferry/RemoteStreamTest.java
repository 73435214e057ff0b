package io.ferry;

import static org.junit.Assert.assertArrayEquals;
import static org.junit.Assert.assertEquals;
import static org.junit.Assert.assertFalse;
import static org.junit.Assert.assertTrue;

import java.io.IOException;
import java.net.InetSocketAddress;
import java.nio.ByteBuffer;
import java.nio.channels.SocketChannel;
import java.util.Collections;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import org.junit.After;
import org.junit.Before;
import org.junit.Test;

/**
 * Streams whose payload moves by one-sided READ, over real loopback sockets between two nodes on
 * the tcp provider (the Soft-RoCE VM runs the same Java path on RDMA: tests/vm).
 */
public class RemoteStreamTest {
    private FerryNode nodeA;
    private FerryNode nodeB;
    private RemotePayload payloadA;
    private RemotePayload payloadB;
    private LoopbackPair sockets;
    private SocketChannel connected;
    private SocketChannel accepted;

    @Before
    public void start() throws IOException {
        nodeA = FerryNode.create(Collections.singletonMap("ferry.provider", "tcp"));
        nodeB = FerryNode.create(Collections.singletonMap("ferry.provider", "tcp"));
        InetSocketAddress loopback = new InetSocketAddress("127.0.0.1", 0);
        // Windows that hold a whole test's payload: no write finds them full, so all of it is READ.
        payloadA = new RemotePayload(nodeA, nodeA.serve(loopback).getPort(), 4 << 20, 256 << 10, 4096, 8);
        payloadB = new RemotePayload(nodeB, nodeB.serve(loopback).getPort(), 4 << 20, 256 << 10, 4096, 8);
        sockets = new LoopbackPair();
        connected = sockets.connected;
        accepted = sockets.accepted;
    }

    @After
    public void stop() throws IOException {
        sockets.close();
        nodeA.close();
        nodeB.close();
    }

    /** Reads as Kafka does: a 4-byte size, then the rest into a buffer of its own. */
    private static byte[] readLikeKafka(FerryStream stream, int n) throws IOException {
        ByteBuffer all = ByteBuffer.allocate(n);
        while (all.hasRemaining()) {
            ByteBuffer size = ByteBuffer.allocate(Math.min(4, all.remaining()));
            while (size.hasRemaining()) {
                if (stream.read(size) < 0) {
                    throw new IOException("end of stream at " + all.position());
                }
            }
            all.put(size.flip());
            ByteBuffer body = ByteBuffer.allocate(Math.min(50_000, all.remaining()));
            while (body.hasRemaining()) {
                if (stream.read(body) < 0) {
                    throw new IOException("end of stream at " + all.position());
                }
            }
            all.put(body.flip());
        }
        return all.array();
    }

    private static CompletableFuture<byte[]> readAsync(FerryStream stream, int n) {
        return CompletableFuture.supplyAsync(() -> {
            try {
                return readLikeKafka(stream, n);
            } catch (IOException e) {
                throw new RuntimeException(e);
            }
        });
    }

    @Test
    public void blockingRemoteStreamsMovePayloadByReadBothWays() throws Exception {
        FerryStream.Counters before = FerryStream.counters();
        byte[] up = LoopbackPair.random(3 << 20, 1);
        byte[] down = LoopbackPair.random(700_000, 2);
        try (FerryStream client = FerryStream.client(connected, null, 1 << 20, payloadA);
                FerryStream server = FerryStream.server(accepted, null, 1 << 20, payloadB)) {
            CompletableFuture<byte[]> received = CompletableFuture.supplyAsync(() -> {
                try {
                    byte[] got = readLikeKafka(server, up.length);
                    server.write(ByteBuffer.wrap(down));
                    return got;
                } catch (IOException e) {
                    throw new RuntimeException(e);
                }
            });
            LoopbackPair.writeGathered(client, up, 200_003);
            assertArrayEquals(up, received.get(60, TimeUnit.SECONDS));
            ByteBuffer got = ByteBuffer.allocateDirect(down.length);
            while (got.hasRemaining()) {
                assertTrue(client.read(got) >= 0);
            }
            byte[] downGot = new byte[down.length];
            got.flip().get(downGot);
            assertArrayEquals(down, downGot);
            assertTrue(client.isRemote());
            assertTrue(server.isRemote());
        }
        FerryStream.Counters after = FerryStream.counters();
        long read = after.readBytes() - before.readBytes();
        assertTrue(after + ": most payload by READ", read > (up.length + down.length) / 2);
        assertTrue(nodeA.stats().bytesServed() + nodeB.stats().bytesServed() >= read);
    }

    @Test
    public void nonBlockingRemoteStreamsNeverBlockAndDeliverInOrder() throws Exception {
        connected.configureBlocking(false);
        accepted.configureBlocking(false);
        byte[] up = LoopbackPair.random(2 << 20, 3);
        try (FerryStream client = FerryStream.client(connected, "k".getBytes(), 1 << 20, payloadA);
                FerryStream server = FerryStream.server(accepted, "k".getBytes(), 1 << 20, payloadB)) {
            ByteBuffer src = ByteBuffer.wrap(up);
            ByteBuffer dst = ByteBuffer.allocate(up.length);
            long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(60);
            int reads = 0;
            while (dst.hasRemaining()) {
                ByteBuffer piece = src.duplicate();
                piece.limit(Math.min(src.limit(), src.position() + 300_000));
                src.position(src.position() + client.write(piece));
                // Small reads then large ones, as a selector loop reading sizes and bodies.
                ByteBuffer window = dst.duplicate();
                window.limit(Math.min(dst.limit(), dst.position() + (reads++ % 2 == 0 ? 4 : 65_536)));
                dst.position(dst.position() + Math.max(0, server.read(window)));
                assertTrue("stalled at " + dst.position(), System.nanoTime() < deadline);
            }
            assertArrayEquals(up, dst.array());
            assertEquals(0, server.read(ByteBuffer.allocate(10)));
            assertTrue(client.isRemote() && server.isRemote());
        }
    }

    @Test
    public void aServerWithoutANodeMakesTheStreamFramed() throws Exception {
        byte[] up = LoopbackPair.random(500_000, 4);
        try (FerryStream client = FerryStream.client(connected, null, 1 << 20, payloadA);
                FerryStream server = FerryStream.server(accepted, null, 1 << 20)) {
            CompletableFuture<byte[]> received = readAsync(server, up.length);
            client.write(ByteBuffer.wrap(up));
            assertArrayEquals(up, received.get(30, TimeUnit.SECONDS));
            assertTrue(client.isEstablished());
            assertFalse(client.isRemote());
            assertFalse(server.isRemote());
        }
    }

    @Test
    public void slabsAndPinnedBuffersAreReleased() throws Exception {
        long slabsBefore = FerryStream.counters().slabBytes();
        byte[] up = LoopbackPair.random(1 << 20, 5);
        try (FerryStream client = FerryStream.client(connected, null, 1 << 20, payloadA);
                FerryStream server = FerryStream.server(accepted, null, 1 << 20, payloadB)) {
            CompletableFuture<byte[]> received = readAsync(server, up.length);
            client.write(ByteBuffer.wrap(up));
            assertArrayEquals(up, received.get(30, TimeUnit.SECONDS));
            long held = FerryStream.counters().slabBytes() - slabsBefore;
            assertTrue("slabs within the window: " + held, held > 0 && held <= payloadA.windowBytes());
        }
        assertEquals("the reader's pinned buffers came back", 0, nodeB.stats().poolInUseBytes());
        // close() frees what the peer credited at once, the rest after a bounded linger (the last
        // CREDIT may still be on its way on a loaded host). The gauge is process-wide: streams of
        // earlier tests still lingering when this one began may go meanwhile, so at most before.
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(15);
        while (FerryStream.counters().slabBytes() > slabsBefore) {
            assertTrue("the writer's slabs were freed", System.nanoTime() < deadline);
            Thread.sleep(20);
        }
    }

    @Test(expected = IllegalArgumentException.class)
    public void aWindowUnderOneSlabIsRefused() {
        new RemotePayload(nodeA, 1, 64 << 10, 128 << 10, 4096, 8);
    }
}
