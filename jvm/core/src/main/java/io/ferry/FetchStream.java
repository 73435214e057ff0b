package io.ferry;

import java.nio.ByteBuffer;

/**
 * The results of one batched fetch, pulled in completion order. Pulling is what lets more READs
 * go out, so a slow consumer slows the transfer rather than growing memory. Not for concurrent
 * use by several threads.
 */
public final class FetchStream implements AutoCloseable {
    // Where fetchNext puts each chunk's fields: the same names as ferry_core::fetch::abi.
    static final int CHUNK_BLOCK = 0;
    static final int CHUNK_OFFSET = 1;
    static final int CHUNK_BLOCK_LENGTH = 2;
    static final int CHUNK_HANDLE = 3;
    static final int CHUNK_BUFFER_ADDRESS = 4;
    static final int CHUNK_LENGTH = 5;
    static final int CHUNK_START = 6;
    static final int CHUNK_FIELDS = 7;

    /** Returned by fetchNext for chunks, whose details are in the batch's meta. */
    private static final Object CHUNK = new Object();

    private final Batch batch = new Batch();
    private final NativeResource fetch;
    private final BufferViews views;

    FetchStream(long handle, BufferViews views) {
        Batch batch = this.batch;
        // Chunks handed over but not yet returned go back to the pool with the fetch, also when
        // the stream is dropped unclosed (the action refers to the batch, not to this stream).
        this.fetch = new NativeResource(this, handle, h -> {
            batch.releaseUnreturned();
            Native.fetchClose(h);
        });
        this.views = views;
    }

    /**
     * Waits for the next result, at most {@code ferry.request.timeout.ms} without progress (then
     * the unfinished blocks fail with {@link FerryTimeoutException}).
     *
     * @return the next chunk or block failure, or null once every block is done
     */
    public synchronized FetchResult next() {
        if (batch.next == batch.count) {
            long[] meta = batch.meta;
            Object result = Native.fetchNext(fetch.handle("the fetch"), meta, CHUNK);
            if (result == null) {
                return null;
            }
            if (result != CHUNK) {
                return FetchResult.failed((int) meta[0], (FerryException) result);
            }
            batch.count = (int) meta[0];
            batch.next = 0;
        }
        long[] meta = batch.meta;
        int at = Batch.at(batch.next++);
        long handle = meta[at + CHUNK_HANDLE];
        ByteBuffer data = views.slice(handle, meta[at + CHUNK_BUFFER_ADDRESS], (int) meta[at + CHUNK_START],
                (int) meta[at + CHUNK_LENGTH]);
        return FetchResult.of(new FetchedChunk((int) meta[at + CHUNK_BLOCK], meta[at + CHUNK_OFFSET],
                meta[at + CHUNK_BLOCK_LENGTH], handle, data));
    }

    /** Stops the fetch; chunks already returned stay valid until closed. Idempotent. */
    @Override
    public synchronized void close() {
        fetch.close();
    }

    /**
     * Chunks that one fetchNext call handed over (as many as were already received, up to
     * {@link #CHUNKS}: one JNI call per batch rather than per chunk), returned one per next().
     * meta[0] is their count, then {@link #CHUNK_FIELDS} longs each, at the CHUNK_ positions.
     */
    private static final class Batch {
        static final int CHUNKS = 64;

        final long[] meta = new long[1 + CHUNK_FIELDS * CHUNKS];
        int count;
        int next;

        static int at(int chunk) {
            return 1 + CHUNK_FIELDS * chunk;
        }

        void releaseUnreturned() {
            while (next < count) {
                Native.chunkRelease(meta[at(next++) + CHUNK_HANDLE]);
            }
        }
    }
}
