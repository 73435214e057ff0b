//! Received bytes not yet parsed. The buffer is zeroed once and reused, so a
//! read costs no memset; it grows only while one frame is larger than it.

use std::io::{self, Read};

const INITIAL: usize = 256 * 1024;
/// Compact or grow when less than this is free at the end, so reads stay large.
const MIN_READ: usize = 64 * 1024;

pub(crate) struct Inbox {
    buf: Vec<u8>,
    start: usize,
    end: usize,
}

impl Default for Inbox {
    fn default() -> Self {
        Inbox {
            buf: vec![0; INITIAL],
            start: 0,
            end: 0,
        }
    }
}

impl Inbox {
    pub fn data(&self) -> &[u8] {
        &self.buf[self.start..self.end]
    }

    /// The unconsumed bytes, to decrypt in place.
    pub fn data_mut(&mut self) -> &mut [u8] {
        &mut self.buf[self.start..self.end]
    }

    /// Appends `bytes` (opened records' clear bytes).
    pub fn push(&mut self, bytes: &[u8]) {
        self.make_room(bytes.len());
        self.buf[self.end..self.end + bytes.len()].copy_from_slice(bytes);
        self.end += bytes.len();
    }

    pub fn consume(&mut self, n: usize) {
        self.start += n;
        debug_assert!(self.start <= self.end);
        if self.start == self.end {
            self.start = 0;
            self.end = 0;
        }
    }

    /// Free space the next read may fill.
    pub fn room(&mut self) -> usize {
        self.make_room(MIN_READ);
        self.buf.len() - self.end
    }

    /// One read from `source`; `Ok(0)` is the end of the stream.
    pub fn read_from(&mut self, source: &mut impl Read) -> io::Result<usize> {
        self.read_at_most(source, usize::MAX)
    }

    /// One read of at most `limit` bytes from `source`; `Ok(0)` is the end of the stream.
    pub fn read_at_most(&mut self, source: &mut impl Read, limit: usize) -> io::Result<usize> {
        self.make_room(MIN_READ);
        let end = self.buf.len().min(self.end.saturating_add(limit));
        let n = source.read(&mut self.buf[self.end..end])?;
        self.end += n;
        Ok(n)
    }

    pub fn is_empty(&self) -> bool {
        self.start == self.end
    }

    fn make_room(&mut self, wanted: usize) {
        if self.buf.len() - self.end >= wanted {
            return;
        }
        self.buf.copy_within(self.start..self.end, 0);
        self.end -= self.start;
        self.start = 0;
        if self.buf.len() - self.end < wanted {
            let len = (self.end + wanted).next_power_of_two();
            self.buf.resize(len, 0);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_unconsumed_bytes_across_compaction_and_growth() {
        let mut inbox = Inbox::default();
        let data: Vec<u8> = (0..600_000u32).map(|i| i as u8).collect();
        let mut source = &data[..];
        let mut seen = Vec::new();
        while inbox.read_from(&mut source).unwrap() > 0 {
            // Consume all but a tail, as a decoder waiting for the rest of a frame does.
            let keep = inbox.data().len().min(1000);
            let take = inbox.data().len() - keep;
            seen.extend_from_slice(&inbox.data()[..take]);
            inbox.consume(take);
        }
        seen.extend_from_slice(inbox.data());
        assert_eq!(seen, data);
    }

    #[test]
    fn reads_no_more_than_asked() {
        let mut inbox = Inbox::default();
        let mut source: &[u8] = &[7u8; 2000];
        assert_eq!(inbox.read_at_most(&mut source, 512).unwrap(), 512);
        assert!(!inbox.is_empty());
        assert_eq!(inbox.read_from(&mut source).unwrap(), 1488);
        assert_eq!(inbox.data(), &[7u8; 2000][..]);
        inbox.consume(2000);
        assert!(inbox.is_empty());
    }
}
