package io.ferry.kafka;

import static org.junit.Assert.assertEquals;
import static org.junit.Assert.assertFalse;
import static org.junit.Assert.assertTrue;

import java.io.File;
import java.io.IOException;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.nio.ByteBuffer;
import java.nio.channels.SelectionKey;
import java.nio.channels.Selector;
import java.nio.channels.ServerSocketChannel;
import java.nio.channels.SocketChannel;
import java.nio.channels.spi.SelectorProvider;
import java.util.Arrays;
import java.util.Collection;
import java.util.concurrent.TimeUnit;
import org.junit.After;
import org.junit.Before;
import org.junit.Test;
import org.junit.runner.RunWith;
import org.junit.runners.Parameterized;
import sun.nio.ch.SelChImpl;

/**
 * Kafka's close sequence under a selector, with the JDK's provider and Ferry's: {@code
 * PlaintextTransportLayer.close()} calls {@code socketChannel.socket().close()}, then {@code
 * socketChannel.close()} and cancels the key; the next connection is opened and registered before
 * the selector runs again. If {@code socket().close()} freed the descriptor while the closed
 * channel was still registered, the next connection would get the same number and the selector,
 * deregistering the old key, would take the new connection out of epoll: it would never become
 * ready (brokers saw "socket connection setup timeout" on their controller connections).
 */
@RunWith(Parameterized.class)
public class DescriptorReuseTest {
    private static final String HOST = "127.0.0.1";
    private static final int ROUNDS = 10;

    @Parameterized.Parameters(name = "{0}")
    public static Collection<Object[]> providers() {
        return Arrays.asList(new Object[][] {{"jdk"}, {"ferry"}, {"ferry-stream"}});
    }

    private final String kind;
    private SelectorProvider provider;
    private ServerSocketChannel listener;
    private Selector selector;

    public DescriptorReuseTest(String kind) {
        this.kind = kind;
    }

    @Before
    public void start() throws IOException {
        listener = ServerSocketChannel.open();
        listener.bind(new InetSocketAddress(HOST, 0));
        int port = ((InetSocketAddress) listener.getLocalAddress()).getPort();
        // "ferry": wrapped channels whose connections pass straight through (no rule matches the
        // listener's port); "ferry-stream": wrapped channels sending the Ferry preamble to a plain
        // listener (the accepted side reads it and answers nothing, as if slow).
        String rules = kind.equals("ferry") ? "out:" + HOST + ":1" : "out:" + HOST + ":" + port;
        provider = kind.equals("jdk") ? SelectorProvider.provider()
                : new FerrySelectorProvider(FerryKafkaConfig.parse("ferry.kafka.rules=" + rules
                        + "\nferry.kafka.stats.interval.ms=0\nferry.kafka.payload=inline\n", "test",
                        FerryKafkaConfig.BrokerListeners.of("")));
        selector = provider.openSelector();
    }

    @After
    public void stop() throws IOException {
        selector.close();
        listener.close();
    }

    @Test
    public void aConnectionAfterKafkasCloseSequenceBecomesReady() throws IOException, InterruptedException {
        int before = openDescriptors();
        SocketChannel previous = null;
        SocketChannel previousPeer = null;
        for (int round = 0; round < ROUNDS; round++) {
            if (previous != null) {
                // The previous connection is closed as Kafka closes it, and the next one is opened
                // and registered before the selector runs again: the order in which a descriptor
                // number freed too early is reused.
                closeLikeKafka(previous);
            }
            SocketChannel client = provider.openSocketChannel();
            client.configureBlocking(false);
            client.connect(listener.getLocalAddress());
            SelectionKey key = client.register(selector, SelectionKey.OP_CONNECT);
            SocketChannel peer = listener.accept();
            if (previousPeer != null) {
                previousPeer.close();
            }
            awaitReady(key, SelectionKey.OP_CONNECT, round);
            assertTrue(client.finishConnect());
            key.interestOps(SelectionKey.OP_READ);
            // The peer answers; the client must see it through the selector.
            peer.write(ByteBuffer.wrap(new byte[] {0, 0, 0, 1, 42}));
            awaitReady(key, SelectionKey.OP_READ, round);
            previous = client;
            previousPeer = peer;
        }
        closeLikeKafka(previous);
        previousPeer.close();
        selector.selectNow();
        assertNoDescriptorLeft(before);
    }

    @Test
    public void aConnectionAfterARefusedOneBecomesReady() throws IOException, InterruptedException {
        // A port nothing listens on: the connection is refused, and the JDK's channel closes
        // itself inside finishConnect(), while the channel the selector knows is still registered.
        InetSocketAddress closed;
        try (ServerSocketChannel probe = ServerSocketChannel.open()) {
            probe.bind(new InetSocketAddress(HOST, 0));
            closed = (InetSocketAddress) probe.getLocalAddress();
        }
        int before = openDescriptors();
        for (int round = 0; round < ROUNDS; round++) {
            SocketChannel refused = provider.openSocketChannel();
            refused.configureBlocking(false);
            try {
                refused.connect(closed);
                refused.register(selector, SelectionKey.OP_CONNECT);
                selector.select(1000);
                selector.selectedKeys().clear();
                refused.finishConnect();
                throw new AssertionError("connected to a closed port");
            } catch (IOException expected) {
                // Kafka's Selector closes the channel and connects again in the same round
            }
            closeLikeKafka(refused);
            SocketChannel client = provider.openSocketChannel();
            client.configureBlocking(false);
            client.connect(listener.getLocalAddress());
            SelectionKey key = client.register(selector, SelectionKey.OP_CONNECT);
            try (SocketChannel peer = listener.accept()) {
                awaitReady(key, SelectionKey.OP_CONNECT, round);
                assertTrue(client.finishConnect());
                key.interestOps(SelectionKey.OP_READ);
                peer.write(ByteBuffer.wrap(new byte[] {0, 0, 0, 1, 42}));
                awaitReady(key, SelectionKey.OP_READ, round);
            }
            closeLikeKafka(client);
        }
        selector.selectNow();
        assertNoDescriptorLeft(before);
    }

    private static int openDescriptors() {
        return new File("/proc/self/fd").list().length;
    }

    /**
     * Every descriptor the connections used is closed once the selector deregistered them. The
     * count is the whole process's: closes may finish on other threads a moment later, and the JVM
     * may open a jar for a class first loaded here. A leak leaves at least one per round, so fewer
     * than half the rounds' worth is the bound (JDK 25 under load once showed 3 more).
     */
    private static void assertNoDescriptorLeft(int before) throws InterruptedException {
        int after = openDescriptors();
        for (int wait = 0; wait < 50 && after > before + 2; wait++) {
            Thread.sleep(100);
            after = openDescriptors();
        }
        assertTrue("descriptors open before " + before + ", after " + after,
                after < before + ROUNDS / 2);
    }

    /** {@code PlaintextTransportLayer.close()}: the socket, then the channel, then the key. */
    private void closeLikeKafka(SocketChannel channel) throws IOException {
        SelectionKey key = channel.keyFor(selector);
        channel.socket().close();
        channel.close();
        if (key != null) {
            key.cancel();
        }
    }

    private void awaitReady(SelectionKey key, int op, int round) throws IOException {
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(5);
        while (true) {
            selector.select(50);
            boolean ready = selector.selectedKeys().contains(key) && (key.readyOps() & op) != 0;
            selector.selectedKeys().clear();
            if (ready) {
                return;
            }
            assertTrue(kind + ": connection " + round + " never became ready for " + op
                    + " (its descriptor left the selector)", System.nanoTime() < deadline);
        }
    }

    @Test
    public void socketCloseOfARegisteredChannelKeepsItsDescriptorUntilDeregistered() throws IOException {
        SocketChannel client = provider.openSocketChannel();
        client.connect(listener.getLocalAddress());
        SocketChannel peer = listener.accept();
        client.configureBlocking(false);
        client.register(selector, SelectionKey.OP_READ);
        Socket socket = client.socket();
        socket.close();
        assertTrue("socket().close() closes the channel", socket.isClosed() && !client.isOpen());
        closeLikeKafka(client);
        // Until the selector deregisters the key, the descriptor stays open: a new socket does
        // not get its number.
        try (SocketChannel next = SocketChannel.open()) {
            assertFalse("descriptor number reused while still registered", fd(next) == fd(client));
        }
        selector.selectNow();
        assertEquals(0, selector.keys().size());
        peer.close();
    }

    private static int fd(SocketChannel channel) {
        return ((SelChImpl) channel).getFDVal();
    }
}
