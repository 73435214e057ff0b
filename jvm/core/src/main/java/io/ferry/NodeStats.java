package io.ferry;

import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.Map;

/** A snapshot of a node's pinned memory and traffic counters. */
public final class NodeStats {
    // Positions in the native side's array, by the names of ferry_core::metrics::abi
    // (native/core/tests/abi.rs checks that both sides agree).
    static final int STAT_POOL_CAPACITY_BYTES = 0;
    static final int STAT_POOL_MAPPED_BYTES = 1;
    static final int STAT_POOL_LOCKED_BYTES = 2;
    static final int STAT_POOL_IN_USE_BYTES = 3;
    static final int STAT_BYTES_SERVED = 4;
    static final int STAT_READS_SERVED = 5;
    static final int STAT_BLOCKS_INLINED = 6;
    static final int STAT_READS_REJECTED = 7;
    static final int STAT_CONNECTIONS_ACCEPTED = 8;
    static final int STAT_CONNECTIONS_REJECTED = 9;
    static final int STAT_BYTES_FETCHED = 10;
    static final int STAT_BYTES_FETCHED_INLINE = 11;
    static final int STATS = 12;

    private final long[] values;

    NodeStats(long[] values) {
        if (values.length != STATS) {
            throw new IllegalStateException("native library reports " + values.length
                    + " node counters, this class knows " + STATS + ": mismatched ferry-core jar and library");
        }
        this.values = values.clone();
    }

    /** @return the cap on pinned receive buffers, in bytes ({@code ferry.pool.bytes}) */
    public long poolCapacityBytes() {
        return values[STAT_POOL_CAPACITY_BYTES];
    }

    /** @return pinned memory mapped so far, in bytes */
    public long poolMappedBytes() {
        return values[STAT_POOL_MAPPED_BYTES];
    }

    /** @return pinned memory locked in RAM (mlock), in bytes */
    public long poolLockedBytes() {
        return values[STAT_POOL_LOCKED_BYTES];
    }

    /** @return bytes held by fetched chunks not yet closed */
    public long poolInUseBytes() {
        return values[STAT_POOL_IN_USE_BYTES];
    }

    /**
     * @return bytes this node's CPU sent to peers: READs over tcp and inline blocks (a one-sided
     *     RDMA READ is served by the NIC and never counts here)
     */
    public long bytesServed() {
        return values[STAT_BYTES_SERVED];
    }

    /** @return READs this node served over tcp */
    public long readsServed() {
        return values[STAT_READS_SERVED];
    }

    /** @return small blocks served inside lookup replies, without a READ */
    public long blocksInlined() {
        return values[STAT_BLOCKS_INLINED];
    }

    /** @return READs refused (forged or stale keys, out-of-range reads) */
    public long readsRejected() {
        return values[STAT_READS_REJECTED];
    }

    /** @return connections peers opened to this node */
    public long connectionsAccepted() {
        return values[STAT_CONNECTIONS_ACCEPTED];
    }

    /** @return connections closed for a protocol or authentication failure */
    public long connectionsRejected() {
        return values[STAT_CONNECTIONS_REJECTED];
    }

    /** @return bytes this node fetched from peers */
    public long bytesFetched() {
        return values[STAT_BYTES_FETCHED];
    }

    /**
     * @return of {@link #bytesFetched()}, the bytes that came inside lookup replies; the rest came
     *     by READ (one-sided RDMA READ on the verbs provider)
     */
    public long bytesFetchedInline() {
        return values[STAT_BYTES_FETCHED_INLINE];
    }

    /**
     * @return every counter by the name of its accessor ({@code bytesFetched}, ...), in a fixed
     *     order: what metrics systems publish
     */
    public Map<String, Long> toMap() {
        Map<String, Long> counters = new LinkedHashMap<>();
        counters.put("poolCapacityBytes", poolCapacityBytes());
        counters.put("poolMappedBytes", poolMappedBytes());
        counters.put("poolLockedBytes", poolLockedBytes());
        counters.put("poolInUseBytes", poolInUseBytes());
        counters.put("bytesServed", bytesServed());
        counters.put("readsServed", readsServed());
        counters.put("blocksInlined", blocksInlined());
        counters.put("readsRejected", readsRejected());
        counters.put("connectionsAccepted", connectionsAccepted());
        counters.put("connectionsRejected", connectionsRejected());
        counters.put("bytesFetched", bytesFetched());
        counters.put("bytesFetchedInline", bytesFetchedInline());
        return Collections.unmodifiableMap(counters);
    }

    @Override
    public String toString() {
        return "NodeStats" + toMap();
    }
}
