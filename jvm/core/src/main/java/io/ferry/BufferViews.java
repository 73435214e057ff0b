package io.ferry;

import java.nio.ByteBuffer;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ConcurrentMap;

/**
 * One direct ByteBuffer per pool buffer, made on first use: pool buffers never move, so a chunk's
 * bytes are a slice of its buffer's view rather than a new native-backed buffer per chunk (a JNI
 * up-call each). At most ferry.pool.bytes / ferry.pool.buffer.size views exist per node.
 */
final class BufferViews {
    private final ConcurrentMap<Long, ByteBuffer> views = new ConcurrentHashMap<>();

    /** The first {@code length} bytes of the pool buffer at {@code address}. */
    ByteBuffer slice(long address, long capacity, int length) {
        ByteBuffer view = views.computeIfAbsent(address, a -> Native.bufferView(a, capacity));
        ByteBuffer slice = view.duplicate();
        slice.limit(length);
        return slice.slice();
    }

    /** Forgets every view, when the pool they point into goes away. */
    void clear() {
        views.clear();
    }
}
