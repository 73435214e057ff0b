package io.ferry;

import java.io.IOException;
import java.lang.ref.Reference;
import java.nio.ByteBuffer;
import java.nio.channels.ByteChannel;
import java.nio.channels.ClosedChannelException;
import java.nio.channels.GatheringByteChannel;
import java.nio.channels.SocketChannel;
import java.util.Objects;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.function.LongUnaryOperator;

/**
 * An ordered byte stream between two Ferry ends over one connected TCP socket: the socket is the
 * control path (hellos, proofs of the shared secret, frame headers) and, on the {@code tcp}
 * provider, carries the payload inline in DATA frames. JVM services use it for their own
 * replication; the Kafka plugin ({@code io.ferry:ferry-kafka}) moves broker traffic through it.
 *
 * <p>The connecting end is the {@linkplain #client client}, the accepting end the {@linkplain
 * #server server}. The client sends a hello whose first four bytes, read as a big-endian {@code
 * int}, are negative ({@code FF FE 46 52}); the server answers with its own and a proof of the
 * secret, the client proves the secret back, then both send frames. A server whose peer starts with
 * anything else becomes {@linkplain #isPlain() plain}: the bytes it read are returned by the next
 * {@link #read} and the socket passes through unchanged from then on, so a plain peer sees nothing
 * unusual.
 *
 * <p>The stream is a thin adapter: one native driver does every byte of its socket I/O with
 * non-blocking calls on the socket's descriptor, so the socket must be the JDK's own {@link
 * SocketChannel}. Non-blocking, no call waits for anything: {@link #read} and {@link #write} return
 * 0 when the socket has nothing or takes nothing (a client's first writes until the server's hello
 * arrives, a read while the message it named is still being READ after a wait of at most 1 ms), and the socket's readiness says when to
 * come back, so a selector loop drives the stream unchanged. Blocking sockets wait for their socket
 * between calls, as the JDK's channels do.
 *
 * <p>With a {@link RemotePayload} on both ends (each with a {@link FerryNode} serving), payload
 * moves by one-sided READ instead: a write is copied into memory registered with the writer's node
 * and named in a small NOTIFY frame, and the reader's node READs it (an RDMA READ on the {@code
 * verbs} provider). The socket still carries every control frame, so its readiness is still the
 * stream's: a NOTIFY stays in the socket until its message has been read whole. A write never waits
 * for the peer. An end without a node makes the stream framed.
 *
 * <p>The stream does not own the socket: {@link #close()} frees the native state (after sending a
 * CLOSE frame if the socket takes it at once) and never waits; close the socket yourself. Messages
 * the peer has not READ yet stay registered a few seconds, off the caller's thread. A stream that
 * is dropped unclosed is freed once unreachable. Any number of threads may call a stream; each call
 * holds its one lock only for a non-blocking native call.
 */
public final class FerryStream implements ByteChannel, GatheringByteChannel {
    /** Frame size used when none is given: 1 MiB of payload per DATA frame. */
    public static final int DEFAULT_MAX_FRAME = 1 << 20;

    // Named as in native/core/src/stream/abi.rs; native/core/tests/abi.rs checks the values.
    static final int STATUS_ESTABLISHED = 1;
    static final int STATUS_PLAIN = 2;
    static final int STATUS_INLINE = 4;
    static final int STATUS_REMOTE = 8;
    static final int STATUS_HANDSHAKE_FAILED = 16;
    static final int STATUS_BUFFERED_INPUT = 32;
    static final int STAT_OPENED = 0;
    static final int STAT_PLAIN = 1;
    static final int STAT_FAILED = 2;
    static final int STAT_BYTES_SENT = 3;
    static final int STAT_BYTES_RECEIVED = 4;
    static final int STAT_FRAMES_SENT = 5;
    static final int STAT_NOTIFIED_BYTES = 6;
    static final int STAT_READ_BYTES = 7;
    static final int STAT_SLAB_BYTES = 8;
    static final int STATS = 9;

    /** How long a blocking call waits for its socket before it looks at the stream again. */
    private static final int WAIT_MS = 100;

    private final SocketChannel socket;
    private final int fd;
    /** Held for each native call, never while waiting. */
    private final Object lock = new Object();
    private final NativeResource handle;
    /** Set by {@link #close()}: the free sends CLOSE. A dropped stream's cleanup leaves the socket alone. */
    private final AtomicBoolean closing = new AtomicBoolean();
    /** The status bits as last seen, kept once the stream is closed. */
    private int status;

    private FerryStream(SocketChannel socket, boolean server, byte[] secret, int maxFrame, boolean framed,
            RemotePayload remote) {
        this.socket = Objects.requireNonNull(socket, "socket");
        this.fd = Native.socketFd(socket);
        if (fd < 0) {
            throw new IllegalArgumentException("a Ferry stream needs the JDK's own socket channel, not "
                    + socket.getClass().getName());
        }
        byte[] key = secret == null ? new byte[0] : secret;
        long h = remote == null
                ? Native.streamCreate(server, key, maxFrame, framed, fd, 0, 0, 0, 0, 0, 0)
                : remote.node().call(node -> Native.streamCreate(server, key, maxFrame, framed, fd, node,
                        remote.port(), remote.windowBytes(), remote.slabBytes(), remote.minReadBytes(),
                        remote.streamsPerConnection()));
        AtomicBoolean sendClose = closing;
        this.handle = new NativeResource(this, h, stream -> Native.streamFree(stream, sendClose.get()));
    }

    /**
     * The connecting end of a stream over a connected socket; its hello goes out with the first
     * {@link #read} or {@link #write}.
     *
     * @param socket a connected JDK socket channel
     * @param secret shared secret both ends must prove (null or empty: none)
     * @param maxFrame largest DATA frame this end sends, 1 byte to 64 MiB
     * @return the stream
     */
    public static FerryStream client(SocketChannel socket, byte[] secret, int maxFrame) {
        return new FerryStream(socket, false, secret, maxFrame, true, null);
    }

    /**
     * The connecting end of a stream that offers payload by one-sided READ: remote when the server
     * has a {@link RemotePayload} too, else framed.
     *
     * @param socket a connected JDK socket channel
     * @param secret shared secret both ends must prove (null or empty: none)
     * @param maxFrame largest DATA frame this end sends, 1 byte to 64 MiB
     * @param remote this end's node and memory bounds
     * @return the stream
     */
    public static FerryStream client(SocketChannel socket, byte[] secret, int maxFrame, RemotePayload remote) {
        return new FerryStream(socket, false, secret, maxFrame, true, Objects.requireNonNull(remote, "remote"));
    }

    /**
     * The accepting end of a stream that moves payload by one-sided READ when the client offers it.
     *
     * @param socket an accepted JDK socket channel
     * @param secret shared secret both ends must prove (null or empty: none)
     * @param maxFrame largest DATA frame this end sends, 1 byte to 64 MiB
     * @param remote this end's node and memory bounds
     * @return the stream
     */
    public static FerryStream server(SocketChannel socket, byte[] secret, int maxFrame, RemotePayload remote) {
        return new FerryStream(socket, true, secret, maxFrame, true, Objects.requireNonNull(remote, "remote"));
    }

    /**
     * The connecting end of a stream, framed or not. Unframed (inline) streams suit the {@code
     * tcp} provider: after the handshake the rest of the connection is the application's bytes,
     * exactly as plain TCP carries them (TCP orders and flow-controls them already), so the
     * caller may even hand file payload to the kernel with {@code sendfile}. The server follows
     * the client's choice.
     *
     * @param socket a connected JDK socket channel
     * @param secret shared secret both ends must prove (null or empty: none)
     * @param maxFrame largest DATA frame this end sends, 1 byte to 64 MiB
     * @param framed true: payload in DATA frames; false: inline after the handshake
     * @return the stream
     */
    public static FerryStream client(SocketChannel socket, byte[] secret, int maxFrame, boolean framed) {
        return new FerryStream(socket, false, secret, maxFrame, framed, null);
    }

    /**
     * The accepting end of a stream over an accepted socket: the peer's first bytes decide
     * between a Ferry stream and {@linkplain #isPlain() plain} TCP.
     *
     * @param socket an accepted JDK socket channel
     * @param secret shared secret both ends must prove (null or empty: none)
     * @param maxFrame largest DATA frame this end sends, 1 byte to 64 MiB
     * @return the stream
     */
    public static FerryStream server(SocketChannel socket, byte[] secret, int maxFrame) {
        return new FerryStream(socket, true, secret, maxFrame, true, null);
    }

    /** @return the socket under this stream */
    public SocketChannel socket() {
        return socket;
    }

    /** @return true once both ends proved the secret */
    public boolean isEstablished() {
        return (status() & STATUS_ESTABLISHED) != 0;
    }

    /**
     * @return true once the stream is open with payload inline (unframed): the socket carries the
     *     application's bytes unchanged from then on
     */
    public boolean isInline() {
        return (status() & STATUS_INLINE) != 0;
    }

    /** @return true once payload moves by one-sided READ (both ends agreed) */
    public boolean isRemote() {
        return (status() & STATUS_REMOTE) != 0;
    }

    /** @return true when the peer turned out not to be a Ferry end: the socket is plain TCP */
    public boolean isPlain() {
        return (status() & STATUS_PLAIN) != 0;
    }

    /**
     * @return true when the handshake failed (the peer closed or answered something that is not a
     *     Ferry hello, a different secret, another version): fall back to plain TCP on a new
     *     connection
     */
    public boolean handshakeFailed() {
        return (status() & STATUS_HANDSHAKE_FAILED) != 0;
    }

    /**
     * Whether the reader has bytes that are not on the socket any more (only the bytes a plain
     * peer sent before it was known plain).
     *
     * @return true while such bytes wait for {@link #read}
     */
    public boolean hasBufferedInput() {
        return (status() & STATUS_BUFFERED_INPUT) != 0;
    }

    @Override
    public boolean isOpen() {
        return !handle.isClosed();
    }

    private int status() {
        synchronized (lock) {
            if (!handle.isClosed()) {
                status = Native.streamStatus(handle.handle("stream"));
            }
            Reference.reachabilityFence(this);
            return status;
        }
    }

    /**
     * Runs one non-blocking native call on the live handle, under the lock; the stream stays
     * reachable meanwhile, so its Cleaner cannot free the handle under the call.
     */
    private long call(LongUnaryOperator op) throws IOException {
        synchronized (lock) {
            if (handle.isClosed() || !socket.isOpen()) {
                throw new ClosedChannelException();
            }
            try {
                return op.applyAsLong(handle.handle("stream"));
            } catch (FerryException e) {
                throw new IOException("Ferry stream: " + e.getMessage(), e);
            } finally {
                Reference.reachabilityFence(this);
            }
        }
    }

    @Override
    public int read(ByteBuffer dst) throws IOException {
        if (dst.isReadOnly()) {
            throw new IllegalArgumentException("read-only buffer");
        }
        while (true) {
            int n = (int) call(h -> dst.isDirect()
                    ? Native.streamRead(h, dst, null, dst.position(), dst.remaining())
                    : Native.streamRead(h, null, dst.array(), dst.arrayOffset() + dst.position(), dst.remaining()));
            if (n > 0) {
                dst.position(dst.position() + n);
            }
            if (n != 0 || !dst.hasRemaining() || !socket.isBlocking()) {
                return n;
            }
            Native.socketWait(fd, false, WAIT_MS);
        }
    }

    @Override
    public int write(ByteBuffer src) throws IOException {
        return (int) write(new ByteBuffer[] {src}, 0, 1);
    }

    @Override
    public long write(ByteBuffer[] srcs) throws IOException {
        return write(srcs, 0, srcs.length);
    }

    @Override
    public long write(ByteBuffer[] srcs, int offset, int length) throws IOException {
        Objects.checkFromIndexSize(offset, length, srcs.length);
        ByteBuffer[] directs = new ByteBuffer[length];
        byte[][] arrays = new byte[length][];
        int[] offsets = new int[length];
        int[] lengths = new int[length];
        for (int i = 0; i < length; i++) {
            ByteBuffer b = srcs[offset + i];
            lengths[i] = b.remaining();
            if (b.isDirect()) {
                directs[i] = b;
                offsets[i] = b.position();
            } else if (b.hasArray()) {
                arrays[i] = b.array();
                offsets[i] = b.arrayOffset() + b.position();
            } else { // a read-only heap buffer: copy it
                arrays[i] = new byte[lengths[i]];
                b.duplicate().get(arrays[i]);
            }
        }
        long total = 0;
        while (true) {
            long n = call(h -> Native.streamWrite(h, directs, arrays, offsets, lengths));
            total += n;
            for (int i = 0; i < length && n > 0; i++) {
                int k = (int) Math.min(n, lengths[i]);
                ByteBuffer b = srcs[offset + i];
                b.position(b.position() + k);
                offsets[i] += k;
                lengths[i] -= k;
                n -= k;
            }
            // Blocking channels write everything, as the JDK's do.
            if (!socket.isBlocking() || remaining(lengths) == 0) {
                return total;
            }
            // Until the handshake is over the client waits for the server's hello, not for room.
            Native.socketWait(fd, isEstablished() || isPlain(), WAIT_MS);
        }
    }

    private static long remaining(int[] lengths) {
        long n = 0;
        for (int length : lengths) {
            n += length;
        }
        return n;
    }

    /**
     * Sends a CLOSE frame if the socket takes it now and frees the native state; never waits.
     * Messages the peer has not READ yet stay registered a few seconds, off this thread. The socket
     * stays open: close it yourself.
     */
    @Override
    public void close() {
        synchronized (lock) {
            status();
            closing.set(socket.isOpen());
            handle.close();
        }
    }

    /**
     * @return this stream's counters (slab bytes: what it holds registered now)
     * @throws IOException when the stream is closed
     */
    public Counters stats() throws IOException {
        synchronized (lock) {
            if (handle.isClosed()) {
                throw new ClosedChannelException();
            }
            try {
                return new Counters(Native.streamStats(handle.handle("stream")));
            } finally {
                Reference.reachabilityFence(this);
            }
        }
    }

    /** @return this process's stream counters */
    public static Counters counters() {
        return new Counters(Native.streamStats(0));
    }

    /** Counters over one Ferry stream, or over every stream in this process. */
    public static final class Counters {
        private final long[] values;

        Counters(long[] values) {
            if (values.length != STATS) {
                throw new IllegalStateException("native stream counters: " + values.length + ", not " + STATS);
            }
            this.values = values.clone();
        }

        /** @return streams whose handshake completed (both ends count theirs) */
        public long opened() {
            return values[STAT_OPENED];
        }

        /** @return accepted connections whose peer turned out plain */
        public long plain() {
            return values[STAT_PLAIN];
        }

        /** @return handshakes that failed: a bad hello, another version, a different secret */
        public long failed() {
            return values[STAT_FAILED];
        }

        /** @return payload bytes sent through streams */
        public long bytesSent() {
            return values[STAT_BYTES_SENT];
        }

        /** @return payload bytes received through streams */
        public long bytesReceived() {
            return values[STAT_BYTES_RECEIVED];
        }

        /** @return DATA frames sent */
        public long framesSent() {
            return values[STAT_FRAMES_SENT];
        }

        /** @return payload bytes sent by NOTIFY: the peer READ them from this process's memory */
        public long notifiedBytes() {
            return values[STAT_NOTIFIED_BYTES];
        }

        /** @return payload bytes received by one-sided READ */
        public long readBytes() {
            return values[STAT_READ_BYTES];
        }

        /** @return bytes of registered slabs held by remote streams now (bounded by their windows) */
        public long slabBytes() {
            return values[STAT_SLAB_BYTES];
        }

        @Override
        public String toString() {
            return "opened=" + opened() + " plain=" + plain() + " failed=" + failed()
                    + " bytesSent=" + bytesSent() + " bytesReceived=" + bytesReceived()
                    + " framesSent=" + framesSent() + " notifiedBytes=" + notifiedBytes()
                    + " readBytes=" + readBytes() + " slabBytes=" + slabBytes();
        }
    }
}
