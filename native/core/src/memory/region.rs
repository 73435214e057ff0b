//! Registered regions: memory that peers may read, named by a never-reused id.
//!
//! A region is either bytes the process owns or a read-only mmap of a file
//! range (a Spark shuffle data file, a Kafka segment), so serving it copies
//! nothing in user space. Deregistering drops the registry's reference; remote
//! keys that name the region go stale at once, and the mapping is unmapped when
//! the last in-progress send finishes with it.

use std::collections::HashMap;
use std::fs::File;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};

use memmap2::{Mmap, MmapOptions};

use crate::error::{Error, Result};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RegionId(pub u64);

pub struct Region {
    id: RegionId,
    bytes: RegionBytes,
}

enum RegionBytes {
    /// A read-only map of `file` from `offset`; the file stays open so senders
    /// can `sendfile` from it instead of copying the mapped bytes.
    File {
        map: Mmap,
        file: File,
        offset: u64,
    },
    Owned(Box<dyn AsRef<[u8]> + Send + Sync>),
}

impl Region {
    pub fn id(&self) -> RegionId {
        self.id
    }

    pub fn bytes(&self) -> &[u8] {
        match &self.bytes {
            RegionBytes::File { map, .. } => map,
            RegionBytes::Owned(owned) => owned.as_ref().as_ref(),
        }
    }

    /// For a file region: the file and where byte `at` of the region lies in it.
    pub fn file_position(&self, at: usize) -> Option<(&File, u64)> {
        match &self.bytes {
            RegionBytes::File { file, offset, .. } => Some((file, offset + at as u64)),
            RegionBytes::Owned(_) => None,
        }
    }

    pub fn len(&self) -> u64 {
        self.bytes().len() as u64
    }

    pub fn is_empty(&self) -> bool {
        self.bytes().is_empty()
    }

    /// The bytes at `[offset, offset + len)`, or `None` when any of them lies outside.
    pub fn slice(&self, offset: u64, len: u64) -> Option<&[u8]> {
        let end = offset.checked_add(len)?;
        if end > self.len() {
            return None;
        }
        Some(&self.bytes()[offset as usize..end as usize])
    }
}

/// Told of every deregistration, so a provider can revoke what it handed out
/// for the region (the verbs provider deregisters its memory regions).
pub type DeregisterHook = Arc<dyn Fn(RegionId) + Send + Sync>;

#[derive(Default)]
pub struct RegionRegistry {
    next_id: AtomicU64,
    regions: RwLock<HashMap<RegionId, Arc<Region>>>,
    hooks: RwLock<Vec<DeregisterHook>>,
}

impl RegionRegistry {
    /// Maps `[offset, offset + len)` of a file read-only; `len = None` means to the end.
    pub fn register_file(&self, path: &Path, offset: u64, len: Option<u64>) -> Result<RegionId> {
        let file = File::open(path)
            .map_err(|e| Error::InvalidArgument(format!("cannot open {}: {e}", path.display())))?;
        let file_len = file.metadata()?.len();
        let len = len.unwrap_or(file_len.saturating_sub(offset));
        if offset.checked_add(len).is_none_or(|end| end > file_len) {
            return Err(Error::InvalidArgument(format!(
                "{}: range {offset}+{len} is past the end of the file ({file_len} bytes)",
                path.display()
            )));
        }
        if len == 0 {
            return Ok(self.insert(RegionBytes::Owned(Box::new(Vec::<u8>::new()))));
        }
        let len = usize::try_from(len)
            .map_err(|_| Error::InvalidArgument("file range too large".into()))?;
        // SAFETY: registered files must not be truncated while registered (Spark's
        // committed shuffle files and Kafka's closed segments are immutable).
        // MAP_PRIVATE, read-only: reads see the file as with MAP_SHARED, and
        // kernels before 6.2 can register a private mapping for RDMA (they pin
        // read-only memory with FOLL_FORCE | FOLL_WRITE, which a shared
        // read-only mapping refuses with EFAULT).
        let map = unsafe {
            MmapOptions::new()
                .offset(offset)
                .len(len)
                .map_copy_read_only(&file)?
        };
        Ok(self.insert(RegionBytes::File { map, file, offset }))
    }

    /// Registers bytes the process owns (a `Vec<u8>`, an mmap, ...).
    pub fn register_bytes(&self, bytes: impl AsRef<[u8]> + Send + Sync + 'static) -> RegionId {
        self.insert(RegionBytes::Owned(Box::new(bytes)))
    }

    fn insert(&self, bytes: RegionBytes) -> RegionId {
        let id = RegionId(self.next_id.fetch_add(1, Ordering::Relaxed) + 1);
        let region = Arc::new(Region { id, bytes });
        self.regions.write().unwrap().insert(id, region);
        id
    }

    /// Revokes the region: later lookups and reads of it fail. Returns whether it existed.
    pub fn deregister(&self, id: RegionId) -> bool {
        let existed = self.regions.write().unwrap().remove(&id).is_some();
        if existed {
            for hook in self.hooks.read().unwrap().iter() {
                hook(id);
            }
        }
        existed
    }

    /// Calls `hook` after each later deregistration, before `deregister` returns.
    pub fn on_deregister(&self, hook: DeregisterHook) {
        self.hooks.write().unwrap().push(hook);
    }

    pub fn get(&self, id: RegionId) -> Option<Arc<Region>> {
        self.regions.read().unwrap().get(&id).cloned()
    }

    pub fn len(&self) -> usize {
        self.regions.read().unwrap().len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    #[test]
    fn file_ranges_map_without_copies_and_check_bounds() {
        let mut file = tempfile::NamedTempFile::new().unwrap();
        let data: Vec<u8> = (0..10_000u32).map(|i| i as u8).collect();
        file.write_all(&data).unwrap();
        let registry = RegionRegistry::default();
        let id = registry
            .register_file(file.path(), 4097, Some(1000))
            .unwrap();
        let region = registry.get(id).unwrap();
        assert_eq!(region.bytes(), &data[4097..5097]);
        assert_eq!(region.slice(990, 10).unwrap(), &data[5087..5097]);
        assert!(region.slice(990, 11).is_none());
        assert!(region.slice(u64::MAX, 2).is_none());
        assert!(registry
            .register_file(file.path(), 9000, Some(1001))
            .is_err());
    }

    #[test]
    fn ids_are_never_reused() {
        let registry = RegionRegistry::default();
        let a = registry.register_bytes(vec![1u8; 4]);
        assert!(registry.deregister(a));
        assert!(!registry.deregister(a));
        let b = registry.register_bytes(vec![2u8; 4]);
        assert_ne!(a, b);
        assert!(registry.get(a).is_none());
    }
}
