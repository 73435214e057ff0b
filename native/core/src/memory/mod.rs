//! Memory a peer may read: the pinned receive pool and registered regions.

mod pool;
mod region;

pub use pool::{BufferPool, BufferSlice, PoolBufferPlace, PoolStats, PooledBuffer, SlabHook};
pub use region::{DeregisterHook, Region, RegionId, RegionRegistry};
