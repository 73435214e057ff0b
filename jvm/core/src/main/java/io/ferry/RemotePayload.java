package io.ferry;

import java.util.Objects;

/**
 * What a {@link FerryStream} needs to move payload by one-sided READ: the node that serves this
 * end's messages and READs the peer's (an RDMA READ on the {@code verbs} provider, served by the
 * sender's NIC), the port it serves on (same host as the stream's socket; the handshake tells the
 * peer), and the bounds of the registered memory.
 *
 * <p>Each write of at least {@link #minReadBytes()} is copied into a ring of slabs registered with
 * the node ({@link #slabBytes()} each, at most {@link #windowBytes()} of them per stream) and named
 * to the peer in a NOTIFY frame on the socket; the peer READs it and credits the space back. Smaller
 * writes, and writes that find the window full, travel in DATA frames on the socket, so a slow peer
 * never blocks the writer and memory stays bounded. The READs of up to {@link
 * #streamsPerConnection()} streams to one peer share one node connection (one queue pair on
 * RDMA); more streams open more.
 */
public final class RemotePayload {
    /** Registered memory per stream and direction when none is given: 16 MiB. */
    public static final long DEFAULT_WINDOW_BYTES = 16L << 20;
    /** Slab size when none is given: 4 MiB. */
    public static final int DEFAULT_SLAB_BYTES = 4 << 20;
    /** Smallest write sent by READ when none is given: 16 KiB. */
    public static final int DEFAULT_MIN_READ_BYTES = 16 << 10;
    /** Streams sharing one node connection (queue pair) to a peer when none is given. */
    public static final int DEFAULT_STREAMS_PER_CONNECTION = 8;

    private final FerryNode node;
    private final int port;
    private final long windowBytes;
    private final int slabBytes;
    private final int minReadBytes;
    private final int streamsPerConnection;

    /**
     * @param node the node serving this end's messages and READing the peer's
     * @param port the port {@code node} serves on ({@link FerryNode#serve})
     * @param windowBytes registered slab memory per stream, at least one slab; also the largest
     *     message this end accepts from its peer (a NOTIFY naming more fails the stream), so give
     *     both ends a window of at least the peer's slab size
     * @param slabBytes size of each registered slab (and the largest message), 64 KiB to 1 GiB
     * @param minReadBytes smallest write sent by READ, 2 bytes to {@code slabBytes}
     * @param streamsPerConnection streams whose READs share one node connection (queue pair) to a peer,
     *     1 to 1024
     */
    public RemotePayload(FerryNode node, int port, long windowBytes, int slabBytes, int minReadBytes,
            int streamsPerConnection) {
        this.node = Objects.requireNonNull(node, "node");
        if (port <= 0 || port > 65535) {
            throw new IllegalArgumentException("node port " + port + " is outside 1 .. 65535");
        }
        if (slabBytes < (64 << 10) || slabBytes > (1 << 30)) {
            throw new IllegalArgumentException("slab of " + slabBytes + " bytes is outside 64 KiB .. 1 GiB");
        }
        if (windowBytes < slabBytes) {
            throw new IllegalArgumentException("window of " + windowBytes + " bytes is under one slab ("
                    + slabBytes + ")");
        }
        if (minReadBytes < 2 || minReadBytes > slabBytes) {
            throw new IllegalArgumentException("smallest READ of " + minReadBytes + " bytes is outside 2 .. "
                    + slabBytes);
        }
        if (streamsPerConnection < 1 || streamsPerConnection > 1024) {
            throw new IllegalArgumentException("streams per connection " + streamsPerConnection
                    + " is outside 1 .. 1024");
        }
        this.port = port;
        this.streamsPerConnection = streamsPerConnection;
        this.windowBytes = windowBytes;
        this.slabBytes = slabBytes;
        this.minReadBytes = minReadBytes;
    }

    /**
     * @param node the node serving this end's messages and READing the peer's
     * @param port the port {@code node} serves on
     */
    public RemotePayload(FerryNode node, int port) {
        this(node, port, DEFAULT_WINDOW_BYTES, DEFAULT_SLAB_BYTES, DEFAULT_MIN_READ_BYTES,
                DEFAULT_STREAMS_PER_CONNECTION);
    }

    /** @return the node */
    public FerryNode node() {
        return node;
    }

    /** @return the port the node serves on */
    public int port() {
        return port;
    }

    /** @return registered slab memory per stream */
    public long windowBytes() {
        return windowBytes;
    }

    /** @return bytes per slab, the largest message */
    public int slabBytes() {
        return slabBytes;
    }

    /** @return the smallest write sent by READ */
    public int minReadBytes() {
        return minReadBytes;
    }

    /** @return how many streams' READs share one node connection to a peer */
    public int streamsPerConnection() {
        return streamsPerConnection;
    }
}
