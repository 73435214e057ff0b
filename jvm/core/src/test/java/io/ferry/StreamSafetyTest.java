package io.ferry;

import static org.junit.Assert.assertArrayEquals;
import static org.junit.Assert.assertEquals;
import static org.junit.Assert.assertTrue;

import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.nio.ByteBuffer;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import org.junit.Test;

/**
 * What a broker's network thread needs from a stream: no deadlock between a reader and a writer, no
 * call that waits on a stalled peer, and no native memory kept by streams nobody closed.
 */
public class StreamSafetyTest {
    /**
     * A call on a network thread may take this long at most: a poll, with margin for a loaded 2-core
     * host; a call that waited for the stalled peer would take the request timeout (3 s here).
     * {@code ferry.test.pollBoundMs} raises it under emulation (tests/aarch64-jvm.sh: qemu-user).
     */
    private static final long POLL_BOUND_MS = Long.getLong("ferry.test.pollBoundMs", 300);

    /** Reads exactly {@code n} bytes (blocking stream). */
    private static byte[] readFully(FerryStream stream, int n) throws IOException {
        ByteBuffer dst = ByteBuffer.allocate(n);
        while (dst.hasRemaining()) {
            if (stream.read(dst) < 0) {
                throw new IOException("end of stream after " + dst.position());
            }
        }
        return dst.array();
    }

    @Test
    public void aReaderAndAWriterRaceThroughTheHandshakeOnBothEnds() throws Exception {
        ExecutorService threads = Executors.newFixedThreadPool(4);
        try {
            for (int round = 0; round < 100; round++) {
                byte[] up = LoopbackPair.random(20_000 + round, round);
                byte[] down = LoopbackPair.random(30_000 - round, -round);
                try (LoopbackPair sockets = new LoopbackPair();
                        FerryStream client = FerryStream.client(sockets.connected, "k".getBytes(), 4096);
                        FerryStream server = FerryStream.server(sockets.accepted, "k".getBytes(), 4096)) {
                    CountDownLatch go = new CountDownLatch(1);
                    List<Future<byte[]>> reads = new ArrayList<>();
                    List<Future<?>> writes = new ArrayList<>();
                    for (FerryStream[] ends : new FerryStream[][] {{client, server}, {server, client}}) {
                        byte[] data = ends[0] == client ? up : down;
                        writes.add(threads.submit(() -> {
                            go.await();
                            LoopbackPair.writeGathered(ends[0], data, 3001);
                            return null;
                        }));
                        reads.add(threads.submit(() -> {
                            go.await();
                            return readFully(ends[1], data.length);
                        }));
                    }
                    go.countDown();
                    for (Future<?> w : writes) {
                        w.get(20, TimeUnit.SECONDS); // a deadlock fails here
                    }
                    assertArrayEquals("round " + round, up, reads.get(0).get(20, TimeUnit.SECONDS));
                    assertArrayEquals("round " + round, down, reads.get(1).get(20, TimeUnit.SECONDS));
                }
            }
        } finally {
            threads.shutdownNow();
        }
    }

    /** Runs {@code call} and fails when it took longer than a poll. */
    private static <T> T timed(String what, IoCall<T> call) throws IOException {
        long start = System.nanoTime();
        try {
            return call.run();
        } finally {
            long ms = TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - start);
            assertTrue(what + " took " + ms + " ms", ms <= POLL_BOUND_MS);
        }
    }

    private interface IoCall<T> {
        T run() throws IOException;
    }

    @Test
    public void aNetworkThreadNeverWaitsOnAPeerThatStopsAnswering() throws Exception {
        // The handshake: the server never answers.
        try (LoopbackPair sockets = new LoopbackPair()) {
            sockets.connected.configureBlocking(false);
            FerryStream client = FerryStream.client(sockets.connected, null, 1 << 20);
            ByteBuffer data = ByteBuffer.wrap(new byte[1000]);
            for (int i = 0; i < 50; i++) {
                assertEquals(0, (int) timed("a write while handshaking", () -> client.write(data)));
                assertEquals(0, (int) timed("a read while handshaking", () -> client.read(ByteBuffer.allocate(10))));
                Thread.sleep(5);
            }
            timed("close while handshaking", () -> {
                client.close();
                return null;
            });
        }
        // Payload by READ: the writer's node stops answering mid-stream.
        Map<String, String> settings = new HashMap<>();
        settings.put("ferry.provider", "tcp");
        settings.put("ferry.request.timeout.ms", "3000");
        InetSocketAddress loopback = new InetSocketAddress("127.0.0.1", 0);
        try (FerryNode writerNode = FerryNode.create(settings);
                FerryNode readerNode = FerryNode.create(settings);
                StallingProxy proxy = new StallingProxy(writerNode.serve(loopback));
                LoopbackPair sockets = new LoopbackPair()) {
            RemotePayload writerPayload = new RemotePayload(writerNode, proxy.port(), 4 << 20, 1 << 20, 4096, 8);
            RemotePayload readerPayload =
                    new RemotePayload(readerNode, readerNode.serve(loopback).getPort(), 4 << 20, 1 << 20, 4096, 8);
            sockets.connected.configureBlocking(false);
            sockets.accepted.configureBlocking(false);
            FerryStream writer = FerryStream.client(sockets.connected, null, 1 << 20, writerPayload);
            FerryStream reader = FerryStream.server(sockets.accepted, null, 1 << 20, readerPayload);
            byte[] first = LoopbackPair.random(200_000, 1);
            assertArrayEquals(first, pump(writer, reader, first));
            assertTrue(reader.isRemote());
            proxy.stall();
            ByteBuffer second = ByteBuffer.wrap(LoopbackPair.random(200_000, 2));
            while (second.hasRemaining()) {
                timed("a write", () -> writer.write(second));
            }
            ByteBuffer dst = ByteBuffer.allocate(200_000);
            long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(20);
            String failure = null;
            int calls = 0;
            while (failure == null) {
                assertTrue("no failure after " + calls + " reads", System.nanoTime() < deadline);
                try {
                    assertEquals("nothing arrives from a stalled node", 0,
                            (int) timed("a read", () -> reader.read(dst)));
                    calls++;
                    Thread.sleep(2);
                } catch (IOException e) {
                    failure = e.getMessage();
                }
            }
            assertTrue("a clear error: " + failure, failure.contains("request.timeout"));
            assertTrue("reads came back while the READ was on its way: " + calls, calls > 20);
            timed("close of the reader", () -> {
                reader.close();
                return null;
            });
            timed("close of the writer", () -> {
                writer.close();
                return null;
            });
        }
    }

    /** Non-blocking: writes all of {@code data} from one stream while the other reads it. */
    private static byte[] pump(FerryStream from, FerryStream to, byte[] data) throws IOException {
        ByteBuffer src = ByteBuffer.wrap(data);
        ByteBuffer dst = ByteBuffer.allocate(data.length);
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(30);
        while (dst.hasRemaining()) {
            timed("a write", () -> from.write(src));
            timed("a read", () -> to.read(dst));
            assertTrue("stalled at " + dst.position(), System.nanoTime() < deadline);
        }
        return dst.array();
    }

    @Test
    public void unclosedRemoteStreamsAreFreedOnceUnreachable() throws Exception {
        Map<String, String> settings = new HashMap<>();
        settings.put("ferry.provider", "tcp");
        InetSocketAddress loopback = new InetSocketAddress("127.0.0.1", 0);
        List<LoopbackPair> sockets = new ArrayList<>();
        try (FerryNode nodeA = FerryNode.create(settings); FerryNode nodeB = FerryNode.create(settings)) {
            RemotePayload a = new RemotePayload(nodeA, nodeA.serve(loopback).getPort(), 2 << 20, 1 << 20, 4096, 8);
            RemotePayload b = new RemotePayload(nodeB, nodeB.serve(loopback).getPort(), 2 << 20, 1 << 20, 4096, 8);
            long before = FerryStream.counters().slabBytes();
            byte[] message = LoopbackPair.random(300_000, 9);
            List<FerryStream> streams = new ArrayList<>();
            for (int i = 0; i < 50; i++) {
                LoopbackPair pair = new LoopbackPair();
                sockets.add(pair);
                pair.connected.configureBlocking(false);
                pair.accepted.configureBlocking(false);
                FerryStream client = FerryStream.client(pair.connected, null, 1 << 20, a);
                FerryStream server = FerryStream.server(pair.accepted, null, 1 << 20, b);
                assertArrayEquals(message, pump(client, server, message));
                streams.add(client);
                streams.add(server);
            }
            long held = FerryStream.counters().slabBytes() - before;
            assertTrue("50 streams held their slabs: " + held, held >= 50L << 20);
            streams.clear(); // dropped without close(): only the Cleaner frees them
            long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(30);
            while (FerryStream.counters().slabBytes() > before) {
                assertTrue("slabs still held: " + (FerryStream.counters().slabBytes() - before),
                        System.nanoTime() < deadline);
                System.gc();
                Thread.sleep(100);
            }
        } finally {
            for (LoopbackPair pair : sockets) {
                pair.close();
            }
        }
    }

    /** A TCP proxy in front of a node that can stop forwarding: a peer node that stops answering. */
    private static final class StallingProxy implements AutoCloseable {
        private final ServerSocket listener;
        private final InetSocketAddress target;
        private final List<Socket> open = new ArrayList<>();
        private volatile boolean stalled;

        StallingProxy(InetSocketAddress target) throws IOException {
            this.target = target;
            this.listener = new ServerSocket(0, 50, target.getAddress());
            Thread acceptor = new Thread(this::accept, "stalling-proxy");
            acceptor.setDaemon(true);
            acceptor.start();
        }

        int port() {
            return listener.getLocalPort();
        }

        void stall() {
            stalled = true;
        }

        private void accept() {
            try {
                while (true) {
                    Socket in = listener.accept();
                    Socket out = new Socket(target.getAddress(), target.getPort());
                    synchronized (open) {
                        open.add(in);
                        open.add(out);
                    }
                    forward(in, out);
                    forward(out, in);
                }
            } catch (IOException closed) {
                // the proxy is closed
            }
        }

        private void forward(Socket from, Socket to) {
            Thread t = new Thread(() -> {
                byte[] buf = new byte[64 << 10];
                try (InputStream src = from.getInputStream(); OutputStream dst = to.getOutputStream()) {
                    while (true) {
                        while (stalled) {
                            Thread.sleep(10);
                        }
                        int n = src.read(buf);
                        if (n < 0) {
                            return;
                        }
                        while (stalled) { // bytes read before the stall are held too
                            Thread.sleep(10);
                        }
                        dst.write(buf, 0, n);
                    }
                } catch (IOException | InterruptedException e) {
                    // a side closed
                }
            }, "stalling-proxy-forward");
            t.setDaemon(true);
            t.start();
        }

        @Override
        public void close() throws IOException {
            stalled = false;
            listener.close();
            synchronized (open) {
                for (Socket s : open) {
                    s.close();
                }
            }
        }
    }
}
