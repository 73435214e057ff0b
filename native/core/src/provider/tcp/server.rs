//! The serving side of a tcp connection: handshake, lookups and READs of
//! registered regions, answered from the regions' own memory.
//!
//! What a peer can make the server spend is bounded before the work is done:
//! until it proves itself a peer may send only a hello (one frame of
//! [`MAX_HELLO_BODY`] bytes) within `ferry.server.handshake.timeout.ms`;
//! [`Admission`] caps connections; no request is read while more than
//! `ferry.server.output.bytes` of replies wait for the peer, and one request
//! adds at most one bounded reply (inline bytes per the server's own
//! `ferry.fetch.inline.bytes`, or `ferry.rdma.inline.bytes` for a peer with an
//! RDMA session, lz4 only when its own `ferry.compression` says
//! so and only for READs up to [`LZ4_MAX_READ`]).
//!
//! With `ferry.encryption=aes-gcm` everything after the Welcome is sealed
//! (the outbox) and opened ([`Records`]); a record that fails its check ends
//! the connection, this one only.

use std::io::{self, Write};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use mio::event::Source;
use mio::net::{TcpListener, TcpStream};

use super::admission::{Admission, Ticket};
use super::inbox::Inbox;
use super::outbox::{Outbox, SENDFILE_MIN};
use super::records::Records;
use crate::block::RemoteSlice;
use crate::error::{Error, ErrorCode, Result};
use crate::memory::Region;
use crate::protocol::handshake::ServerHandshake;
use crate::protocol::{
    decode_within, encode, Frame, KeyTable, Located, CAP_LZ4, CAP_VERBS, MAX_FRAME_BODY,
    MAX_HELLO_BODY, MAX_INLINE_REPLY, MAX_REQUEST_BODY,
};
use crate::provider::reactor::{Driven, Notifier, ReactorHandle};
use crate::provider::{RdmaSession, ServeContext};

/// The largest READ the server answers; the requester splits larger blocks.
pub(crate) const MAX_READ: u64 = 64 << 20;
/// READs up to this size are compressed when both ends agreed on lz4; larger
/// ones travel raw, so one request costs the I/O thread a few milliseconds at most.
pub(crate) const LZ4_MAX_READ: u64 = 4 << 20;
/// Requests one connection may have served in a row before the I/O thread
/// turns to its other connections (it comes back at once).
const REQUESTS_PER_TURN: usize = 256;

pub(crate) struct Listener {
    pub listener: TcpListener,
    pub context: Arc<ServeContext>,
    pub admission: Arc<Admission>,
}

impl Driven for Listener {
    fn source(&mut self) -> &mut dyn Source {
        &mut self.listener
    }

    fn drive(&mut self, reactor: &ReactorHandle, _: bool) -> Result<()> {
        loop {
            match self.listener.accept() {
                Ok((stream, peer)) => {
                    let _ = stream.set_nodelay(true);
                    self.context.metrics.accepted_connection();
                    let mut ticket = match self.admission.admit(peer) {
                        Ok(ticket) => ticket,
                        Err(message) => {
                            self.context.metrics.rejected_connection();
                            refuse(stream, message);
                            continue;
                        }
                    };
                    log::debug!("ferry: accepted connection from {peer}");
                    let context = self.context.clone();
                    reactor.add(move |notifier| {
                        ticket.start_handshake(peer, notifier.clone());
                        Box::new(ServerConn::new(stream, peer, context, ticket, notifier))
                    });
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(()),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                // Running out of descriptors must not stop the listener for good.
                Err(e) => {
                    log::warn!("ferry: accept failed: {e}");
                    return Ok(());
                }
            }
        }
    }

    fn closed(&mut self, error: Error) {
        log::debug!(
            "ferry: listener on {:?} closed: {error}",
            self.listener.local_addr()
        );
    }
}

/// Tells a peer over a cap why, in the one write a fresh socket takes, and closes.
fn refuse(mut stream: TcpStream, message: String) {
    let mut bytes = Vec::new();
    encode(
        &Frame::Error {
            code: ErrorCode::Busy,
            message,
        },
        &mut bytes,
    );
    let _ = stream.write(&bytes);
}

enum State {
    Handshake(ServerHandshake),
    Ready {
        keys: KeyTable,
        lz4: bool,
        verbs: bool,
        rdma: Option<Arc<dyn RdmaSession>>,
    },
}

pub(crate) struct ServerConn {
    stream: TcpStream,
    peer: SocketAddr,
    context: Arc<ServeContext>,
    /// Clear bytes: as received, or opened from `records`.
    inbox: Inbox,
    /// An encrypted connection's records, once the handshake is done.
    records: Option<Records>,
    outbox: Outbox,
    state: State,
    /// A fatal error frame is queued; the connection closes once it is written.
    closing: Option<Error>,
    ticket: Ticket,
    /// The handshake must be done by then.
    handshake_deadline: Instant,
    /// Wakes this connection again after it yielded its turn.
    notifier: Notifier,
}

impl ServerConn {
    fn new(
        stream: TcpStream,
        peer: SocketAddr,
        context: Arc<ServeContext>,
        ticket: Ticket,
        notifier: Notifier,
    ) -> Self {
        let handshake = ServerHandshake::new(context.caps, context.secret.clone());
        let mut outbox = Outbox::default();
        outbox.frame(&handshake.hello());
        ServerConn {
            stream,
            peer,
            handshake_deadline: Instant::now() + context.limits.handshake_timeout,
            context,
            inbox: Inbox::default(),
            records: None,
            outbox,
            state: State::Handshake(handshake),
            closing: None,
            ticket,
            notifier,
        }
    }

    fn authenticated(&self) -> bool {
        matches!(self.state, State::Ready { .. })
    }

    /// Whether queued replies are over the bound: then no request is read.
    fn backed_up(&self) -> bool {
        self.outbox.queued() > self.context.limits.output_bytes
    }

    /// Writes what it can. Err once a fatal error frame has gone out; false
    /// while output is backed up (or closing), so no more requests are read.
    fn flush(&mut self) -> Result<bool> {
        self.outbox.flush(&mut self.stream)?;
        if self.closing.is_some() {
            return match self.outbox.is_empty() {
                true => Err(self.closing.take().expect("checked")),
                false => Ok(false),
            };
        }
        Ok(!self.backed_up())
    }

    /// Serves the complete requests received, each only while the replies
    /// queued so far are within the bound. Returns how many it served, and
    /// whether it stopped for that bound (requests may be left in the inbox).
    fn handle_frames(&mut self) -> (usize, bool) {
        let mut served = 0;
        while self.closing.is_none() && !self.backed_up() {
            // Before authentication only a hello may come: nothing larger is buffered.
            let limit = match self.authenticated() {
                true => MAX_REQUEST_BODY,
                false => MAX_HELLO_BODY,
            };
            match decode_within(self.inbox.data(), limit) {
                Ok(Some((frame, n))) => {
                    self.inbox.consume(n);
                    served += 1;
                    if let Err(error) = self.handle(frame) {
                        self.fail(error);
                    }
                }
                Ok(None) => break,
                Err(Error::Malformed(m)) if !self.authenticated() => {
                    self.fail(Error::Malformed(format!("{m} before authentication")))
                }
                Err(error) => self.fail(error),
            }
        }
        (served, self.closing.is_none() && self.backed_up())
    }

    /// Queues an error frame for the peer and closes after it is written.
    fn fail(&mut self, error: Error) {
        let message = || format!("ferry: closing connection from {}: {error}", self.peer);
        // Strangers' failures are logged at a bounded rate: a flood must not become one in the log.
        match self.authenticated() {
            true => log::warn!("{}", message()),
            false => self.ticket.warn_unproven(message),
        }
        self.context.metrics.rejected_connection();
        self.outbox.frame(&Frame::Error {
            code: error.code(),
            message: error.wire_message(),
        });
        self.closing = Some(error);
    }

    fn handle(&mut self, frame: Frame) -> Result<()> {
        let (keys, lz4, verbs, rdma) = match &mut self.state {
            State::Handshake(handshake) => {
                let (welcome, agreed) = handshake.accept(frame)?;
                self.ticket.authenticated();
                self.outbox.frame(&welcome);
                log::debug!("ferry: {} speaks version {}", self.peer, agreed.version);
                self.state = State::Ready {
                    keys: KeyTable::default(),
                    lz4: agreed.caps & CAP_LZ4 != 0,
                    verbs: agreed.caps & CAP_VERBS != 0,
                    rdma: None,
                };
                if let Some(channel) = agreed.channel {
                    // The Welcome goes in clear; what follows it, both ways, is sealed.
                    self.outbox.seal_with(channel.seal);
                    let received = self.inbox.data().len();
                    let mut records =
                        Records::new(channel.open, self.peer.to_string(), self.inbox.data());
                    self.inbox.consume(received);
                    records.open_into(&mut self.inbox)?;
                    self.records = Some(records);
                }
                return Ok(());
            }
            State::Ready {
                keys,
                lz4,
                verbs,
                rdma,
            } => (keys, *lz4, *verbs, rdma),
        };
        match frame {
            Frame::Lookup {
                request,
                inline_max,
                ids,
            } => {
                let session = rdma.as_deref().filter(|s| s.active());
                // The server's own setting caps what a peer may ask to get inline.
                let own = self.context.inline.for_connection(session.is_some());
                let inline_max = inline_max.min(own) as u64;
                let found: Vec<_> = ids
                    .iter()
                    .map(|id| locate(&self.context, keys, session, id))
                    .collect();
                let inline = inline_whole_reply(&found, inline_max);
                let results = found
                    .into_iter()
                    .map(|found| found.map(|found| found.located(&self.context, inline)))
                    .collect();
                self.outbox.frame(&Frame::LookupReply { request, results });
            }
            Frame::VerbsConnect => {
                let serve = self
                    .context
                    .rdma
                    .as_ref()
                    .filter(|_| verbs && rdma.is_none());
                let Some(serve) = serve else {
                    return Err(Error::Malformed(
                        "VerbsConnect without an agreed CAP_VERBS, or twice".into(),
                    ));
                };
                let (port, token, session) = serve.offer(&self.peer.to_string())?;
                *rdma = Some(session);
                self.outbox.frame(&Frame::VerbsAccept { port, token });
            }
            Frame::Read {
                tag,
                key,
                addr,
                len,
                compress,
            } => match read(&self.context, keys, key, addr, len) {
                Ok((region, start, end)) => {
                    match copied_payload(
                        &region,
                        start,
                        end,
                        compress && lz4 && len <= LZ4_MAX_READ,
                    ) {
                        Ok(copied) => {
                            self.context.metrics.served(len);
                            self.outbox.frame(&Frame::ReadData {
                                tag,
                                len: copied.as_ref().map_or(len, |(p, _)| p.len() as u64),
                                compressed: copied.as_ref().is_some_and(|(_, packed)| *packed),
                                raw_len: len,
                            });
                            match copied {
                                Some((bytes, _)) => self.outbox.bytes(bytes),
                                None => self.outbox.region(region, start, end),
                            }
                        }
                        Err(error) => {
                            self.context.metrics.rejected_read();
                            log::warn!("ferry: READ from {} failed: {error}", self.peer);
                            self.outbox.frame(&Frame::ReadFailed {
                                tag,
                                code: ErrorCode::Unreadable,
                                message: error.to_string(),
                            });
                        }
                    }
                }
                Err((code, message)) => {
                    self.context.metrics.rejected_read();
                    log::debug!("ferry: refused READ from {}: {message}", self.peer);
                    self.outbox.frame(&Frame::ReadFailed { tag, code, message });
                }
            },
            other => {
                return Err(Error::Malformed(format!(
                    "a client may not send {}",
                    other.name()
                )))
            }
        }
        Ok(())
    }
}

/// A block found for a lookup, with the region its inline bytes would come from.
struct Found {
    slice: RemoteSlice,
    region: Arc<Region>,
    offset: u64,
}

impl Found {
    fn located(self, context: &ServeContext, inline: bool) -> Located {
        let Found {
            slice,
            region,
            offset,
        } = self;
        // A block that cannot be read now goes without its bytes: the requester's
        // READ then fails with the reason.
        let inline = inline
            .then(|| region.read(offset, slice.len).ok())
            .flatten()
            .map(|bytes| {
                context.metrics.served_inline(slice.len);
                bytes.into_owned()
            });
        Located { slice, inline }
    }
}

/// Whether the reply carries every found block's bytes: only when all of them
/// fit (each within `inline_max`, all within one reply's budget), so the lookup
/// is the fetch's only round trip. Otherwise the requester READs anyway, and
/// READs of adjacent blocks join into one: a bulk fetch gains nothing from a
/// few blocks inline but their copies through the reply.
fn inline_whole_reply(found: &[std::result::Result<Found, ErrorCode>], inline_max: u64) -> bool {
    let budget = MAX_INLINE_REPLY.min(MAX_FRAME_BODY / 2) as u64;
    let mut total = 0u64;
    for found in found.iter().flatten() {
        total += found.slice.len;
        if found.slice.len > inline_max || total > budget {
            return false;
        }
    }
    total > 0
}

fn locate(
    context: &ServeContext,
    keys: &mut KeyTable,
    rdma: Option<&dyn RdmaSession>,
    id: &[u8],
) -> std::result::Result<Found, ErrorCode> {
    let location = context.blocks.resolve(id)?;
    let region = context
        .regions
        .get(location.region)
        .ok_or(ErrorCode::UnknownBlock)?;
    if !region.contains(location.offset, location.len) {
        return Err(ErrorCode::OutOfRange);
    }
    let rdma_key = match rdma {
        Some(session) => session.key(&region)?,
        None => None,
    };
    let slice = match rdma_key {
        // RDMA: the NIC checks the key and range against this connection's memory region.
        Some((key, base)) => RemoteSlice {
            key,
            addr: base + location.offset,
            len: location.len,
        },
        // The CPU serves it: a key of this connection's table (RDMA past its
        // pinned bound too: the peer READs those over this connection).
        None => RemoteSlice {
            key: keys.issue(region.id()),
            addr: location.offset,
            len: location.len,
        },
    };
    Ok(Found {
        slice,
        region,
        offset: location.offset,
    })
}

/// The bytes a READ reply carries when they cannot go straight from the region:
/// lz4-compressed when that saves bytes (`true`), or a small file slice read
/// with `pread`. `None`: send `[start, end)` from the region itself. Never reads
/// a file region through its mapping; a file that no longer holds the range is an error.
fn copied_payload(
    region: &Region,
    start: usize,
    end: usize,
    lz4: bool,
) -> io::Result<Option<(Vec<u8>, bool)>> {
    let (offset, len) = (start as u64, (end - start) as u64);
    let small_file = region.file_position(0).is_some() && end - start < SENDFILE_MIN;
    if !lz4 && !small_file {
        region.check_present(offset, len)?;
        return Ok(None);
    }
    let raw = region.read(offset, len)?;
    if lz4 {
        let packed = lz4_flex::block::compress(&raw);
        if packed.len() < raw.len() {
            return Ok(Some((packed, true)));
        }
    }
    Ok(small_file.then(|| (raw.into_owned(), false)))
}

type ReadRange = (Arc<Region>, usize, usize);

fn read(
    context: &ServeContext,
    keys: &mut KeyTable,
    key: u64,
    addr: u64,
    len: u64,
) -> std::result::Result<ReadRange, (ErrorCode, String)> {
    let region_id = keys.region(key).map_err(|code| {
        (
            code,
            format!("remote key {key:#x} was never issued on this connection"),
        )
    })?;
    let Some(region) = context.regions.get(region_id) else {
        keys.revoke(key);
        return Err((
            ErrorCode::StaleKey,
            format!("remote key {key:#x} names a deregistered region"),
        ));
    };
    if len > MAX_READ {
        return Err((
            ErrorCode::TooLarge,
            format!("READ of {len} bytes exceeds the limit of {MAX_READ}"),
        ));
    }
    if !region.contains(addr, len) {
        return Err((
            ErrorCode::OutOfRange,
            format!(
                "READ {addr}+{len} is outside the region of {} bytes",
                region.len()
            ),
        ));
    }
    Ok((region, addr as usize, (addr + len) as usize))
}

impl Driven for ServerConn {
    fn source(&mut self) -> &mut dyn Source {
        &mut self.stream
    }

    fn drive(&mut self, _: &ReactorHandle, hangup: bool) -> Result<()> {
        // (An eviction that crossed the hello's arrival spares the now proven peer.)
        if self.ticket.evicted() && !self.authenticated() {
            return Err(Error::Busy(format!(
                "{} waited longest for its hello while new connections came \
                 (ferry.server.unauthenticated.max)",
                self.peer
            )));
        }
        let mut served = 0;
        // The socket had no more to read: epoll reports the next bytes.
        let mut drained = false;
        loop {
            let (handled, held) = self.handle_frames();
            served += handled;
            // Backed up: stop reading; the peer reading its replies (WRITABLE) resumes us.
            if !self.flush()? {
                return Ok(());
            }
            if served >= REQUESTS_PER_TURN {
                self.notifier.notify();
                return Ok(());
            }
            // Requests left while output backed up go first; no event announces them.
            if held {
                continue;
            }
            if drained {
                return Ok(());
            }
            let into = match &mut self.records {
                Some(records) => &mut records.raw,
                None => &mut self.inbox,
            };
            let room = into.room();
            match into.read_from(&mut self.stream) {
                Ok(0) => {
                    return Err(Error::PeerClosed {
                        peer: self.peer.to_string(),
                        reason: "closed by peer".into(),
                    })
                }
                Ok(n) => {
                    drained = n < room && !hangup;
                    if let Some(records) = &mut self.records {
                        if let Err(error) = records.open_into(&mut self.inbox) {
                            self.fail(error);
                        }
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(()),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e.into()),
            }
        }
    }

    fn deadline(&self) -> Option<Instant> {
        (!self.authenticated()).then_some(self.handshake_deadline)
    }

    fn expired(&mut self) -> Error {
        let error = Error::Timeout(format!(
            "{} did not complete the handshake within {} ms (ferry.server.handshake.timeout.ms)",
            self.peer,
            self.context.limits.handshake_timeout.as_millis()
        ));
        self.context.metrics.rejected_connection();
        self.ticket
            .warn_unproven(|| format!("ferry: closing a connection: {error}"));
        error
    }

    fn closed(&mut self, error: Error) {
        match error {
            Error::PeerClosed { .. } => log::debug!("ferry: {} disconnected", self.peer),
            other => log::debug!("ferry: connection from {} ended: {other}", self.peer),
        }
    }
}
