//! Transports behind one small interface: look blocks up, READ ranges.
//!
//! A provider connects to peers and serves its own registered regions. The
//! `tcp` provider is a real transport with one-sided semantics: the serving
//! side answers READs from registered memory without involving the
//! application. The `verbs` provider (RDMA) plugs in behind the same traits.

pub(crate) mod reactor;
pub mod tcp;

use std::net::SocketAddr;
use std::sync::Arc;

use crate::block::{BlockId, BlockResolver, RemoteSlice};
use crate::error::Result;
use crate::memory::{PooledBuffer, RegionRegistry};
use crate::metrics::Metrics;
use crate::protocol::LookupResult;

pub type LookupDone = Box<dyn FnOnce(Result<Vec<LookupResult>>) + Send>;
pub type ReadDone = Box<dyn FnOnce(Result<PooledBuffer>) + Send>;

/// A connection to one peer process, shared by every fetch to that peer.
pub trait Connection: Send + Sync {
    fn peer(&self) -> &str;
    /// Resolves up to [`crate::protocol::MAX_IDS`] block ids in one round trip;
    /// blocks of at most `inline_max` bytes come back with their data.
    fn lookup(&self, ids: Vec<BlockId>, inline_max: u32, done: LookupDone);
    /// READs `src` into `dst` (which must hold `src.len` bytes); `done` gets the filled buffer.
    fn read(&self, src: RemoteSlice, dst: PooledBuffer, done: ReadDone);
    fn is_open(&self) -> bool;
}

/// What a serving node exposes to its peers.
pub struct ServeContext {
    pub regions: Arc<RegionRegistry>,
    pub blocks: Arc<dyn BlockResolver>,
    pub secret: Option<Vec<u8>>,
    pub caps: u32,
    pub metrics: Arc<Metrics>,
}

pub trait Provider: Send + Sync {
    fn name(&self) -> &'static str;
    fn connect(&self, addr: SocketAddr) -> Result<Arc<dyn Connection>>;
    /// Starts serving on `addr`; returns the bound address.
    fn listen(&self, addr: SocketAddr, context: Arc<ServeContext>) -> Result<SocketAddr>;
}
