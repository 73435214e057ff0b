//! The requesting side of a tcp connection. Requests are written by the
//! calling thread straight to the socket (no hop through an I/O thread on the
//! way out); replies are read by the reactor, payloads directly into the
//! destination's pinned buffer.

use std::collections::HashMap;
use std::io::{self, Read, Write};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use mio::event::Source;

use super::outbox::Outbox;
use super::server::MAX_READ;
use crate::block::{BlockId, RemoteSlice};
use crate::error::{Error, Result};
use crate::memory::PooledBuffer;
use crate::protocol::handshake::{Agreed, ClientHandshake};
use crate::protocol::{decode, encode, Frame, CAP_LZ4, MAX_IDS};
use crate::provider::reactor::{Driven, Notifier, ReactorHandle};
use crate::provider::{Connection, LookupDone, ReadDone};

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
    notifier: Mutex<Option<Notifier>>,
}

impl TcpConnection {
    fn closed_error(&self, reason: &str) -> Error {
        Error::PeerClosed {
            peer: self.peer.clone(),
            reason: reason.to_string(),
        }
    }

    /// Queues a request and writes it now; what the socket cannot take yet,
    /// the I/O thread writes when it can.
    fn submit(&self, frame: Frame, register: impl FnOnce(&mut Shared, u64)) -> Result<()> {
        let mut shared = self.shared.lock().unwrap();
        if let Some(reason) = &shared.closed {
            return Err(self.closed_error(reason));
        }
        let id = shared.next_id();
        let frame = match frame {
            Frame::Lookup {
                ids, inline_max, ..
            } => Frame::Lookup {
                request: id,
                inline_max,
                ids,
            },
            Frame::Read {
                key,
                addr,
                len,
                compress,
                ..
            } => Frame::Read {
                tag: id,
                key,
                addr,
                len,
                compress,
            },
            other => other,
        };
        register(&mut shared, id);
        shared.outbox.frame(&frame);
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
        Ok(())
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
        let mut done = Some(done);
        let frame = Frame::Lookup {
            request: 0,
            inline_max,
            ids,
        };
        if let Err(e) = self.submit(frame, |shared, id| {
            shared.lookups.insert(id, done.take().expect("once"));
        }) {
            if let Some(done) = done {
                done(Err(e));
            }
        }
    }

    fn read(&self, src: RemoteSlice, dst: PooledBuffer, done: ReadDone) {
        let len = src.len as usize;
        if src.len > dst.capacity() as u64 || src.len > MAX_READ {
            return done(Err(Error::InvalidArgument(format!(
                "READ of {} bytes into a buffer of {}",
                src.len,
                dst.capacity()
            ))));
        }
        let frame = Frame::Read {
            tag: 0,
            key: src.key,
            addr: src.addr,
            len: src.len,
            compress: self.lz4,
        };
        let mut pending = Some(PendingRead { dst, len, done });
        if let Err(e) = self.submit(frame, |shared, id| {
            shared.reads.insert(id, pending.take().expect("once"));
        }) {
            if let Some(pending) = pending {
                (pending.done)(Err(e));
            }
        }
    }

    fn is_open(&self) -> bool {
        self.shared.lock().unwrap().closed.is_none()
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
}

struct ClientDriver {
    stream: mio::net::TcpStream,
    peer: String,
    shared: Arc<Mutex<Shared>>,
    inbox: Vec<u8>,
    payload: Option<Payload>,
}

impl ClientDriver {
    fn malformed(&self, message: String) -> Error {
        Error::Malformed(format!("from {}: {message}", self.peer))
    }

    fn handle_inbox(&mut self) -> Result<()> {
        let mut used = 0;
        while self.payload.is_none() {
            let Some((frame, n)) = decode(&self.inbox[used..])? else {
                break;
            };
            used += n;
            match frame {
                Frame::LookupReply { request, results } => {
                    let done = self.shared.lock().unwrap().lookups.remove(&request);
                    let done = done.ok_or_else(|| {
                        self.malformed(format!("reply to unknown lookup {request}"))
                    })?;
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
                        let message =
                            format!("READ {tag} of {} answered with {len} bytes", read.len);
                        (read.done)(Err(self.malformed(message.clone())));
                        return Err(self.malformed(message));
                    }
                    let wire_len = len as usize;
                    let mut payload = Payload {
                        read,
                        wire_len,
                        filled: 0,
                        packed: compressed.then(|| vec![0u8; wire_len]),
                    };
                    let available = (self.inbox.len() - used).min(wire_len);
                    payload.target()[..available]
                        .copy_from_slice(&self.inbox[used..used + available]);
                    payload.filled = available;
                    used += available;
                    self.payload = Some(payload);
                    self.finish_payload_if_complete()?;
                }
                Frame::ReadFailed { tag, code, message } => {
                    let read = self.shared.lock().unwrap().reads.remove(&tag);
                    let read = read
                        .ok_or_else(|| self.malformed(format!("failure for unknown READ {tag}")))?;
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
        }
        self.inbox.drain(..used);
        Ok(())
    }

    fn finish_payload_if_complete(&mut self) -> Result<()> {
        match &self.payload {
            Some(payload) if payload.filled == payload.wire_len => {}
            _ => return Ok(()),
        }
        let Payload { read, packed, .. } = self.payload.take().expect("checked");
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

    /// Reads from the socket; `Ok(false)` when it would block.
    fn read_some(&mut self) -> Result<bool> {
        let result = match &mut self.payload {
            Some(payload) => self.stream.read(payload.target()),
            None => {
                let start = self.inbox.len();
                self.inbox.resize(start + 64 * 1024, 0);
                let result = self.stream.read(&mut self.inbox[start..]);
                self.inbox.truncate(start + *result.as_ref().unwrap_or(&0));
                result
            }
        };
        match result {
            Ok(0) => Err(Error::PeerClosed {
                peer: self.peer.clone(),
                reason: "closed by peer".into(),
            }),
            Ok(n) => {
                if let Some(payload) = &mut self.payload {
                    payload.filled += n;
                    self.finish_payload_if_complete()?;
                }
                if self.payload.is_none() {
                    self.handle_inbox()?;
                }
                Ok(true)
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => Ok(false),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => Ok(true),
            Err(e) => Err(e.into()),
        }
    }
}

impl Driven for ClientDriver {
    fn source(&mut self) -> &mut dyn Source {
        &mut self.stream
    }

    fn drive(&mut self, _: &ReactorHandle) -> Result<()> {
        {
            let mut shared = self.shared.lock().unwrap();
            let Shared { writer, outbox, .. } = &mut *shared;
            outbox.flush(writer)?;
        }
        while self.read_some()? {}
        Ok(())
    }

    fn closed(&mut self, error: Error) {
        log::debug!("ferry: connection to {} ended: {error}", self.peer);
        let reason = error.to_string();
        let (reads, lookups) = {
            let mut shared = self.shared.lock().unwrap();
            shared.closed = Some(reason.clone());
            (
                std::mem::take(&mut shared.reads),
                std::mem::take(&mut shared.lookups),
            )
        };
        let lost = |reason: &str| Error::PeerClosed {
            peer: self.peer.clone(),
            reason: reason.to_string(),
        };
        let payload = self.payload.take().map(|p| p.read);
        for read in reads.into_values().chain(payload) {
            (read.done)(Err(lost(&reason)));
        }
        for done in lookups.into_values() {
            done(Err(lost(&reason)));
        }
    }
}

/// Reads one frame with a blocking socket (the handshake runs before the reactor takes over).
fn read_frame(stream: &mut std::net::TcpStream, inbox: &mut Vec<u8>) -> Result<Frame> {
    loop {
        if let Some((frame, n)) = decode(inbox)? {
            inbox.drain(..n);
            return Ok(frame);
        }
        let mut chunk = [0u8; 4096];
        match stream.read(&mut chunk) {
            Ok(0) => return Err(Error::Malformed("peer closed during the handshake".into())),
            Ok(n) => inbox.extend_from_slice(&chunk[..n]),
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
    pub timeout: Duration,
}

impl Dial<'_> {
    /// Connects, agrees on version and proves the secret, then hands the socket to the reactor.
    pub fn connect(self, addr: SocketAddr) -> Result<Arc<TcpConnection>> {
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
        let mut inbox = Vec::new();
        let hello = read_frame(&mut stream, &mut inbox)?;
        let caps = if self.lz4 { CAP_LZ4 } else { 0 };
        let (handshake, reply) = ClientHandshake::answer(hello, caps, self.secret)?;
        let mut bytes = Vec::new();
        encode(&reply, &mut bytes);
        stream.write_all(&bytes)?;
        let agreed: Agreed = handshake.finish(read_frame(&mut stream, &mut inbox)?)?;
        log::debug!("ferry: connected to {peer}, version {}", agreed.version);
        stream.set_read_timeout(None)?;
        stream.set_write_timeout(None)?;
        stream.set_nonblocking(true)?;
        let writer = stream.try_clone()?;
        let shared = Arc::new(Mutex::new(Shared {
            writer,
            outbox: Outbox::default(),
            reads: HashMap::new(),
            lookups: HashMap::new(),
            next_id: 0,
            closed: None,
        }));
        let connection = Arc::new(TcpConnection {
            peer: peer.clone(),
            lz4: agreed.caps & CAP_LZ4 != 0,
            shared: shared.clone(),
            notifier: Mutex::new(None),
        });
        let driver = ClientDriver {
            stream: mio::net::TcpStream::from_std(stream),
            peer,
            shared,
            inbox,
            payload: None,
        };
        let handle = connection.clone();
        self.reactor.add(move |notifier| {
            *handle.notifier.lock().unwrap() = Some(notifier);
            Box::new(driver)
        });
        Ok(connection)
    }
}
