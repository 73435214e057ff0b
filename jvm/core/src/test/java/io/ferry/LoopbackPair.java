package io.ferry;

import java.io.Closeable;
import java.io.IOException;
import java.net.InetSocketAddress;
import java.nio.ByteBuffer;
import java.nio.channels.GatheringByteChannel;
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

    /**
     * Writes all of {@code data} in gathering writes of a heap and a direct buffer each, pieces of
     * {@code piece} bytes (odd sizes find the edge cases).
     */
    static void writeGathered(GatheringByteChannel out, byte[] data, int piece) throws IOException {
        for (int off = 0; off < data.length; ) {
            int n = Math.min(data.length - off, piece);
            ByteBuffer a = ByteBuffer.wrap(data, off, n / 3);
            ByteBuffer b = ByteBuffer.allocateDirect(n - n / 3);
            b.put(data, off + n / 3, n - n / 3).flip();
            ByteBuffer[] srcs = {a, b};
            while (a.hasRemaining() || b.hasRemaining()) {
                out.write(srcs);
            }
            off += n;
        }
    }

    /** {@code n} pseudo-random bytes, the same for the same seed. */
    static byte[] random(int n, long seed) {
        byte[] b = new byte[n];
        new Random(seed).nextBytes(b);
        return b;
    }
}
