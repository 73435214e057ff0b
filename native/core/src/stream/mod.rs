//! Streams: an ordered byte channel between two Ferry ends over one TCP
//! connection, for Kafka replication and JVM services.
//!
//! The protocol (hellos, proofs, frames) is [`crate::protocol::stream`]; the
//! [`Driver`] is the one place that does a stream's I/O, in every mode: the
//! handshake, plain pass-through when the peer is not a Ferry end, DATA frames,
//! inline bytes, and payload by one-sided READ ([`remote`]). It never blocks:
//! every socket call is non-blocking and every wait on the peer's node is a
//! poll, so the socket an application's selector polls is the stream's
//! readiness. Time is an input (deadlines of READs come from the `now` of the
//! calls), and each driver keeps its own [`Stats`] beside the process-wide
//! [`counters`].

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

pub use crate::protocol::stream::{
    Event, Role, State, Stream, CLIENT_HELLO_LEN, FLAG_FRAMED, FLAG_REMOTE, HEADER_LEN, MAGIC,
    MAX_FRAME_LIMIT, MAX_NOTIFY_ID, SERVER_HELLO_LEN, VERSION,
};
pub use driver::{ControlSocket, Driver, Fd, RemoteSettings, Settings};

pub mod abi;
mod driver;
pub mod remote;

/// A stream's counters, indexed by the `abi::STAT_*` constants.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Stats(pub [u64; abi::STATS]);

impl Stats {
    pub fn get(&self, stat: usize) -> u64 {
        self.0[stat]
    }
}

/// The same counters summed over every stream of this process.
static COUNTERS: [AtomicU64; abi::STATS] = [const { AtomicU64::new(0) }; abi::STATS];

/// Adds to one stream's stat and to the process-wide counter.
fn count(stats: &mut Stats, stat: usize, n: u64) {
    stats.0[stat] += n;
    COUNTERS[stat].fetch_add(n, Relaxed);
}

/// A copy of the process-wide counters (`slab bytes` is a gauge: what is registered now).
pub fn counters() -> Stats {
    let mut c = Stats(COUNTERS.each_ref().map(|c| c.load(Relaxed)));
    c.0[abi::STAT_SLAB_BYTES] = remote::SLAB_BYTES.load(Relaxed);
    c
}
