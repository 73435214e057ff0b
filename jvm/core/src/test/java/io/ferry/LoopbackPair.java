package io.ferry;

import java.io.Closeable;
import java.io.IOException;
import java.net.InetSocketAddress;
import java.nio.channels.ServerSocketChannel;
import java.nio.channels.SocketChannel;
import java.util.Random;

/** A connected pair of JDK socket channels on loopback, for stream tests; and test bytes. */
final class LoopbackPair implements Closeable {
    final SocketChannel connected;
    final SocketChannel accepted;
    private final ServerSocketChannel listener;

    LoopbackPair() throws IOException {
        listener = ServerSocketChannel.open().bind(new InetSocketAddress("127.0.0.1", 0));
        connected = SocketChannel.open(listener.getLocalAddress());
        accepted = listener.accept();
    }

    @Override
    public void close() throws IOException {
        connected.close();
        accepted.close();
        listener.close();
    }

    /** {@code n} pseudo-random bytes, the same for the same seed. */
    static byte[] random(int n, long seed) {
        byte[] b = new byte[n];
        new Random(seed).nextBytes(b);
        return b;
    }
}
