package io.ferry.kafka;

import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetAddress;
import java.net.Socket;
import java.net.SocketAddress;
import java.net.SocketException;
import java.net.SocketImpl;
import java.net.SocketOption;
import java.nio.channels.Channels;
import java.nio.channels.SocketChannel;
import java.util.Set;

/**
 * What {@link FerrySocketChannel#socket()} returns: the JDK's socket adaptor of the channel
 * underneath for options and addresses, but closing (and I/O) goes through the wrapper. Kafka's
 * {@code PlaintextTransportLayer.close()} calls {@code socket().close()} before {@code close()}:
 * were that the JDK channel's own adaptor, it would free the descriptor at once while the wrapper
 * is still registered with a selector, the next connection would get the same number, and the
 * selector deregistering the old key would take the new connection out of epoll. Closed through
 * the wrapper, the descriptor is freed in {@code kill()}, after deregistration, as the JDK does.
 */
final class FerrySocketAdaptor extends Socket {
    private final FerrySocketChannel channel;
    /** The JDK's adaptor of the channel underneath; never closed through this class. */
    private final Socket jdk;

    FerrySocketAdaptor(FerrySocketChannel channel, Socket jdk) throws SocketException {
        super((SocketImpl) null); // every method is overridden: no SocketImpl is ever used
        this.channel = channel;
        this.jdk = jdk;
    }

    @Override
    public void close() throws IOException {
        channel.close();
    }

    @Override
    public boolean isClosed() {
        return !channel.isOpen();
    }

    @Override
    public SocketChannel getChannel() {
        return channel;
    }

    @Override
    public void connect(SocketAddress endpoint) throws IOException {
        connect(endpoint, 0);
    }

    @Override
    public void connect(SocketAddress endpoint, int timeout) throws IOException {
        channel.connectThroughAdaptor(endpoint, timeout);
    }

    @Override
    public InputStream getInputStream() throws IOException {
        checkConnected();
        return Channels.newInputStream(channel);
    }

    @Override
    public OutputStream getOutputStream() throws IOException {
        checkConnected();
        return Channels.newOutputStream(channel);
    }

    private void checkConnected() throws SocketException {
        if (isClosed()) {
            throw new SocketException("Socket is closed");
        }
        if (!isConnected()) {
            throw new SocketException("Socket is not connected");
        }
    }

    @Override
    public void bind(SocketAddress bindpoint) throws IOException {
        jdk.bind(bindpoint);
    }

    @Override
    public InetAddress getInetAddress() {
        return jdk.getInetAddress();
    }

    @Override
    public InetAddress getLocalAddress() {
        return jdk.getLocalAddress();
    }

    @Override
    public int getPort() {
        return jdk.getPort();
    }

    @Override
    public int getLocalPort() {
        return jdk.getLocalPort();
    }

    @Override
    public SocketAddress getRemoteSocketAddress() {
        return jdk.getRemoteSocketAddress();
    }

    @Override
    public SocketAddress getLocalSocketAddress() {
        return jdk.getLocalSocketAddress();
    }

    @Override
    public void setTcpNoDelay(boolean on) throws SocketException {
        jdk.setTcpNoDelay(on);
    }

    @Override
    public boolean getTcpNoDelay() throws SocketException {
        return jdk.getTcpNoDelay();
    }

    @Override
    public void setSoLinger(boolean on, int linger) throws SocketException {
        jdk.setSoLinger(on, linger);
    }

    @Override
    public int getSoLinger() throws SocketException {
        return jdk.getSoLinger();
    }

    @Override
    public void sendUrgentData(int data) throws IOException {
        jdk.sendUrgentData(data);
    }

    @Override
    public void setOOBInline(boolean on) throws SocketException {
        jdk.setOOBInline(on);
    }

    @Override
    public boolean getOOBInline() throws SocketException {
        return jdk.getOOBInline();
    }

    @Override
    public void setSoTimeout(int timeout) throws SocketException {
        jdk.setSoTimeout(timeout);
    }

    @Override
    public int getSoTimeout() throws SocketException {
        return jdk.getSoTimeout();
    }

    @Override
    public void setSendBufferSize(int size) throws SocketException {
        jdk.setSendBufferSize(size);
    }

    @Override
    public int getSendBufferSize() throws SocketException {
        return jdk.getSendBufferSize();
    }

    @Override
    public void setReceiveBufferSize(int size) throws SocketException {
        jdk.setReceiveBufferSize(size);
    }

    @Override
    public int getReceiveBufferSize() throws SocketException {
        return jdk.getReceiveBufferSize();
    }

    @Override
    public void setKeepAlive(boolean on) throws SocketException {
        jdk.setKeepAlive(on);
    }

    @Override
    public boolean getKeepAlive() throws SocketException {
        return jdk.getKeepAlive();
    }

    @Override
    public void setTrafficClass(int tc) throws SocketException {
        jdk.setTrafficClass(tc);
    }

    @Override
    public int getTrafficClass() throws SocketException {
        return jdk.getTrafficClass();
    }

    @Override
    public void setReuseAddress(boolean on) throws SocketException {
        jdk.setReuseAddress(on);
    }

    @Override
    public boolean getReuseAddress() throws SocketException {
        return jdk.getReuseAddress();
    }

    @Override
    public void setPerformancePreferences(int connectionTime, int latency, int bandwidth) {
        jdk.setPerformancePreferences(connectionTime, latency, bandwidth);
    }

    @Override
    public <T> Socket setOption(SocketOption<T> name, T value) throws IOException {
        jdk.setOption(name, value);
        return this;
    }

    @Override
    public <T> T getOption(SocketOption<T> name) throws IOException {
        return jdk.getOption(name);
    }

    @Override
    public Set<SocketOption<?>> supportedOptions() {
        return jdk.supportedOptions();
    }

    @Override
    public void shutdownInput() throws IOException {
        channel.shutdownInput();
    }

    @Override
    public void shutdownOutput() throws IOException {
        channel.shutdownOutput();
    }

    @Override
    public boolean isConnected() {
        return channel.isConnected();
    }

    @Override
    public boolean isBound() {
        return jdk.isBound();
    }

    @Override
    public boolean isInputShutdown() {
        return jdk.isInputShutdown();
    }

    @Override
    public boolean isOutputShutdown() {
        return jdk.isOutputShutdown();
    }

    @Override
    public String toString() {
        return "Ferry" + jdk;
    }
}
