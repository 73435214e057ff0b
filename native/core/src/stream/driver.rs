//! The stream driver: one owner of a stream's socket I/O in every mode.
//!
//! Readiness stays the socket's. No payload or control byte waits in user space
//! beyond a frame header: control bytes are read up to what the protocol wants,
//! DATA payload goes straight from the socket to the caller's buffer, and a
//! NOTIFY stays in the socket (read with `MSG_PEEK`) until the application has
//! taken every byte of its message, so the socket is readable while a message
//! is partly delivered and an epoll loop that reads one frame of its own per
//! wake-up (Kafka reads a size, then a body) comes back for the rest. While the
//! message's READ is on its way a read returns 0; the NOTIFY keeps the socket
//! readable, so the loop comes back.
//!
//! Writes never wait for credits: without room in the window, or for a message
//! too small to be worth a READ, the payload goes in a DATA frame, so TCP's own
//! flow control applies. A NOTIFY the socket did not take whole keeps the
//! message's last byte uncounted: the application offers that byte again, and
//! the call that finishes the NOTIFY counts it.

use std::io::{self, IoSlice};
use std::net::{IpAddr, SocketAddr};
use std::os::fd::{FromRawFd, RawFd};
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::abi::*;
use super::remote::{self, Notice, RemoteReceiver, RemoteSender};
use super::{count, Stats};
use crate::error::{Error, Result};
use crate::memory::PooledBuffer;
use crate::protocol::stream::{
    parse_event, parse_header, Event, State, Stream, HEADER_LEN, KIND_CREDIT, KIND_DATA,
    KIND_NOTIFY, MAX_NOTIFY_ID, NOTIFY_FIXED, SERVER_HELLO_LEN,
};
use crate::Node;

/// The longest control frame: a NOTIFY with the longest id.
const MAX_CONTROL_FRAME: usize = HEADER_LEN + NOTIFY_FIXED + MAX_NOTIFY_ID;
/// The longest DATA frame a remote stream sends, so that the peer's control
/// frames are not held up behind a long one (control waits for frame ends).
const FALLBACK_FRAME: usize = 64 << 10;
/// How long a closed stream's slabs stay registered for READs the peer may still make.
const LINGER: Duration = Duration::from_secs(5);
/// Most buffers one gathered send takes (IOV_MAX is 1024).
const MAX_IOV: usize = 1024;

/// Non-blocking socket calls, over a descriptor the caller owns.
pub trait ControlSocket {
    /// Copies the first bytes waiting without consuming them; `Ok(None)` at end of stream.
    fn peek(&self, buf: &mut [u8]) -> io::Result<Option<usize>>;
    /// `Ok(None)` at end of stream; `Ok(Some(0))` when nothing waits.
    fn recv(&self, buf: &mut [u8]) -> io::Result<Option<usize>>;
    /// Bytes taken (0 when the socket takes nothing now).
    fn send(&self, bufs: &[IoSlice<'_>]) -> io::Result<usize>;
    /// The address of the connection's peer.
    fn peer(&self) -> io::Result<SocketAddr>;
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

    /// Waits up to `timeout_ms` for the socket to become readable (or
    /// writable): how a blocking channel waits between driver calls.
    pub fn wait(&self, writable: bool, timeout_ms: i32) -> io::Result<bool> {
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

impl ControlSocket for Fd {
    fn peek(&self, buf: &mut [u8]) -> io::Result<Option<usize>> {
        self.recv_flags(buf, libc::MSG_PEEK)
    }

    fn recv(&self, buf: &mut [u8]) -> io::Result<Option<usize>> {
        self.recv_flags(buf, 0)
    }

    fn send(&self, bufs: &[IoSlice<'_>]) -> io::Result<usize> {
        let bufs = &bufs[..bufs.len().min(MAX_IOV)];
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

    fn peer(&self) -> io::Result<SocketAddr> {
        // SAFETY: the descriptor is a connected socket the caller keeps open;
        // ManuallyDrop never closes it.
        let socket =
            std::mem::ManuallyDrop::new(unsafe { std::net::TcpStream::from_raw_fd(self.0) });
        let mut peer = socket.peer_addr()?;
        // A JVM's sockets are dual-stack: an IPv4 peer shows as ::ffff:a.b.c.d,
        // which rdma_cm cannot route (and which names another node than a.b.c.d).
        peer.set_ip(peer.ip().to_canonical());
        Ok(peer)
    }
}

/// What one end of a stream offers.
pub struct Settings {
    /// The accepting end (else the connecting one).
    pub server: bool,
    /// Shared secret both ends prove (empty: none).
    pub secret: Vec<u8>,
    /// Largest DATA frame this end sends.
    pub max_frame: u32,
    /// (Client) payload in DATA frames, else inline after the handshake.
    pub framed: bool,
    /// Payload by one-sided READ, when the peer offers it too.
    pub remote: Option<RemoteSettings>,
}

/// The node and memory bounds of an end that moves payload by READ.
pub struct RemoteSettings {
    /// Serves this end's slabs and READs the peer's.
    pub node: Arc<Node>,
    /// The port `node` serves on.
    pub port: u16,
    /// Registered slab memory per direction; also the largest message this end READs.
    pub window: u64,
    pub slab_bytes: usize,
    /// Smallest write sent by READ (smaller ones travel in DATA frames).
    pub min_read: usize,
    /// Streams whose READs share one node connection to a peer.
    pub per_connection: u32,
}

/// Both halves of payload by READ, once the handshake agreed on it.
struct Remote {
    sender: RemoteSender,
    receiver: RemoteReceiver,
    min_read: usize,
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

enum Control {
    /// The next frame is not all here yet, or its message is on its way.
    Wait,
    /// The peer closed the connection.
    End,
    Handled,
}

/// One stream over one socket: every byte it reads or writes.
pub struct Driver<S: ControlSocket> {
    socket: S,
    stream: Stream,
    /// Until the handshake ends: how to move payload by READ if the peer agrees.
    offer: Option<RemoteSettings>,
    remote: Option<Remote>,
    delivering: Option<Delivery>,
    /// Payload bytes the DATA frame being written still owes, and the part of
    /// its header not sent yet. Control frames wait until the frame is out.
    frame_left: u64,
    header: Vec<u8>,
    /// The last message's last byte is uncounted until its NOTIFY is all out.
    held_back: bool,
    /// (Plain) how much of the prefix the application has taken.
    prefix_at: usize,
    handshake_failed: bool,
    stats: Stats,
    /// The time of the call being served.
    now: Instant,
}

impl<S: ControlSocket> Driver<S> {
    pub fn new(socket: S, settings: Settings) -> Result<Driver<S>> {
        let Settings {
            server,
            secret,
            max_frame,
            framed,
            remote,
        } = settings;
        let port = remote.as_ref().map(|r| r.port);
        let stream = match (server, port) {
            (true, Some(port)) => Stream::server_remote(&secret, max_frame, port)?,
            (true, None) => Stream::server(&secret, max_frame)?,
            (false, Some(port)) => Stream::client_remote(&secret, max_frame, port)?,
            (false, None) => Stream::client(&secret, max_frame, framed)?,
        };
        Ok(Driver {
            socket,
            stream,
            offer: remote,
            remote: None,
            delivering: None,
            frame_left: 0,
            header: Vec::new(),
            held_back: false,
            prefix_at: 0,
            handshake_failed: false,
            stats: Stats::default(),
            now: Instant::now(),
        })
    }

    pub fn socket(&self) -> &S {
        &self.socket
    }

    pub fn state(&self) -> State {
        self.stream.state()
    }

    /// The `abi::STATUS_*` bits.
    pub fn status(&self) -> i32 {
        let established = self.stats.get(STAT_OPENED) > 0;
        [
            (established, STATUS_ESTABLISHED),
            (self.stream.state() == State::Plain, STATUS_PLAIN),
            (established && !self.stream.framed(), STATUS_INLINE),
            (self.remote.is_some(), STATUS_REMOTE),
            (self.handshake_failed, STATUS_HANDSHAKE_FAILED),
            (
                self.prefix_at < self.stream.prefix().len(),
                STATUS_BUFFERED_INPUT,
            ),
        ]
        .iter()
        .filter(|(on, _)| *on)
        .fold(0, |bits, (_, bit)| bits | bit)
    }

    /// This stream's counters (`slab bytes`: what its sender holds registered now).
    pub fn stats(&self) -> Stats {
        let mut stats = self.stats;
        stats.0[STAT_SLAB_BYTES] = self.remote.as_ref().map_or(0, |r| r.sender.registered());
        stats
    }

    /// Bytes this end notified that the peer has not credited yet.
    pub fn in_flight(&self) -> u64 {
        self.remote.as_ref().map_or(0, |r| r.sender.in_flight())
    }

    /// Reads payload into `dst`: the bytes read (0: none now; the socket's
    /// readiness says when to come back), `None` at the end of the stream.
    /// Never blocks; READs that take longer than the node's request timeout
    /// (measured from the `now` of the call that started them) fail.
    pub fn read(&mut self, dst: &mut [u8], now: Instant) -> Result<Option<usize>> {
        self.now = now;
        let result = self.read_now(dst);
        self.note_failure(result)
    }

    /// Writes payload from the front of `parts`: the bytes taken (0: the socket
    /// takes nothing now, or a client still waits for the server's hello). Never blocks.
    pub fn write(&mut self, parts: &[&[u8]], now: Instant) -> Result<usize> {
        self.now = now;
        let result = self.write_now(parts);
        self.note_failure(result)
    }

    /// Queues CLOSE (when no frame is half sent) and sends what the socket
    /// takes now; never waits. Drop the driver afterwards.
    pub fn close(&mut self) {
        if self.remote.is_some() {
            // CREDITs waiting now free slabs at once rather than after the linger.
            let _ = self.discard_input();
        }
        let open = self.stream.state() == State::Open && self.stream.framed();
        if open && self.frame_left == 0 && self.header.is_empty() {
            self.stream.close();
            let _ = self.flush();
        }
    }

    /// Takes what the socket holds now, as closing a socket discards unread
    /// bytes, for the CREDITs among it. Never waits.
    fn discard_input(&mut self) -> Result<()> {
        if let Some(d) = self.delivering.take() {
            self.take_control(d.frame, true)?;
        }
        let mut scratch = vec![0u8; FALLBACK_FRAME];
        while self.stream.state() == State::Open {
            let pending = self.stream.data_pending();
            if pending > 0 {
                let want = scratch
                    .len()
                    .min(usize::try_from(pending).unwrap_or(usize::MAX));
                match self.socket.recv(&mut scratch[..want])? {
                    Some(n) if n > 0 => self.stream.data_read(n as u64)?,
                    _ => return Ok(()),
                };
                continue;
            }
            let mut head = [0u8; MAX_CONTROL_FRAME];
            let n = self.socket.peek(&mut head)?.unwrap_or(0);
            let (kind, len) = parse_header(&head)?;
            let frame = HEADER_LEN.saturating_add(len as usize);
            let whole = if kind == KIND_DATA { HEADER_LEN } else { frame };
            if n < HEADER_LEN || whole > MAX_CONTROL_FRAME || n < whole {
                return Ok(());
            }
            self.take_control(whole, true)?;
        }
        Ok(())
    }

    /// A failure before the stream opened is a failed handshake.
    fn note_failure<T>(&mut self, result: Result<T>) -> Result<T> {
        let before_open = self.stats.get(STAT_OPENED) == 0 && !self.handshake_failed;
        if result.is_err() && before_open && self.stream.state() != State::Plain {
            self.handshake_failed = true;
            count(&mut self.stats, STAT_FAILED, 1);
        }
        result
    }

    fn read_now(&mut self, dst: &mut [u8]) -> Result<Option<usize>> {
        if !self.handshake()? {
            return Ok(Some(0));
        }
        match self.stream.state() {
            State::Plain => self.read_plain(dst),
            _ => self.read_open(dst),
        }
    }

    /// Drives the handshake as far as the socket allows; true once it is over.
    fn handshake(&mut self) -> Result<bool> {
        while self.stream.state() == State::Handshaking {
            self.flush()?;
            let mut buf = [0u8; SERVER_HELLO_LEN];
            let wanted = self.stream.wanted().min(buf.len());
            match self.socket.recv(&mut buf[..wanted])? {
                None => {
                    return Err(Error::PeerClosed {
                        peer: "stream peer".into(),
                        reason: "closed the connection during the Ferry handshake".into(),
                    })
                }
                Some(0) => return Ok(false),
                Some(n) => self.input(&buf[..n])?,
            }
        }
        Ok(true)
    }

    /// Feeds control bytes to the protocol and follows its state.
    fn input(&mut self, bytes: &[u8]) -> Result<()> {
        let before = self.stream.state();
        self.stream.input(bytes)?;
        match (before, self.stream.state()) {
            (State::Handshaking, State::Open) => {
                count(&mut self.stats, STAT_OPENED, 1);
                self.start_remote()?;
            }
            (State::Handshaking, State::Plain) => count(&mut self.stats, STAT_PLAIN, 1),
            _ => {}
        }
        Ok(())
    }

    /// Sets up READs once both ends agreed on them (the peer's node serves on
    /// the port its hello named, at the connection's peer address).
    fn start_remote(&mut self) -> Result<()> {
        let (Some(offer), Some(port)) = (self.offer.take(), self.stream.remote_peer_port()) else {
            return Ok(());
        };
        let ip: IpAddr = self.socket.peer()?.ip();
        let sender = RemoteSender::new(offer.node.clone(), offer.window, offer.slab_bytes)?;
        let mut receiver = RemoteReceiver::new(
            offer.node,
            (ip, port).into(),
            offer.per_connection,
            offer.window,
        );
        receiver.connect(self.now)?; // on its own thread: ready by the first NOTIFY
        self.remote = Some(Remote {
            sender,
            receiver,
            min_read: offer.min_read.max(2),
        });
        Ok(())
    }

    fn read_plain(&mut self, dst: &mut [u8]) -> Result<Option<usize>> {
        let prefix = &self.stream.prefix()[self.prefix_at..];
        if !prefix.is_empty() {
            let n = prefix.len().min(dst.len());
            dst[..n].copy_from_slice(&prefix[..n]);
            self.prefix_at += n;
            return Ok(Some(n));
        }
        Ok(self.socket.recv(dst)?)
    }

    /// Reads an open stream: inline bytes, DATA payload, and READ messages.
    fn read_open(&mut self, dst: &mut [u8]) -> Result<Option<usize>> {
        let mut total = 0;
        let end = loop {
            if total == dst.len() {
                break false;
            }
            if self.delivering.is_some() {
                total += self.deliver(&mut dst[total..])?;
                continue;
            }
            let pending = self.stream.data_pending();
            if pending > 0 {
                let want = (dst.len() - total).min(usize::try_from(pending).unwrap_or(usize::MAX));
                match self.socket.recv(&mut dst[total..total + want])? {
                    None if pending == u64::MAX => break true, // inline: the peer closed
                    None => {
                        return Err(Error::PeerClosed {
                            peer: "stream peer".into(),
                            reason: "closed inside a DATA frame".into(),
                        })
                    }
                    Some(0) => break false,
                    Some(n) => {
                        self.stream.data_read(n as u64)?;
                        count(&mut self.stats, STAT_BYTES_RECEIVED, n as u64);
                        total += n;
                        if pending == u64::MAX {
                            break false; // one receive, as a socket read
                        }
                    }
                }
                continue;
            }
            if self.stream.state() != State::Open {
                break true;
            }
            match self.next_control()? {
                Control::Wait => break false,
                Control::End => break true,
                Control::Handled => {}
            }
        };
        if self.frame_left == 0 {
            self.flush()?; // CREDITs go out
        }
        if end && total == 0 {
            return Ok(None);
        }
        Ok(Some(total))
    }

    /// Hands what `dst` takes of the message being delivered; consumes its NOTIFY when all is out.
    fn deliver(&mut self, dst: &mut [u8]) -> Result<usize> {
        let d = self.delivering.as_mut().expect("a delivery");
        let mut total = 0;
        while total < dst.len() && d.piece < d.pieces.len() {
            let piece = &d.pieces[d.piece][d.at..];
            let n = piece.len().min(dst.len() - total);
            dst[total..total + n].copy_from_slice(&piece[..n]);
            total += n;
            d.at += n;
            if d.at == d.pieces[d.piece].len() {
                d.piece += 1;
                d.at = 0;
            }
        }
        count(&mut self.stats, STAT_BYTES_RECEIVED, total as u64);
        if d.piece == d.pieces.len() {
            let d = self.delivering.take().expect("a delivery");
            self.consume(d.frame)?;
            match self.stream.poll_event() {
                Some(Event::Notify { seq, .. }) if seq == d.seq => {}
                other => {
                    return Err(Error::Malformed(format!(
                        "expected NOTIFY {} on the socket, found {other:?}",
                        d.seq
                    )))
                }
            }
        }
        Ok(total)
    }

    /// Takes the frame at the head of the socket: a DATA header, a CREDIT, a
    /// CLOSE, or a NOTIFY, whose message it READs (leaving the frame in place
    /// until the message is delivered).
    fn next_control(&mut self) -> Result<Control> {
        let mut head = [0u8; MAX_CONTROL_FRAME];
        let Some(n) = self.socket.peek(&mut head)? else {
            return Ok(Control::End);
        };
        if n < HEADER_LEN {
            return Ok(Control::Wait);
        }
        let (kind, len) = parse_header(&head)?;
        let frame = HEADER_LEN.saturating_add(len as usize);
        if kind == KIND_DATA || frame > MAX_CONTROL_FRAME {
            // A DATA header, or a frame the protocol will refuse: let it judge.
            self.consume(HEADER_LEN)?;
            return Ok(Control::Handled);
        }
        if n < frame {
            return Ok(Control::Wait);
        }
        if kind != KIND_NOTIFY || len as usize <= NOTIFY_FIXED {
            self.take_control(frame, false)?;
            return Ok(Control::Handled);
        }
        let Event::Notify {
            seq,
            len,
            offset,
            id,
        } = parse_event(kind, &head[HEADER_LEN..frame])?
        else {
            unreachable!("a NOTIFY frame parses as a NOTIFY")
        };
        let Some(remote) = self.remote.as_mut() else {
            return Err(Error::Malformed(
                "a NOTIFY on a stream that did not agree on READs".into(),
            ));
        };
        let notice = Notice {
            len,
            offset,
            id: &id,
        };
        let Some(pieces) = remote.receiver.poll(&notice, self.now)? else {
            return Ok(Control::Wait);
        };
        count(&mut self.stats, STAT_READ_BYTES, len);
        // The sender's memory is free once READ: credit now, not when delivered.
        self.stream.send_credit(seq)?;
        self.delivering = Some(Delivery {
            seq,
            frame,
            pieces,
            piece: 0,
            at: 0,
        });
        Ok(Control::Handled)
    }

    /// Reads `n` control bytes that a peek showed are waiting, into the protocol.
    fn consume(&mut self, n: usize) -> Result<()> {
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
        self.input(&buf[..n])
    }

    /// Consumes `n` control bytes like [`consume`](Self::consume) and hands the
    /// CREDITs among them to the sending half; NOTIFYs are errors unless `discarding`.
    fn take_control(&mut self, n: usize, discarding: bool) -> Result<()> {
        self.consume(n)?;
        while let Some(event) = self.stream.poll_event() {
            match (event, self.remote.as_mut()) {
                (event @ Event::Credit { .. }, Some(remote)) => remote.sender.on_event(event)?,
                (Event::Notify { .. }, _) if discarding => {}
                (event, _) => {
                    return Err(Error::Malformed(format!(
                        "unexpected {event:?} on this stream"
                    )))
                }
            }
        }
        Ok(())
    }

    /// Sends queued control bytes; true when none are left.
    fn flush(&mut self) -> Result<bool> {
        while !self.stream.output().is_empty() {
            let n = self.socket.send(&[IoSlice::new(self.stream.output())])?;
            if n == 0 {
                return Ok(false);
            }
            self.stream.sent(n);
        }
        Ok(true)
    }

    fn write_now(&mut self, parts: &[&[u8]]) -> Result<usize> {
        if !self.handshake()? {
            return Ok(0);
        }
        if self.frame_left > 0 {
            // Control bytes (CREDITs the reader queued) wait until the frame is out.
            return self.send_frame(parts);
        }
        if !self.flush()? {
            return Ok(0);
        }
        match self.stream.state() {
            State::Plain => Ok(self.socket.send(&slices(parts, usize::MAX))?),
            State::Open if !self.stream.framed() => {
                let n = self.socket.send(&slices(parts, usize::MAX))?;
                count(&mut self.stats, STAT_BYTES_SENT, n as u64);
                Ok(n)
            }
            State::Open => self.write_framed(parts),
            _ => Err(Error::InvalidArgument(
                "the Ferry stream is closed for writing".into(),
            )),
        }
    }

    /// Sends by NOTIFY when the message is worth a READ and the window has room, else in a DATA frame.
    fn write_framed(&mut self, parts: &[&[u8]]) -> Result<usize> {
        let total: usize = parts.iter().map(|p| p.len()).sum();
        if total == 0 {
            return Ok(0);
        }
        if self.held_back {
            self.held_back = false;
            return Ok(1);
        }
        let mut frame_cap = self.stream.max_frame() as usize;
        if let Some(remote) = self.remote.as_ref() {
            frame_cap = frame_cap.min(FALLBACK_FRAME);
            if total >= remote.min_read {
                self.take_credits()?;
                let remote = self.remote.as_mut().expect("remote");
                let n = remote
                    .sender
                    .offer(&mut self.stream, parts, remote.min_read)?;
                if n > 0 {
                    count(&mut self.stats, STAT_NOTIFIED_BYTES, n as u64);
                    count(&mut self.stats, STAT_BYTES_SENT, n as u64);
                    if self.flush()? {
                        return Ok(n);
                    }
                    self.held_back = true;
                    return Ok(n - 1);
                }
            }
        }
        let len = total.min(frame_cap);
        self.stream.send_data(len as u32)?;
        count(&mut self.stats, STAT_FRAMES_SENT, 1);
        self.header.extend_from_slice(self.stream.output());
        self.stream.sent(self.header.len());
        self.frame_left = len as u64;
        self.send_frame(parts)
    }

    /// Takes CREDIT frames waiting at the head of the socket (not behind payload or a NOTIFY).
    fn take_credits(&mut self) -> Result<()> {
        const CREDIT_FRAME: usize = HEADER_LEN + 8;
        while self.delivering.is_none() && self.stream.data_pending() == 0 {
            let mut head = [0u8; CREDIT_FRAME];
            match self.socket.peek(&mut head)? {
                Some(CREDIT_FRAME) if parse_header(&head)? == (KIND_CREDIT, 8) => {
                    self.take_control(CREDIT_FRAME, false)?;
                }
                _ => return Ok(()),
            }
        }
        Ok(())
    }

    /// Sends what is left of the current DATA frame's header, then its payload from `parts`.
    fn send_frame(&mut self, parts: &[&[u8]]) -> Result<usize> {
        let header_len = self.header.len();
        let mut out = Vec::with_capacity(parts.len() + 1);
        if header_len > 0 {
            out.push(IoSlice::new(&self.header));
        }
        out.extend(slices(parts, self.frame_left as usize));
        let sent = self.socket.send(&out)?;
        let header_sent = sent.min(header_len);
        self.header.drain(..header_sent);
        let payload = sent - header_sent;
        self.frame_left -= payload as u64;
        count(&mut self.stats, STAT_BYTES_SENT, payload as u64);
        Ok(payload)
    }
}

impl<S: ControlSocket> Drop for Driver<S> {
    /// Never waits: slabs the peer may still READ stay registered a while, off this thread.
    fn drop(&mut self) {
        if let Some(remote) = self.remote.take() {
            remote::linger(remote.sender, LINGER);
        }
    }
}

/// The first `limit` bytes of `parts` as I/O slices.
fn slices<'a>(parts: &[&'a [u8]], limit: usize) -> Vec<IoSlice<'a>> {
    let mut left = limit;
    let mut out = Vec::with_capacity(parts.len().min(MAX_IOV));
    for part in parts {
        let n = part.len().min(left);
        if n > 0 {
            out.push(IoSlice::new(&part[..n]));
        }
        left -= n;
        if left == 0 {
            break;
        }
    }
    out
}
