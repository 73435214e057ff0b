package io.ferry;

/** One result of a fetch: a chunk of a block, or the failure of a block. */
public final class FetchResult {
    private final int block;
    private final FetchedChunk chunk;
    private final FerryException failure;

    private FetchResult(int block, FetchedChunk chunk, FerryException failure) {
        this.block = block;
        this.chunk = chunk;
        this.failure = failure;
    }

    static FetchResult of(FetchedChunk chunk) {
        return new FetchResult(chunk.block(), chunk, null);
    }

    static FetchResult failed(int block, FerryException failure) {
        return new FetchResult(block, null, failure);
    }

    /** @return the block's index among all block ids of the fetch, in request order */
    public int block() {
        return block;
    }

    /** @return the chunk, or null when the block failed */
    public FetchedChunk chunk() {
        return chunk;
    }

    /**
     * @return why the block failed (chunks of it already delivered must be discarded), or null
     */
    public FerryException failure() {
        return failure;
    }
}
