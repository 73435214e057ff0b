//! Counters a node keeps, read by `ferry info`, the JVM bindings and tests.

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

#[derive(Default)]
pub struct Metrics {
    bytes_served: AtomicU64,
    reads_served: AtomicU64,
    blocks_inlined: AtomicU64,
    reads_rejected: AtomicU64,
    connections_accepted: AtomicU64,
    connections_rejected: AtomicU64,
    bytes_fetched: AtomicU64,
}

/// A point-in-time copy of [`Metrics`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct MetricsSnapshot {
    pub bytes_served: u64,
    pub reads_served: u64,
    /// Blocks sent inside lookup replies, without a READ.
    pub blocks_inlined: u64,
    pub reads_rejected: u64,
    pub connections_accepted: u64,
    pub connections_rejected: u64,
    pub bytes_fetched: u64,
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
    pub fn snapshot(&self) -> MetricsSnapshot {
        MetricsSnapshot {
            bytes_served: self.bytes_served.load(Relaxed),
            reads_served: self.reads_served.load(Relaxed),
            blocks_inlined: self.blocks_inlined.load(Relaxed),
            reads_rejected: self.reads_rejected.load(Relaxed),
            connections_accepted: self.connections_accepted.load(Relaxed),
            connections_rejected: self.connections_rejected.load(Relaxed),
            bytes_fetched: self.bytes_fetched.load(Relaxed),
        }
    }
}
