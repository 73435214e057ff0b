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

/// Length of the suffix that names a run of segments: first and end, big-endian u32 each.
pub const SEGMENT_SUFFIX: usize = 8;

/// The id that names segments `[first, end)` of the segmented block `id`.
pub fn segment_run_id(id: &[u8], first: u32, end: u32) -> BlockId {
    let mut run = Vec::with_capacity(id.len() + SEGMENT_SUFFIX);
    run.extend_from_slice(id);
    run.extend_from_slice(&first.to_be_bytes());
    run.extend_from_slice(&end.to_be_bytes());
    run
}

/// A block cut into adjacent segments (a Spark map output: one segment per reduce
/// partition), so any run of them is one contiguous read.
struct Segmented {
    region: RegionId,
    /// Segment `i` is `[bounds[i], bounds[i + 1])` of the region.
    bounds: Box<[u64]>,
}

impl Segmented {
    fn run(&self, first: u32, end: u32) -> Result<BlockLocation, ErrorCode> {
        let (first, end) = (first as usize, end as usize);
        if first >= end || end >= self.bounds.len() {
            return Err(ErrorCode::OutOfRange);
        }
        Ok(BlockLocation {
            region: self.region,
            offset: self.bounds[first],
            len: self.bounds[end] - self.bounds[first],
        })
    }
}

/// A map of block ids to locations, checked against the regions on insert.
pub struct BlockRegistry {
    regions: Arc<RegionRegistry>,
    blocks: RwLock<HashMap<BlockId, BlockLocation>>,
    segmented: RwLock<HashMap<BlockId, Segmented>>,
}

impl BlockRegistry {
    pub fn new(regions: Arc<RegionRegistry>) -> Self {
        BlockRegistry {
            regions,
            blocks: RwLock::new(HashMap::new()),
            segmented: RwLock::new(HashMap::new()),
        }
    }

    fn check_id(id: &[u8]) -> crate::Result<()> {
        if id.len() > MAX_BLOCK_ID {
            return Err(crate::Error::InvalidArgument(format!(
                "block id of {} bytes is longer than {MAX_BLOCK_ID}",
                id.len()
            )));
        }
        Ok(())
    }

    fn check_range(&self, region: RegionId, offset: u64, len: u64) -> crate::Result<()> {
        let registered = self.regions.get(region).ok_or_else(|| {
            crate::Error::InvalidArgument(format!("region {region:?} is not registered"))
        })?;
        if !registered.contains(offset, len) {
            return Err(crate::Error::InvalidArgument(format!(
                "block range {offset}+{len} is outside its region of {} bytes",
                registered.len()
            )));
        }
        Ok(())
    }

    /// Names `[offset, offset + len)` of `region` as block `id`, replacing any earlier one.
    pub fn register(&self, id: BlockId, location: BlockLocation) -> crate::Result<()> {
        Self::check_id(&id)?;
        self.check_range(location.region, location.offset, location.len)?;
        self.blocks.write().unwrap().insert(id, location);
        Ok(())
    }

    /// Registers block `id` cut into segments at `bounds` (ascending offsets into
    /// `region`, at least two), replacing any segmented block of that id. Peers
    /// fetch a run of segments by the id [`segment_run_id`] makes.
    pub fn register_segmented(
        &self,
        id: BlockId,
        region: RegionId,
        bounds: Vec<u64>,
    ) -> crate::Result<()> {
        Self::check_id(&id)?;
        if bounds.len() < 2 || bounds.windows(2).any(|w| w[0] > w[1]) {
            return Err(crate::Error::InvalidArgument(format!(
                "segment bounds must be ascending, at least two: {bounds:?}"
            )));
        }
        if bounds.len() - 1 > u32::MAX as usize {
            return Err(crate::Error::InvalidArgument("too many segments".into()));
        }
        let (start, end) = (bounds[0], bounds[bounds.len() - 1]);
        self.check_range(region, start, end - start)?;
        let segmented = Segmented {
            region,
            bounds: bounds.into_boxed_slice(),
        };
        self.segmented.write().unwrap().insert(id, segmented);
        Ok(())
    }

    /// Removes block `id`, plain or segmented.
    pub fn remove(&self, id: &[u8]) -> bool {
        let plain = self.blocks.write().unwrap().remove(id).is_some();
        let segmented = self.segmented.write().unwrap().remove(id).is_some();
        plain || segmented
    }

    pub fn len(&self) -> usize {
        self.blocks.read().unwrap().len() + self.segmented.read().unwrap().len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl BlockResolver for BlockRegistry {
    fn resolve(&self, id: &[u8]) -> Result<BlockLocation, ErrorCode> {
        if let Some(location) = self.blocks.read().unwrap().get(id) {
            return Ok(*location);
        }
        let Some(split) = id.len().checked_sub(SEGMENT_SUFFIX) else {
            return Err(ErrorCode::UnknownBlock);
        };
        let (name, run) = id.split_at(split);
        let first = u32::from_be_bytes(run[..4].try_into().expect("4 bytes"));
        let end = u32::from_be_bytes(run[4..].try_into().expect("4 bytes"));
        match self.segmented.read().unwrap().get(name) {
            Some(segmented) => segmented.run(first, end),
            None => Err(ErrorCode::UnknownBlock),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn registry_with_region(len: usize) -> (BlockRegistry, RegionId) {
        let regions = Arc::new(RegionRegistry::default());
        let region = regions.register_bytes(vec![7u8; len]);
        (BlockRegistry::new(regions), region)
    }

    #[test]
    fn a_run_of_segments_resolves_to_one_contiguous_range() {
        let (registry, region) = registry_with_region(100);
        registry
            .register_segmented(b"map-3".to_vec(), region, vec![10, 10, 40, 100])
            .unwrap();
        let run = |first, end| registry.resolve(&segment_run_id(b"map-3", first, end));
        assert_eq!(
            run(1, 3),
            Ok(BlockLocation {
                region,
                offset: 10,
                len: 90
            })
        );
        assert_eq!(run(0, 1).map(|l| l.len), Ok(0));
        assert_eq!(run(2, 2), Err(ErrorCode::OutOfRange));
        assert_eq!(run(2, 4), Err(ErrorCode::OutOfRange));
        assert_eq!(
            registry.resolve(&segment_run_id(b"map-4", 0, 1)),
            Err(ErrorCode::UnknownBlock)
        );
        assert_eq!(registry.resolve(b"map"), Err(ErrorCode::UnknownBlock));
        assert!(registry.remove(b"map-3"));
        assert_eq!(run(1, 3), Err(ErrorCode::UnknownBlock));
    }

    #[test]
    fn bad_segment_bounds_are_refused() {
        let (registry, region) = registry_with_region(100);
        for bounds in [vec![], vec![5], vec![5, 4], vec![0, 101]] {
            assert!(registry
                .register_segmented(b"m".to_vec(), region, bounds)
                .is_err());
        }
        assert!(registry.is_empty());
    }
}
