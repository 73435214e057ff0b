package io.ferry.kafka;

import java.io.IOException;
import java.lang.reflect.Constructor;
import java.lang.reflect.InvocationTargetException;
import java.net.ProtocolFamily;
import java.nio.channels.Channel;
import java.nio.channels.DatagramChannel;
import java.nio.channels.Pipe;
import java.nio.channels.ServerSocketChannel;
import java.nio.channels.SocketChannel;
import java.nio.channels.spi.AbstractSelector;
import java.nio.channels.spi.SelectorProvider;

/**
 * Kafka's network layer takes every selector and socket channel from {@link
 * SelectorProvider#provider()}; with {@code
 * -Djava.nio.channels.spi.SelectorProvider=io.ferry.kafka.FerrySelectorProvider} this class is
 * that provider. It builds the JDK's own implementation classes ({@code sun.nio.ch.SocketChannelImpl},
 * {@code ServerSocketChannelImpl}, {@code EPollSelectorImpl}) with itself as their provider, so
 * every connection the rules do not select is the JDK's own object (sendfile included). Server
 * channels are wrapped so that accepted connections on a selected port can be checked for the Ferry
 * preamble; outgoing channels are wrapped so that the rules can be applied at {@code connect()}.
 * Pipes and datagram channels come from the JDK's default provider.
 *
 * <p>Needs {@code --add-opens java.base/sun.nio.ch=ALL-UNNAMED}. Without it, or with a bad config
 * file, the provider logs why and hands out the JDK's objects only.
 */
public final class FerrySelectorProvider extends SelectorProvider {
    private final SelectorProvider jdk;
    private final Constructor<?> socketChannel;
    private final Constructor<?> socketChannelFamily;
    private final Constructor<?> serverSocketChannel;
    private final Constructor<?> serverSocketChannelFamily;
    private final Constructor<?> selector;
    private final FerryKafka plugin;

    /** Called by {@link SelectorProvider#provider()}: must not open channels itself. */
    public FerrySelectorProvider() {
        this(FerryKafkaConfig.load());
    }

    /** A provider with the given config (tests). */
    FerrySelectorProvider(FerryKafkaConfig config) {
        if (!Object.class.getModule().isOpen("sun.nio.ch", FerrySelectorProvider.class.getModule())) {
            throw new IllegalStateException("ferry-kafka needs the JDK's sun.nio.ch classes: add "
                    + "--add-opens java.base/sun.nio.ch=ALL-UNNAMED to the JVM options (KAFKA_OPTS)");
        }
        try {
            Class<?> defaults = Class.forName("sun.nio.ch.DefaultSelectorProvider");
            jdk = (SelectorProvider) defaults.getMethod("get").invoke(null);
            socketChannel = open("sun.nio.ch.SocketChannelImpl", SelectorProvider.class);
            socketChannelFamily = open("sun.nio.ch.SocketChannelImpl", SelectorProvider.class, ProtocolFamily.class);
            serverSocketChannel = open("sun.nio.ch.ServerSocketChannelImpl", SelectorProvider.class);
            serverSocketChannelFamily =
                    open("sun.nio.ch.ServerSocketChannelImpl", SelectorProvider.class, ProtocolFamily.class);
            selector = open("sun.nio.ch.EPollSelectorImpl", SelectorProvider.class);
        } catch (ReflectiveOperationException | RuntimeException e) {
            throw new IllegalStateException("ferry-kafka needs the JDK's sun.nio.ch classes: add "
                    + "--add-opens java.base/sun.nio.ch=ALL-UNNAMED to the JVM options (KAFKA_OPTS): " + e, e);
        }
        plugin = FerryKafka.start(config);
    }

    private static Constructor<?> open(String className, Class<?>... parameters) throws ReflectiveOperationException {
        Constructor<?> c = Class.forName(className).getDeclaredConstructor(parameters);
        c.setAccessible(true);
        return c;
    }

    private Object make(Constructor<?> c, Object... args) throws IOException {
        try {
            return c.newInstance(args);
        } catch (InvocationTargetException e) {
            Throwable cause = e.getCause();
            if (cause instanceof IOException) {
                throw (IOException) cause;
            }
            if (cause instanceof RuntimeException) {
                throw (RuntimeException) cause;
            }
            throw new IOException(cause);
        } catch (ReflectiveOperationException e) {
            throw new IOException("cannot build " + c.getDeclaringClass().getName(), e);
        }
    }

    /** @return the plugin state (config, counters) of this process */
    public FerryKafka plugin() {
        return plugin;
    }

    @Override
    public AbstractSelector openSelector() throws IOException {
        return (AbstractSelector) make(selector, this);
    }

    @Override
    public ServerSocketChannel openServerSocketChannel() throws IOException {
        ServerSocketChannel jdkChannel = (ServerSocketChannel) make(serverSocketChannel, this);
        return plugin.active() ? Wrappers.serverSocket(this, jdkChannel, plugin) : jdkChannel;
    }

    @Override
    public ServerSocketChannel openServerSocketChannel(ProtocolFamily family) throws IOException {
        ServerSocketChannel jdkChannel = (ServerSocketChannel) make(serverSocketChannelFamily, this, family);
        return plugin.active() ? Wrappers.serverSocket(this, jdkChannel, plugin) : jdkChannel;
    }

    @Override
    public SocketChannel openSocketChannel() throws IOException {
        SocketChannel jdkChannel = (SocketChannel) make(socketChannel, this);
        return plugin.active() && plugin.connectsOut() ? Wrappers.socket(this, jdkChannel, plugin) : jdkChannel;
    }

    @Override
    public SocketChannel openSocketChannel(ProtocolFamily family) throws IOException {
        SocketChannel jdkChannel = (SocketChannel) make(socketChannelFamily, this, family);
        return plugin.active() && plugin.connectsOut() ? Wrappers.socket(this, jdkChannel, plugin) : jdkChannel;
    }

    @Override
    public DatagramChannel openDatagramChannel() throws IOException {
        return jdk.openDatagramChannel();
    }

    @Override
    public DatagramChannel openDatagramChannel(ProtocolFamily family) throws IOException {
        return jdk.openDatagramChannel(family);
    }

    @Override
    public Pipe openPipe() throws IOException {
        return jdk.openPipe();
    }

    @Override
    public Channel inheritedChannel() throws IOException {
        return jdk.inheritedChannel();
    }
}
