package io.ferry;

/** Receives a fetch's results on the fetching thread (see {@link BlockFetcher}). */
public interface ChunkListener {
    /**
     * A chunk arrived. The listener owns it and must {@link FetchedChunk#close()} it.
     *
     * @param chunk the chunk
     */
    void onChunk(FetchedChunk chunk);

    /**
     * A block failed; chunks of it already delivered must be discarded.
     *
     * @param block the block's index among all block ids of the fetch
     * @param failure why
     */
    void onFailure(int block, FerryException failure);
}
