package io.ferry;

import java.io.EOFException;
import java.io.IOException;
import java.net.InetSocketAddress;
import java.nio.ByteBuffer;
import java.nio.channels.ByteChannel;
import java.nio.channels.ClosedChannelException;
import java.nio.channels.GatheringByteChannel;
import java.nio.channels.SocketChannel;
import java.util.Objects;
import java.util.concurrent.atomic.LongAdder;

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
 * <p>Works on blocking and non-blocking sockets. Non-blocking, it never keeps payload or control
 * bytes in user space beyond a frame header, so the socket's readiness is the stream's readiness
 * and a selector loop drives it unchanged: {@link #read} and {@link #write} return 0 when the socket
 * has nothing or takes nothing. A client's first writes return 0 until the server's hello arrives.
 *
 * <p>With a {@link RemotePayload} on both ends (each with a {@link FerryNode} serving), payload
 * moves by one-sided READ instead: a write is copied into memory registered with the writer's node
 * and named in a small NOTIFY frame, and the reader's node READs it (an RDMA READ on the {@code
 * verbs} provider). The socket still carries every control frame, so its readiness is still the
 * stream's: a NOTIFY stays in the socket until its message has been read whole. A read may wait
 * for the READ it starts (at most {@code ferry.request.timeout.ms}); a write never waits for the
 * peer. Remote streams need the JDK's own socket channel (its descriptor is used directly); an end
 * without a node, or another channel, makes the stream framed.
 *
 * <p>The stream does not own the socket: {@link #close()} frees the native state (after queuing a
 * CLOSE frame when it can); close the socket yourself. One reader and one writer may use a stream
 * at the same time (a remote stream serializes them).
 */
public final class FerryStream implements ByteChannel, GatheringByteChannel {
    /** Frame size used when none is given: 1 MiB of payload per DATA frame. */
    public static final int DEFAULT_MAX_FRAME = 1 << 20;

    private static final int HANDSHAKING = 0;
    private static final int OPEN = 1;
    private static final int PLAIN = 2;
    private static final int CLOSED = 3;

    private final SocketChannel socket;
    private final int maxFrame;
    private final Object readLock = new Object();
    private final Object writeLock = new Object();
    /** Guards the native handle: every native call, and freeing it. */
    private final Object nativeLock = new Object();
    private long handle;

    private final long[] status = new long[6];
    /** READ payload: the settings, and the socket's descriptor (-1: none). */
    private final RemotePayload remotePayload;
    private final int fd;
    /** Payload moves by READ: reads and writes go to the native remote driver. */
    private volatile boolean remote;
    /** Control input being read (at most what the native stream wants). */
    private final ByteBuffer controlIn = ByteBuffer.allocateDirect(128);
    /** Control output not yet taken by the socket, between position and limit. */
    private final ByteBuffer controlOut = ByteBuffer.allocateDirect(128);
    /** Payload bytes of the DATA frame being written that the socket has not taken yet. */
    private long frameLeft;
    /** Plain: bytes read before the peer was known plain, still to hand to the reader. */
    private ByteBuffer prefix;
    private volatile boolean plain;
    private volatile boolean failedHandshake;
    /** The handshake completed at some point. */
    private volatile boolean opened;
    /** Once opened: whether payload travels in DATA frames. */
    private volatile boolean framed = true;
    /**
     * Inline and every handshake byte sent: reads and writes go straight to the socket, counted
     * in Java (no native call per operation).
     */
    private volatile boolean direct;
    private static final LongAdder INLINE_SENT = new LongAdder();
    private static final LongAdder INLINE_RECEIVED = new LongAdder();

    private FerryStream(SocketChannel socket, boolean server, byte[] secret, int maxFrame, boolean framed,
            RemotePayload remotePayload) {
        this.socket = Objects.requireNonNull(socket, "socket");
        this.maxFrame = maxFrame;
        this.fd = remotePayload == null ? -1 : Native.socketFd(socket);
        this.remotePayload = fd < 0 ? null : remotePayload;
        int port = this.remotePayload == null ? -1 : this.remotePayload.port();
        this.handle = Native.streamCreate(server, secret == null ? new byte[0] : secret, maxFrame, framed, port);
        controlOut.flip();
    }

    /**
     * The connecting end of a stream over a connected socket; its hello goes out with the first
     * {@link #read} or {@link #write}.
     *
     * @param socket a connected socket
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
     * @param socket a connected socket
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
     * @param socket an accepted socket
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

    /** @return true once both ends proved the secret and payload flows in frames */
    public boolean isEstablished() {
        return state() == OPEN || state() == CLOSED;
    }

    /**
     * @return true once the stream is open with payload inline (unframed): the socket carries the
     *     application's bytes unchanged from then on
     */
    public boolean isInline() {
        return opened && !framed;
    }

    /** @return true once payload moves by one-sided READ (both ends agreed and the handshake is out) */
    public boolean isRemote() {
        return remote;
    }

    /** @return true when the peer turned out not to be a Ferry end: the socket is plain TCP */
    public boolean isPlain() {
        return plain;
    }

    /**
     * @return true when the handshake failed (the peer closed or answered something that is not a
     *     Ferry hello, a different secret, another version): fall back to plain TCP on a new
     *     connection
     */
    public boolean handshakeFailed() {
        return failedHandshake;
    }

    @Override
    public boolean isOpen() {
        synchronized (nativeLock) {
            return handle != 0;
        }
    }

    private int state() {
        synchronized (nativeLock) {
            if (handle == 0) {
                return CLOSED;
            }
            Native.streamStatus(handle, status);
            noteOpen();
            return (int) status[0];
        }
    }

    /** Refreshes {@link #status}; the caller holds nativeLock. */
    private void refresh() throws IOException {
        if (handle == 0) {
            throw new ClosedChannelException();
        }
        Native.streamStatus(handle, status);
        noteOpen();
    }

    /** After a status refresh: remembers that the stream opened, and how. */
    private void noteOpen() {
        if (status[0] == OPEN && !opened) {
            framed = status[4] != 0;
            opened = true;
        }
    }

    @Override
    public int read(ByteBuffer dst) throws IOException {
        if (direct) {
            int n = socket.read(dst);
            if (n > 0) {
                INLINE_RECEIVED.add(n);
            }
            return n;
        }
        if (remote) {
            return remoteRead(dst);
        }
        try {
            return doRead(dst);
        } catch (IOException e) {
            throw noteFailure(e);
        } catch (RuntimeException e) {
            throw noteFailure(e);
        }
    }

    /** A failure before the stream ever opened is a failed handshake. */
    private <E extends Exception> E noteFailure(E e) {
        if (!opened && !plain) {
            failedHandshake = true;
        }
        return e;
    }

    private int doRead(ByteBuffer dst) throws IOException {
        synchronized (readLock) {
            if (plain) {
                return readPlain(dst);
            }
            int total = 0;
            while (dst.hasRemaining()) {
                flushControl();
                if (remote) {
                    int n = remoteRead(dst);
                    return n < 0 ? (total > 0 ? total : -1) : total + n;
                }
                long pending;
                int wanted;
                int state;
                synchronized (nativeLock) {
                    refresh();
                    state = (int) status[0];
                    wanted = (int) status[1];
                    pending = status[2];
                }
                if (pending < 0) { // inline: the socket's bytes are the payload
                    int n = socket.read(dst);
                    if (n > 0) {
                        synchronized (nativeLock) {
                            refresh();
                            Native.streamDataRead(handle, n);
                        }
                        return total + n;
                    }
                    return total > 0 ? total : n;
                }
                if (pending > 0) {
                    int n = readLimited(dst, pending);
                    if (n < 0) {
                        throw new EOFException("peer closed the connection inside a frame");
                    }
                    if (n > 0) {
                        synchronized (nativeLock) {
                            refresh();
                            Native.streamDataRead(handle, n);
                        }
                        total += n;
                    }
                    if (n < pending) {
                        return total; // the socket has no more for now
                    }
                    continue;
                }
                if (state == PLAIN) {
                    becomePlain();
                    return total > 0 ? total : readPlain(dst);
                }
                if (state == CLOSED) {
                    return total > 0 ? total : -1;
                }
                int n = readControl(wanted);
                if (n < 0) {
                    if (state == HANDSHAKING) {
                        failedHandshake = true;
                        throw new EOFException("peer closed the connection during the Ferry handshake");
                    }
                    return total > 0 ? total : -1;
                }
                if (n == 0) {
                    return total;
                }
            }
            return total;
        }
    }

    /** Reads up to {@code wanted} control bytes into the native stream; -1 at end of stream. */
    private int readControl(int wanted) throws IOException {
        controlIn.clear().limit(wanted);
        int n = socket.read(controlIn);
        if (n > 0) {
            synchronized (nativeLock) {
                refresh();
                try {
                    Native.streamInput(handle, controlIn, 0, n);
                } catch (FerryException e) {
                    failedHandshake |= !isEstablishedLocked();
                    throw new IOException("Ferry stream: " + e.getMessage(), e);
                }
            }
        }
        return n;
    }

    private boolean isEstablishedLocked() {
        // After a failed input the native state is closed; status still holds the state before it.
        return status[0] == OPEN;
    }

    /** Reads at most {@code limit} bytes into dst. */
    private int readLimited(ByteBuffer dst, long limit) throws IOException {
        if (dst.remaining() <= limit) {
            return socket.read(dst);
        }
        int oldLimit = dst.limit();
        dst.limit(dst.position() + (int) limit);
        try {
            return socket.read(dst);
        } finally {
            dst.limit(oldLimit);
        }
    }

    private void becomePlain() {
        synchronized (nativeLock) {
            prefix = ByteBuffer.wrap(Native.streamPrefix(handle));
        }
        plain = true;
    }

    private int readPlain(ByteBuffer dst) throws IOException {
        if (prefix != null && prefix.hasRemaining()) {
            int n = Math.min(dst.remaining(), prefix.remaining());
            ByteBuffer piece = prefix.duplicate();
            piece.limit(piece.position() + n);
            dst.put(piece);
            prefix.position(prefix.position() + n);
            return n;
        }
        return socket.read(dst);
    }

    /**
     * Whether the reader has bytes that are not on the socket any more (only the bytes a plain
     * peer sent before it was known plain).
     *
     * @return true while such bytes wait for {@link #read}
     */
    public boolean hasBufferedInput() {
        synchronized (readLock) {
            return prefix != null && prefix.hasRemaining();
        }
    }

    /**
     * Writes control bytes the native stream has queued (hellos, proofs, headers).
     *
     * @return true when none are left unsent
     */
    private boolean flushControl() throws IOException {
        synchronized (writeLock) {
            while (true) {
                if (controlOut.hasRemaining()) {
                    socket.write(controlOut);
                    if (controlOut.hasRemaining()) {
                        return false;
                    }
                }
                synchronized (nativeLock) {
                    refresh();
                    if (status[3] == 0) {
                        if (opened && !framed) {
                            direct = true;
                        } else if (opened && status[5] >= 0 && !remote) {
                            startRemote((int) status[5]);
                        }
                        return true;
                    }
                    controlOut.clear();
                    int n = Native.streamOutput(handle, controlOut, 0, controlOut.capacity());
                    controlOut.limit(n);
                }
            }
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
        if (direct) {
            long n = socket.write(srcs, offset, length);
            if (n > 0) {
                INLINE_SENT.add(n);
            }
            return n;
        }
        if (remote) {
            return remoteWrite(srcs, offset, length);
        }
        try {
            return doWrite(srcs, offset, length);
        } catch (IOException e) {
            throw noteFailure(e);
        } catch (RuntimeException e) {
            throw noteFailure(e);
        }
    }

    private long doWrite(ByteBuffer[] srcs, int offset, int length) throws IOException {
        synchronized (writeLock) {
            if (plain) {
                return socket.write(srcs, offset, length);
            }
            long total = 0;
            while (true) {
                if (!flushControl()) {
                    return total;
                }
                if (remote) {
                    return total + remoteWrite(srcs, offset, length);
                }
                if (frameLeft > 0) {
                    long n = writeLimited(srcs, offset, length, frameLeft, null);
                    frameLeft -= n;
                    total += n;
                    if (frameLeft > 0) {
                        return total;
                    }
                    continue;
                }
                long available = remaining(srcs, offset, length);
                if (available == 0) {
                    return total;
                }
                int state = state();
                if (state == HANDSHAKING) {
                    // The client needs the server's hello before it may send payload.
                    if (!awaitHandshake()) {
                        return total;
                    }
                    continue;
                }
                if (state != OPEN) {
                    throw new IOException(state == PLAIN
                            ? "stream is plain: read first" : "Ferry stream is closed");
                }
                if (!framed) {
                    long n = socket.write(srcs, offset, length);
                    if (n > 0) {
                        synchronized (nativeLock) {
                            refresh();
                            Native.streamSentInline(handle, n);
                        }
                    }
                    return total + n;
                }
                int len = (int) Math.min(available, maxFrame);
                synchronized (nativeLock) {
                    refresh();
                    Native.streamSendData(handle, len);
                    controlOut.clear();
                    int n = Native.streamOutput(handle, controlOut, 0, controlOut.capacity());
                    controlOut.limit(n);
                }
                frameLeft = len;
                long n = writeLimited(srcs, offset, length, len, controlOut);
                frameLeft -= n;
                total += n;
                if (frameLeft > 0) {
                    return total;
                }
            }
        }
    }

    /**
     * Reads the server's hello (client) while the handshake runs.
     *
     * @return true once the stream is no longer handshaking
     */
    private boolean awaitHandshake() throws IOException {
        synchronized (readLock) {
            while (true) {
                int wanted;
                synchronized (nativeLock) {
                    refresh();
                    if (status[0] != HANDSHAKING) {
                        return true;
                    }
                    wanted = (int) status[1];
                }
                if (wanted == 0) {
                    return false; // (server) the peer has not spoken yet: reads drive it
                }
                int n = readControl(wanted);
                if (n < 0) {
                    failedHandshake = true;
                    throw new EOFException("peer closed the connection during the Ferry handshake");
                }
                if (n == 0) {
                    return false;
                }
                flushControl();
            }
        }
    }

    /**
     * Gathering write of at most {@code limit} payload bytes from srcs, after {@code head} (may
     * be null). Returns the payload bytes written.
     */
    private long writeLimited(ByteBuffer[] srcs, int offset, int length, long limit, ByteBuffer head)
            throws IOException {
        int extra = head == null ? 0 : 1;
        ByteBuffer[] out = new ByteBuffer[length + extra];
        int[] limits = new int[length];
        int count = 0;
        if (head != null) {
            out[count++] = head;
        }
        long left = limit;
        for (int i = 0; i < length && left > 0; i++) {
            ByteBuffer b = srcs[offset + i];
            limits[i] = b.limit();
            if (b.remaining() > left) {
                b.limit(b.position() + (int) left);
            }
            left -= b.remaining();
            out[count++] = b;
        }
        int headBefore = head == null ? 0 : head.remaining();
        long n;
        try {
            n = socket.write(out, 0, count);
        } finally {
            for (int i = 0; i < count - extra; i++) {
                srcs[offset + i].limit(limits[i]);
            }
        }
        int headWritten = head == null ? 0 : headBefore - head.remaining();
        return n - headWritten;
    }

    private static long remaining(ByteBuffer[] srcs, int offset, int length) {
        long n = 0;
        for (int i = 0; i < length; i++) {
            n += srcs[offset + i].remaining();
        }
        return n;
    }

    /** Hands the socket to the native remote driver; the caller holds nativeLock, the handshake is out. */
    private void startRemote(int peerPort) throws IOException {
        String peerIp = ((InetSocketAddress) socket.getRemoteAddress()).getAddress().getHostAddress();
        RemotePayload r = remotePayload;
        r.node().call(node -> {
            Native.streamRemoteStart(handle, node, fd, peerIp, r.windowBytes(), r.slabBytes(), r.minReadBytes(),
                    r.streamsPerConnection());
            return null;
        });
        remote = true;
    }

    private int remoteRead(ByteBuffer dst) throws IOException {
        synchronized (readLock) {
            while (true) {
                int n;
                synchronized (nativeLock) {
                    checkOpen();
                    try {
                        n = dst.isDirect()
                                ? Native.streamRemoteRead(handle, dst, null, dst.position(), dst.remaining())
                                : Native.streamRemoteRead(handle, null, dst.array(),
                                        dst.arrayOffset() + dst.position(), dst.remaining());
                    } catch (FerryException e) {
                        throw new IOException("Ferry stream: " + e.getMessage(), e);
                    }
                }
                if (n > 0) {
                    dst.position(dst.position() + n);
                }
                if (n != 0 || !dst.hasRemaining() || !socket.isBlocking()) {
                    return n;
                }
                awaitSocket(false);
            }
        }
    }

    private long remoteWrite(ByteBuffer[] srcs, int offset, int length) throws IOException {
        synchronized (writeLock) {
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
                long n;
                synchronized (nativeLock) {
                    checkOpen();
                    try {
                        n = Native.streamRemoteWrite(handle, directs, arrays, offsets, lengths);
                    } catch (FerryException e) {
                        throw new IOException("Ferry stream: " + e.getMessage(), e);
                    }
                }
                total += n;
                long left = n;
                for (int i = 0; i < length && left > 0; i++) {
                    ByteBuffer b = srcs[offset + i];
                    int k = (int) Math.min(left, b.remaining());
                    b.position(b.position() + k);
                    offsets[i] += k;
                    lengths[i] -= k;
                    left -= k;
                }
                // Blocking channels write everything, as the JDK's do.
                if (remaining(srcs, offset, length) == 0 || !socket.isBlocking()) {
                    return total;
                }
                if (n == 0) {
                    awaitSocket(true);
                }
            }
        }
    }

    private void checkOpen() throws IOException {
        if (handle == 0) {
            throw new ClosedChannelException();
        }
    }

    /** A blocking channel waits for its socket between non-blocking remote calls. */
    private void awaitSocket(boolean writable) throws IOException {
        synchronized (nativeLock) {
            checkOpen();
            Native.streamRemoteWait(handle, writable, 100);
        }
    }

    /**
     * Queues a CLOSE frame and sends it if the socket takes it now, then frees the native state.
     * A remote stream first waits, up to 5 seconds, until the peer has READ everything written
     * (the registered memory goes away with the stream), discarding what the peer still sends. The
     * socket stays open: close it yourself.
     */
    @Override
    public void close() {
        synchronized (writeLock) {
            synchronized (nativeLock) {
                if (handle == 0) {
                    return;
                }
                try {
                    // A remote stream may be inside a DATA frame of its own: the socket's end says enough.
                    if (!plain && status[0] == OPEN && framed && frameLeft == 0 && !remote) {
                        Native.streamShutdown(handle);
                        flushControl();
                    }
                } catch (IOException | RuntimeException ignored) {
                    // best effort: the peer also sees the socket close
                }
                Native.streamFree(handle);
                handle = 0;
            }
        }
    }

    /** @return this process's stream counters */
    public static Counters counters() {
        long[] values = Native.streamCounters();
        values[3] += INLINE_SENT.sum();
        values[4] += INLINE_RECEIVED.sum();
        return new Counters(values);
    }

    /** Counters over every Ferry stream in this process. */
    public static final class Counters {
        private final long[] values;

        Counters(long[] values) {
            this.values = values.clone();
        }

        /** @return streams whose handshake completed (both ends count theirs) */
        public long opened() {
            return values[0];
        }

        /** @return accepted connections whose peer turned out plain */
        public long plain() {
            return values[1];
        }

        /** @return handshakes that failed: a bad hello, another version, a different secret */
        public long failed() {
            return values[2];
        }

        /** @return payload bytes sent through streams */
        public long bytesSent() {
            return values[3];
        }

        /** @return payload bytes received through streams */
        public long bytesReceived() {
            return values[4];
        }

        /** @return DATA frames sent */
        public long framesSent() {
            return values[5];
        }

        /** @return payload bytes sent by NOTIFY: the peer READ them from this process's memory */
        public long notifiedBytes() {
            return values[6];
        }

        /** @return payload bytes received by one-sided READ */
        public long readBytes() {
            return values[7];
        }

        /** @return bytes of registered slabs held by remote streams now (bounded by their windows) */
        public long slabBytes() {
            return values[8];
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
