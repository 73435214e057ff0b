//! Ferry's native core: pinned memory, registered regions, the wire protocol,
//! transport providers and batched block fetch.
//!
//! The entry point is [`Node`]: one per process, it serves the blocks the
//! process registers and fetches blocks from peers.

pub mod block;
pub mod config;
pub mod error;
pub mod fetch;
#[doc(hidden)]
pub mod fuzzing;
pub mod memory;
pub mod metrics;
pub mod node;
pub mod protocol;
pub mod provider;
pub mod stream;

pub use block::{
    segment_run_id, BlockId, BlockLocation, BlockRegistry, BlockResolver, RemoteSlice,
};
pub use config::Config;
pub use error::{Error, ErrorCode, Result};
pub use fetch::{BlockFailure, Chunk, Fetch};
pub use memory::{BufferPool, BufferSlice, PoolBufferPlace, PoolStats, PooledBuffer, RegionId};
pub use metrics::MetricsSnapshot;
pub use node::Node;
