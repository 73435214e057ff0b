package io.ferry;

import java.lang.ref.Cleaner;
import java.util.function.LongConsumer;

/**
 * A native object owned by a Java object: freed by {@link #close()}, or, as a last resort, when
 * the owner becomes unreachable (so a forgotten chunk cannot hold a pinned buffer forever).
 */
final class NativeResource implements AutoCloseable {
    private static final Cleaner CLEANER = Cleaner.create();

    private final Handle state;
    private final Cleaner.Cleanable cleanable;

    NativeResource(Object owner, long handle, LongConsumer free) {
        this.state = new Handle(handle, free);
        this.cleanable = CLEANER.register(owner, state);
    }

    /** @throws IllegalStateException once closed */
    long handle(String what) {
        long handle = state.handle;
        if (handle == 0) {
            throw new IllegalStateException(what + " is closed");
        }
        return handle;
    }

    /** @return true once freed */
    boolean isClosed() {
        return state.handle == 0;
    }

    /** Frees the native object; later calls do nothing. */
    @Override
    public void close() {
        cleanable.clean();
    }

    /** Must not refer to the owner, or the owner never becomes unreachable. */
    private static final class Handle implements Runnable {
        private final LongConsumer free;
        private volatile long handle;

        Handle(long handle, LongConsumer free) {
            this.handle = handle;
            this.free = free;
        }

        @Override
        public void run() {
            long h = handle;
            handle = 0;
            if (h != 0) {
                free.accept(h);
            }
        }
    }
}
