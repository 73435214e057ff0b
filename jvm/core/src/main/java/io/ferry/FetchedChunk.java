package io.ferry;

import java.nio.ByteBuffer;

/**
 * A piece of a fetched block, in a pinned native buffer from the node's pool (no copy). Chunks of
 * one block arrive in order; the block is complete with the chunk for which {@link #isLast()}.
 * Close the chunk as soon as its bytes are consumed: that returns the buffer to the pool, and the
 * {@link #data()} buffer must not be used afterwards.
 */
public final class FetchedChunk implements AutoCloseable {
    private final int block;
    private final long offset;
    private final long blockLength;
    private final ByteBuffer data;
    private final NativeResource buffer;

    FetchedChunk(int block, long offset, long blockLength, long handle, ByteBuffer data) {
        this.block = block;
        this.offset = offset;
        this.blockLength = blockLength;
        this.data = data;
        this.buffer = new NativeResource(this, handle, Native::chunkRelease);
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
     * @return the chunk's bytes, a direct buffer over pinned native memory
     * @throws IllegalStateException after {@link #close()}
     */
    public ByteBuffer data() {
        buffer.handle("the chunk");
        return data;
    }

    /** @return true for the block's last chunk */
    public boolean isLast() {
        return offset + data.capacity() == blockLength;
    }

    /** Returns the buffer to the pool; idempotent. */
    @Override
    public void close() {
        buffer.close();
    }
}
