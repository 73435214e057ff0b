package io.ferry;

import java.nio.ByteBuffer;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ConcurrentMap;

/**
 * One direct ByteBuffer per pool buffer, made on first use: pool buffers never move, so a chunk's
 * bytes are a slice of its buffer's view rather than a new native-backed buffer per chunk (a JNI
 * up-call each). At most ferry.pool.bytes / ferry.pool.buffer.size views exist per node.
 *
 * <p>Each view holds a share of the pool until it is unreachable, and every slice or duplicate of
 * it refers to it, so the pool's memory stays mapped under any buffer Java can still read, even
 * after the node is closed: a stale buffer reads stale bytes, never unmapped memory (SIGSEGV).
 */
final class BufferViews {
    private final ConcurrentMap<Long, ByteBuffer> views = new ConcurrentHashMap<>();

    /**
     * The {@code length} bytes at {@code start} of the pool buffer at {@code address}, which holds
     * {@code chunk} (a buffer may hold several chunks: adjacent blocks read at once).
     */
    ByteBuffer slice(long chunk, long address, int start, int length) {
        ByteBuffer view = views.computeIfAbsent(address, a -> newView(chunk));
        ByteBuffer slice = view.duplicate();
        slice.limit(start + length).position(start);
        return slice.slice();
    }

    private static ByteBuffer newView(long chunk) {
        ByteBuffer view = Native.bufferView(chunk);
        // Registered with the view: freed once the view (and every slice of it) is unreachable.
        new NativeResource(view, Native.poolShare(chunk), Native::poolShareFree);
        return view;
    }

    /** Forgets every view when the node closes: the pool's memory goes once the last is unreachable. */
    void clear() {
        views.clear();
    }
}
