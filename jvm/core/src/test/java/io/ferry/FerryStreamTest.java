package io.ferry;

import static org.junit.Assert.assertArrayEquals;
import static org.junit.Assert.assertEquals;
import static org.junit.Assert.assertFalse;
import static org.junit.Assert.assertTrue;
import static org.junit.Assert.fail;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.ReadableByteChannel;
import java.nio.channels.SocketChannel;
import java.nio.charset.StandardCharsets;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import org.junit.After;
import org.junit.Before;
import org.junit.Test;

/** Streams over real loopback sockets: handshake, payload both ways, plain peers, wrong secrets. */
public class FerryStreamTest {
    private LoopbackPair sockets;
    private SocketChannel connected;
    private SocketChannel accepted;

    @Before
    public void connect() throws IOException {
        sockets = new LoopbackPair();
        connected = sockets.connected;
        accepted = sockets.accepted;
    }

    @After
    public void close() throws IOException {
        sockets.close();
    }

    private static byte[] readFully(ReadableByteChannel stream, int n) throws IOException {
        ByteBuffer dst = ByteBuffer.allocate(n);
        while (dst.hasRemaining()) {
            if (stream.read(dst) < 0) {
                fail("end of stream after " + dst.position() + " of " + n + " bytes");
            }
        }
        return dst.array();
    }

    /** Non-blocking: writes all of {@code data} from one stream while the other reads it. */
    private static byte[] pump(FerryStream from, FerryStream to, byte[] data) throws IOException {
        ByteBuffer src = ByteBuffer.wrap(data);
        ByteBuffer dst = ByteBuffer.allocate(data.length);
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(30);
        while (dst.hasRemaining()) {
            from.write(src);
            to.read(dst);
            assertTrue("stalled at " + dst.position(), System.nanoTime() < deadline);
        }
        return dst.array();
    }

    @Test
    public void blockingStreamsCarryPayloadBothWaysInOrder() throws Exception {
        FerryStream.Counters before = FerryStream.counters();
        byte[] up = LoopbackPair.random(3 << 20, 1);
        byte[] down = LoopbackPair.random(70_000, 2);
        try (FerryStream client = FerryStream.client(connected, "s".getBytes(StandardCharsets.UTF_8), 64 << 10);
                FerryStream server = FerryStream.server(accepted, "s".getBytes(StandardCharsets.UTF_8), 1 << 20)) {
            CompletableFuture<byte[]> received = CompletableFuture.supplyAsync(() -> {
                try {
                    byte[] got = readFully(server, up.length);
                    server.write(ByteBuffer.wrap(down));
                    return got;
                } catch (IOException e) {
                    throw new RuntimeException(e);
                }
            });
            LoopbackPair.writeGathered(client, up, 100_003);
            assertArrayEquals(up, received.get(30, TimeUnit.SECONDS));
            assertArrayEquals(down, readFully(client, down.length));
            assertTrue(client.isEstablished());
            assertTrue(server.isEstablished());
            assertFalse(server.isPlain());
        }
        FerryStream.Counters after = FerryStream.counters();
        assertTrue(after.toString(), after.opened() >= before.opened() + 2);
        assertTrue(after.bytesSent() >= before.bytesSent() + up.length + down.length);
        assertTrue(after.bytesReceived() >= before.bytesReceived() + up.length + down.length);
    }

    @Test
    public void nonBlockingStreamsNeverBlockAndDeliver() throws Exception {
        connected.configureBlocking(false);
        accepted.configureBlocking(false);
        byte[] up = LoopbackPair.random(1 << 20, 3);
        try (FerryStream client = FerryStream.client(connected, null, 32 << 10);
                FerryStream server = FerryStream.server(accepted, null, 32 << 10)) {
            assertArrayEquals(up, pump(client, server, up));
            assertEquals(0, server.read(ByteBuffer.allocate(10)));
        }
    }

    @Test
    public void inlineStreamsCarryTheSocketsBytesAfterTheHandshake() throws Exception {
        connected.configureBlocking(false);
        accepted.configureBlocking(false);
        byte[] up = LoopbackPair.random(500_000, 5);
        try (FerryStream client = FerryStream.client(connected, null, 1 << 20, false);
                FerryStream server = FerryStream.server(accepted, null, 1 << 20)) {
            assertArrayEquals(up, pump(client, server, up));
            assertTrue(client.isInline());
            assertTrue(server.isInline());
            // Bytes written to the socket by someone else (sendfile) arrive as payload too.
            connected.write(ByteBuffer.wrap(new byte[] {9, 8, 7}));
            assertArrayEquals(new byte[] {9, 8, 7}, readFully(server, 3));
        }
    }

    @Test
    public void aPlainPeerIsPassedThroughUntouched() throws Exception {
        // A Kafka request starts with its non-negative size.
        byte[] request = {0, 0, 0, 6, 0, 18, 0, 3, 0, 0};
        connected.write(ByteBuffer.wrap(request));
        try (FerryStream server = FerryStream.server(accepted, null, 1 << 20)) {
            assertArrayEquals(new byte[] {0, 0, 0, 6}, readFully(server, 4));
            assertTrue(server.isPlain());
            assertArrayEquals(new byte[] {0, 18, 0, 3, 0, 0}, readFully(server, 6));
            server.write(ByteBuffer.wrap(new byte[] {1, 2, 3}));
        }
        assertArrayEquals(new byte[] {1, 2, 3}, readFully(connected, 3));
    }

    @Test
    public void aDifferentSecretFailsTheHandshakeBeforeAnyPayload() throws Exception {
        try (FerryStream client = FerryStream.client(connected, "one".getBytes(StandardCharsets.UTF_8), 1024);
                FerryStream server = FerryStream.server(accepted, "two".getBytes(StandardCharsets.UTF_8), 1024)) {
            CompletableFuture<Void> serverSide = CompletableFuture.runAsync(() -> {
                try {
                    server.read(ByteBuffer.allocate(10));
                } catch (IOException e) {
                    // expected: the client closes after refusing the server's proof
                }
            });
            try {
                client.write(ByteBuffer.wrap(new byte[] {1}));
                fail("the client accepted a server that proved another secret");
            } catch (IOException e) {
                assertTrue(e.getMessage(), e.getMessage().contains("secret"));
            }
            assertTrue(client.handshakeFailed());
            connected.close();
            serverSide.get(10, TimeUnit.SECONDS);
        }
    }

    @Test
    public void aServerThatClosesDuringTheHandshakeIsAFailedHandshake() throws Exception {
        accepted.close(); // a plain Kafka broker closes a connection that starts with a negative size
        try (FerryStream client = FerryStream.client(connected, null, 1024)) {
            try {
                client.write(ByteBuffer.wrap(new byte[] {1}));
                client.write(ByteBuffer.wrap(new byte[] {1}));
                fail("wrote into a closed connection");
            } catch (IOException e) {
                assertTrue(client.handshakeFailed());
            }
        }
    }
}
