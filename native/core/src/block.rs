//! Blocks: named byte ranges of registered regions, resolved in batches.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use crate::error::ErrorCode;
use crate::memory::{RegionId, RegionRegistry};

/// An opaque block name chosen by the application (at most [`MAX_BLOCK_ID`] bytes).
pub type BlockId = Vec<u8>;

pub const MAX_BLOCK_ID: usize = 1024;

/// Where a block lives on the serving side.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BlockLocation {
    pub region: RegionId,
    pub offset: u64,
    pub len: u64,
}

/// What a requester may read: a range of a region behind a connection-scoped key.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RemoteSlice {
    pub key: u64,
    pub addr: u64,
    pub len: u64,
}

/// Turns block ids into locations. Spark's index-file lookup and the plain
/// [`BlockRegistry`] both implement it.
pub trait BlockResolver: Send + Sync {
    fn resolve(&self, id: &[u8]) -> Result<BlockLocation, ErrorCode>;
}

/// A map of block ids to locations, checked against the regions on insert.
pub struct BlockRegistry {
    regions: Arc<RegionRegistry>,
    blocks: RwLock<HashMap<BlockId, BlockLocation>>,
}

impl BlockRegistry {
    pub fn new(regions: Arc<RegionRegistry>) -> Self {
        BlockRegistry {
            regions,
            blocks: RwLock::new(HashMap::new()),
        }
    }

    /// Names `[offset, offset + len)` of `region` as block `id`, replacing any earlier one.
    pub fn register(&self, id: BlockId, location: BlockLocation) -> crate::Result<()> {
        if id.len() > MAX_BLOCK_ID {
            return Err(crate::Error::InvalidArgument(format!(
                "block id of {} bytes is longer than {MAX_BLOCK_ID}",
                id.len()
            )));
        }
        let region = self.regions.get(location.region).ok_or_else(|| {
            crate::Error::InvalidArgument(format!("region {:?} is not registered", location.region))
        })?;
        if region.slice(location.offset, location.len).is_none() {
            return Err(crate::Error::InvalidArgument(format!(
                "block range {}+{} is outside its region of {} bytes",
                location.offset,
                location.len,
                region.len()
            )));
        }
        self.blocks.write().unwrap().insert(id, location);
        Ok(())
    }

    pub fn remove(&self, id: &[u8]) -> bool {
        self.blocks.write().unwrap().remove(id).is_some()
    }

    pub fn len(&self) -> usize {
        self.blocks.read().unwrap().len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl BlockResolver for BlockRegistry {
    fn resolve(&self, id: &[u8]) -> Result<BlockLocation, ErrorCode> {
        self.blocks
            .read()
            .unwrap()
            .get(id)
            .copied()
            .ok_or(ErrorCode::UnknownBlock)
    }
}
