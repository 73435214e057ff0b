package io.ferry.kafka;

import java.io.IOException;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.SocketAddress;
import java.net.SocketOption;
import java.nio.channels.ServerSocketChannel;
import java.nio.channels.SocketChannel;
import java.nio.channels.spi.SelectorProvider;
import java.util.Set;
import sun.nio.ch.SelChImpl;

/**
 * A listening socket: the JDK's own {@code ServerSocketChannelImpl} underneath, registered with
 * selectors through its file descriptor. {@link #accept()} returns the JDK's accepted channel
 * unchanged unless the rules select this listener's port; then it returns a {@link
 * FerrySocketChannel} that looks at the peer's first bytes for the Ferry preamble.
 */
final class FerryServerSocketChannel extends ServerSocketChannel implements DelegatingSelChImpl {
    private final ServerSocketChannel inner;
    private final SelChImpl innerSel;
    private final FerryKafka plugin;

    FerryServerSocketChannel(SelectorProvider provider, ServerSocketChannel inner, FerryKafka plugin) {
        super(provider);
        this.inner = inner;
        this.innerSel = (SelChImpl) inner;
        this.plugin = plugin;
    }

    @Override
    public SocketChannel accept() throws IOException {
        SocketChannel accepted = inner.accept();
        if (accepted == null) {
            return null;
        }
        SocketAddress local = inner.getLocalAddress();
        if (local instanceof InetSocketAddress && plugin.accepts(((InetSocketAddress) local).getPort())) {
            return new FerrySocketChannel(provider(), accepted, plugin, accepted);
        }
        return accepted;
    }

    @Override
    public ServerSocketChannel bind(SocketAddress local, int backlog) throws IOException {
        inner.bind(local, backlog);
        return this;
    }

    @Override
    public <T> ServerSocketChannel setOption(SocketOption<T> name, T value) throws IOException {
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
    public ServerSocket socket() {
        return inner.socket();
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
        // While registered, the selector still polls the descriptor: the JDK closes it in kill(),
        // after deregistration, so that a reused number never meets a stale key.
        if (!isRegistered()) {
            inner.close();
        }
    }

    @Override
    public SelChImpl delegate() {
        return innerSel;
    }

    @Override
    public String toString() {
        return "Ferry" + inner;
    }
}
