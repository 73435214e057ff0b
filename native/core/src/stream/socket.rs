//! A remote stream driven over its own socket: what a selector loop (Kafka's)
//! calls for `read` and `write` once the handshake agreed on READs.
//!
//! Readiness stays the socket's. A NOTIFY stays in the socket (read with
//! `MSG_PEEK`) until the application has taken every byte of its message, so
//! the socket is readable while a message is partly delivered, and an epoll
//! loop that reads one frame of its own per wake-up (Kafka reads a size, then a
//! body) comes back for the rest. Writes never wait for credits: without room
//! in the window, or for a message too small to be worth a READ, the payload
//! goes in a DATA frame, so TCP's own flow control applies. A NOTIFY the socket
//! did not take whole keeps the message's last byte uncounted: the application
//! offers that byte again, and the call that finishes the NOTIFY counts it.

use std::io::{self, IoSlice};
use std::os::fd::RawFd;
use std::time::{Duration, Instant};

use super::remote::{RemoteReceiver, RemoteSender};
use super::{parse_event, parse_header, Event, State, Stream};
use super::{HEADER_LEN, KIND_CREDIT, KIND_DATA, KIND_NOTIFY, MAX_NOTIFY_ID, NOTIFY_FIXED};
use crate::error::{Error, Result};
use crate::memory::PooledBuffer;

/// The longest control frame: a NOTIFY with the longest id.
const MAX_CONTROL_FRAME: usize = HEADER_LEN + NOTIFY_FIXED + MAX_NOTIFY_ID;
/// DATA payload is read through this much scratch at a time.
const SCRATCH: usize = 64 << 10;
/// The longest DATA frame a remote stream sends.
const FALLBACK_FRAME: usize = 64 << 10;

/// Non-blocking socket calls, over a descriptor the caller owns.
pub trait ControlSocket {
    /// Copies the first bytes waiting without consuming them; `Ok(None)` at end of stream.
    fn peek(&self, buf: &mut [u8]) -> io::Result<Option<usize>>;
    /// `Ok(None)` at end of stream; `Ok(Some(0))` when nothing waits.
    fn recv(&self, buf: &mut [u8]) -> io::Result<Option<usize>>;
    /// Bytes taken (0 when the socket takes nothing now).
    fn send(&self, bufs: &[IoSlice<'_>]) -> io::Result<usize>;
    /// Waits up to `timeout_ms` for the socket to become readable (or writable).
    fn wait(&self, writable: bool, timeout_ms: i32) -> io::Result<bool>;
}

/// A connected TCP socket's descriptor (not owned: the application closes it).
#[derive(Clone, Copy, Debug)]
pub struct Fd(pub RawFd);

impl Fd {
    fn recv_flags(&self, buf: &mut [u8], flags: i32) -> io::Result<Option<usize>> {
        loop {
            // SAFETY: buf is valid for writes of its length.
            let n = unsafe {
                libc::recv(
                    self.0,
                    buf.as_mut_ptr().cast(),
                    buf.len(),
                    flags | libc::MSG_DONTWAIT,
                )
            };
            match n {
                0 if !buf.is_empty() => return Ok(None),
                n if n >= 0 => return Ok(Some(n as usize)),
                _ => match io::Error::last_os_error() {
                    e if e.kind() == io::ErrorKind::WouldBlock => return Ok(Some(0)),
                    e if e.kind() == io::ErrorKind::Interrupted => continue,
                    e => return Err(e),
                },
            }
        }
    }
}

impl ControlSocket for Fd {
    fn peek(&self, buf: &mut [u8]) -> io::Result<Option<usize>> {
        self.recv_flags(buf, libc::MSG_PEEK)
    }

    fn recv(&self, buf: &mut [u8]) -> io::Result<Option<usize>> {
        self.recv_flags(buf, 0)
    }

    fn send(&self, bufs: &[IoSlice<'_>]) -> io::Result<usize> {
        // SAFETY: a zeroed msghdr is valid; the iovecs point at live slices
        // (IoSlice has the layout of iovec).
        let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
        msg.msg_iov = bufs.as_ptr() as *mut libc::iovec;
        msg.msg_iovlen = bufs.len() as _;
        loop {
            // SAFETY: msg describes valid buffers for the call.
            let n = unsafe { libc::sendmsg(self.0, &msg, libc::MSG_DONTWAIT | libc::MSG_NOSIGNAL) };
            if n >= 0 {
                return Ok(n as usize);
            }
            match io::Error::last_os_error() {
                e if e.kind() == io::ErrorKind::WouldBlock => return Ok(0),
                e if e.kind() == io::ErrorKind::Interrupted => continue,
                e => return Err(e),
            }
        }
    }

    fn wait(&self, writable: bool, timeout_ms: i32) -> io::Result<bool> {
        let events = if writable {
            libc::POLLOUT
        } else {
            libc::POLLIN
        };
        let mut poll = libc::pollfd {
            fd: self.0,
            events,
            revents: 0,
        };
        // SAFETY: one valid pollfd.
        match unsafe { libc::poll(&mut poll, 1, timeout_ms) } {
            n if n >= 0 => Ok(n > 0),
            _ => match io::Error::last_os_error() {
                e if e.kind() == io::ErrorKind::Interrupted => Ok(false),
                e => Err(e),
            },
        }
    }
}

/// A message READ and being handed to the application; its NOTIFY is still in the socket.
struct Delivery {
    seq: u64,
    /// Bytes of the NOTIFY frame.
    frame: usize,
    pieces: Vec<PooledBuffer>,
    piece: usize,
    at: usize,
}

/// Both halves of a remote stream over one socket.
pub struct RemoteIo<S> {
    socket: S,
    sender: RemoteSender,
    receiver: RemoteReceiver,
    /// Writes smaller than this go in DATA frames.
    min_read: usize,
    delivering: Option<Delivery>,
    /// Payload bytes the DATA frame being written still owes, and the part of
    /// its header not sent yet. Control frames wait until the frame is out.
    frame_left: u64,
    header: Vec<u8>,
    /// The last message's last byte is uncounted until its NOTIFY is all out.
    held_back: bool,
    scratch: Vec<u8>,
}

impl<S: ControlSocket> RemoteIo<S> {
    /// `min_read`: the smallest write sent by READ (at least 2 bytes; smaller
    /// ones travel in DATA frames).
    pub fn new(
        socket: S,
        sender: RemoteSender,
        receiver: RemoteReceiver,
        min_read: usize,
    ) -> RemoteIo<S> {
        RemoteIo {
            socket,
            sender,
            receiver,
            min_read: min_read.max(2),
            delivering: None,
            frame_left: 0,
            header: Vec::new(),
            held_back: false,
            scratch: Vec::new(),
        }
    }

    pub fn sender(&self) -> &RemoteSender {
        &self.sender
    }

    pub fn socket(&self) -> &S {
        &self.socket
    }

    /// Hands up to `capacity` payload bytes to `dst` (called once per piece).
    /// Returns the bytes handed over (0: nothing available now), or `None` at
    /// the end of the stream. May wait for a READ, never for the socket.
    pub fn read(
        &mut self,
        stream: &mut Stream,
        capacity: usize,
        dst: &mut dyn FnMut(&[u8]) -> Result<()>,
    ) -> Result<Option<usize>> {
        let mut total = 0;
        let end = loop {
            if total == capacity {
                break false;
            }
            if let Some(d) = self.delivering.as_mut() {
                while total < capacity && d.piece < d.pieces.len() {
                    let piece = &d.pieces[d.piece][d.at..];
                    let n = piece.len().min(capacity - total);
                    dst(&piece[..n])?;
                    total += n;
                    d.at += n;
                    if d.at == d.pieces[d.piece].len() {
                        d.piece += 1;
                        d.at = 0;
                    }
                }
                if d.piece == d.pieces.len() {
                    self.delivered(stream)?;
                }
                continue;
            }
            let pending = stream.data_pending();
            if pending > 0 {
                let want = (pending as usize).min(capacity - total).min(SCRATCH);
                self.scratch.resize(want, 0);
                match self.socket.recv(&mut self.scratch)? {
                    None => {
                        return Err(Error::PeerClosed {
                            peer: "stream peer".into(),
                            reason: "closed inside a DATA frame".into(),
                        })
                    }
                    Some(0) => break false,
                    Some(n) => {
                        stream.data_read(n as u64)?;
                        dst(&self.scratch[..n])?;
                        total += n;
                    }
                }
                continue;
            }
            if stream.state() != State::Open {
                break true;
            }
            match self.next_control(stream)? {
                Control::Wait => break false,
                Control::End => break true,
                Control::Handled => {}
            }
        };
        if self.frame_left == 0 {
            self.flush(stream)?;
        }
        if end && total == 0 {
            return Ok(None);
        }
        Ok(Some(total))
    }

    /// Takes the frame at the head of the socket: a DATA header, a CREDIT, a
    /// CLOSE, or a NOTIFY, whose message it READs (leaving the frame in place).
    fn next_control(&mut self, stream: &mut Stream) -> Result<Control> {
        let mut head = [0u8; MAX_CONTROL_FRAME];
        let Some(n) = self.socket.peek(&mut head)? else {
            return Ok(Control::End);
        };
        if n < HEADER_LEN {
            return Ok(Control::Wait);
        }
        let (kind, len) = parse_header(&head);
        let frame = HEADER_LEN.saturating_add(len as usize);
        if kind == KIND_DATA || frame > MAX_CONTROL_FRAME {
            // A DATA header, or a frame the stream will refuse: let it judge.
            self.consume(stream, HEADER_LEN)?;
            return Ok(Control::Handled);
        }
        if n < frame {
            return Ok(Control::Wait);
        }
        if kind != KIND_NOTIFY || len as usize <= NOTIFY_FIXED {
            self.take_control(stream, frame)?;
            return Ok(Control::Handled);
        }
        let Event::Notify {
            seq,
            len,
            offset,
            id,
        } = parse_event(kind, &head[HEADER_LEN..frame])
        else {
            unreachable!("a NOTIFY frame parses as a NOTIFY")
        };
        let pieces = self.receiver.read(len, offset, &id)?;
        // The sender's memory is free once READ: credit now, not when delivered.
        stream.send_credit(seq)?;
        self.delivering = Some(Delivery {
            seq,
            frame,
            pieces,
            piece: 0,
            at: 0,
        });
        Ok(Control::Handled)
    }

    /// The message being delivered is all out: consume its NOTIFY.
    fn delivered(&mut self, stream: &mut Stream) -> Result<()> {
        let Some(d) = self.delivering.take() else {
            return Ok(());
        };
        self.consume(stream, d.frame)?;
        match stream.poll_event() {
            Some(Event::Notify { seq, .. }) if seq == d.seq => {}
            other => {
                return Err(Error::Malformed(format!(
                    "expected NOTIFY {} on the socket, found {other:?}",
                    d.seq
                )))
            }
        }
        super::BYTES_RECEIVED.fetch_add(
            d.pieces.iter().map(|p| p.len() as u64).sum(),
            std::sync::atomic::Ordering::Relaxed,
        );
        Ok(())
    }

    /// Reads `n` control bytes that a peek showed are waiting, into the stream.
    fn consume(&mut self, stream: &mut Stream, n: usize) -> Result<()> {
        let mut buf = [0u8; MAX_CONTROL_FRAME];
        let mut got = 0;
        while got < n {
            match self.socket.recv(&mut buf[got..n])? {
                Some(k) if k > 0 => got += k,
                _ => {
                    return Err(Error::Malformed(
                        "peeked control bytes vanished from the socket".into(),
                    ))
                }
            }
        }
        stream.input(&buf[..n])?;
        Ok(())
    }

    /// Consumes `n` control bytes like [`consume`](Self::consume) and hands the
    /// CREDITs among them to the sending half; NOTIFYs are the caller's (already
    /// READ, or discarded at the end).
    fn take_control(&mut self, stream: &mut Stream, n: usize) -> Result<()> {
        self.consume(stream, n)?;
        while let Some(event) = stream.poll_event() {
            if let Event::Credit { .. } = event {
                self.sender.on_event(event)?;
            }
        }
        Ok(())
    }

    /// Sends queued control bytes; true when none are left.
    fn flush(&mut self, stream: &mut Stream) -> Result<bool> {
        while !stream.output().is_empty() {
            let n = self.socket.send(&[IoSlice::new(stream.output())])?;
            if n == 0 {
                return Ok(false);
            }
            stream.sent(n);
        }
        Ok(true)
    }

    /// Takes CREDIT frames waiting at the head of the socket (not behind payload or a NOTIFY).
    fn take_credits(&mut self, stream: &mut Stream) -> Result<()> {
        const CREDIT_FRAME: usize = HEADER_LEN + 8;
        while self.delivering.is_none() && stream.data_pending() == 0 {
            let mut head = [0u8; CREDIT_FRAME];
            match self.socket.peek(&mut head)? {
                Some(CREDIT_FRAME) if parse_header(&head) == (KIND_CREDIT, 8) => {
                    self.take_control(stream, CREDIT_FRAME)?;
                }
                _ => return Ok(()),
            }
        }
        Ok(())
    }

    /// Before the stream goes away: waits, at most `timeout`, until the peer has
    /// READ every notified message (its slabs are freed when this driver drops,
    /// and a READ of freed memory fails), discarding whatever the peer still
    /// sends, as closing a socket discards unread bytes.
    pub fn finish(&mut self, stream: &mut Stream, timeout: Duration) -> Result<()> {
        let deadline = Instant::now() + timeout;
        if let Some(d) = self.delivering.take() {
            self.take_control(stream, d.frame)?;
        }
        while self.sender.in_flight() > 0 && Instant::now() < deadline {
            if self.frame_left == 0 {
                self.flush(stream)?;
            }
            let pending = stream.data_pending();
            if pending > 0 {
                self.scratch.resize((pending as usize).min(SCRATCH), 0);
                match self.socket.recv(&mut self.scratch)? {
                    None => break,
                    Some(0) => {
                        self.socket.wait(false, 10)?;
                    }
                    Some(n) => {
                        stream.data_read(n as u64)?;
                    }
                }
                continue;
            }
            let mut head = [0u8; MAX_CONTROL_FRAME];
            let n = match self.socket.peek(&mut head)? {
                None => break,
                Some(n) => n,
            };
            let (kind, len) = parse_header(&head);
            let frame = HEADER_LEN.saturating_add(len as usize);
            let whole = if kind == KIND_DATA { HEADER_LEN } else { frame };
            if n < HEADER_LEN || (whole <= MAX_CONTROL_FRAME && n < whole) {
                self.socket.wait(false, 10)?;
                continue;
            }
            self.take_control(stream, whole.min(MAX_CONTROL_FRAME))?;
            if stream.state() != State::Open {
                break;
            }
        }
        Ok(())
    }

    /// Takes payload from the front of `parts`; returns the bytes taken (0:
    /// the socket takes nothing now). Never waits.
    pub fn write(&mut self, stream: &mut Stream, parts: &[&[u8]]) -> Result<usize> {
        let total: usize = parts.iter().map(|p| p.len()).sum();
        if self.frame_left > 0 {
            return self.send_frame(parts);
        }
        if !self.flush(stream)? || total == 0 {
            return Ok(0);
        }
        if self.held_back {
            self.held_back = false;
            return Ok(1);
        }
        if total >= self.min_read {
            self.take_credits(stream)?;
            let n = self.sender.offer(stream, parts, self.min_read)?;
            if n > 0 {
                if self.flush(stream)? {
                    return Ok(n);
                }
                self.held_back = true;
                return Ok(n - 1);
            }
        }
        // Short frames while the window is full, so the peer's credits are not
        // held up behind a long one on its side (control waits for frame ends).
        let len = total.min(stream.max_frame() as usize).min(FALLBACK_FRAME);
        stream.send_data(len as u32)?;
        self.header.extend_from_slice(stream.output());
        stream.sent(self.header.len());
        self.frame_left = len as u64;
        self.send_frame(parts)
    }

    /// Sends what is left of the current DATA frame's header, then its payload from `parts`.
    fn send_frame(&mut self, parts: &[&[u8]]) -> Result<usize> {
        let header_len = self.header.len();
        let mut slices = Vec::with_capacity(parts.len() + 1);
        if header_len > 0 {
            slices.push(IoSlice::new(&self.header));
        }
        let mut left = self.frame_left as usize;
        for part in parts {
            let n = part.len().min(left);
            if n > 0 {
                slices.push(IoSlice::new(&part[..n]));
            }
            left -= n;
        }
        let sent = self.socket.send(&slices)?;
        let header_sent = sent.min(header_len);
        self.header.drain(..header_sent);
        let payload = sent - header_sent;
        self.frame_left -= payload as u64;
        Ok(payload)
    }
}

enum Control {
    /// The next frame is not all here yet.
    Wait,
    /// The peer closed the connection.
    End,
    Handled,
}
