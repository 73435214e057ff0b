//! Stream frames and their handshake, sans-IO: the protocol a Ferry stream speaks
//! over one TCP connection (the control path). [`crate::stream::Driver`] does the
//! socket I/O: it feeds [`Stream::input`] with control bytes (never more than
//! [`Stream::wanted`], so it never reads past the start of a payload), sends
//! [`Stream::output`], moves DATA payload between the socket and the application
//! ([`Stream::data_pending`], [`Stream::data_read`]) and frames its own with
//! [`Stream::send_data`].
//!
//! # Wire
//!
//! After the TCP connect the connecting end sends a hello, the accepting end
//! answers; then both send frames. Integers are little-endian, written and read
//! with the node's codec ([`super::Reader`], [`super::Writer`]).
//!
//! ```text
//! ClientHello  magic FF FE 46 52 | version u8 | flags u8 | port u16 | nonce [32]          (40 bytes)
//! ServerHello  magic FF FE 46 52 | version u8 | flags u8 | port u16 | nonce [32] | proof [32] (72)
//! frame        kind u8 | 0 [3] | len u32 | len bytes of body
//!              DATA  (1): len payload bytes, 1 ..= max frame
//!              PROOF (2): the client's proof, 32 bytes, the client's first frame
//!              CLOSE (3): no body; the sender sends nothing more
//!              NOTIFY (4): seq u64 | len u64 | offset u64 | block id: a message of len bytes
//!                     waits at offset of that registered block of the sender's; READ it ([`remote`])
//!              CREDIT (5): seq u64: the receiver has read message seq; its memory is free
//! ```
//!
//! Flags: bit 1, `REMOTE`, offered by a client whose node serves on `port` (of the same host as
//! the connection's peer address) and echoed, with the server's own node port, by a server that
//! can READ too: payload then moves by one-sided READ ([`remote`]), DATA frames carrying what is
//! too small to be worth a READ. Remote streams are framed. A server without a node answers
//! without the bit and the stream is simply framed.
//!
//! Flags: bit 0, `FRAMED`, chosen by the client and echoed by the server. Framed streams carry
//! payload in DATA frames. Unframed (inline) streams are for the tcp provider: after the
//! PROOF frame the rest of the connection is the application's bytes, because TCP already orders
//! and flow-controls them and a frame would add nothing but a header. The sender may then hand
//! file payload to the kernel (`sendfile`) and the fallback path costs what plain TCP costs.
//!
//! The magic read as a big-endian `i32` is negative: no length-prefixed
//! protocol whose messages start with a non-negative size (Kafka's requests)
//! starts with it, so an accepting end tells a Ferry peer from a plain one by
//! the first four bytes alone, and hands those bytes to the application when
//! they are not the magic ([`State::Plain`]).
//!
//! Proofs are HMAC-SHA256 over both hellos' version, flags and port and both
//! nonces with the shared secret (an empty key when none is configured), the
//! server's first, so both ends prove the secret, nobody in between can
//! change what was agreed, and a recorded exchange cannot be replayed; a mismatch fails the
//! handshake ([`Error::AuthFailed`]) and the caller falls back to plain TCP.
//!
//! On the tcp provider the payload rides inline in DATA frames (or unframed)
//! and TCP's own window is the flow control. With [`remote`], payload lives in
//! memory registered with the sender's [`Node`](crate::Node): NOTIFY frames
//! name it, the receiver READs it with its own node (an RDMA READ on the verbs
//! provider) and returns CREDIT frames, which bound the registered bytes.

use hmac::Mac;

use super::codec::{Reader, Writer};
use super::handshake::{mac, nonce, prove};
use crate::error::{Error, Result};

/// The first four bytes a connecting Ferry end sends.
pub const MAGIC: [u8; 4] = [0xFF, 0xFE, b'F', b'R'];
/// 2: integers little-endian, as the node's frames (1 had them big-endian).
pub const VERSION: u8 = 2;
pub const CLIENT_HELLO_LEN: usize = 40;
pub const SERVER_HELLO_LEN: usize = 72;
pub const HEADER_LEN: usize = 8;
const PROOF_LEN: usize = 32;

pub(crate) const KIND_DATA: u8 = 1;
const KIND_PROOF: u8 = 2;
pub(crate) const KIND_CLOSE: u8 = 3;
pub(crate) const KIND_NOTIFY: u8 = 4;
pub(crate) const KIND_CREDIT: u8 = 5;
/// Longest block id a NOTIFY may carry.
pub const MAX_NOTIFY_ID: usize = 64;

/// Hello flag: payload travels in DATA frames (else inline after the handshake).
pub const FLAG_FRAMED: u8 = 1;
/// Hello flag: payload moves by one-sided READ of the sender's registered memory.
pub const FLAG_REMOTE: u8 = 2;
/// Bytes of a NOTIFY body before the block id: seq, len, offset.
pub(crate) const NOTIFY_FIXED: usize = 24;

const CLIENT_LABEL: &[u8] = b"ferry stream client v1";
const SERVER_LABEL: &[u8] = b"ferry stream server v1";

/// Largest DATA frame either end accepts, whatever `max_frame` says.
pub const MAX_FRAME_LIMIT: u32 = 64 << 20;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    Client,
    Server,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(i32)]
pub enum State {
    /// Hellos and proofs are still on their way.
    Handshaking = 0,
    /// Both ends proved the secret: payload flows in frames.
    Open = 1,
    /// (Accepting end) the peer is not a Ferry end: [`Stream::prefix`] holds the
    /// bytes already read, which belong to the application; the rest of the
    /// connection is plain.
    Plain = 2,
    /// The peer sent CLOSE.
    Closed = 3,
}

/// Where the receiving half is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Recv {
    /// Server: the first four bytes decide Ferry or plain.
    Detect,
    /// Server: the rest of the client's hello.
    ClientHello,
    /// Client: the server's hello.
    ServerHello,
    /// Server: the client's PROOF frame (header and body).
    Proof,
    /// A frame header.
    Header,
    /// Payload of a DATA frame: the caller reads it.
    Data(u64),
    /// Unframed: everything from here on is payload.
    Inline,
    /// The body of a NOTIFY or CREDIT frame (kind, body length).
    Body(u8, usize),
    /// Nothing more to read as control (plain, closed).
    Done,
}

/// Something the peer said that is not payload.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Event {
    /// Message `seq` of `len` bytes waits at `offset` of the peer's registered block `id`.
    Notify {
        seq: u64,
        len: u64,
        offset: u64,
        id: Vec<u8>,
    },
    /// The peer has read message `seq`.
    Credit { seq: u64 },
}

pub struct Stream {
    role: Role,
    secret: Vec<u8>,
    max_frame: u32,
    nonce: [u8; 32],
    peer_nonce: [u8; 32],
    recv: Recv,
    /// Control bytes collected for the current step of `recv`.
    buf: Vec<u8>,
    /// Control bytes to send, from `sent` on.
    out: Vec<u8>,
    sent: usize,
    state: State,
    send_closed: bool,
    framed: bool,
    /// The port this end's node serves READs on, when it offers remote payload.
    remote_port: Option<u16>,
    /// Once agreed: the peer's node port.
    peer_remote_port: Option<u16>,
    /// Version, flags and port of the client's hello and then the server's, bound into the proofs.
    params: [u8; 8],
    events: std::collections::VecDeque<Event>,
}

impl Stream {
    /// The connecting end: its hello is the first output.
    /// `framed`: payload in DATA frames, else inline after the handshake (see the module docs).
    pub fn client(secret: &[u8], max_frame: u32, framed: bool) -> Result<Stream> {
        Stream::new_client(secret, max_frame, framed, None)
    }

    /// A connecting end that offers remote payload: its node serves READs on `port`
    /// (see [`remote`]). Framed when the server cannot READ.
    pub fn client_remote(secret: &[u8], max_frame: u32, port: u16) -> Result<Stream> {
        Stream::new_client(secret, max_frame, true, Some(port))
    }

    fn new_client(
        secret: &[u8],
        max_frame: u32,
        framed: bool,
        remote_port: Option<u16>,
    ) -> Result<Stream> {
        let mut s = Stream::new(Role::Client, secret, max_frame)?;
        s.framed = framed;
        s.remote_port = remote_port;
        let flags = match remote_port {
            Some(_) => FLAG_FRAMED | FLAG_REMOTE,
            None if framed => FLAG_FRAMED,
            None => 0,
        };
        let [p0, p1] = remote_port.unwrap_or(0).to_le_bytes();
        let params = [VERSION, flags, p0, p1];
        s.params[..4].copy_from_slice(&params);
        s.out.extend_from_slice(&MAGIC);
        s.out.extend_from_slice(&params);
        let n = s.nonce;
        s.out.extend_from_slice(&n);
        s.recv = Recv::ServerHello;
        Ok(s)
    }

    /// The accepting end: waits for the first four bytes; framed or not as the client chooses.
    pub fn server(secret: &[u8], max_frame: u32) -> Result<Stream> {
        Stream::new(Role::Server, secret, max_frame)
    }

    /// An accepting end whose node serves READs on `port`: remote payload when the client offers it.
    pub fn server_remote(secret: &[u8], max_frame: u32, port: u16) -> Result<Stream> {
        let mut s = Stream::new(Role::Server, secret, max_frame)?;
        s.remote_port = Some(port);
        Ok(s)
    }

    fn new(role: Role, secret: &[u8], max_frame: u32) -> Result<Stream> {
        if max_frame == 0 || max_frame > MAX_FRAME_LIMIT {
            return Err(Error::InvalidArgument(format!(
                "stream frame size {max_frame} is outside 1 ..= {MAX_FRAME_LIMIT}"
            )));
        }
        Ok(Stream {
            role,
            secret: secret.to_vec(),
            max_frame,
            nonce: nonce(),
            peer_nonce: [0; 32],
            recv: Recv::Detect,
            buf: Vec::with_capacity(SERVER_HELLO_LEN),
            out: Vec::with_capacity(SERVER_HELLO_LEN),
            sent: 0,
            state: State::Handshaking,
            send_closed: false,
            framed: true,
            remote_port: None,
            peer_remote_port: None,
            params: [0; 8],
            events: Default::default(),
        })
    }

    pub fn role(&self) -> Role {
        self.role
    }

    pub fn state(&self) -> State {
        self.state
    }

    pub fn max_frame(&self) -> u32 {
        self.max_frame
    }

    /// The bytes an accepting end read before it knew the peer was plain.
    pub fn prefix(&self) -> &[u8] {
        if self.state == State::Plain {
            &self.buf
        } else {
            &[]
        }
    }

    /// How many control bytes to read next: 0 while DATA payload is pending
    /// (read it with [`data_pending`](Self::data_pending)) and once plain or closed.
    pub fn wanted(&self) -> usize {
        let total = match self.recv {
            Recv::Detect => MAGIC.len(),
            Recv::ClientHello => CLIENT_HELLO_LEN,
            Recv::ServerHello => SERVER_HELLO_LEN,
            Recv::Proof => HEADER_LEN + PROOF_LEN,
            Recv::Header => HEADER_LEN,
            Recv::Body(_, len) => len,
            Recv::Data(_) | Recv::Inline | Recv::Done => return 0,
        };
        total - self.buf.len()
    }

    /// Payload bytes of the current DATA frame the caller should read from the
    /// socket straight into the application's buffer.
    pub fn data_pending(&self) -> u64 {
        match self.recv {
            Recv::Data(n) => n,
            Recv::Inline => u64::MAX,
            _ => 0,
        }
    }

    /// The caller read `n` payload bytes; returns how many are still pending.
    pub fn data_read(&mut self, n: u64) -> Result<u64> {
        if self.recv == Recv::Inline {
            return Ok(u64::MAX);
        }
        let Recv::Data(pending) = self.recv else {
            return Err(Error::InvalidArgument("no DATA payload is pending".into()));
        };
        if n > pending {
            return Err(Error::InvalidArgument(format!(
                "read {n} payload bytes, only {pending} pending"
            )));
        }
        let left = pending - n;
        self.recv = if left == 0 {
            Recv::Header
        } else {
            Recv::Data(left)
        };
        Ok(left)
    }

    /// Feeds control bytes; returns how many were used (at most [`wanted`](Self::wanted)).
    /// An error means the connection is unusable: close it (or, while
    /// handshaking, fall back to plain TCP on a new one).
    pub fn input(&mut self, bytes: &[u8]) -> Result<usize> {
        let mut used = 0;
        loop {
            let take = (bytes.len() - used).min(self.wanted());
            if take == 0 {
                return Ok(used);
            }
            self.buf.extend_from_slice(&bytes[used..used + take]);
            used += take;
            if self.wanted() > 0 {
                return Ok(used);
            }
            if let Err(e) = self.step() {
                self.recv = Recv::Done;
                self.state = State::Closed;
                return Err(e);
            }
        }
    }

    /// A complete unit of control input is in `buf`.
    fn step(&mut self) -> Result<()> {
        match self.recv {
            Recv::Detect => {
                if self.buf[..] == MAGIC {
                    self.recv = Recv::ClientHello;
                } else {
                    self.state = State::Plain;
                    self.recv = Recv::Done;
                    return Ok(()); // keep buf: it is the prefix
                }
                return Ok(());
            }
            Recv::ClientHello => {
                check_version(&self.buf[4..8])?;
                let offered = self.buf[5];
                self.framed = offered & FLAG_FRAMED != 0;
                let mut flags = offered & FLAG_FRAMED;
                let mut port = 0;
                if let (Some(own), true) = (self.remote_port, offered & FLAG_REMOTE != 0) {
                    if !self.framed {
                        return Err(Error::Malformed("an unframed stream offered READs".into()));
                    }
                    self.peer_remote_port = Some(hello_port(&self.buf)?);
                    flags |= FLAG_REMOTE;
                    port = own;
                }
                self.peer_nonce.copy_from_slice(&self.buf[8..40]);
                let [p0, p1] = u16::to_le_bytes(port);
                self.params[..4].copy_from_slice(&self.buf[4..8]);
                self.params[4..].copy_from_slice(&[VERSION, flags, p0, p1]);
                let (client, server) = (self.peer_nonce, self.nonce);
                self.out.extend_from_slice(&MAGIC);
                self.out.extend_from_slice(&self.params[4..]);
                self.out.extend_from_slice(&server);
                let proof = prove(&self.secret, &self.label(SERVER_LABEL), &client, &server);
                self.out.extend_from_slice(&proof);
                self.recv = Recv::Proof;
            }
            Recv::ServerHello => {
                if self.buf[..4] != MAGIC {
                    return Err(Error::Malformed(
                        "the peer's answer is not a Ferry hello".into(),
                    ));
                }
                check_version(&self.buf[4..8])?;
                let flags = self.buf[5];
                if (flags & FLAG_FRAMED != 0) != self.framed {
                    return Err(Error::Malformed(
                        "the server did not echo the framing the client chose".into(),
                    ));
                }
                if flags & FLAG_REMOTE != 0 {
                    if self.remote_port.is_none() {
                        return Err(Error::Malformed(
                            "the server chose READs the client did not offer".into(),
                        ));
                    }
                    self.peer_remote_port = Some(hello_port(&self.buf)?);
                }
                self.params[4..].copy_from_slice(&self.buf[4..8]);
                self.peer_nonce.copy_from_slice(&self.buf[8..40]);
                let (client, server) = (self.nonce, self.peer_nonce);
                verify(
                    &self.label(SERVER_LABEL),
                    &client,
                    &server,
                    &self.secret,
                    &self.buf[40..72],
                )?;
                self.out
                    .extend_from_slice(&header(KIND_PROOF, PROOF_LEN as u32));
                let proof = prove(&self.secret, &self.label(CLIENT_LABEL), &client, &server);
                self.out.extend_from_slice(&proof);
                self.open();
            }
            Recv::Proof => {
                let (kind, len) = parse_header(&self.buf[..HEADER_LEN])?;
                if kind != KIND_PROOF || len as usize != PROOF_LEN {
                    return Err(Error::Malformed(format!(
                        "expected the client's proof, got frame kind {kind} of {len} bytes"
                    )));
                }
                let (client, server) = (self.peer_nonce, self.nonce);
                verify(
                    &self.label(CLIENT_LABEL),
                    &client,
                    &server,
                    &self.secret,
                    &self.buf[HEADER_LEN..],
                )?;
                self.open();
            }
            Recv::Header => {
                let (kind, len) = parse_header(&self.buf)?;
                match kind {
                    KIND_DATA if (1..=MAX_FRAME_LIMIT).contains(&len) => {
                        self.recv = Recv::Data(len as u64);
                    }
                    KIND_DATA => {
                        return Err(Error::Malformed(format!("DATA frame of {len} bytes")));
                    }
                    KIND_NOTIFY
                        if (NOTIFY_FIXED as u32 + 1..=(NOTIFY_FIXED + MAX_NOTIFY_ID) as u32)
                            .contains(&len) =>
                    {
                        self.recv = Recv::Body(kind, len as usize);
                    }
                    KIND_CREDIT if len == 8 => self.recv = Recv::Body(kind, 8),
                    KIND_CLOSE if len == 0 => {
                        self.state = State::Closed;
                        self.recv = Recv::Done;
                    }
                    _ => {
                        return Err(Error::Malformed(format!(
                            "unexpected frame kind {kind} ({len} bytes)"
                        )))
                    }
                }
            }
            Recv::Body(kind, _) => {
                self.events.push_back(parse_event(kind, &self.buf)?);
                self.recv = Recv::Header;
            }
            Recv::Data(_) | Recv::Inline | Recv::Done => {
                unreachable!("step runs only on a complete control unit")
            }
        }
        self.buf.clear();
        Ok(())
    }

    /// A proof's label: the role's label, then both hellos' version, flags and port.
    fn label(&self, role: &[u8]) -> Vec<u8> {
        [role, &self.params[..]].concat()
    }

    /// The peer node's port when payload moves by READ (both ends agreed), else None.
    pub fn remote_peer_port(&self) -> Option<u16> {
        self.peer_remote_port
            .filter(|_| self.state != State::Handshaking)
    }

    fn open(&mut self) {
        self.state = State::Open;
        self.recv = if self.framed {
            Recv::Header
        } else {
            Recv::Inline
        };
    }

    /// Whether payload travels in DATA frames (else inline after the handshake).
    pub fn framed(&self) -> bool {
        self.framed
    }

    /// Control bytes to send now; report what the socket took with [`sent`](Self::sent).
    pub fn output(&self) -> &[u8] {
        &self.out[self.sent..]
    }

    pub fn sent(&mut self, n: usize) {
        self.sent = (self.sent + n).min(self.out.len());
        if self.sent == self.out.len() {
            self.out.clear();
            self.sent = 0;
        }
    }

    /// Whether the application may send payload: open, and the handshake's own
    /// bytes are out of the way of nothing (they precede in [`output`](Self::output)).
    pub fn can_send(&self) -> bool {
        self.state == State::Open && !self.send_closed
    }

    /// Frames the next `len` application bytes (at most [`max_frame`](Self::max_frame)):
    /// queues a DATA header in [`output`](Self::output); the caller sends the
    /// payload right after it.
    pub fn send_data(&mut self, len: u32) -> Result<()> {
        self.check_framed_open()?;
        if len == 0 || len > self.max_frame {
            return Err(Error::InvalidArgument(format!(
                "DATA of {len} bytes; frames carry 1 ..= {}",
                self.max_frame
            )));
        }
        self.out.extend_from_slice(&header(KIND_DATA, len));
        Ok(())
    }

    /// The next NOTIFY or CREDIT the peer sent, in order.
    pub fn poll_event(&mut self) -> Option<Event> {
        self.events.pop_front()
    }

    /// Queues NOTIFY: message `seq` of `len` bytes waits at `offset` of block `id` (see [`remote`]).
    pub fn send_notify(&mut self, seq: u64, len: u64, offset: u64, id: &[u8]) -> Result<()> {
        self.check_framed_open()?;
        if id.is_empty() || id.len() > MAX_NOTIFY_ID {
            return Err(Error::InvalidArgument(format!(
                "a NOTIFY names a block id of 1 ..= {MAX_NOTIFY_ID} bytes, not {}",
                id.len()
            )));
        }
        let mut w = Writer(header(KIND_NOTIFY, (NOTIFY_FIXED + id.len()) as u32).to_vec());
        w.u64(seq);
        w.u64(len);
        w.u64(offset);
        w.raw(id);
        self.out.extend_from_slice(&w.0);
        Ok(())
    }

    /// Queues CREDIT for message `seq`.
    pub fn send_credit(&mut self, seq: u64) -> Result<()> {
        self.check_framed_open()?;
        let mut w = Writer(header(KIND_CREDIT, 8).to_vec());
        w.u64(seq);
        self.out.extend_from_slice(&w.0);
        Ok(())
    }

    fn check_framed_open(&self) -> Result<()> {
        if !self.can_send() || !self.framed {
            return Err(Error::InvalidArgument(format!(
                "stream is not open for frames ({:?}, framed: {})",
                self.state, self.framed
            )));
        }
        Ok(())
    }

    /// Queues CLOSE: nothing more will be sent.
    pub fn close(&mut self) {
        if self.state == State::Open && !self.send_closed && self.framed {
            self.out.extend_from_slice(&header(KIND_CLOSE, 0));
        }
        self.send_closed = true;
    }
}

fn header(kind: u8, len: u32) -> [u8; HEADER_LEN] {
    let mut w = Writer(Vec::with_capacity(HEADER_LEN));
    w.u8(kind);
    w.raw(&[0; 3]);
    w.u32(len);
    w.0.try_into().expect("a header is HEADER_LEN bytes")
}

/// The event a complete NOTIFY or CREDIT body carries.
pub(crate) fn parse_event(kind: u8, body: &[u8]) -> Result<Event> {
    let mut r = Reader::new(body);
    let seq = r.u64()?;
    if kind == KIND_CREDIT {
        return Ok(Event::Credit { seq });
    }
    let (len, offset) = (r.u64()?, r.u64()?);
    let id = r.take(body.len().saturating_sub(NOTIFY_FIXED))?.to_vec();
    Ok(Event::Notify {
        seq,
        len,
        offset,
        id,
    })
}

/// Kind and body length of a frame header (the first [`HEADER_LEN`] bytes of `h`).
pub(crate) fn parse_header(h: &[u8]) -> Result<(u8, u32)> {
    let mut r = Reader::new(h);
    let kind = r.u8()?;
    r.take(3)?;
    Ok((kind, r.u32()?))
}

/// The node port a hello names.
fn hello_port(hello: &[u8]) -> Result<u16> {
    let mut r = Reader::new(hello);
    r.take(MAGIC.len() + 2)?;
    r.u16()
}

fn check_version(v: &[u8]) -> Result<()> {
    if v[0] != VERSION {
        return Err(Error::UnsupportedVersion(format!(
            "stream version {} offered, this end speaks {VERSION}",
            v[0]
        )));
    }
    Ok(())
}

fn verify(label: &[u8], c: &[u8; 32], s: &[u8; 32], secret: &[u8], proof: &[u8]) -> Result<()> {
    // verify_slice compares in constant time.
    mac(secret, label, c, s)
        .verify_slice(proof)
        .map_err(|_| Error::AuthFailed("the peer proved a different stream secret".into()))
}

#[cfg(test)]
#[path = "stream_tests.rs"]
mod tests;
