package io.ferry.kafka;

import java.io.FileDescriptor;
import java.io.IOException;
import sun.nio.ch.SelChImpl;
import sun.nio.ch.SelectionKeyImpl;

/**
 * A channel the JDK's selector polls through the JDK channel underneath it: descriptor and
 * ready-op translation come from that channel, so a wrapper registers and wakes up exactly like
 * the JDK's own object. {@link #kill()} closes the channel underneath; the selector calls it after
 * deregistering a closed wrapper, as it does for its own channels, so a descriptor number is not
 * reused while still registered. (The JDK channel underneath may close itself earlier — a failed
 * connect does — so {@link FerrySocketChannel} registers a descriptor of its own.)
 */
interface DelegatingSelChImpl extends SelChImpl {
    /** @return the JDK channel underneath */
    SelChImpl delegate();

    @Override
    default FileDescriptor getFD() {
        return delegate().getFD();
    }

    @Override
    default int getFDVal() {
        return delegate().getFDVal();
    }

    @Override
    default boolean translateAndUpdateReadyOps(int ops, SelectionKeyImpl ski) {
        return delegate().translateAndUpdateReadyOps(ops, ski);
    }

    @Override
    default boolean translateAndSetReadyOps(int ops, SelectionKeyImpl ski) {
        return delegate().translateAndSetReadyOps(ops, ski);
    }

    @Override
    default int translateInterestOps(int ops) {
        return delegate().translateInterestOps(ops);
    }

    @Override
    default void park(int event, long nanos) throws IOException {
        delegate().park(event, nanos);
    }

    @Override
    default void park(int event) throws IOException {
        delegate().park(event);
    }

    @Override
    default void kill() throws IOException {
        delegate().close();
    }
}
