package io.ferry;

import java.net.InetSocketAddress;
import java.nio.ByteBuffer;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.TreeMap;
import java.util.concurrent.locks.ReentrantReadWriteLock;
import java.util.function.LongFunction;

/**
 * Ferry in one process: serves the blocks this process registers and fetches blocks from peers,
 * with one pinned buffer pool, a fixed set of I/O threads and one connection per peer.
 *
 * <p>Settings are the {@code ferry.*} keys of {@code ferry info} (documented in the README), for
 * example {@code ferry.pool.bytes=256m}; an unknown key or a bad value fails with a {@link
 * FerryConfigException} naming the key. Thread-safe. {@link #close()} frees all native memory;
 * calls after it fail with {@link IllegalStateException}.
 */
public final class FerryNode implements AutoCloseable {
    /** The prefix of Ferry's settings. */
    public static final String PREFIX = "ferry.";

    private final ReentrantReadWriteLock lock = new ReentrantReadWriteLock();
    private final BufferViews views = new BufferViews();
    private long handle;

    private FerryNode(long handle) {
        this.handle = handle;
    }

    /**
     * Starts a node.
     *
     * @param settings {@code ferry.*} keys and values; missing keys take their defaults
     * @return the node
     * @throws FerryConfigException naming a key that is unknown or has a bad value
     */
    public static FerryNode create(Map<String, String> settings) {
        String[][] pairs = keysAndValues(settings);
        return new FerryNode(Native.nodeCreate(pairs[0], pairs[1]));
    }

    /**
     * Checks settings as {@link #create(Map)} would, without starting a node: for validating
     * configuration where the node itself starts elsewhere (a Spark driver for its executors).
     *
     * @param settings {@code ferry.*} keys and values
     * @throws FerryConfigException naming a key that is unknown or has a bad value
     */
    public static void checkSettings(Map<String, String> settings) {
        String[][] pairs = keysAndValues(settings);
        Native.configCheck(pairs[0], pairs[1]);
    }

    private static String[][] keysAndValues(Map<String, String> settings) {
        Map<String, String> sorted = new TreeMap<>(settings);
        return new String[][] {sorted.keySet().toArray(new String[0]), sorted.values().toArray(new String[0])};
    }

    /**
     * Starts a node with default settings.
     *
     * @return the node
     */
    public static FerryNode create() {
        return create(Collections.emptyMap());
    }

    /**
     * Starts a node from the {@code ferry.*} entries of a properties object (others are ignored).
     *
     * @param properties for example {@link System#getProperties()}
     * @return the node
     */
    public static FerryNode fromProperties(Properties properties) {
        Map<String, String> settings = new TreeMap<>();
        for (String key : properties.stringPropertyNames()) {
            if (key.startsWith(PREFIX)) {
                settings.put(key, properties.getProperty(key));
            }
        }
        return create(settings);
    }

    /**
     * Serves this node's blocks.
     *
     * @param address where to listen; port 0 picks a free port
     * @return the address peers fetch from
     */
    public InetSocketAddress serve(InetSocketAddress address) {
        String bound = call(h -> Native.nodeServe(h, hostPort(address)));
        int colon = bound.lastIndexOf(':');
        String host = bound.substring(0, colon).replace("[", "").replace("]", "");
        return new InetSocketAddress(host, Integer.parseInt(bound.substring(colon + 1)));
    }

    /**
     * Registers a file range (read-only mmap): peers read it without a copy. If the file is
     * truncated while registered, fetches of the lost bytes fail naming the file; the node and the
     * JVM carry on.
     *
     * @param file the file
     * @param offset where the range starts
     * @param length the range's length
     * @return the region, to name blocks in and to close when done
     */
    public Region registerFile(Path file, long offset, long length) {
        String path = file.toAbsolutePath().toString();
        return new Region(this, call(h -> Native.nodeRegisterFile(h, path, offset, length)), length);
    }

    /**
     * Registers the bytes between a direct buffer's position and limit, without a copy. They must
     * not change while registered.
     *
     * @param buffer a direct buffer
     * @return the region
     */
    public Region registerBuffer(ByteBuffer buffer) {
        if (!buffer.isDirect()) {
            throw new IllegalArgumentException("only direct buffers can be registered");
        }
        long position = buffer.position();
        long length = buffer.remaining();
        return new Region(this,
                call(h -> Native.nodeRegisterBuffer(h, buffer, position, length)), length);
    }

    /**
     * Names a range of a region as a block peers can fetch, replacing any block of that id.
     *
     * @param blockId the block's id (at most 1024 bytes)
     * @param region a region of this node
     * @param offset where the block starts in the region
     * @param length the block's length
     */
    public void registerBlock(byte[] blockId, Region region, long offset, long length) {
        if (region.node() != this) {
            throw new IllegalArgumentException("the region belongs to another node");
        }
        call(h -> {
            Native.nodeRegisterBlock(h, blockId, region.id(), offset, length);
            return null;
        });
    }

    /**
     * Registers a block cut into adjacent segments, replacing any segmented block of that id. A peer
     * fetches any run of consecutive segments as one block, in one read, by the id
     * {@link #segmentRunId} makes: a Spark map output is one segmented block whose segments are its
     * reduce partitions.
     *
     * @param blockId the block's id (at most 1024 bytes)
     * @param region a region of this node
     * @param bounds ascending offsets into the region, at least two: segment {@code i} is
     *     {@code [bounds[i], bounds[i + 1])}
     */
    public void registerSegmentedBlock(byte[] blockId, Region region, long[] bounds) {
        if (region.node() != this) {
            throw new IllegalArgumentException("the region belongs to another node");
        }
        call(h -> {
            Native.nodeRegisterSegmented(h, blockId, region.id(), bounds);
            return null;
        });
    }

    /**
     * The id that names segments {@code [first, end)} of a segmented block.
     *
     * @param blockId the segmented block's id
     * @param first the first segment
     * @param end one past the last segment
     * @return the id to fetch
     */
    public static byte[] segmentRunId(byte[] blockId, int first, int end) {
        return ByteBuffer.allocate(blockId.length + 8).put(blockId).putInt(first).putInt(end).array();
    }

    /**
     * @param blockId a block's id, plain or segmented
     * @return whether the block was registered
     */
    public boolean removeBlock(byte[] blockId) {
        return call(h -> Native.nodeRemoveBlock(h, blockId));
    }

    void deregister(Region region) {
        lock.readLock().lock();
        try {
            if (handle != 0) {
                Native.nodeDeregister(handle, region.id());
            }
        } finally {
            lock.readLock().unlock();
        }
    }

    /**
     * Starts fetching blocks: one lookup per peer, then pipelined READs into pinned buffers.
     *
     * @param requests the blocks, grouped by peer; block indexes count across all requests
     * @return the results, to pull and close
     */
    public FetchStream fetch(List<FetchRequest> requests) {
        List<String> peers = new ArrayList<>();
        int[] counts = new int[requests.size()];
        List<byte[]> ids = new ArrayList<>();
        for (int i = 0; i < requests.size(); i++) {
            FetchRequest request = requests.get(i);
            peers.add(request.hostPort());
            counts[i] = request.blockIds().size();
            ids.addAll(request.blockIds());
        }
        String[] peerArray = peers.toArray(new String[0]);
        byte[][] idArray = ids.toArray(new byte[0][]);
        return new FetchStream(call(h -> Native.fetchStart(h, peerArray, counts, idArray)), views);
    }

    /** @return the transport the node runs on: {@code tcp} or {@code verbs} (RDMA) */
    public String provider() {
        return call(Native::nodeProvider);
    }

    /** @return the node's pool and traffic counters now */
    public NodeStats stats() {
        return new NodeStats(call(Native::nodeStats));
    }

    /**
     * Stops serving and fetching and frees the node's native memory. Fetches still running fail;
     * chunks already fetched stay valid until closed. The pinned pool is unmapped once no buffer
     * from {@link FetchedChunk#data()} is reachable, so a kept buffer never reads unmapped memory.
     * Idempotent.
     */
    @Override
    public void close() {
        lock.writeLock().lock();
        try {
            if (handle != 0) {
                Native.nodeClose(handle);
                handle = 0;
                views.clear();
            }
        } finally {
            lock.writeLock().unlock();
        }
    }

    /** Runs action with the live handle (package-private: a remote stream takes its share of the node). */
    <T> T call(LongFunction<T> action) {
        lock.readLock().lock();
        try {
            if (handle == 0) {
                throw new IllegalStateException("the Ferry node is closed");
            }
            return action.apply(handle);
        } finally {
            lock.readLock().unlock();
        }
    }

    /** {@code host:port}, with brackets around an IPv6 host. */
    static String hostPort(InetSocketAddress address) {
        String host = address.getHostString();
        return (host.indexOf(':') >= 0 ? "[" + host + "]" : host) + ":" + address.getPort();
    }
}
