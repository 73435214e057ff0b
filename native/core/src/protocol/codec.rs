//! Bounds-checked byte cursors and the frame envelope.

use super::frame::{Frame, MAX_FRAME_BODY};
use crate::error::{Error, Result};

const HEADER: usize = 5;

/// Appends little-endian fields to a buffer.
#[derive(Default)]
pub struct Writer(pub Vec<u8>);

impl Writer {
    pub fn u8(&mut self, v: u8) {
        self.0.push(v);
    }
    pub fn u16(&mut self, v: u16) {
        self.0.extend_from_slice(&v.to_le_bytes());
    }
    pub fn u32(&mut self, v: u32) {
        self.0.extend_from_slice(&v.to_le_bytes());
    }
    pub fn u64(&mut self, v: u64) {
        self.0.extend_from_slice(&v.to_le_bytes());
    }
    pub fn raw(&mut self, v: &[u8]) {
        self.0.extend_from_slice(v);
    }
    /// A byte string with a u16 length; callers keep it under 64 KiB.
    pub fn bytes16(&mut self, v: &[u8]) {
        let len = v.len().min(u16::MAX as usize);
        self.u16(len as u16);
        self.raw(&v[..len]);
    }
}

/// Reads little-endian fields; running past the end is a `Malformed` error, never a panic.
pub struct Reader<'a> {
    buf: &'a [u8],
}

impl<'a> Reader<'a> {
    pub fn new(buf: &'a [u8]) -> Self {
        Reader { buf }
    }
    pub fn take(&mut self, n: usize) -> Result<&'a [u8]> {
        if n > self.buf.len() {
            return Err(Error::Malformed(format!(
                "field of {n} bytes runs past the frame end ({} left)",
                self.buf.len()
            )));
        }
        let (head, rest) = self.buf.split_at(n);
        self.buf = rest;
        Ok(head)
    }
    pub fn array<const N: usize>(&mut self) -> Result<[u8; N]> {
        Ok(self.take(N)?.try_into().expect("take returned N bytes"))
    }
    pub fn u8(&mut self) -> Result<u8> {
        Ok(self.array::<1>()?[0])
    }
    pub fn u16(&mut self) -> Result<u16> {
        self.array().map(u16::from_le_bytes)
    }
    pub fn u32(&mut self) -> Result<u32> {
        self.array().map(u32::from_le_bytes)
    }
    pub fn u64(&mut self) -> Result<u64> {
        self.array().map(u64::from_le_bytes)
    }
    pub fn bytes16(&mut self) -> Result<&'a [u8]> {
        let len = self.u16()? as usize;
        self.take(len)
    }
    pub fn is_empty(&self) -> bool {
        self.buf.is_empty()
    }
}

/// Appends one encoded frame to `out`.
pub fn encode(frame: &Frame, out: &mut Vec<u8>) {
    let start = out.len();
    let mut w = Writer(std::mem::take(out));
    w.u32(0);
    w.u8(frame.kind());
    frame.encode_body(&mut w);
    *out = w.0;
    let body = (out.len() - start - HEADER) as u32;
    out[start..start + 4].copy_from_slice(&body.to_le_bytes());
}

/// Decodes the frame at the start of `buf`: `Ok(None)` when more bytes are needed,
/// otherwise the frame and how many bytes it used. Never panics on any input.
pub fn decode(buf: &[u8]) -> Result<Option<(Frame, usize)>> {
    decode_within(buf, MAX_FRAME_BODY)
}

/// [`decode`] of frames whose body is at most `max_body` bytes: a longer one is
/// refused from its header, before any of its body is buffered.
pub fn decode_within(buf: &[u8], max_body: usize) -> Result<Option<(Frame, usize)>> {
    if buf.len() < HEADER {
        return Ok(None);
    }
    let body_len = u32::from_le_bytes(buf[..4].try_into().expect("4 bytes")) as usize;
    if body_len > max_body.min(MAX_FRAME_BODY) {
        return Err(Error::Malformed(format!(
            "frame body of {body_len} bytes exceeds the limit of {} bytes",
            max_body.min(MAX_FRAME_BODY)
        )));
    }
    let total = HEADER + body_len;
    if buf.len() < total {
        return Ok(None);
    }
    let mut body = Reader::new(&buf[HEADER..total]);
    let frame = Frame::decode_body(buf[4], &mut body)?;
    if !body.is_empty() {
        return Err(Error::Malformed(format!(
            "trailing bytes after a {} frame",
            frame.name()
        )));
    }
    Ok(Some((frame, total)))
}
