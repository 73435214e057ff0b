package io.ferry.kafka;

import io.ferry.FerryException;
import io.ferry.FerryStream;
import java.io.FileDescriptor;
import java.io.FileOutputStream;
import java.io.IOException;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.net.SocketAddress;
import java.net.SocketException;
import java.net.SocketOption;
import java.nio.ByteBuffer;
import java.nio.channels.SocketChannel;
import java.nio.channels.spi.SelectorProvider;
import java.util.Set;
import sun.nio.ch.SelChImpl;

/**
 * A TCP connection the rules may accelerate: the JDK's own {@code SocketChannelImpl} underneath
 * (its descriptor is what selectors poll), with a {@link FerryStream} on top while the two ends
 * speak Ferry. Plain connections (no rule, a plain peer, a failed handshake) pass every call
 * straight to the JDK's channel, sendfile included.
 *
 * <p>Unframed streams (the default on the tcp provider) carry Kafka's bytes unchanged after the
 * handshake, so {@code FileChannel.transferTo} keeps using sendfile on the socket. While a framed
 * stream is open (or the handshake runs), {@link #getFD()} answers a descriptor opened with {@code O_APPEND}
 * (of {@code /dev/null}), on which the kernel refuses {@code sendfile} with {@code EINVAL}: the
 * JDK's {@code FileChannel.transferTo} (Kafka sends log segments with it) then falls back to a
 * mapped buffer written through {@link #write}, so file payload is framed like any other. The
 * selector uses {@link #getFDVal()}: a descriptor of this channel's own for the socket (see {@link
 * OwnedDescriptor}), so the JDK channel underneath closing its descriptor early never confuses it.
 */
final class FerrySocketChannel extends SocketChannel implements DelegatingSelChImpl {
    private static final ByteBuffer[] NOTHING = new ByteBuffer[0];
    private static final FileDescriptor NO_SENDFILE = appendOnlyDescriptor();

    private final SocketChannel inner;
    private final SelChImpl innerSel;
    private final FerryKafka plugin;
    private final boolean accepted;
    private final Socket adaptor;
    /** What selectors register: closed only after they deregistered this channel. */
    private final OwnedDescriptor own;
    /** The stream while the connection is (or may become) Ferry; null when plain. */
    private volatile FerryStream stream;
    private volatile boolean wantFerry;
    private InetSocketAddress remote;
    private boolean counted;

    FerrySocketChannel(SelectorProvider provider, SocketChannel inner, FerryKafka plugin, SocketChannel acceptedChannel)
            throws IOException {
        super(provider);
        this.inner = inner;
        this.innerSel = (SelChImpl) inner;
        try {
            this.own = OwnedDescriptor.of(innerSel.getFD());
        } catch (IOException e) {
            inner.close();
            throw e;
        }
        this.plugin = plugin;
        this.accepted = acceptedChannel != null;
        this.adaptor = adaptor(this, inner);
        if (accepted) {
            stream = plugin.newServerStream(inner);
        }
    }

    private static Socket adaptor(FerrySocketChannel channel, SocketChannel inner) {
        try {
            return new FerrySocketAdaptor(channel, inner.socket());
        } catch (SocketException e) { // Socket's constructor without a SocketImpl does not throw
            throw new IllegalStateException(e);
        }
    }

    private static FileDescriptor appendOnlyDescriptor() {
        try {
            @SuppressWarnings("resource") // held for the life of the process
            FileOutputStream out = new FileOutputStream("/dev/null", true);
            return out.getFD();
        } catch (IOException e) {
            throw new IllegalStateException("cannot open /dev/null", e);
        }
    }

    /** @return true while payload moves through a Ferry stream (or may, during the handshake) */
    boolean isFerry() {
        return stream != null;
    }

    @Override
    public boolean connect(SocketAddress address) throws IOException {
        applyRules(address);
        boolean connected = inner.connect(address);
        if (connected) {
            startClient();
        }
        return connected;
    }

    /** {@code socket().connect(address, timeout)}: a blocking connect with a timeout. */
    void connectThroughAdaptor(SocketAddress address, int timeout) throws IOException {
        applyRules(address);
        inner.socket().connect(address, timeout);
        startClient();
    }

    private void applyRules(SocketAddress address) {
        if (!accepted && address instanceof InetSocketAddress) {
            remote = (InetSocketAddress) address;
            wantFerry = plugin.tryFerry(remote);
        }
    }

    @Override
    public boolean finishConnect() throws IOException {
        boolean connected = inner.finishConnect();
        if (connected) {
            startClient();
        }
        return connected;
    }

    private void startClient() throws IOException {
        if (!wantFerry || stream != null) {
            return;
        }
        wantFerry = false;
        FerryStream s = plugin.newClientStream(inner);
        if (s == null) {
            return;
        }
        stream = s;
        try {
            s.write(NOTHING, 0, 0); // the hello goes out now
        } catch (IOException e) {
            failed(s, e);
            throw e;
        }
    }

    @Override
    public int read(ByteBuffer dst) throws IOException {
        FerryStream s = stream;
        if (s == null) {
            return inner.read(dst);
        }
        try {
            int n = s.read(dst);
            settle(s);
            return n;
        } catch (IOException | FerryException e) {
            throw failed(s, e);
        }
    }

    @Override
    public long read(ByteBuffer[] dsts, int offset, int length) throws IOException {
        if (stream == null) {
            return inner.read(dsts, offset, length);
        }
        long total = 0;
        for (int i = offset; i < offset + length; i++) {
            int want = dsts[i].remaining();
            if (want == 0) {
                continue;
            }
            int n = read(dsts[i]);
            if (n < 0) {
                return total > 0 ? total : -1;
            }
            total += n;
            if (n < want) {
                break;
            }
        }
        return total;
    }

    @Override
    public int write(ByteBuffer src) throws IOException {
        FerryStream s = stream;
        if (s == null) {
            return inner.write(src);
        }
        try {
            int n = s.write(src);
            settle(s);
            return n;
        } catch (IOException | FerryException e) {
            throw failed(s, e);
        }
    }

    @Override
    public long write(ByteBuffer[] srcs, int offset, int length) throws IOException {
        FerryStream s = stream;
        if (s == null) {
            return inner.write(srcs, offset, length);
        }
        try {
            long n = s.write(srcs, offset, length);
            settle(s);
            return n;
        } catch (IOException | FerryException e) {
            throw failed(s, e);
        }
    }

    /** Notes the handshake's outcome once: counts an open stream, or drops a plain peer's stream. */
    private void settle(FerryStream s) {
        if (counted) {
            return;
        }
        if (s.isPlain()) {
            if (!s.hasBufferedInput()) {
                counted = true;
                stream = null;
                s.close();
                plugin.acceptedPlain();
            }
        } else if (s.isEstablished()) {
            counted = true;
            plugin.opened(accepted);
        }
    }

    private IOException failed(FerryStream s, Exception e) {
        if (!counted && s.handshakeFailed()) {
            counted = true;
            plugin.handshakeFailed(accepted ? null : remote, e);
        }
        return e instanceof IOException ? (IOException) e : new IOException(e.getMessage(), e);
    }

    @Override
    public SocketChannel bind(SocketAddress local) throws IOException {
        inner.bind(local);
        return this;
    }

    @Override
    public <T> SocketChannel setOption(SocketOption<T> name, T value) throws IOException {
        inner.setOption(name, value);
        return this;
    }

    @Override
    public <T> T getOption(SocketOption<T> name) throws IOException {
        return inner.getOption(name);
    }

    @Override
    public Set<SocketOption<?>> supportedOptions() {
        return inner.supportedOptions();
    }

    @Override
    public SocketChannel shutdownInput() throws IOException {
        inner.shutdownInput();
        return this;
    }

    @Override
    public SocketChannel shutdownOutput() throws IOException {
        inner.shutdownOutput();
        return this;
    }

    @Override
    public Socket socket() {
        return adaptor;
    }

    @Override
    public boolean isConnected() {
        return inner.isConnected();
    }

    @Override
    public boolean isConnectionPending() {
        return inner.isConnectionPending();
    }

    @Override
    public SocketAddress getRemoteAddress() throws IOException {
        return inner.getRemoteAddress();
    }

    @Override
    public SocketAddress getLocalAddress() throws IOException {
        return inner.getLocalAddress();
    }

    @Override
    protected void implConfigureBlocking(boolean block) throws IOException {
        inner.configureBlocking(block);
    }

    @Override
    protected void implCloseSelectableChannel() throws IOException {
        FerryStream s = stream;
        if (s != null) {
            s.close();
        }
        // While registered, the selector still polls our descriptor: close it in kill(), after
        // deregistration, as the JDK does (socket().close() comes here too, see FerrySocketAdaptor).
        if (!isRegistered()) {
            kill();
        }
    }

    @Override
    public void kill() throws IOException {
        try {
            inner.close();
        } finally {
            own.close();
        }
    }

    @Override
    public int getFDVal() {
        return own.value();
    }

    @Override
    public SelChImpl delegate() {
        return innerSel;
    }

    @Override
    public FileDescriptor getFD() {
        FerryStream s = stream;
        return s == null || s.isInline() ? own.fd() : NO_SENDFILE;
    }

    @Override
    public String toString() {
        return (stream != null ? "Ferry" : "Plain") + inner;
    }
}
