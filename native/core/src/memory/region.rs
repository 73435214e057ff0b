//! Registered regions: memory that peers may read, named by a never-reused id.
//!
//! A region is either bytes the process owns or a read-only mmap of a file
//! range (a Spark shuffle data file, a Kafka segment), so serving it copies
//! nothing in user space. Deregistering drops the registry's reference; remote
//! keys that name the region go stale at once, and the mapping is unmapped when
//! the last in-progress send finishes with it.
//!
//! A file can shrink under its mapping (cleaned up early, a disk error), and
//! touching a mapped page past the new end raises SIGBUS, which kills the
//! process. So the bytes of a file region are never read through the mapping:
//! [`Region::read`] uses `pread` and senders use `sendfile`, which return
//! errors instead. The mapping exists for the NIC alone ([`Region::mapping`]).

use std::borrow::Cow;
use std::collections::HashMap;
use std::fs::File;
use std::io;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
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
    /// A read-only map of `file` from `offset`, for RDMA registration; the
    /// file stays open for `pread` and `sendfile`.
    File {
        map: Mmap,
        file: File,
        path: PathBuf,
        offset: u64,
    },
    Owned(Box<dyn AsRef<[u8]> + Send + Sync>),
}

impl Region {
    pub fn id(&self) -> RegionId {
        self.id
    }

    /// The region's memory, for registering with a NIC: a file region's pages
    /// past a truncation raise SIGBUS when the CPU touches them, so never read
    /// it here (a pinned MR keeps the pages it pinned and the NIC never faults).
    pub fn mapping(&self) -> (*const u8, usize) {
        let bytes: &[u8] = match &self.bytes {
            RegionBytes::File { map, .. } => map,
            RegionBytes::Owned(owned) => owned.as_ref().as_ref(),
        };
        (bytes.as_ptr(), bytes.len())
    }

    /// For a file region: the file and where byte `at` of the region lies in it.
    pub fn file_position(&self, at: usize) -> Option<(&File, u64)> {
        match &self.bytes {
            RegionBytes::File { file, offset, .. } => Some((file, offset + at as u64)),
            RegionBytes::Owned(_) => None,
        }
    }

    pub fn len(&self) -> u64 {
        self.mapping().1 as u64
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Whether `[offset, offset + len)` lies inside the region.
    pub fn contains(&self, offset: u64, len: u64) -> bool {
        offset.checked_add(len).is_some_and(|end| end <= self.len())
    }

    /// The bytes at `[start, end)` of a region the process owns (`None` for a
    /// file region, whose bytes are read with [`Region::read`] or sent with `sendfile`).
    pub fn owned(&self, start: usize, end: usize) -> Option<&[u8]> {
        match &self.bytes {
            RegionBytes::Owned(owned) => owned.as_ref().as_ref().get(start..end),
            RegionBytes::File { .. } => None,
        }
    }

    /// The bytes at `[offset, offset + len)`: borrowed from owned memory, read
    /// with `pread` from a file. An error when the range lies outside the region
    /// or the file no longer holds it.
    pub fn read(&self, offset: u64, len: u64) -> io::Result<Cow<'_, [u8]>> {
        if !self.contains(offset, len) {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!(
                    "range {offset}+{len} is outside the region of {} bytes",
                    self.len()
                ),
            ));
        }
        let (start, end) = (offset as usize, (offset + len) as usize);
        match &self.bytes {
            RegionBytes::Owned(owned) => Ok(Cow::Borrowed(&owned.as_ref().as_ref()[start..end])),
            RegionBytes::File { file, .. } => {
                let mut buf = vec![0; end - start];
                let at = self.file_position(start).expect("a file region").1;
                file.read_exact_at(&mut buf, at)
                    .map_err(|e| self.file_error(offset, len, e))?;
                Ok(Cow::Owned(buf))
            }
        }
    }

    /// Checks that a file region's file still holds `[offset, offset + len)`
    /// (one `fstat`), so a truncated file is refused before a reply starts.
    pub fn check_present(&self, offset: u64, len: u64) -> io::Result<()> {
        let Some((file, at)) = self.file_position(offset as usize) else {
            return Ok(());
        };
        let file_len = file
            .metadata()
            .map_err(|e| self.file_error(offset, len, e))?
            .len();
        if at.saturating_add(len) > file_len {
            let short = io::Error::new(
                io::ErrorKind::UnexpectedEof,
                format!("the file is {file_len} bytes now"),
            );
            return Err(self.file_error(offset, len, short));
        }
        Ok(())
    }

    /// Names the file and the range in an error about reading it.
    pub fn file_error(&self, offset: u64, len: u64, error: io::Error) -> io::Error {
        let path = match &self.bytes {
            RegionBytes::File { path, .. } => path.display().to_string(),
            RegionBytes::Owned(_) => "memory".into(),
        };
        let message = match error.kind() {
            io::ErrorKind::UnexpectedEof => format!(
                "{path}: range {offset}+{len} of the registered region is gone \
                 (the file was truncated after registration): {error}"
            ),
            _ => format!("{path}: cannot read range {offset}+{len}: {error}"),
        };
        io::Error::new(error.kind(), message)
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
        // SAFETY: nothing reads through the mapping (see the module comment), so
        // a file truncated while registered cannot fault in this process.
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
        Ok(self.insert(RegionBytes::File {
            map,
            file,
            path: path.to_path_buf(),
            offset,
        }))
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
        assert_eq!(region.read(0, 1000).unwrap(), &data[4097..5097]);
        assert_eq!(region.read(990, 10).unwrap(), &data[5087..5097]);
        assert!(region.read(990, 11).is_err());
        assert!(!region.contains(u64::MAX, 2));
        assert!(registry
            .register_file(file.path(), 9000, Some(1001))
            .is_err());
    }

    #[test]
    fn a_truncated_file_gives_errors_naming_it() {
        let mut file = tempfile::NamedTempFile::new().unwrap();
        file.write_all(&vec![5u8; 20_000]).unwrap();
        let registry = RegionRegistry::default();
        let region = registry
            .get(registry.register_file(file.path(), 0, None).unwrap())
            .unwrap();
        file.as_file().set_len(8192).unwrap();
        assert_eq!(region.read(0, 8192).unwrap(), &[5u8; 8192][..]);
        assert!(region.check_present(0, 8192).is_ok());
        for error in [
            region.read(8000, 1000).unwrap_err(),
            region.check_present(4096, 10_000).unwrap_err(),
        ] {
            let text = error.to_string();
            assert!(text.contains("truncated after registration"), "{text}");
            assert!(text.contains(&file.path().display().to_string()), "{text}");
        }
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
