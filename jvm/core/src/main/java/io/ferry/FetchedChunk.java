package io.ferry;

import java.nio.ByteBuffer;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.atomic.AtomicLong;

/**
 * A piece of a fetched block, in a pinned native buffer from the node's pool (no copy). Chunks of
 * one block arrive in order; the block is complete with the chunk for which {@link #isLast()}.
 * Close every chunk as soon as its bytes are consumed: that returns the buffer to the pool (the
 * pool is bounded, so unclosed chunks end in {@link FerryPoolExhaustedException}), and buffers
 * from {@link #data()} must not be used afterwards: {@link #close()} empties them (limit 0), so
 * reading them throws ({@link java.nio.BufferUnderflowException}, {@link IndexOutOfBoundsException})
 * rather than returning bytes of the pool buffer's next fetch. Slices and duplicates made from
 * them are not emptied: do not keep those past {@link #close()} either. Whatever is kept, the
 * memory under it stays mapped while it is reachable, so no misuse crashes the JVM.
 */
public final class FetchedChunk implements AutoCloseable {
    private final int block;
    private final long offset;
    private final long blockLength;
    private final ByteBuffer data;
    private final AtomicLong handle;
    /** Every buffer {@link #data()} returned, to empty on close; guarded by this. */
    private final List<ByteBuffer> handedOut = new ArrayList<>(1);

    FetchedChunk(int block, long offset, long blockLength, long handle, ByteBuffer data) {
        this.block = block;
        this.offset = offset;
        this.blockLength = blockLength;
        this.data = data;
        this.handle = new AtomicLong(handle);
    }

    /** @return the block's index among all block ids of the fetch, in request order */
    public int block() {
        return block;
    }

    /** @return where this chunk starts within its block */
    public long offset() {
        return offset;
    }

    /** @return the whole block's length */
    public long blockLength() {
        return blockLength;
    }

    /**
     * @return the chunk's bytes: a new direct buffer (own position and limit) over the pinned
     *     native memory, valid until {@link #close()}, empty after it
     * @throws IllegalStateException after {@link #close()}
     */
    public synchronized ByteBuffer data() {
        if (handle.get() == 0) {
            throw new IllegalStateException("the chunk is closed");
        }
        ByteBuffer view = data.duplicate();
        handedOut.add(view);
        return view;
    }

    /** @return true for the block's last chunk */
    public boolean isLast() {
        return offset + data.capacity() == blockLength;
    }

    /** Empties the buffers {@link #data()} returned and returns the memory to the pool; idempotent. */
    @Override
    public void close() {
        long h = handle.getAndSet(0);
        if (h != 0) {
            synchronized (this) {
                for (ByteBuffer view : handedOut) {
                    view.limit(0);
                }
                handedOut.clear();
            }
            Native.chunkRelease(h);
        }
    }
}
