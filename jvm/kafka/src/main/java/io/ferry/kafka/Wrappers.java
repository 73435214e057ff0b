package io.ferry.kafka;

import java.io.IOException;
import java.nio.channels.ServerSocketChannel;
import java.nio.channels.SocketChannel;
import java.nio.channels.spi.SelectorProvider;

/**
 * Builds the wrapper channels. Kept apart from {@link FerrySelectorProvider} so that loading the
 * provider does not load the wrappers (which implement {@code sun.nio.ch.SelChImpl}): without
 * {@code --add-opens java.base/sun.nio.ch=ALL-UNNAMED} the provider then fails with a message
 * that names the option instead of an {@code IllegalAccessError} from the class verifier.
 */
final class Wrappers {
    private Wrappers() {}

    static ServerSocketChannel serverSocket(SelectorProvider provider, ServerSocketChannel jdk, FerryKafka plugin) {
        return new FerryServerSocketChannel(provider, jdk, plugin);
    }

    static SocketChannel socket(SelectorProvider provider, SocketChannel jdk, FerryKafka plugin) throws IOException {
        return new FerrySocketChannel(provider, jdk, plugin, null);
    }
}
