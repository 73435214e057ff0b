//! Counters a node keeps, read by `ferry info`, the JVM bindings and tests.

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

use crate::memory::PoolStats;

#[derive(Default)]
pub struct Metrics {
    bytes_served: AtomicU64,
    reads_served: AtomicU64,
    blocks_inlined: AtomicU64,
    reads_rejected: AtomicU64,
    connections_accepted: AtomicU64,
    connections_rejected: AtomicU64,
    bytes_fetched: AtomicU64,
    bytes_fetched_inline: AtomicU64,
}

/// A point-in-time copy of [`Metrics`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct MetricsSnapshot {
    /// Bytes this node's CPU sent to peers: READs over tcp and inline blocks.
    /// A one-sided RDMA READ never shows here: the NIC serves it.
    pub bytes_served: u64,
    pub reads_served: u64,
    /// Blocks sent inside lookup replies, without a READ.
    pub blocks_inlined: u64,
    pub reads_rejected: u64,
    pub connections_accepted: u64,
    pub connections_rejected: u64,
    pub bytes_fetched: u64,
    /// Of `bytes_fetched`, those that came inside lookup replies; the rest came by READ.
    pub bytes_fetched_inline: u64,
}

impl Metrics {
    pub(crate) fn served(&self, bytes: u64) {
        self.bytes_served.fetch_add(bytes, Relaxed);
        self.reads_served.fetch_add(1, Relaxed);
    }
    pub(crate) fn served_inline(&self, bytes: u64) {
        self.bytes_served.fetch_add(bytes, Relaxed);
        self.blocks_inlined.fetch_add(1, Relaxed);
    }
    pub(crate) fn accepted_connection(&self) {
        self.connections_accepted.fetch_add(1, Relaxed);
    }
    pub(crate) fn rejected_read(&self) {
        self.reads_rejected.fetch_add(1, Relaxed);
    }
    pub(crate) fn rejected_connection(&self) {
        self.connections_rejected.fetch_add(1, Relaxed);
    }
    pub(crate) fn fetched(&self, bytes: u64) {
        self.bytes_fetched.fetch_add(bytes, Relaxed);
    }
    /// Counted besides [`Metrics::fetched`], which every received byte goes through.
    pub(crate) fn fetched_inline(&self, bytes: u64) {
        self.bytes_fetched_inline.fetch_add(bytes, Relaxed);
    }
    pub fn snapshot(&self) -> MetricsSnapshot {
        MetricsSnapshot {
            bytes_served: self.bytes_served.load(Relaxed),
            reads_served: self.reads_served.load(Relaxed),
            blocks_inlined: self.blocks_inlined.load(Relaxed),
            reads_rejected: self.reads_rejected.load(Relaxed),
            connections_accepted: self.connections_accepted.load(Relaxed),
            connections_rejected: self.connections_rejected.load(Relaxed),
            bytes_fetched: self.bytes_fetched.load(Relaxed),
            bytes_fetched_inline: self.bytes_fetched_inline.load(Relaxed),
        }
    }
}

/// A node's pool and traffic counters as one array, the way `io.ferry.NodeStats`
/// reads them across JNI: positions by the names in [`abi`].
pub fn counters(pool: &PoolStats, m: &MetricsSnapshot) -> [u64; abi::STATS] {
    let mut values = [0; abi::STATS];
    values[abi::STAT_POOL_CAPACITY_BYTES] = pool.capacity_bytes as u64;
    values[abi::STAT_POOL_MAPPED_BYTES] = pool.mapped_bytes as u64;
    values[abi::STAT_POOL_LOCKED_BYTES] = pool.locked_bytes as u64;
    values[abi::STAT_POOL_IN_USE_BYTES] = pool.in_use_bytes as u64;
    values[abi::STAT_BYTES_SERVED] = m.bytes_served;
    values[abi::STAT_READS_SERVED] = m.reads_served;
    values[abi::STAT_BLOCKS_INLINED] = m.blocks_inlined;
    values[abi::STAT_READS_REJECTED] = m.reads_rejected;
    values[abi::STAT_CONNECTIONS_ACCEPTED] = m.connections_accepted;
    values[abi::STAT_CONNECTIONS_REJECTED] = m.connections_rejected;
    values[abi::STAT_BYTES_FETCHED] = m.bytes_fetched;
    values[abi::STAT_BYTES_FETCHED_INLINE] = m.bytes_fetched_inline;
    values
}

/// Positions of a node's counters, shared with `io.ferry.NodeStats` by name:
/// `tests/abi.rs` checks that the Java class declares each with the same value.
pub mod abi {
    pub const STAT_POOL_CAPACITY_BYTES: usize = 0;
    pub const STAT_POOL_MAPPED_BYTES: usize = 1;
    pub const STAT_POOL_LOCKED_BYTES: usize = 2;
    pub const STAT_POOL_IN_USE_BYTES: usize = 3;
    pub const STAT_BYTES_SERVED: usize = 4;
    pub const STAT_READS_SERVED: usize = 5;
    pub const STAT_BLOCKS_INLINED: usize = 6;
    pub const STAT_READS_REJECTED: usize = 7;
    pub const STAT_CONNECTIONS_ACCEPTED: usize = 8;
    pub const STAT_CONNECTIONS_REJECTED: usize = 9;
    pub const STAT_BYTES_FETCHED: usize = 10;
    pub const STAT_BYTES_FETCHED_INLINE: usize = 11;
    /// How many counters there are.
    pub const STATS: usize = 12;

    /// Every constant by name, for the check against the Java side.
    pub const ALL: &[(&str, i64)] = &[
        ("STAT_POOL_CAPACITY_BYTES", STAT_POOL_CAPACITY_BYTES as i64),
        ("STAT_POOL_MAPPED_BYTES", STAT_POOL_MAPPED_BYTES as i64),
        ("STAT_POOL_LOCKED_BYTES", STAT_POOL_LOCKED_BYTES as i64),
        ("STAT_POOL_IN_USE_BYTES", STAT_POOL_IN_USE_BYTES as i64),
        ("STAT_BYTES_SERVED", STAT_BYTES_SERVED as i64),
        ("STAT_READS_SERVED", STAT_READS_SERVED as i64),
        ("STAT_BLOCKS_INLINED", STAT_BLOCKS_INLINED as i64),
        ("STAT_READS_REJECTED", STAT_READS_REJECTED as i64),
        (
            "STAT_CONNECTIONS_ACCEPTED",
            STAT_CONNECTIONS_ACCEPTED as i64,
        ),
        (
            "STAT_CONNECTIONS_REJECTED",
            STAT_CONNECTIONS_REJECTED as i64,
        ),
        ("STAT_BYTES_FETCHED", STAT_BYTES_FETCHED as i64),
        (
            "STAT_BYTES_FETCHED_INLINE",
            STAT_BYTES_FETCHED_INLINE as i64,
        ),
        ("STATS", STATS as i64),
    ];
}
