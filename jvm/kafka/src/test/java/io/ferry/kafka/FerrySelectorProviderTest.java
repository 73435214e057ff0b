package io.ferry.kafka;

import static org.junit.Assert.assertArrayEquals;
import static org.junit.Assert.assertEquals;
import static org.junit.Assert.assertFalse;
import static org.junit.Assert.assertTrue;
import static org.junit.Assert.fail;

import io.ferry.FerryStream;
import java.io.IOException;
import java.net.InetSocketAddress;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.channels.SelectionKey;
import java.nio.channels.Selector;
import java.nio.channels.ServerSocketChannel;
import java.nio.channels.SocketChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.Random;
import java.util.concurrent.TimeUnit;
import org.junit.After;
import org.junit.Before;
import org.junit.Test;

/**
 * The provider over loopback in one JVM, driven by its own selector the way Kafka's network layer
 * drives it: non-blocking channels, OP_CONNECT / OP_READ / OP_WRITE readiness. The Soft-RoCE VM runs
 * it again on RDMA (tests/vm/verbs.sh: {@code -Dferry.kafka.test.host=<the rxe address>
 * -Dferry.kafka.test.provider=verbs}), so the plugin's READ payload moves by RDMA READ there.
 */
public class FerrySelectorProviderTest {
    private static final FerryKafkaConfig.BrokerListeners NO_BROKER = FerryKafkaConfig.BrokerListeners.of("");
    private static final String HOST = System.getProperty("ferry.kafka.test.host", "127.0.0.1");
    private static final String PROVIDER = System.getProperty("ferry.kafka.test.provider", "tcp");

    private ServerSocketChannel listener;
    private int port;
    private FerrySelectorProvider provider;
    private Selector selector;

    @Before
    public void start() throws IOException {
        // A port for the rules: bind once with the JDK to find a free one.
        try (ServerSocketChannel probe = ServerSocketChannel.open()) {
            probe.bind(new InetSocketAddress(HOST, 0));
            port = ((InetSocketAddress) probe.getLocalAddress()).getPort();
        }
        listen("framed");
    }

    /** A provider moving payload as {@code payload} says, its listener on {@link #port} and a selector. */
    private void listen(String payload) throws IOException {
        provider = provider(payload);
        listener = provider.openServerSocketChannel();
        listener.socket().bind(new InetSocketAddress(HOST, port));
        listener.configureBlocking(false);
        selector = provider.openSelector();
        listener.register(selector, SelectionKey.OP_ACCEPT);
    }

    /**
     * A provider whose rules select {@link #port} both ways, moving payload as {@code payload} says.
     * The window holds a test's whole response, so no write finds it full and READ moves it all
     * (with a full window writes go in DATA frames; how many depends on the READs' timing).
     */
    private FerrySelectorProvider provider(String payload) {
        String rules = "in:" + port + ",out:" + HOST + ":" + port;
        return new FerrySelectorProvider(FerryKafkaConfig.parse(
                "ferry.kafka.rules=" + rules + "\nferry.kafka.message.size=64k\nferry.kafka.secret=s3\n"
                        + "ferry.kafka.stats.interval.ms=0\nferry.kafka.payload=" + payload + "\n"
                        + "ferry.kafka.provider=" + PROVIDER + "\nferry.kafka.region.grow.bytes=256k\n"
                        + "ferry.kafka.window.bytes=4m\nferry.kafka.read.min.bytes=4k\n",
                "test", NO_BROKER));
    }

    @After
    public void stop() throws IOException {
        selector.close();
        listener.close();
    }

    /** A call a broker's network thread makes. */
    private static final long NETWORK_THREAD_BOUND_MS = Long.getLong("ferry.kafka.test.networkThreadMs", 500);

    private interface NetworkCall<T> {
        T run() throws IOException;
    }

    /**
     * Runs a call the way a broker's network thread makes it, which serves every connection of its
     * processor: it must never wait on a peer. Kafka's processors poll every 300 ms; the bound
     * leaves room for a loaded machine (the waits it guards against were 5 s and 120 s), and the
     * qemu TCG guest, tens of times slower, sets a wider one.
     */
    private static <T> T onNetworkThread(String what, NetworkCall<T> call) throws IOException {
        long start = System.nanoTime();
        T result = call.run();
        long ms = TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - start);
        assertTrue(what + " waited " + ms + " ms on a network thread", ms < NETWORK_THREAD_BOUND_MS);
        return result;
    }

    /** Connects through the provider and accepts through the selector, both non-blocking. */
    private SocketChannel[] pair(SocketChannel client, InetSocketAddress to) throws IOException {
        client.configureBlocking(false);
        onNetworkThread("connect", () -> client.connect(to));
        SelectionKey ck = client.register(selector, SelectionKey.OP_CONNECT);
        SocketChannel accepted = null;
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
        while (accepted == null || client.isConnectionPending()) {
            assertTrue("no connection", System.nanoTime() < deadline);
            selector.select(100);
            for (SelectionKey k : selector.selectedKeys()) {
                if (k.isValid() && k.isAcceptable()) {
                    accepted = onNetworkThread("accept", listener::accept);
                } else if (k.isValid() && k.isConnectable() && onNetworkThread("finishConnect", client::finishConnect)) {
                    ck.interestOps(SelectionKey.OP_READ);
                }
            }
            selector.selectedKeys().clear();
        }
        accepted.configureBlocking(false);
        accepted.register(selector, SelectionKey.OP_READ);
        return new SocketChannel[] {client, accepted};
    }

    /** Moves all of src from one channel to the other with selector-driven reads and writes. */
    private byte[] move(SocketChannel from, ByteBuffer[] src, SocketChannel to, int length) throws IOException {
        ByteBuffer dst = ByteBuffer.allocate(length);
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(30);
        SelectionKey fromKey = from.keyFor(selector);
        fromKey.interestOps(fromKey.interestOps() | SelectionKey.OP_WRITE);
        while (dst.hasRemaining()) {
            assertTrue("stalled at " + dst.position() + " of " + length, System.nanoTime() < deadline);
            selector.select(100);
            for (SelectionKey k : selector.selectedKeys()) {
                if (!k.isValid()) {
                    continue;
                }
                if (k.channel() == from && k.isWritable()) {
                    from.write(src);
                    if (remaining(src) == 0) {
                        k.interestOps(k.interestOps() & ~SelectionKey.OP_WRITE);
                    }
                }
                if (k.channel() == to && k.isReadable()) {
                    if (to.read(dst) < 0) {
                        fail("end of stream at " + dst.position());
                    }
                }
                if (k.channel() == from && k.isReadable() && from != to) {
                    from.read(ByteBuffer.allocate(0));
                }
            }
            selector.selectedKeys().clear();
        }
        return dst.array();
    }

    private static long remaining(ByteBuffer[] bs) {
        long n = 0;
        for (ByteBuffer b : bs) {
            n += b.remaining();
        }
        return n;
    }

    private static byte[] random(int n, long seed) {
        byte[] b = new byte[n];
        new Random(seed).nextBytes(b);
        return b;
    }

    @Test
    public void ferryEndsTalkThroughStreamsBothWays() throws IOException {
        FerryStream.Counters before = FerryStream.counters();
        SocketChannel[] p = pair(provider.openSocketChannel(), new InetSocketAddress(HOST, port));
        byte[] request = random(10_000, 1);
        byte[] response = random(1 << 20, 2);
        assertArrayEquals(request, move(p[0], new ByteBuffer[] {ByteBuffer.wrap(request)}, p[1], request.length));
        assertArrayEquals(response, move(p[1], new ByteBuffer[] {
            ByteBuffer.wrap(response, 0, 1000), ByteBuffer.wrap(response, 1000, response.length - 1000)}, p[0],
                response.length));
        assertTrue(((FerrySocketChannel) p[0]).isFerry());
        assertTrue(((FerrySocketChannel) p[1]).isFerry());
        FerryStream.Counters after = FerryStream.counters();
        assertTrue(after.toString(), after.bytesSent() - before.bytesSent() >= request.length + response.length);
        assertEquals(2, provider.plugin().getStreamsOpened());
        p[0].close();
        p[1].close();
    }

    @Test
    public void aNetworkThreadNeverWaitsOnAPeer() throws IOException {
        for (String payload : new String[] {"framed", "inline"}) {
            selector.close();
            listener.close();
            listen(payload);
            // A peer that stops reading: the writer fills the socket, then writes take nothing.
            SocketChannel[] p = pair(provider.openSocketChannel(), new InetSocketAddress(HOST, port));
            move(p[0], new ByteBuffer[] {ByteBuffer.wrap(new byte[] {1})}, p[1], 1); // handshake done
            ByteBuffer big = ByteBuffer.allocateDirect(1 << 20);
            int zeros = 0;
            for (int i = 0; i < 1000 && zeros < 3; i++) {
                big.clear();
                zeros += onNetworkThread(payload + " write to a peer that stopped reading", () -> p[1].write(big)) == 0
                        ? 1 : 0;
            }
            assertEquals(payload + ": the peer's socket never filled", 3, zeros);
            // A connection in its handshake: the accepted end reads the hello, answers and is closed;
            // the client writes before it has read the answer.
            SocketChannel[] silent = pair(provider.openSocketChannel(), new InetSocketAddress(HOST, port));
            ByteBuffer request = ByteBuffer.wrap(new byte[] {0, 0, 0, 1, 7});
            onNetworkThread(payload + " read of the hello", () -> silent[1].read(ByteBuffer.allocate(4)));
            onNetworkThread(payload + " close in the handshake", () -> {
                silent[1].socket().close();
                silent[1].close();
                return null;
            });
            onNetworkThread(payload + " write before the server's hello", () -> silent[0].write(request));
            onNetworkThread(payload + " close with unread bytes queued", () -> {
                for (SocketChannel c : p) {
                    c.socket().close();
                    c.close();
                }
                silent[0].close();
                return null;
            });
            selector.selectNow();
        }
    }

    @Test
    public void fileTransferToAFerryChannelIsFramedNotSentfile() throws IOException {
        transferFile(provider.openSocketChannel());
    }

    @Test
    public void readStreamsMovePayloadByOneSidedReadUnderASelector() throws IOException {
        selector.close();
        listener.close();
        listen("read");
        // The node starts on the plugin's own thread (no network thread waits for it); until then
        // streams move payload without READ. This waits for the decision.
        assertEquals("read", provider.plugin().getPayload());
        FerryStream.Counters before = FerryStream.counters();
        SocketChannel[] p = pair(provider.openSocketChannel(), new InetSocketAddress(HOST, port));
        byte[] request = random(100, 5);
        byte[] response = random(3 << 20, 6);
        assertArrayEquals(request, move(p[0], new ByteBuffer[] {ByteBuffer.wrap(request)}, p[1], request.length));
        assertArrayEquals(response, move(p[1], new ByteBuffer[] {
            ByteBuffer.wrap(response, 0, 1000), ByteBuffer.wrap(response, 1000, response.length - 1000)}, p[0],
                response.length));
        long read = FerryStream.counters().readBytes() - before.readBytes();
        assertTrue("most of the response by READ: " + read, read > response.length / 2);
        assertEquals("read", provider.plugin().getPayload());
        assertEquals(PROVIDER.equals("verbs") ? "verbs" : "tcp", provider.plugin().getTransport());
        assertTrue(provider.plugin().getReadBytes() >= read);
        p[0].close();
        p[1].close();
        // Log segments (FileChannel.transferTo) go by READ as well.
        before = FerryStream.counters();
        transferFile(provider.openSocketChannel());
        read = FerryStream.counters().readBytes() - before.readBytes();
        assertTrue("most of the file by READ: " + read, read > 1_500_000);
    }

    @Test
    public void inlineStreamsKeepSendfile() throws IOException {
        FerrySelectorProvider inline = provider("inline");
        SocketChannel client = inline.openSocketChannel();
        transferFile(client);
        assertTrue(((FerrySocketChannel) client).isFerry());
    }

    private void transferFile(SocketChannel client) throws IOException {
        Path file = Files.createTempFile("ferry-kafka", ".log");
        byte[] content = random(3_000_000, 3);
        Files.write(file, content);
        SocketChannel[] p = pair(client, new InetSocketAddress(HOST, port));
        // The handshake first, as Kafka's first request does.
        move(p[0], new ByteBuffer[] {ByteBuffer.wrap(new byte[] {1})}, p[1], 1);
        try (FileChannel f = FileChannel.open(file, StandardOpenOption.READ)) {
            ByteBuffer dst = ByteBuffer.allocate(content.length);
            long position = 0;
            long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(30);
            while (dst.hasRemaining()) {
                assertTrue(System.nanoTime() < deadline);
                if (position < content.length) {
                    position += f.transferTo(position, content.length - position, p[1]);
                }
                p[0].read(dst);
            }
            assertArrayEquals(content, dst.array());
        } finally {
            Files.delete(file);
        }
        p[0].close();
        p[1].close();
    }

    @Test
    public void aPlainClientOnASelectedPortIsServedPlain() throws IOException {
        SocketChannel[] p = pair(SocketChannel.open(), new InetSocketAddress(HOST, port));
        byte[] request = {0, 0, 0, 4, 1, 2, 3, 4};
        assertArrayEquals(request, move(p[0], new ByteBuffer[] {ByteBuffer.wrap(request)}, p[1], request.length));
        byte[] response = random(100_000, 4);
        assertArrayEquals(response, move(p[1], new ByteBuffer[] {ByteBuffer.wrap(response)}, p[0], response.length));
        assertFalse(((FerrySocketChannel) p[1]).isFerry());
        assertEquals(1, provider.plugin().getAcceptedPlain());
        p[0].close();
        p[1].close();
    }

    @Test
    public void aPlainServerMakesTheClientFallBackOnTheNextConnection() throws IOException {
        // Replace the Ferry listener by a plain JDK one, which closes on a negative size like Kafka.
        selector.close();
        listener.close();
        selector = provider.openSelector();
        try (ServerSocketChannel plain = ServerSocketChannel.open()) {
            plain.bind(new InetSocketAddress(HOST, port));
            SocketChannel client = provider.openSocketChannel();
            client.connect(new InetSocketAddress(HOST, port)); // blocking
            SocketChannel server = plain.accept();
            ByteBuffer size = ByteBuffer.allocate(4);
            server.read(size);
            assertTrue("preamble is a negative size", size.getInt(0) < 0);
            server.close();
            try {
                for (int i = 0; i < 100; i++) {
                    client.write(ByteBuffer.wrap(new byte[] {0, 0, 0, 1, 7}));
                    client.read(ByteBuffer.allocate(10));
                }
                fail("no failure from a closed peer");
            } catch (IOException expected) {
                // Kafka closes the connection and connects again
            }
            client.close();
            assertEquals(1, provider.plugin().getFallbacks());
            SocketChannel again = provider.openSocketChannel();
            again.connect(new InetSocketAddress(HOST, port));
            SocketChannel server2 = plain.accept();
            again.write(ByteBuffer.wrap(new byte[] {0, 0, 0, 1, 7}));
            ByteBuffer got = ByteBuffer.allocate(5);
            while (got.hasRemaining()) {
                server2.read(got);
            }
            assertArrayEquals(new byte[] {0, 0, 0, 1, 7}, got.array());
            assertFalse(((FerrySocketChannel) again).isFerry());
            again.close();
            server2.close();
        }
    }
}
