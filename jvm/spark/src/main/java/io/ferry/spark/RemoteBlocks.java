package io.ferry.spark;

import java.io.IOException;
import java.io.InputStream;
import java.nio.ByteBuffer;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.List;

import io.ferry.FerryException;
import io.ferry.FetchResult;
import io.ferry.FetchStream;
import io.ferry.FetchedChunk;

/**
 * The blocks of one fetch as input streams, in the order their first bytes arrive, each read
 * straight from the pinned chunks (no copy into the heap). A block is streamed while it arrives:
 * only chunks of blocks other than the one being read wait in memory, which the fetch's
 * in-flight bound keeps small. Single-threaded, like the task that reads it.
 */
final class RemoteBlocks implements AutoCloseable {
    /** Block {@code block} of the fetch could not be fetched. */
    static final class BlockFailedException extends IOException {
        private static final long serialVersionUID = 1L;
        final int block;

        BlockFailedException(int block, Throwable cause) {
            super("Ferry fetch of block " + block + " failed: " + cause.getMessage(), cause);
            this.block = block;
        }
    }

    private final FetchStream stream;
    private final List<ArrayDeque<FetchedChunk>> waiting;
    private final boolean[] arrived;
    private final boolean[] finished;
    private final ArrayDeque<Integer> arrivalOrder = new ArrayDeque<>();
    private long waitNanos;
    private long bytes;

    RemoteBlocks(FetchStream stream, int blocks) {
        this.stream = stream;
        this.waiting = new ArrayList<>(blocks);
        for (int i = 0; i < blocks; i++) {
            waiting.add(new ArrayDeque<>());
        }
        this.arrived = new boolean[blocks];
        this.finished = new boolean[blocks];
    }

    /** @return the next block to read, or -1 when every block has been handed out */
    int nextBlock() throws IOException {
        while (arrivalOrder.isEmpty()) {
            if (!pull()) {
                return -1;
            }
        }
        return arrivalOrder.poll();
    }

    /** @return block {@code block}'s bytes; closing the stream releases what it did not read */
    InputStream open(int block) {
        return new BlockStream(block);
    }

    /** @return nanoseconds spent waiting for the network so far */
    long waitNanos() {
        return waitNanos;
    }

    /** @return bytes received so far */
    long bytes() {
        return bytes;
    }

    /** Takes one result off the fetch; false once the fetch is over. */
    private boolean pull() throws IOException {
        long start = System.nanoTime();
        FetchResult result;
        try {
            result = stream.next();
        } catch (FerryException e) {
            throw new IOException("Ferry fetch failed: " + e.getMessage(), e);
        } finally {
            waitNanos += System.nanoTime() - start;
        }
        if (result == null) {
            return false;
        }
        int block = result.block();
        if (result.failure() != null) {
            throw new BlockFailedException(block, result.failure());
        }
        FetchedChunk chunk = result.chunk();
        bytes += chunk.data().remaining();
        if (finished[block]) {
            chunk.close();
            return true;
        }
        if (!arrived[block]) {
            arrived[block] = true;
            arrivalOrder.add(block);
        }
        waiting.get(block).add(chunk);
        return true;
    }

    @Override
    public void close() {
        stream.close();
        for (int block = 0; block < waiting.size(); block++) {
            release(block);
        }
    }

    private void release(int block) {
        finished[block] = true;
        FetchedChunk chunk;
        while ((chunk = waiting.get(block).poll()) != null) {
            chunk.close();
        }
    }

    private final class BlockStream extends InputStream {
        private final int block;
        private FetchedChunk chunk;
        private ByteBuffer data;
        private boolean ended;

        BlockStream(int block) {
            this.block = block;
        }

        /** @return bytes readable now, or false at the block's end */
        private boolean fill() throws IOException {
            while (!ended && (data == null || !data.hasRemaining())) {
                if (chunk != null) {
                    ended = chunk.isLast();
                    chunk.close();
                    chunk = null;
                    data = null;
                    continue;
                }
                chunk = waiting.get(block).poll();
                if (chunk != null) {
                    data = chunk.data();
                } else if (!pull()) {
                    throw new IOException("Ferry fetch ended before block " + block + " was complete");
                }
            }
            return !ended;
        }

        @Override
        public int read() throws IOException {
            return fill() ? data.get() & 0xff : -1;
        }

        @Override
        public int read(byte[] into, int offset, int length) throws IOException {
            if (length == 0) {
                return 0;
            }
            if (!fill()) {
                return -1;
            }
            int n = Math.min(length, data.remaining());
            data.get(into, offset, n);
            return n;
        }

        @Override
        public int available() {
            return data == null ? 0 : data.remaining();
        }

        @Override
        public void close() {
            if (chunk != null) {
                chunk.close();
                chunk = null;
                data = null;
            }
            ended = true;
            release(block);
        }
    }
}
