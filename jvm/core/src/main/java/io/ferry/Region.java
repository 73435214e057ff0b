package io.ferry;

/**
 * Memory peers may read: a file range or a direct buffer registered with a {@link FerryNode}.
 * Blocks name ranges of it ({@link FerryNode#registerBlock}). Closing it revokes remote access at
 * once: keys peers hold for it go stale, and its blocks can no longer be fetched.
 */
public final class Region implements AutoCloseable {
    private final FerryNode node;
    private final long id;
    private final long length;

    Region(FerryNode node, long id, long length) {
        this.node = node;
        this.id = id;
        this.length = length;
    }

    long id() {
        return id;
    }

    /** @return the region's size in bytes */
    public long length() {
        return length;
    }

    /** Deregisters the region; idempotent. */
    @Override
    public void close() {
        node.deregister(this);
    }

    FerryNode node() {
        return node;
    }
}
