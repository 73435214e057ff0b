//! Memory a peer may read: the pinned receive pool and registered regions.

mod pool;
mod region;

pub use pool::{BufferPool, PoolStats, PooledBuffer};
pub use region::{Region, RegionId, RegionRegistry};
