//! Bytes waiting to be written: encoded frames and slices of registered regions,
//! sent with vectored writes so a header and its payload leave in one syscall.

use std::collections::VecDeque;
use std::io::{self, IoSlice, Write};
use std::sync::Arc;

use crate::memory::Region;
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
    fn bytes(&self) -> &[u8] {
        match self {
            Chunk::Owned(v) => v,
            Chunk::Region { region, start, end } => &region.bytes()[*start..*end],
        }
    }
}

/// Slices per vectored write: many small READ replies leave in one syscall.
const MAX_SLICES: usize = 64;

#[derive(Default)]
pub(crate) struct Outbox {
    chunks: VecDeque<Chunk>,
    /// Bytes of the front chunk already written.
    written: usize,
    queued: usize,
}

impl Outbox {
    pub fn frame(&mut self, frame: &Frame) {
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

    pub fn bytes(&mut self, bytes: Vec<u8>) {
        self.push(Chunk::Owned(bytes));
    }

    /// Queues `[start, end)` of a region to be written straight from its memory.
    pub fn region(&mut self, region: Arc<Region>, start: usize, end: usize) {
        if start < end {
            self.push(Chunk::Region { region, start, end });
        }
    }

    fn push(&mut self, chunk: Chunk) {
        self.queued += chunk.bytes().len();
        self.chunks.push_back(chunk);
    }

    pub fn queued(&self) -> usize {
        self.queued
    }

    pub fn is_empty(&self) -> bool {
        self.chunks.is_empty()
    }

    /// Writes until empty or the socket would block.
    pub fn flush(&mut self, out: &mut impl Write) -> io::Result<()> {
        while !self.chunks.is_empty() {
            let mut slices: Vec<IoSlice<'_>> = Vec::with_capacity(MAX_SLICES);
            for (i, chunk) in self.chunks.iter().take(MAX_SLICES).enumerate() {
                let skip = if i == 0 { self.written } else { 0 };
                slices.push(IoSlice::new(&chunk.bytes()[skip..]));
            }
            let n = match out.write_vectored(&slices) {
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

    fn consume(&mut self, mut n: usize) {
        self.queued -= n;
        while n > 0 {
            let front_left = self.chunks[0].bytes().len() - self.written;
            if n < front_left {
                self.written += n;
                return;
            }
            n -= front_left;
            self.written = 0;
            self.chunks.pop_front();
        }
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
