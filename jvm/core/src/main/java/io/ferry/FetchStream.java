package io.ferry;

import java.nio.ByteBuffer;

/**
 * The results of one batched fetch, pulled in completion order. Pulling is what lets more READs
 * go out, so a slow consumer slows the transfer rather than growing memory. Not for concurrent
 * use by several threads.
 */
public final class FetchStream implements AutoCloseable {
    /** Returned by fetchNext for a chunk, whose details are in meta. */
    private static final Object CHUNK = new Object();

    private final long[] meta = new long[8];
    private final NativeResource fetch;
    private final BufferViews views;

    FetchStream(long handle, BufferViews views) {
        this.fetch = new NativeResource(this, handle, Native::fetchClose);
        this.views = views;
    }

    /**
     * Waits for the next result, at most {@code ferry.request.timeout.ms} without progress (then
     * the unfinished blocks fail with {@link FerryTimeoutException}).
     *
     * @return the next chunk or block failure, or null once every block is done
     */
    public synchronized FetchResult next() {
        Object result = Native.fetchNext(fetch.handle("the fetch"), meta, CHUNK);
        if (result == null) {
            return null;
        }
        if (result == CHUNK) {
            ByteBuffer data = views.slice(meta[3], meta[4], (int) meta[7], (int) meta[6]);
            return FetchResult.of(new FetchedChunk((int) meta[0], meta[1], meta[2], meta[3], data));
        }
        return FetchResult.failed((int) meta[0], (FerryException) result);
    }

    /** Stops the fetch; chunks already returned stay valid until closed. Idempotent. */
    @Override
    public synchronized void close() {
        fetch.close();
    }
}
