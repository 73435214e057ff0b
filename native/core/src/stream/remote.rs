//! Stream payload by one-sided READ. The sender copies each message into a ring
//! of slabs registered once with its [`Node`] and sends a NOTIFY naming the slab,
//! offset and length on the stream; the receiver READs the message with its own
//! node into pinned buffers (an RDMA READ on the verbs provider, served by the
//! sender's NIC without its CPU; a READ over the tcp provider otherwise) and
//! answers with a CREDIT, which frees the space. The window bounds the slabs a
//! sender registers, so a slow receiver costs bounded memory: with no room, the
//! caller sends the message in DATA frames instead ([`super::Driver`]).
//!
//! Both ends speak through a framed [`Stream`](super::Stream) whose socket stays the control
//! path; the data moves on the nodes' own connections to each other, each
//! shared by up to a configured number of streams (streams per queue pair on verbs).
//! The receiver looks each slab up once (one round trip, which also registers
//! the slab with the NIC), then READs any range of it without asking again.

use std::cell::UnsafeCell;
use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::{Event, Stream};
use crate::block::{BlockId, RemoteSlice};
use crate::error::{Error, Result};
use crate::memory::{PooledBuffer, RegionId};
use crate::provider::{Connection, ReadRequest};
use crate::Node;

/// Bytes of slabs registered now, over every stream of this process.
pub(super) static SLAB_BYTES: AtomicU64 = AtomicU64::new(0);

/// Slab memory the sender writes into while peers READ other parts of it.
struct SlabBytes(Box<[UnsafeCell<u8>]>);

// SAFETY: the sender writes only ranges no NOTIFY names (free ring space), and
// readers (the node's servers, the NIC) read only notified, uncredited ranges.
unsafe impl Sync for SlabBytes {}

/// The registry's view of a slab: the same memory, read-only.
struct SlabView(Arc<SlabBytes>);

impl AsRef<[u8]> for SlabView {
    fn as_ref(&self) -> &[u8] {
        let cells = &self.0 .0;
        // SAFETY: see `SlabBytes`; UnsafeCell<u8> has the layout of u8.
        unsafe { std::slice::from_raw_parts(cells.as_ptr() as *const u8, cells.len()) }
    }
}

struct Slab {
    region: RegionId,
    id: BlockId,
    bytes: Arc<SlabBytes>,
    /// Next free offset.
    head: usize,
    /// Bytes notified and not yet credited.
    live: usize,
}

/// The sending half: places messages in the ring, queues NOTIFY, frees on CREDIT.
pub struct RemoteSender {
    node: Arc<Node>,
    prefix: Vec<u8>,
    slab_bytes: usize,
    max_slabs: usize,
    slabs: Vec<Slab>,
    current: usize,
    next_seq: u64,
    /// (seq, slab, len) of messages not yet credited, oldest first.
    outstanding: VecDeque<(u64, usize, usize)>,
}

impl RemoteSender {
    /// `node` serves the slabs (it must [`serve`](Node::serve) where the receiver
    /// READs); slabs of `slab_bytes` are registered as needed, at most `window`
    /// bytes of them (at least one slab).
    pub fn new(node: Arc<Node>, window: u64, slab_bytes: usize) -> Result<RemoteSender> {
        if slab_bytes == 0 || window == 0 {
            return Err(Error::InvalidArgument(format!(
                "a stream window of {window} bytes in slabs of {slab_bytes}"
            )));
        }
        let mut tag = [0u8; TAG_BYTES];
        getrandom::getrandom(&mut tag).expect("the OS random source is available");
        let mut prefix = SLAB_PREFIX.to_vec();
        prefix.extend(tag.iter().flat_map(|b| format!("{b:02x}").into_bytes()));
        Ok(RemoteSender {
            node,
            prefix,
            slab_bytes,
            max_slabs: (window as usize).div_ceil(slab_bytes).max(1),
            slabs: Vec::new(),
            current: 0,
            next_seq: 0,
            outstanding: VecDeque::new(),
        })
    }

    /// Bytes notified and not yet credited.
    pub fn in_flight(&self) -> u64 {
        self.slabs.iter().map(|s| s.live as u64).sum()
    }

    /// Bytes of registered slabs.
    pub fn registered(&self) -> u64 {
        (self.slabs.len() * self.slab_bytes) as u64
    }

    /// Copies the first bytes of `parts` (at least `min` of them, or all when
    /// they are fewer, and at most one slab) into the ring and queues their
    /// NOTIFY on `stream`. Returns the bytes taken, 0 when the window has no room.
    pub fn offer(&mut self, stream: &mut Stream, parts: &[&[u8]], min: usize) -> Result<usize> {
        let total: usize = parts.iter().map(|p| p.len()).sum();
        if total == 0 {
            return Err(Error::InvalidArgument("an empty stream message".into()));
        }
        let want = total.min(self.slab_bytes);
        let Some(slab) = self.place(want.min(min.max(1)))? else {
            return Ok(0);
        };
        let s = &mut self.slabs[slab];
        let len = want.min(self.slab_bytes - s.head);
        let offset = s.head;
        let base = UnsafeCell::raw_get(s.bytes.0.as_ptr());
        let mut copied = 0;
        for part in parts {
            let n = part.len().min(len - copied);
            // SAFETY: [offset, offset + len) lies in the slab and no NOTIFY names it.
            unsafe { std::ptr::copy_nonoverlapping(part.as_ptr(), base.add(offset + copied), n) };
            copied += n;
            if copied == len {
                break;
            }
        }
        let seq = self.next_seq;
        stream.send_notify(seq, len as u64, offset as u64, &s.id)?;
        s.head += len;
        s.live += len;
        self.next_seq += 1;
        self.outstanding.push_back((seq, slab, len));
        Ok(len)
    }

    /// A slab with `need` contiguous free bytes: the current one, a drained one,
    /// or a new one while the window allows.
    fn place(&mut self, need: usize) -> Result<Option<usize>> {
        if let Some(s) = self.slabs.get_mut(self.current) {
            if s.live == 0 {
                s.head = 0;
            }
            if self.slab_bytes - s.head >= need {
                return Ok(Some(self.current));
            }
        }
        let count = self.slabs.len();
        let drained = (1..count)
            .map(|step| (self.current + step) % count)
            .find(|&i| self.slabs[i].live == 0);
        if let Some(i) = drained {
            self.slabs[i].head = 0;
            self.current = i;
            return Ok(Some(i));
        }
        if count >= self.max_slabs {
            return Ok(None);
        }
        let bytes = Arc::new(SlabBytes(
            (0..self.slab_bytes).map(|_| UnsafeCell::new(0)).collect(),
        ));
        let region = self.node.regions().register_bytes(SlabView(bytes.clone()));
        let mut id = self.prefix.clone();
        id.extend_from_slice(format!("/{count}").as_bytes());
        let location = crate::block::BlockLocation {
            region,
            offset: 0,
            len: self.slab_bytes as u64,
        };
        if let Err(e) = self.node.blocks().register(id.clone(), location) {
            self.node.regions().deregister(region);
            return Err(e);
        }
        SLAB_BYTES.fetch_add(self.slab_bytes as u64, Relaxed);
        self.slabs.push(Slab {
            region,
            id,
            bytes,
            head: 0,
            live: 0,
        });
        self.current = count;
        Ok(Some(count))
    }

    /// Handles an event from the peer: a CREDIT frees its message (credits come
    /// in order). A NOTIFY is not for a sending half and is an error.
    pub fn on_event(&mut self, event: Event) -> Result<()> {
        let Event::Credit { seq } = event else {
            return Err(Error::Malformed("a NOTIFY sent to the sending half".into()));
        };
        match self.outstanding.front() {
            Some(&(oldest, slab, len)) if oldest == seq => {
                self.outstanding.pop_front();
                self.slabs[slab].live -= len;
                Ok(())
            }
            _ => Err(Error::Malformed(format!(
                "CREDIT for message {seq}, which is not the oldest outstanding"
            ))),
        }
    }
}

impl Drop for RemoteSender {
    fn drop(&mut self) {
        for slab in &self.slabs {
            self.node.blocks().remove(&slab.id);
            self.node.regions().deregister(slab.region);
        }
        SLAB_BYTES.fetch_sub(self.registered(), Relaxed);
    }
}

/// Largest slab a receiver accepts from a lookup (the largest `RemotePayload` slab).
const MAX_SLAB: u64 = 1 << 30;
/// How long a read waits for a lookup or READ it started before it returns
/// empty-handed: a poll's time (a READ over RDMA takes microseconds), so a
/// selector loop's thread is never held longer, and the writer, which does not
/// wait for credits, is not far ahead when the READ completes.
const REPLY_WAIT: Duration = Duration::from_millis(1);
/// Most distinct slabs a receiver looks up on one stream.
const MAX_SLABS: usize = 1024;
/// Random bytes naming one sender's slabs (`ferry-stream/<tag in hex>/<n>`).
const TAG_BYTES: usize = 8;
/// Block ids of stream slabs start with this; applications cannot register such ids.
pub const SLAB_PREFIX: &[u8] = b"ferry-stream/";

/// The receiving half: READs notified messages, never waiting for them.
pub struct RemoteReceiver {
    node: Arc<Node>,
    peer: SocketAddr,
    /// The node connection (queue pair) this stream shares with others.
    lane: u32,
    /// Slabs looked up so far: block id -> the whole slab.
    slabs: HashMap<Vec<u8>, RemoteSlice>,
    /// The sender's slab tag (`ferry-stream/<tag>/`), fixed by its first NOTIFY.
    tag: Option<Vec<u8>>,
    /// Largest message this end READs: its own window.
    max_message: u64,
    op: Option<Op>,
    connection: Option<Arc<dyn Connection>>,
    /// A connection being made on a thread of its own (connecting may wait on the peer).
    connecting: Option<(Connecting, Instant)>,
}

/// Where a connection being made arrives.
type Connecting = crossbeam_channel::Receiver<Result<Arc<dyn Connection>>>;

/// The lookup or READ under way for the NOTIFY at the head of the socket.
enum Op {
    Lookup {
        done: crossbeam_channel::Receiver<Result<Vec<crate::protocol::LookupResult>>>,
        since: Instant,
    },
    Read {
        done: crossbeam_channel::Receiver<(usize, Result<PooledBuffer>)>,
        pieces: Vec<Option<PooledBuffer>>,
        left: usize,
        since: Instant,
    },
}

/// A message the peer notified: `len` bytes at `offset` of its slab `id`.
pub struct Notice<'a> {
    pub len: u64,
    pub offset: u64,
    pub id: &'a [u8],
}

impl RemoteReceiver {
    /// `peer` is the address the sender's node serves on; the READs share a
    /// connection to it with at most `per_connection - 1` other streams. A
    /// NOTIFY of more than `max_message` bytes is refused.
    pub fn new(
        node: Arc<Node>,
        peer: SocketAddr,
        per_connection: u32,
        max_message: u64,
    ) -> RemoteReceiver {
        let lane = node.join_lane(peer, per_connection);
        RemoteReceiver {
            node,
            peer,
            lane,
            slabs: HashMap::new(),
            tag: None,
            max_message,
            op: None,
            connection: None,
            connecting: None,
        }
    }

    /// The lane of the node's connections to the peer this stream READs on.
    pub fn lane(&self) -> u32 {
        self.lane
    }

    /// Advances the READ of the message `notice` names (the same notice on
    /// every call until it returns the message, in pinned buffers, in order).
    /// Waits at most [`REPLY_WAIT`]: `Ok(None)` while the lookup or READ is on
    /// its way, or no pool buffer is free; an error once it took longer than the node's
    /// request timeout since `now` of the call that started it.
    pub fn poll(&mut self, notice: &Notice<'_>, now: Instant) -> Result<Option<Vec<PooledBuffer>>> {
        let timeout = self.node.config().request_timeout;
        loop {
            match self.op.take() {
                None => {
                    self.check(notice)?;
                    let Some(connection) = self.connection(now)? else {
                        return Ok(None);
                    };
                    match self.slabs.get(notice.id) {
                        Some(slab) => match self.start_read(&connection, slab, notice, now)? {
                            Some(op) => self.op = Some(op),
                            None => return Ok(None), // no free pool buffer: try again later
                        },
                        None => self.op = Some(start_lookup(&connection, notice.id.to_vec(), now)),
                    }
                }
                Some(Op::Lookup { done, since }) => match done.recv_timeout(REPLY_WAIT) {
                    Ok(result) => {
                        let slab = located(result, self.peer)?;
                        if slab.len > MAX_SLAB {
                            return Err(Error::Malformed(format!(
                                "the peer's slab of {} bytes is over {MAX_SLAB}",
                                slab.len
                            )));
                        }
                        self.slabs.insert(notice.id.to_vec(), slab);
                    }
                    Err(_) if now.saturating_duration_since(since) < timeout => {
                        self.op = Some(Op::Lookup { done, since });
                        return Ok(None);
                    }
                    Err(_) => return Err(self.late("lookup of a stream slab")),
                },
                Some(Op::Read {
                    done,
                    mut pieces,
                    mut left,
                    since,
                }) => {
                    let until = Instant::now() + REPLY_WAIT;
                    while left > 0 {
                        let rest = until.saturating_duration_since(Instant::now());
                        let Ok((index, result)) = done.recv_timeout(rest) else {
                            break;
                        };
                        pieces[index] = Some(result?);
                        left -= 1;
                    }
                    if left == 0 {
                        self.node.metrics_sink().fetched(notice.len);
                        return Ok(Some(pieces.into_iter().flatten().collect()));
                    }
                    if now.saturating_duration_since(since) >= timeout {
                        return Err(self.late("READ of a stream message"));
                    }
                    self.op = Some(Op::Read {
                        done,
                        pieces,
                        left,
                        since,
                    });
                    return Ok(None);
                }
            }
        }
    }

    /// Starts making the lane's connection to the peer's node, off the caller's thread.
    pub fn connect(&mut self, now: Instant) -> Result<()> {
        self.connection(now).map(drop)
    }

    /// The lane's connection to the peer's node, made off the caller's thread.
    fn connection(&mut self, now: Instant) -> Result<Option<Arc<dyn Connection>>> {
        if let Some(connection) = self.connection.as_ref().filter(|c| c.is_open()) {
            return Ok(Some(connection.clone()));
        }
        if let Some((made, since)) = self.connecting.take() {
            return match made.try_recv() {
                Ok(connection) => {
                    let connection = connection?;
                    self.connection = Some(connection.clone());
                    Ok(Some(connection))
                }
                Err(_)
                    if now.saturating_duration_since(since)
                        < self.node.config().request_timeout =>
                {
                    self.connecting = Some((made, since));
                    Ok(None)
                }
                Err(_) => Err(self.late("connection to the stream peer's node")),
            };
        }
        let (done, made) = crossbeam_channel::bounded(1);
        let (node, peer, lane) = (self.node.clone(), self.peer, self.lane);
        std::thread::Builder::new()
            .name("ferry-stream-connect".into())
            .spawn(move || {
                let _ = done.send(node.lane_connection(peer, lane));
            })?;
        self.connecting = Some((made, now));
        Ok(None)
    }

    fn late(&self, what: &str) -> Error {
        Error::Timeout(format!(
            "{what} from {} took over ferry.request.timeout.ms",
            self.peer
        ))
    }

    /// A NOTIFY may name only the sender's own stream slabs, within this end's window.
    fn check(&mut self, notice: &Notice<'_>) -> Result<()> {
        let tag = slab_tag(notice.id).ok_or_else(|| {
            Error::Malformed(format!(
                "a NOTIFY names `{}`, not a stream slab",
                String::from_utf8_lossy(notice.id)
            ))
        })?;
        match &self.tag {
            Some(own) if own[..] != *tag => Err(Error::Malformed(
                "a NOTIFY names another stream's slab".into(),
            )),
            Some(_) => Ok(()),
            None => {
                self.tag = Some(tag.to_vec());
                Ok(())
            }
        }?;
        if notice.len == 0 || notice.len > self.max_message {
            return Err(Error::Malformed(format!(
                "a NOTIFY of {} bytes, outside 1 ..= {} (this end's window)",
                notice.len, self.max_message
            )));
        }
        if !self.slabs.contains_key(notice.id) && self.slabs.len() >= MAX_SLABS {
            return Err(Error::Malformed(format!(
                "the peer named more than {MAX_SLABS} slabs"
            )));
        }
        Ok(())
    }

    /// Posts the READs of the message, one per pool buffer; `None` when the pool has too few free.
    fn start_read(
        &self,
        connection: &Arc<dyn Connection>,
        slab: &RemoteSlice,
        notice: &Notice<'_>,
        now: Instant,
    ) -> Result<Option<Op>> {
        let (len, offset) = (notice.len, notice.offset);
        if offset.checked_add(len).is_none_or(|end| end > slab.len) {
            return Err(Error::Malformed(format!(
                "NOTIFY of {len} bytes at {offset} outside a slab of {}",
                slab.len
            )));
        }
        let pool = self.node.buffer_pool();
        let piece = pool.buffer_size() as u64;
        let mut buffers = Vec::new();
        for _ in 0..len.div_ceil(piece) {
            match pool.try_acquire()? {
                Some(buffer) => buffers.push(buffer),
                None => return Ok(None),
            }
        }
        let (sender, done) = crossbeam_channel::unbounded();
        let count = buffers.len();
        let batch = buffers
            .into_iter()
            .enumerate()
            .map(|(index, dst)| {
                let at = index as u64 * piece;
                let sender = sender.clone();
                ReadRequest {
                    src: RemoteSlice {
                        key: slab.key,
                        addr: slab.addr + offset + at,
                        len: piece.min(len - at),
                    },
                    dst,
                    done: Box::new(move |result| {
                        let _ = sender.send((index, result));
                    }),
                }
            })
            .collect();
        connection.read(batch);
        Ok(Some(Op::Read {
            done,
            pieces: (0..count).map(|_| None).collect(),
            left: count,
            since: now,
        }))
    }
}

/// Applications cannot name blocks in the streams' namespace: a NOTIFY names only stream slabs.
pub fn check_not_reserved(id: &[u8]) -> Result<()> {
    if id.starts_with(SLAB_PREFIX) {
        return Err(Error::InvalidArgument(format!(
            "block ids starting `{}` are reserved for streams",
            String::from_utf8_lossy(SLAB_PREFIX)
        )));
    }
    Ok(())
}

/// `<tag>` of a stream slab id `ferry-stream/<tag>/<n>`.
fn slab_tag(id: &[u8]) -> Option<&[u8]> {
    let rest = id.strip_prefix(SLAB_PREFIX)?;
    let slash = rest.iter().position(|&b| b == b'/')?;
    let (tag, index) = (&rest[..slash], &rest[slash + 1..]);
    let hex = |b: &u8| b.is_ascii_digit() || (b'a'..=b'f').contains(b);
    let well_formed = tag.len() == 2 * TAG_BYTES && tag.iter().all(hex);
    (well_formed && !index.is_empty() && index.iter().all(u8::is_ascii_digit)).then_some(tag)
}

impl Drop for RemoteReceiver {
    fn drop(&mut self) {
        self.node.leave_lane(self.peer, self.lane);
    }
}

/// Asks the peer's node where one block id lives.
fn start_lookup(connection: &Arc<dyn Connection>, id: BlockId, now: Instant) -> Op {
    let (sender, done) = crossbeam_channel::bounded(1);
    connection.lookup(
        vec![id],
        0,
        Box::new(move |result| {
            let _ = sender.send(result);
        }),
    );
    Op::Lookup { done, since: now }
}

/// The slice a lookup reply names.
fn located(
    result: Result<Vec<crate::protocol::LookupResult>>,
    peer: SocketAddr,
) -> Result<RemoteSlice> {
    match result?.pop() {
        Some(Ok(located)) => Ok(located.slice),
        Some(Err(code)) => Err(Error::Remote {
            peer: peer.to_string(),
            code,
            message: "the stream's slab was refused".into(),
        }),
        None => Err(Error::Malformed("an empty lookup reply".into())),
    }
}

/// Keeps the slabs of a dropped sender registered until the peer may have
/// READ what it was notified (at most `grace`), on one process-wide thread,
/// so that closing a stream never waits.
pub(super) fn linger(sender: RemoteSender, grace: Duration) {
    use std::sync::{mpsc, Mutex, OnceLock};
    static REAPER: OnceLock<Mutex<mpsc::Sender<(Instant, RemoteSender)>>> = OnceLock::new();
    if sender.in_flight() == 0 {
        return; // dropped here: nothing left to READ
    }
    let reaper = REAPER.get_or_init(|| {
        let (tx, rx) = mpsc::channel::<(Instant, RemoteSender)>();
        let spawned = std::thread::Builder::new()
            .name("ferry-stream-linger".into())
            .spawn(move || {
                // Deadlines arrive in order: one grace for all.
                while let Ok((deadline, sender)) = rx.recv() {
                    std::thread::sleep(deadline.saturating_duration_since(Instant::now()));
                    drop(sender);
                }
            });
        if let Err(e) = spawned {
            log::warn!("ferry: no thread for closed streams' slabs ({e}); they are freed at once");
        }
        Mutex::new(tx)
    });
    let _ = reaper
        .lock()
        .unwrap()
        .send((Instant::now() + grace, sender));
}
