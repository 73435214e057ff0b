package io.ferry;

import java.nio.ByteBuffer;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.Executor;

/** Fetches blocks asynchronously, pulling each fetch's results on an executor's thread. */
public final class BlockFetcher {
    private final FerryNode node;
    private final Executor executor;

    /**
     * @param node the node whose pool and connections the fetches use
     * @param executor runs one task per fetch, for as long as the fetch lasts
     */
    public BlockFetcher(FerryNode node, Executor executor) {
        this.node = node;
        this.executor = executor;
    }

    /**
     * Fetches the requested blocks, handing each chunk and each block failure to the listener.
     *
     * @param requests the blocks, grouped by peer; block indexes count across all requests
     * @param listener receives the results on the executor's thread
     * @return completes when every block is done (or exceptionally if the fetch could not run)
     */
    public CompletableFuture<Void> fetch(List<FetchRequest> requests, ChunkListener listener) {
        CompletableFuture<Void> done = new CompletableFuture<>();
        executor.execute(() -> {
            try (FetchStream stream = node.fetch(requests)) {
                for (FetchResult r = stream.next(); r != null; r = stream.next()) {
                    if (r.chunk() != null) {
                        listener.onChunk(r.chunk());
                    } else {
                        listener.onFailure(r.block(), r.failure());
                    }
                }
                done.complete(null);
            } catch (Throwable t) {
                done.completeExceptionally(t);
            }
        });
        return done;
    }

    /**
     * Fetches whole blocks into heap buffers: convenient for small blocks, a copy for large ones.
     *
     * @param requests the blocks, grouped by peer
     * @return the blocks in request order, or exceptionally the first block failure
     */
    public CompletableFuture<List<ByteBuffer>> fetchBlocks(List<FetchRequest> requests) {
        int total = requests.stream().mapToInt(r -> r.blockIds().size()).sum();
        List<ByteBuffer> blocks = new ArrayList<>(total);
        for (int i = 0; i < total; i++) {
            blocks.add(null);
        }
        FerryException[] failure = new FerryException[1];
        return fetch(requests, new ChunkListener() {
            @Override
            public void onChunk(FetchedChunk chunk) {
                try (FetchedChunk c = chunk) {
                    ByteBuffer block = blocks.get(c.block());
                    if (block == null) {
                        block = ByteBuffer.allocate(Math.toIntExact(c.blockLength()));
                        blocks.set(c.block(), block);
                    }
                    block.put(c.data().duplicate());
                }
            }

            @Override
            public void onFailure(int block, FerryException e) {
                if (failure[0] == null) {
                    failure[0] = e;
                }
            }
        }).thenApply(ignored -> {
            if (failure[0] != null) {
                throw failure[0];
            }
            blocks.forEach(ByteBuffer::flip);
            return blocks;
        });
    }
}
