//! The requesting side of a tcp connection. Requests are written by the
//! calling thread straight to the socket, a whole batch per write (no hop
//! through an I/O thread on the way out); replies are read by the reactor.
//! Large payloads are read directly into the destination's pinned buffer;
//! small ones are copied out of the inbox, so many arrive per syscall.
//! Encrypted (`ferry.encryption=aes-gcm`), replies come as records: those of
//! frames are opened into the inbox; a record that starts where a READ
//! payload's bytes are due is placed in the payload's buffer (read into it
//! directly when large) and decrypted there in place.

use std::collections::HashMap;
use std::io::{self, Read, Write};
use std::net::SocketAddr;
use std::os::fd::{AsRawFd, RawFd};
use std::sync::atomic::AtomicU8;
use std::sync::atomic::Ordering::{AcqRel, Acquire, Release};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};
use std::time::Duration;

use mio::event::Source;

use super::inbox::Inbox;
use super::outbox::Outbox;
use super::records::Records;
use super::server::MAX_READ;
use crate::block::BlockId;
use crate::error::{Error, Result};
use crate::memory::PooledBuffer;
use crate::protocol::handshake::{Agreed, ClientHandshake};
use crate::protocol::{decode, encode, Frame, CAP_AES_GCM, CAP_LZ4, CAP_VERBS, MAX_IDS};
use crate::provider::reactor::{Driven, Notifier, ReactorHandle};
use crate::provider::{Connection, LookupDone, ReadDone, ReadRequest};

/// Payloads at least this large are read straight into their buffer.
const DIRECT_READ_MIN: usize = 64 * 1024;
/// While payloads are large, a read at a frame boundary takes at most this much
/// into the inbox: the next header, not a quarter of the payload behind it,
/// which would then be copied out of the inbox instead of read in place.
const HEADER_READ: usize = 512;

struct PendingRead {
    dst: PooledBuffer,
    len: usize,
    done: ReadDone,
}

/// State shared by callers and the I/O thread.
struct Shared {
    writer: std::net::TcpStream,
    outbox: Outbox,
    reads: HashMap<u64, PendingRead>,
    lookups: HashMap<u64, LookupDone>,
    next_id: u64,
    closed: Option<String>,
}

impl Shared {
    fn next_id(&mut self) -> u64 {
        self.next_id += 1;
        self.next_id
    }
}

pub struct TcpConnection {
    peer: String,
    lz4: bool,
    shared: Arc<Mutex<Shared>>,
    side: OnceLock<Arc<ReceiveSide>>,
    notifier: Mutex<Option<Notifier>>,
}

impl TcpConnection {
    /// Shuts the socket down: the peer sees the connection end, and whatever
    /// still waits on it here fails.
    pub fn close(&self) {
        let shared = self.shared.lock().unwrap();
        let _ = shared.writer.shutdown(std::net::Shutdown::Both);
    }

    fn closed_error(&self, reason: &str) -> Error {
        Error::PeerClosed {
            peer: self.peer.clone(),
            reason: reason.to_string(),
        }
    }

    /// Writes what was queued now; what the socket cannot take yet, the I/O
    /// thread writes when it can.
    fn send(&self, mut shared: MutexGuard<'_, Shared>) {
        let Shared { writer, outbox, .. } = &mut *shared;
        if let Err(e) = outbox.flush(writer) {
            // The I/O thread sees the same failure and fails every pending request.
            log::debug!("ferry: write to {} failed: {e}", self.peer);
        }
        if !shared.outbox.is_empty() {
            drop(shared);
            if let Some(notifier) = &*self.notifier.lock().unwrap() {
                notifier.notify();
            }
        }
    }
}

impl Connection for TcpConnection {
    fn peer(&self) -> &str {
        &self.peer
    }

    fn lookup(&self, ids: Vec<BlockId>, inline_max: u32, done: LookupDone) {
        if ids.len() > MAX_IDS {
            return done(Err(Error::InvalidArgument(format!(
                "{} ids in one lookup, at most {MAX_IDS}",
                ids.len()
            ))));
        }
        let mut shared = self.shared.lock().unwrap();
        if let Some(reason) = &shared.closed {
            let error = self.closed_error(reason);
            drop(shared);
            return done(Err(error));
        }
        let request = shared.next_id();
        shared.outbox.frame(&Frame::Lookup {
            request,
            inline_max,
            ids,
        });
        shared.lookups.insert(request, done);
        self.send(shared);
    }

    fn read(&self, batch: Vec<ReadRequest>) {
        let mut refused = Vec::new();
        let mut shared = self.shared.lock().unwrap();
        for ReadRequest { src, dst, done } in batch {
            if let Some(reason) = &shared.closed {
                refused.push((done, self.closed_error(reason)));
            } else if src.len > dst.capacity() as u64 || src.len > MAX_READ {
                let message = format!(
                    "READ of {} bytes into a buffer of {}",
                    src.len,
                    dst.capacity()
                );
                refused.push((done, Error::InvalidArgument(message)));
            } else {
                let tag = shared.next_id();
                shared.outbox.frame(&Frame::Read {
                    tag,
                    key: src.key,
                    addr: src.addr,
                    len: src.len,
                    compress: self.lz4,
                });
                let len = src.len as usize;
                shared.reads.insert(tag, PendingRead { dst, len, done });
            }
        }
        self.send(shared);
        for (done, error) in refused {
            done(Err(error));
        }
    }

    fn is_open(&self) -> bool {
        self.shared.lock().unwrap().closed.is_none()
    }

    fn receive_here(&self, wait: Duration) -> bool {
        let Some(side) = self.side.get() else {
            return false;
        };
        if !side.role.try_take() {
            return false;
        }
        let mut poll = libc::pollfd {
            fd: side.fd,
            events: libc::POLLIN | libc::POLLRDHUP,
            revents: 0,
        };
        let millis = wait.as_millis().clamp(1, i32::MAX as u128) as i32;
        // SAFETY: one valid pollfd; the socket outlives this call (held by `side`).
        unsafe { libc::poll(&mut poll, 1, millis) };
        let hangup = poll.revents & (libc::POLLRDHUP | libc::POLLHUP | libc::POLLERR) != 0;
        if let Err(error) = side.drain_holding_role(hangup) {
            side.close(&error);
            // Let the I/O thread drop its registration of the dead socket.
            if let Some(notifier) = &*self.notifier.lock().unwrap() {
                notifier.notify();
            }
        }
        true
    }
}

/// Who reads replies: the I/O thread, or a fetching thread that would
/// otherwise sleep until the I/O thread handed them over. Exactly one holds
/// the role; whoever finds it taken asks the holder for one more pass, so
/// bytes that arrive while the holder is finishing are never stranded.
#[derive(Default)]
struct ReadRole(AtomicU8);

const IDLE: u8 = 0;
const BUSY: u8 = 1;
const AGAIN: u8 = 2;

impl ReadRole {
    fn try_take(&self) -> bool {
        self.0.compare_exchange(IDLE, BUSY, AcqRel, Acquire).is_ok()
    }

    /// Takes the role, or asks its holder to read once more.
    fn take_or_defer(&self) -> bool {
        loop {
            match self.0.compare_exchange(IDLE, BUSY, AcqRel, Acquire) {
                Ok(_) => return true,
                Err(BUSY) => {
                    if self
                        .0
                        .compare_exchange(BUSY, AGAIN, AcqRel, Acquire)
                        .is_ok()
                    {
                        return false;
                    }
                }
                Err(_) => return false,
            }
        }
    }

    /// Gives the role back; false (role kept) when another pass was asked for.
    fn release(&self) -> bool {
        match self.0.compare_exchange(BUSY, IDLE, AcqRel, Acquire) {
            Ok(_) => true,
            Err(_) => {
                self.0.store(BUSY, Release);
                false
            }
        }
    }
}

/// The receiving half, shared by the I/O thread and waiting callers.
struct ReceiveSide {
    role: ReadRole,
    /// The socket, for callers to poll.
    fd: RawFd,
    receiver: Mutex<Receiver>,
}

impl ReceiveSide {
    /// Reads everything available, holding the role; `None` when another
    /// thread holds it (and will read instead).
    fn receive(&self, from_io_thread: bool, hangup: bool) -> Option<Result<()>> {
        let taken = match from_io_thread {
            true => self.role.take_or_defer(),
            false => self.role.try_take(),
        };
        taken.then(|| self.drain_holding_role(hangup))
    }

    fn drain_holding_role(&self, to_the_end: bool) -> Result<()> {
        loop {
            let result = self.receiver.lock().unwrap().drain(to_the_end);
            if result.is_err() {
                self.role.0.store(IDLE, Release);
                return result;
            }
            if self.role.release() {
                return Ok(());
            }
        }
    }

    /// Fails everything that waits for a reply; later requests fail at once.
    fn close(&self, error: &Error) {
        let mut receiver = self.receiver.lock().unwrap();
        let reason = match error {
            Error::PeerClosed { reason, .. } => reason.clone(),
            other => other.to_string(),
        };
        let (reads, lookups) = {
            let mut shared = receiver.shared.lock().unwrap();
            if shared.closed.is_none() {
                log::debug!("ferry: connection to {} ended: {reason}", receiver.peer);
                shared.closed = Some(reason.clone());
            }
            (
                std::mem::take(&mut shared.reads),
                std::mem::take(&mut shared.lookups),
            )
        };
        let _ = receiver.stream.shutdown(std::net::Shutdown::Both);
        let payload = receiver.payload.take().map(|p| p.read);
        let lost = || Error::PeerClosed {
            peer: receiver.peer.clone(),
            reason: reason.clone(),
        };
        // Buffers go back to the pool before anyone hears of the failure.
        let reads: Vec<ReadDone> = reads.into_values().chain(payload).map(|r| r.done).collect();
        for done in reads {
            done(Err(lost()));
        }
        for done in lookups.into_values() {
            done(Err(lost()));
        }
    }
}

/// A READ payload being received.
struct Payload {
    read: PendingRead,
    wire_len: usize,
    filled: usize,
    /// lz4 bytes, when the server compressed.
    packed: Option<Vec<u8>>,
}

impl Payload {
    fn target(&mut self) -> &mut [u8] {
        match &mut self.packed {
            Some(packed) => &mut packed[self.filled..],
            None => &mut self.read.dst.spare()[self.filled..self.wire_len],
        }
    }

    fn missing(&self) -> usize {
        self.wire_len - self.filled
    }
}

/// What one read got. A short read emptied the socket: epoll reports the
/// next bytes, but not a hang-up it already reported.
enum Received {
    Full,
    Short,
    Nothing,
}

struct Receiver {
    stream: std::net::TcpStream,
    peer: String,
    shared: Arc<Mutex<Shared>>,
    /// Clear bytes: as received, or opened from `records`.
    inbox: Inbox,
    /// An encrypted connection's records.
    records: Option<Records>,
    /// The record being placed in the payload's buffer: its length and the bytes placed.
    in_place: Option<(usize, usize)>,
    payload: Option<Payload>,
    /// The last READ payload was large: the next is probably large too.
    bulk: bool,
}

impl Receiver {
    fn malformed(&self, message: String) -> Error {
        Error::Malformed(format!("from {}: {message}", self.peer))
    }

    /// Reads until the socket is empty: until it would block when
    /// `to_the_end`, else until a short read.
    fn drain(&mut self, to_the_end: bool) -> Result<()> {
        loop {
            match self.read_some()? {
                Received::Full => {}
                Received::Short if to_the_end => {}
                Received::Short | Received::Nothing => return Ok(()),
            }
        }
    }
    /// Parses the inbox: frames, and the payload bytes that follow ReadData headers.
    fn handle_inbox(&mut self) -> Result<()> {
        loop {
            if let Some(payload) = &mut self.payload {
                let take = self.inbox.data().len().min(payload.missing());
                payload.target()[..take].copy_from_slice(&self.inbox.data()[..take]);
                payload.filled += take;
                self.inbox.consume(take);
                if payload.missing() > 0 {
                    return Ok(());
                }
                self.finish_payload()?;
                continue;
            }
            let Some((frame, n)) = decode(self.inbox.data())? else {
                return Ok(());
            };
            self.inbox.consume(n);
            self.handle(frame)?;
        }
    }

    fn handle(&mut self, frame: Frame) -> Result<()> {
        match frame {
            Frame::LookupReply { request, results } => {
                let done = self.shared.lock().unwrap().lookups.remove(&request);
                let done = done
                    .ok_or_else(|| self.malformed(format!("reply to unknown lookup {request}")))?;
                done(Ok(results));
            }
            Frame::ReadData {
                tag,
                len,
                compressed,
                raw_len,
            } => {
                let read = self.shared.lock().unwrap().reads.remove(&tag);
                let read =
                    read.ok_or_else(|| self.malformed(format!("data for unknown READ {tag}")))?;
                let bound = lz4_flex::block::get_maximum_output_size(read.len) as u64;
                let fits = raw_len == read.len as u64
                    && if compressed {
                        len <= bound
                    } else {
                        len == raw_len
                    };
                if !fits {
                    let message = format!("READ {tag} of {} answered with {len} bytes", read.len);
                    (read.done)(Err(self.malformed(message.clone())));
                    return Err(self.malformed(message));
                }
                let wire_len = len as usize;
                self.bulk = wire_len >= DIRECT_READ_MIN;
                self.payload = Some(Payload {
                    read,
                    wire_len,
                    filled: 0,
                    packed: compressed.then(|| vec![0u8; wire_len]),
                });
            }
            Frame::ReadFailed { tag, code, message } => {
                let read = self.shared.lock().unwrap().reads.remove(&tag);
                let read =
                    read.ok_or_else(|| self.malformed(format!("failure for unknown READ {tag}")))?;
                (read.done)(Err(Error::Remote {
                    peer: self.peer.clone(),
                    code,
                    message,
                }));
            }
            Frame::Error { code, message } => {
                return Err(Error::Remote {
                    peer: self.peer.clone(),
                    code,
                    message,
                })
            }
            other => return Err(self.malformed(format!("unexpected {}", other.name()))),
        }
        Ok(())
    }

    /// Completes the payload whose bytes have all arrived.
    fn finish_payload(&mut self) -> Result<()> {
        let Payload { read, packed, .. } = self.payload.take().expect("a complete payload");
        let PendingRead { mut dst, len, done } = read;
        if let Some(packed) = packed {
            if lz4_flex::block::decompress_into(&packed, &mut dst.spare()[..len]).ok() != Some(len)
            {
                done(Err(self.malformed("corrupt lz4 payload".into())));
                return Err(self.malformed("corrupt lz4 payload".into()));
            }
        }
        dst.set_len(len);
        done(Ok(dst));
        Ok(())
    }

    /// Opens the records received: each into the inbox, or, where a payload's
    /// bytes are due, in place in the payload's buffer.
    fn open_records(&mut self) -> Result<()> {
        loop {
            let Some(records) = &mut self.records else {
                return Ok(());
            };
            let Some(len) = records.next_len()? else {
                return Ok(());
            };
            if self.in_place.is_none() {
                let due = self.inbox.is_empty()
                    && self.payload.as_ref().is_some_and(|p| p.missing() >= len);
                if due && len > 0 {
                    self.in_place = Some((len, 0));
                }
            }
            let Some((len, placed)) = self.in_place else {
                if !records.open_one(&mut self.inbox)? {
                    return Ok(());
                }
                self.handle_inbox()?;
                continue;
            };
            let payload = self
                .payload
                .as_mut()
                .expect("a record is placed in a payload");
            let body = &mut payload.target()[..len];
            let take = records.raw.data().len().min(len - placed);
            body[placed..placed + take].copy_from_slice(&records.raw.data()[..take]);
            records.raw.consume(take);
            self.in_place = Some((len, placed + take));
            if placed + take < len || !records.open_in_place(body)? {
                return Ok(());
            }
            self.in_place = None;
            payload.filled += len;
            if payload.missing() == 0 {
                self.finish_payload()?;
            }
        }
    }

    /// Reads from the socket once.
    fn read_some(&mut self) -> Result<Received> {
        // The rest of a large payload, however little, also goes in place: read
        // through the inbox it would bring the next payload's first bytes with it.
        let bulk = self.bulk;
        let (asked, result) = match &mut self.records {
            None => {
                let direct = self
                    .payload
                    .as_mut()
                    .filter(|p| p.missing() >= DIRECT_READ_MIN || (bulk && p.missing() > 0));
                match direct {
                    Some(payload) => {
                        let target = payload.target();
                        let asked = target.len();
                        let result = self.stream.read(target).inspect(|&n| payload.filled += n);
                        (asked, result)
                    }
                    None => read_header(&mut self.inbox, &mut self.stream, bulk),
                }
            }
            // The rest of a record placed in a payload's buffer is read there.
            Some(records) => match (self.in_place, self.payload.as_mut()) {
                (Some((len, placed)), Some(payload)) if records.raw.is_empty() && placed < len => {
                    let target = &mut payload.target()[placed..len];
                    let asked = target.len();
                    let result = self.stream.read(target);
                    if let Ok(n) = result {
                        self.in_place = Some((len, placed + n));
                    }
                    (asked, result)
                }
                _ => read_header(&mut records.raw, &mut self.stream, bulk),
            },
        };
        match result {
            Ok(0) => Err(Error::PeerClosed {
                peer: self.peer.clone(),
                reason: "closed by peer".into(),
            }),
            Ok(n) => {
                match self.records {
                    Some(_) => self.open_records()?,
                    None => self.handle_inbox()?,
                }
                Ok(if n == asked {
                    Received::Full
                } else {
                    Received::Short
                })
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => Ok(Received::Nothing),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => Ok(Received::Full),
            Err(e) => Err(e.into()),
        }
    }
}

/// Reads into `inbox`: while payloads are large, at a frame boundary, no more
/// than a header's worth (see HEADER_READ).
fn read_header(
    inbox: &mut Inbox,
    stream: &mut std::net::TcpStream,
    bulk: bool,
) -> (usize, io::Result<usize>) {
    let limit = match bulk && inbox.is_empty() {
        true => HEADER_READ,
        false => inbox.room(),
    };
    (limit, inbox.read_at_most(stream, limit))
}

/// What the reactor drives: flushes queued requests and reads replies when
/// no waiting caller is already reading them.
struct ClientDriver {
    registration: mio::net::TcpStream,
    shared: Arc<Mutex<Shared>>,
    side: Arc<ReceiveSide>,
}

impl Driven for ClientDriver {
    fn source(&mut self) -> &mut dyn Source {
        &mut self.registration
    }

    fn drive(&mut self, _: &ReactorHandle, hangup: bool) -> Result<()> {
        {
            let mut shared = self.shared.lock().unwrap();
            if let Some(reason) = &shared.closed {
                return Err(Error::PeerClosed {
                    peer: String::new(),
                    reason: reason.clone(),
                });
            }
            let Shared { writer, outbox, .. } = &mut *shared;
            outbox.flush(writer)?;
        }
        self.side.receive(true, hangup).unwrap_or(Ok(()))
    }

    fn closed(&mut self, error: Error) {
        self.side.close(&error);
    }
}

/// Reads one frame with a blocking socket (the handshake runs before the reactor takes over).
fn read_frame(stream: &mut std::net::TcpStream, inbox: &mut Inbox) -> Result<Frame> {
    loop {
        if let Some((frame, n)) = decode(inbox.data())? {
            inbox.consume(n);
            return Ok(frame);
        }
        match inbox.read_from(stream) {
            Ok(0) => return Err(Error::Malformed("peer closed during the handshake".into())),
            Ok(_) => {}
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                ) =>
            {
                return Err(Error::Timeout("no handshake reply from the peer".into()))
            }
            Err(e) => return Err(e.into()),
        }
    }
}

pub(crate) struct Dial<'a> {
    pub reactor: &'a ReactorHandle,
    pub secret: Option<Vec<u8>>,
    pub lz4: bool,
    /// Encrypt (CAP_AES_GCM), and talk only to a server that does.
    pub encrypt: bool,
    pub timeout: Duration,
    /// Advertise CAP_VERBS and, when the server agrees, ask it for a queue pair.
    pub verbs: bool,
}

/// The server's answer to VerbsConnect: where and with what token to rdma_connect.
#[derive(Clone, Copy, Debug)]
pub struct VerbsOffer {
    pub port: u16,
    pub token: u64,
}

impl Dial<'_> {
    /// Connects, agrees on version and proves the secret, then hands the socket
    /// to the reactor; with `verbs`, also returns the server's queue-pair offer.
    pub fn connect(self, addr: SocketAddr) -> Result<(Arc<TcpConnection>, Option<VerbsOffer>)> {
        let peer = addr.to_string();
        let mut stream =
            std::net::TcpStream::connect_timeout(&addr, self.timeout).map_err(|e| {
                Error::PeerClosed {
                    peer: peer.clone(),
                    reason: format!("connect failed: {e}"),
                }
            })?;
        stream.set_nodelay(true)?;
        stream.set_read_timeout(Some(self.timeout))?;
        stream.set_write_timeout(Some(self.timeout))?;
        let mut inbox = Inbox::default();
        let hello = read_frame(&mut stream, &mut inbox)?;
        let caps = if self.lz4 { CAP_LZ4 } else { 0 }
            | if self.verbs { CAP_VERBS } else { 0 }
            | if self.encrypt { CAP_AES_GCM } else { 0 };
        let (handshake, reply) = ClientHandshake::answer(hello, caps, self.secret)?;
        let mut bytes = Vec::new();
        encode(&reply, &mut bytes);
        stream.write_all(&bytes)?;
        let mut agreed: Agreed = handshake.finish(read_frame(&mut stream, &mut inbox)?)?;
        log::debug!("ferry: connected to {peer}, version {}", agreed.version);
        let offer = if self.verbs && agreed.caps & CAP_VERBS != 0 {
            let mut bytes = Vec::new();
            encode(&Frame::VerbsConnect, &mut bytes);
            stream.write_all(&bytes)?;
            match read_frame(&mut stream, &mut inbox)? {
                Frame::VerbsAccept { port, token } => Some(VerbsOffer { port, token }),
                Frame::Error { code, message } => {
                    return Err(Error::Remote {
                        peer,
                        code,
                        message,
                    })
                }
                other => {
                    return Err(Error::Malformed(format!(
                        "expected VerbsAccept, got {}",
                        other.name()
                    )))
                }
            }
        } else {
            None
        };
        stream.set_read_timeout(None)?;
        stream.set_write_timeout(None)?;
        stream.set_nonblocking(true)?;
        let writer = stream.try_clone()?;
        let mut outbox = Outbox::default();
        // Encrypted: every byte after the Welcome is sealed, both ways.
        let records = agreed.channel.take().map(|channel| {
            outbox.seal_with(channel.seal);
            let records = Records::new(channel.open, peer.clone(), inbox.data());
            inbox = Inbox::default();
            records
        });
        let shared = Arc::new(Mutex::new(Shared {
            writer,
            outbox,
            reads: HashMap::new(),
            lookups: HashMap::new(),
            next_id: 0,
            closed: None,
        }));
        let connection = Arc::new(TcpConnection {
            peer: peer.clone(),
            lz4: agreed.caps & CAP_LZ4 != 0,
            shared: shared.clone(),
            side: OnceLock::new(),
            notifier: Mutex::new(None),
        });
        let registration = mio::net::TcpStream::from_std(stream.try_clone()?);
        let side = Arc::new(ReceiveSide {
            role: ReadRole::default(),
            fd: stream.as_raw_fd(),
            receiver: Mutex::new(Receiver {
                stream,
                peer,
                shared: shared.clone(),
                inbox,
                records,
                in_place: None,
                payload: None,
                bulk: false,
            }),
        });
        connection.side.set(side.clone()).ok();
        let driver = ClientDriver {
            registration,
            shared,
            side,
        };
        let handle = connection.clone();
        self.reactor.add(move |notifier| {
            *handle.notifier.lock().unwrap() = Some(notifier);
            Box::new(driver)
        });
        Ok((connection, offer))
    }
}
