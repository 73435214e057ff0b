//! Bytes waiting to be written: encoded frames and slices of registered regions,
//! sent with vectored writes so a header and its payload leave in one syscall,
//! except slices of file regions, which go out with `sendfile`: the kernel sends
//! the page cache's pages, and a file that shrank gives an error rather than the
//! SIGBUS a read through its mapping would raise. (Small file slices are read
//! with `pread` before they are queued: see `SENDFILE_MIN`.)
//!
//! On an encrypted connection (`ferry.encryption=aes-gcm`) every byte queued
//! after the handshake is sealed into AES-GCM records (`protocol::record`):
//! frames are gathered and sealed together when the outbox is flushed, a READ
//! payload starts records of its own (read from its region, since `sendfile`
//! cannot encrypt), so the requester can decrypt it in place where it lands.

use std::collections::VecDeque;
use std::fs::File;
use std::io::{self, IoSlice, Write};
use std::os::fd::{AsRawFd, RawFd};
use std::sync::Arc;

use crate::error::Error;
use crate::memory::Region;
use crate::protocol::record::{RecordKey, HEADER, MAX_RECORD, TAG};
use crate::protocol::{encode, Frame};

enum Chunk {
    Owned(Vec<u8>),
    Region {
        region: Arc<Region>,
        start: usize,
        end: usize,
    },
}

impl Chunk {
    fn len(&self) -> usize {
        match self {
            Chunk::Owned(v) => v.len(),
            Chunk::Region { start, end, .. } => end - start,
        }
    }

    /// The bytes, for a chunk in memory; `None` for a slice of a file region.
    fn bytes(&self) -> Option<&[u8]> {
        match self {
            Chunk::Owned(v) => Some(v),
            Chunk::Region { region, start, end } => region.owned(*start, *end),
        }
    }

    /// For a slice of a file region: the file and the file offset of the chunk's byte `at`.
    fn file_position(&self, at: usize) -> Option<(&File, u64)> {
        match self {
            Chunk::Region { region, start, .. } => region.file_position(start + at),
            Chunk::Owned(_) => None,
        }
    }
}

/// Slices per vectored write: many small READ replies leave in one syscall.
const MAX_SLICES: usize = 64;

/// File slices at least this long are sent with `sendfile`; shorter ones are
/// read with `pread` and ride in the vectored write with their header (one
/// syscall beats saving a copy).
pub(crate) const SENDFILE_MIN: usize = 64 * 1024;

/// Where an outbox writes: a socket, or a test double.
pub(crate) trait Sink: Write {
    /// Sends up to `len` bytes of `file` from `offset` without a copy through
    /// user space; `None` where the sink cannot.
    fn send_file(&mut self, _file: &File, _offset: u64, _len: usize) -> Option<io::Result<usize>> {
        None
    }
}

impl Sink for mio::net::TcpStream {
    fn send_file(&mut self, file: &File, offset: u64, len: usize) -> Option<io::Result<usize>> {
        Some(send_file(self.as_raw_fd(), file, offset, len))
    }
}

impl Sink for std::net::TcpStream {
    fn send_file(&mut self, file: &File, offset: u64, len: usize) -> Option<io::Result<usize>> {
        Some(send_file(self.as_raw_fd(), file, offset, len))
    }
}

fn send_file(socket: RawFd, file: &File, offset: u64, len: usize) -> io::Result<usize> {
    let mut offset = offset as libc::off_t;
    // SAFETY: both descriptors are open for the call; the kernel reads the
    // file range and writes the socket, touching no user memory.
    let sent = unsafe { libc::sendfile(socket, file.as_raw_fd(), &mut offset, len) };
    if sent < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(sent as usize)
    }
}

#[derive(Default)]
pub(crate) struct Outbox {
    chunks: VecDeque<Chunk>,
    /// Bytes of the front chunk already written.
    written: usize,
    queued: usize,
    /// Set once the connection encrypts.
    sealing: Option<Sealing>,
}

/// The key an encrypted connection's bytes are sealed with, and the frames not sealed yet.
struct Sealing {
    key: RecordKey,
    clear: Vec<u8>,
    /// Sealing failed (the record count ran out): the connection ends at the next flush.
    failed: Option<Error>,
    /// Written buffers of sealed payloads, to seal the next ones into: a fresh
    /// buffer of a megabyte costs more in page faults than its encryption.
    spare: Vec<Vec<u8>>,
}

/// Sealed buffers at least this large are kept for reuse, at most SPARE_BUFFERS of them.
const SPARE_MIN: usize = 64 << 10;
const SPARE_BUFFERS: usize = 2;

impl Sealing {
    fn keep(&mut self, buffer: Vec<u8>) {
        if buffer.capacity() >= SPARE_MIN && self.spare.len() < SPARE_BUFFERS {
            self.spare.push(buffer);
        }
    }
}

impl Outbox {
    /// Seals every byte queued from now on with `key` (what was queued before goes in clear).
    pub fn seal_with(&mut self, key: RecordKey) {
        self.sealing = Some(Sealing {
            key,
            clear: Vec::new(),
            failed: None,
            spare: Vec::new(),
        });
    }

    pub fn frame(&mut self, frame: &Frame) {
        if let Some(sealing) = &mut self.sealing {
            let before = sealing.clear.len();
            encode(frame, &mut sealing.clear);
            self.queued += sealing.clear.len() - before;
            return;
        }
        // Small frames share the tail buffer rather than each taking a chunk
        // (appending is safe even while the tail is partly written).
        if let Some(Chunk::Owned(tail)) = self.chunks.back_mut() {
            if tail.len() < 64 * 1024 {
                let before = tail.len();
                encode(frame, tail);
                self.queued += tail.len() - before;
                return;
            }
        }
        let mut buf = Vec::with_capacity(64);
        encode(frame, &mut buf);
        self.push(Chunk::Owned(buf));
    }

    /// Queues a READ payload.
    pub fn bytes(&mut self, bytes: Vec<u8>) {
        match self.sealing {
            Some(_) => self.seal_payload(&bytes),
            None => self.push(Chunk::Owned(bytes)),
        }
    }

    /// Queues `[start, end)` of a region to be written straight from its memory
    /// (its file, for a file region); when sealing, read from it and sealed now.
    pub fn region(&mut self, region: Arc<Region>, start: usize, end: usize) {
        if start >= end {
            return;
        }
        let Some(sealing) = &mut self.sealing else {
            return self.push(Chunk::Region { region, start, end });
        };
        match region.read(start as u64, (end - start) as u64) {
            Ok(bytes) => self.seal_payload(&bytes),
            Err(e) => sealing.failed = Some(e.into()),
        }
    }

    /// Seals the frames before a payload, then the payload in records of its own.
    fn seal_payload(&mut self, payload: &[u8]) {
        self.seal_clear();
        self.seal(payload);
    }

    /// Seals the frames gathered so far.
    fn seal_clear(&mut self) {
        let Some(sealing) = &mut self.sealing else {
            return;
        };
        let clear = std::mem::take(&mut sealing.clear);
        self.queued -= clear.len();
        self.seal(&clear);
        if let Some(sealing) = &mut self.sealing {
            // Keep the buffer's capacity for the next frames.
            sealing.clear = clear;
            sealing.clear.clear();
        }
    }

    /// Queues `bytes` as records of at most MAX_RECORD bytes each.
    fn seal(&mut self, bytes: &[u8]) {
        let Some(sealing) = self.sealing.as_mut().filter(|s| s.failed.is_none()) else {
            return;
        };
        if bytes.is_empty() {
            return;
        }
        let records = bytes.len().div_ceil(MAX_RECORD);
        let mut out = sealing.spare.pop().unwrap_or_default();
        out.clear();
        out.reserve(bytes.len() + records * (HEADER + TAG));
        for piece in bytes.chunks(MAX_RECORD) {
            if let Err(e) = sealing.key.seal(piece, &mut out) {
                sealing.failed = Some(e);
                return;
            }
        }
        self.push(Chunk::Owned(out));
    }

    fn push(&mut self, chunk: Chunk) {
        self.queued += chunk.len();
        self.chunks.push_back(chunk);
    }

    pub fn queued(&self) -> usize {
        self.queued
    }

    pub fn is_empty(&self) -> bool {
        self.chunks.is_empty() && self.sealing.as_ref().is_none_or(|s| s.clear.is_empty())
    }

    /// Writes until empty or the socket would block.
    pub fn flush(&mut self, out: &mut impl Sink) -> io::Result<()> {
        self.seal_clear();
        if let Some(failed) = self.sealing.as_ref().and_then(|s| s.failed.as_ref()) {
            return Err(io::Error::other(failed.to_string()));
        }
        while let Some(front) = self.chunks.front() {
            let sent = match front.file_position(self.written) {
                Some((file, offset)) => out.send_file(file, offset, front.len() - self.written),
                None => None,
            };
            let n = match sent {
                Some(Ok(0)) => return Err(shrunk_file(front)),
                Some(result) => result,
                None => out.write_vectored(&self.slices()),
            };
            let n = match n {
                Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(()),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            };
            self.consume(n);
        }
        Ok(())
    }

    /// The chunks to write in one vectored write: up to the next one `sendfile` sends.
    fn slices(&self) -> Vec<IoSlice<'_>> {
        let mut slices = Vec::with_capacity(MAX_SLICES);
        for (i, bytes) in self
            .chunks
            .iter()
            .take(MAX_SLICES)
            .map_while(Chunk::bytes)
            .enumerate()
        {
            let skip = if i == 0 { self.written } else { 0 };
            slices.push(IoSlice::new(&bytes[skip..]));
        }
        slices
    }

    fn consume(&mut self, mut n: usize) {
        self.queued -= n;
        while n > 0 {
            let front_left = self.chunks[0].len() - self.written;
            if n < front_left {
                self.written += n;
                return;
            }
            n -= front_left;
            self.written = 0;
            let sent = self.chunks.pop_front();
            if let (Some(sealing), Some(Chunk::Owned(buffer))) = (&mut self.sealing, sent) {
                sealing.keep(buffer);
            }
        }
    }
}

/// `sendfile` found the end of the file inside the range being sent: the file
/// shrank after its reply header went out, so the connection cannot go on.
fn shrunk_file(chunk: &Chunk) -> io::Error {
    let short = io::Error::new(io::ErrorKind::UnexpectedEof, "sendfile reached its end");
    match chunk {
        Chunk::Region { region, start, end } => {
            region.file_error(*start as u64, (end - start) as u64, short)
        }
        Chunk::Owned(_) => short,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A writer that takes at most `limit` bytes per call, then would block.
    struct Trickle {
        got: Vec<u8>,
        limit: usize,
        calls_left: usize,
    }

    impl Write for Trickle {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            if self.calls_left == 0 {
                return Err(io::ErrorKind::WouldBlock.into());
            }
            self.calls_left -= 1;
            let n = buf.len().min(self.limit);
            self.got.extend_from_slice(&buf[..n]);
            Ok(n)
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    /// Sends files as the kernel would, at most `limit` bytes a call.
    impl Sink for Trickle {
        fn send_file(&mut self, file: &File, offset: u64, len: usize) -> Option<io::Result<usize>> {
            use std::os::unix::fs::FileExt;
            if self.calls_left == 0 {
                return Some(Err(io::ErrorKind::WouldBlock.into()));
            }
            self.calls_left -= 1;
            let mut buf = vec![0; len.min(self.limit)];
            Some(
                file.read_at(&mut buf, offset)
                    .inspect(|&n| self.got.extend_from_slice(&buf[..n])),
            )
        }
    }

    #[test]
    fn large_file_slices_are_sent_from_the_file_in_order() {
        let content: Vec<u8> = (0..300_000u32).map(|i| (i % 251) as u8).collect();
        let mut file = tempfile::NamedTempFile::new().unwrap();
        file.write_all(&content).unwrap();
        let regions = crate::memory::RegionRegistry::default();
        let id = regions.register_file(file.path(), 1000, None).unwrap();
        let region = regions.get(id).unwrap();
        let mut outbox = Outbox::default();
        outbox.bytes(vec![1, 2, 3]);
        outbox.region(region.clone(), 5, 100_005); // sendfile
        outbox.region(region.clone(), 7, 17); // sendfile too (the server preads small slices)
        outbox.bytes(vec![4]);
        outbox.region(region, 200_000, 299_000); // sendfile
        let mut sink = Trickle {
            got: vec![],
            limit: 30_000,
            calls_left: 3,
        };
        outbox.flush(&mut sink).unwrap();
        assert!(!outbox.is_empty());
        sink.calls_left = 1000;
        outbox.flush(&mut sink).unwrap();
        let mut want = vec![1, 2, 3];
        want.extend_from_slice(&content[1005..101_005]);
        want.extend_from_slice(&content[1007..1017]);
        want.push(4);
        want.extend_from_slice(&content[201_000..300_000]);
        assert_eq!(sink.got.len(), want.len());
        assert!(sink.got == want);
        assert_eq!(outbox.queued(), 0);
    }

    /// A file that shrinks after its reply was queued: sendfile finds the end
    /// early, and the error names the file (the connection then closes).
    #[test]
    fn a_file_that_shrinks_under_a_queued_slice_is_an_error_naming_it() {
        let mut file = tempfile::NamedTempFile::new().unwrap();
        file.write_all(&[9u8; 200_000]).unwrap();
        let regions = crate::memory::RegionRegistry::default();
        let id = regions.register_file(file.path(), 0, None).unwrap();
        let mut outbox = Outbox::default();
        outbox.region(regions.get(id).unwrap(), 0, 200_000);
        file.as_file().set_len(100_000).unwrap();
        let mut sink = Trickle {
            got: vec![],
            limit: 1 << 20,
            calls_left: 100,
        };
        let error = outbox.flush(&mut sink).unwrap_err().to_string();
        assert_eq!(sink.got.len(), 100_000);
        assert!(error.contains("truncated after registration"), "{error}");
        assert!(
            error.contains(&file.path().display().to_string()),
            "{error}"
        );
    }

    #[test]
    fn partial_writes_resume_in_order() {
        let regions = crate::memory::RegionRegistry::default();
        let id = regions.register_bytes((0..=255u8).collect::<Vec<_>>());
        let mut outbox = Outbox::default();
        outbox.bytes(vec![1, 2, 3]);
        outbox.region(regions.get(id).unwrap(), 10, 20);
        outbox.bytes(vec![4, 5]);
        let mut sink = Trickle {
            got: vec![],
            limit: 4,
            calls_left: 2,
        };
        outbox.flush(&mut sink).unwrap();
        assert_eq!(outbox.queued(), 15 - sink.got.len());
        assert!(!outbox.is_empty());
        sink.calls_left = 100;
        outbox.flush(&mut sink).unwrap();
        let mut want = vec![1, 2, 3];
        want.extend(10..20u8);
        want.extend([4, 5]);
        assert_eq!(sink.got, want);
        assert!(outbox.is_empty());
    }
}
