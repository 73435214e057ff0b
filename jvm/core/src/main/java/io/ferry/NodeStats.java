package io.ferry;

/** A snapshot of a node's pinned memory and traffic counters. */
public final class NodeStats {
    private final long[] values;

    NodeStats(long[] values) {
        this.values = values.clone();
    }

    /** @return the cap on pinned receive buffers, in bytes ({@code ferry.pool.bytes}) */
    public long poolCapacityBytes() {
        return values[0];
    }

    /** @return pinned memory mapped so far, in bytes */
    public long poolMappedBytes() {
        return values[1];
    }

    /** @return pinned memory locked in RAM (mlock), in bytes */
    public long poolLockedBytes() {
        return values[2];
    }

    /** @return bytes held by fetched chunks not yet closed */
    public long poolInUseBytes() {
        return values[3];
    }

    /** @return bytes this node served to peers */
    public long bytesServed() {
        return values[4];
    }

    /** @return READs this node served */
    public long readsServed() {
        return values[5];
    }

    /** @return small blocks served inside lookup replies, without a READ */
    public long blocksInlined() {
        return values[6];
    }

    /** @return READs refused (forged or stale keys, out-of-range reads) */
    public long readsRejected() {
        return values[7];
    }

    /** @return connections peers opened to this node */
    public long connectionsAccepted() {
        return values[8];
    }

    /** @return connections closed for a protocol or authentication failure */
    public long connectionsRejected() {
        return values[9];
    }

    /** @return bytes this node fetched from peers */
    public long bytesFetched() {
        return values[10];
    }

    @Override
    public String toString() {
        return "NodeStats{poolInUse=" + poolInUseBytes() + ", poolMapped=" + poolMappedBytes()
                + ", served=" + bytesServed() + ", fetched=" + bytesFetched()
                + ", readsRejected=" + readsRejected() + ", connectionsRejected="
                + connectionsRejected() + "}";
    }
}
