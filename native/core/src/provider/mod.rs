//! Transports behind one small interface: look blocks up, READ ranges.
//!
//! A provider connects to peers and serves its own registered regions. The
//! `tcp` provider is a real transport with one-sided semantics: the serving
//! side answers READs from registered memory without involving the
//! application. The `verbs` provider (RDMA) plugs in behind the same traits.

pub(crate) mod reactor;
pub mod tcp;
pub mod verbs;

use std::net::SocketAddr;
use std::sync::Arc;

use crate::block::{BlockId, BlockResolver, RemoteSlice};
use crate::config::{InlineLimits, ServerLimits};
use crate::error::ErrorCode;
use crate::error::Result;
use crate::memory::{PooledBuffer, Region, RegionRegistry};
use crate::metrics::Metrics;
use crate::protocol::LookupResult;

pub type LookupDone = Box<dyn FnOnce(Result<Vec<LookupResult>>) + Send>;
pub type ReadDone = Box<dyn FnOnce(Result<PooledBuffer>) + Send>;

/// One READ: `src.len` bytes of the peer's region into `dst`; `done` gets the filled buffer.
pub struct ReadRequest {
    pub src: RemoteSlice,
    pub dst: PooledBuffer,
    pub done: ReadDone,
}

/// A connection to one peer process, shared by every fetch to that peer.
pub trait Connection: Send + Sync {
    fn peer(&self) -> &str;
    /// Resolves up to [`crate::protocol::MAX_IDS`] block ids in one round trip;
    /// blocks of at most `inline_max` bytes come back with their data.
    fn lookup(&self, ids: Vec<BlockId>, inline_max: u32, done: LookupDone);
    /// Posts a batch of READs at once (one write, one wake-up, for the whole batch).
    fn read(&self, batch: Vec<ReadRequest>);
    fn is_open(&self) -> bool;
    /// The transport moving READ payloads on this connection: "tcp" or "verbs".
    fn provider(&self) -> &'static str {
        "tcp"
    }
    /// Lets a thread about to wait for this connection's replies read them
    /// itself for up to `wait`, sparing a hand-off from an I/O thread.
    /// Returns false, at once, when it cannot (another thread is reading).
    fn receive_here(&self, wait: std::time::Duration) -> bool {
        let _ = wait;
        false
    }
}

/// What a serving node exposes to its peers.
pub struct ServeContext {
    pub regions: Arc<RegionRegistry>,
    pub blocks: Arc<dyn BlockResolver>,
    pub secret: Option<Vec<u8>>,
    pub caps: u32,
    pub metrics: Arc<Metrics>,
    /// RDMA serving, when the verbs provider listens: control connections
    /// that ask for it get a queue pair, and their lookups return RDMA keys.
    pub rdma: Option<Arc<dyn RdmaServe>>,
    /// What each peer may make the server spend.
    pub limits: ServerLimits,
    /// The largest block served inside a lookup reply, by connection kind, whatever a peer asks.
    pub inline: InlineLimits,
}

/// The serving half of an RDMA provider, as the tcp control path sees it.
pub trait RdmaServe: Send + Sync {
    /// A session waiting for the peer's rdma_cm connect: (port, token, session).
    fn offer(&self, peer: &str) -> Result<(u16, u64, Arc<dyn RdmaSession>)>;
}

/// One peer's queue pair on the serving side.
pub trait RdmaSession: Send + Sync {
    /// True once the queue pair is accepted: lookups then return RDMA keys.
    fn active(&self) -> bool;
    /// The remote key and base address under which the peer may READ `region`;
    /// `None`: the region cannot be registered now, so the CPU serves it.
    fn key(&self, region: &Arc<Region>) -> std::result::Result<Option<(u64, u64)>, ErrorCode>;
}

pub trait Provider: Send + Sync {
    fn name(&self) -> &'static str;
    fn connect(&self, addr: SocketAddr) -> Result<Arc<dyn Connection>>;
    /// Starts serving on `addr`; returns the bound address.
    fn listen(&self, addr: SocketAddr, context: Arc<ServeContext>) -> Result<SocketAddr>;
}
