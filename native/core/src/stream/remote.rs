//! Stream payload by one-sided READ. The sender copies each message into a ring
//! of slabs registered once with its [`Node`] and sends a NOTIFY naming the slab,
//! offset and length on the stream; the receiver READs the message with its own
//! node into pinned buffers (an RDMA READ on the verbs provider, served by the
//! sender's NIC without its CPU; a READ over the tcp provider otherwise) and
//! answers with a CREDIT, which frees the space. The window bounds the slabs a
//! sender registers, so a slow receiver costs bounded memory: with no room, the
//! caller sends the message in DATA frames instead ([`super::socket`]).
//!
//! Both ends speak through a framed [`Stream`] whose socket stays the control
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

/// Payload bytes this process sent by NOTIFY and received by READ, over every stream.
pub(super) static NOTIFIED_BYTES: AtomicU64 = AtomicU64::new(0);
pub(super) static READ_BYTES: AtomicU64 = AtomicU64::new(0);
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
        let mut tag = [0u8; 8];
        getrandom::getrandom(&mut tag).expect("the OS random source is available");
        let mut prefix = b"ferry-stream/".to_vec();
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
        NOTIFIED_BYTES.fetch_add(len as u64, Relaxed);
        super::BYTES_SENT.fetch_add(len as u64, Relaxed);
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
        if let Err(e) =
            self.node
                .register_region_block(id.clone(), region, 0, self.slab_bytes as u64)
        {
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

/// The receiving half: READs notified messages.
pub struct RemoteReceiver {
    node: Arc<Node>,
    peer: SocketAddr,
    /// The node connection (queue pair) this stream shares with others.
    lane: u32,
    /// Slabs looked up so far: block id -> the whole slab.
    slabs: HashMap<Vec<u8>, RemoteSlice>,
}

impl RemoteReceiver {
    /// `peer` is the address the sender's node serves on; the READs share a
    /// connection to it with at most `per_connection - 1` other streams.
    pub fn new(node: Arc<Node>, peer: SocketAddr, per_connection: u32) -> RemoteReceiver {
        let lane = node.join_lane(peer, per_connection);
        RemoteReceiver {
            node,
            peer,
            lane,
            slabs: HashMap::new(),
        }
    }

    /// The lane of the node's connections to the peer this stream READs on.
    pub fn lane(&self) -> u32 {
        self.lane
    }

    /// READs message `len` bytes at `offset` of slab `id` into pinned buffers,
    /// in order. Waits at most the node's request timeout.
    pub fn read(&mut self, len: u64, offset: u64, id: &[u8]) -> Result<Vec<PooledBuffer>> {
        let connection = self.node.lane_connection(self.peer, self.lane)?;
        let timeout = self.node.config().request_timeout;
        let slab = match self.slabs.get(id) {
            Some(slab) => *slab,
            None => {
                let slab = lookup(&connection, id.to_vec(), timeout)?;
                self.slabs.insert(id.to_vec(), slab);
                slab
            }
        };
        if offset.checked_add(len).is_none_or(|end| end > slab.len) || len == 0 {
            return Err(Error::Malformed(format!(
                "NOTIFY of {len} bytes at {offset} outside a slab of {}",
                slab.len
            )));
        }
        let piece = self.node.buffer_pool().buffer_size() as u64;
        let (sender, done) = crossbeam_channel::unbounded();
        let mut batch = Vec::new();
        let mut at = 0;
        while at < len {
            let n = piece.min(len - at);
            let index = batch.len();
            let sender = sender.clone();
            batch.push(ReadRequest {
                src: RemoteSlice {
                    key: slab.key,
                    addr: slab.addr + offset + at,
                    len: n,
                },
                dst: self.node.buffer_pool().acquire()?,
                done: Box::new(move |result| {
                    let _ = sender.send((index, result));
                }),
            });
            at += n;
        }
        let mut pieces: Vec<Option<PooledBuffer>> = batch.iter().map(|_| None).collect();
        connection.read(batch);
        let deadline = Instant::now() + timeout;
        for _ in 0..pieces.len() {
            let (index, result) = wait(&connection, &done, deadline)?;
            pieces[index] = Some(result?);
        }
        READ_BYTES.fetch_add(len, Relaxed);
        self.node.metrics_sink().fetched(len);
        Ok(pieces
            .into_iter()
            .map(|p| p.expect("every piece"))
            .collect())
    }
}

impl Drop for RemoteReceiver {
    fn drop(&mut self) {
        self.node.leave_lane(self.peer, self.lane);
    }
}

/// Resolves one block id to the slice behind it.
fn lookup(connection: &Arc<dyn Connection>, id: BlockId, timeout: Duration) -> Result<RemoteSlice> {
    let (sender, done) = crossbeam_channel::bounded(1);
    connection.lookup(
        vec![id],
        0,
        Box::new(move |result| {
            let _ = sender.send(result);
        }),
    );
    let mut results = wait(connection, &done, Instant::now() + timeout)??;
    match results.pop() {
        Some(Ok(located)) => Ok(located.slice),
        Some(Err(code)) => Err(Error::Remote {
            peer: connection.peer().to_string(),
            code,
            message: "the stream's slab was refused".into(),
        }),
        None => Err(Error::Malformed("an empty lookup reply".into())),
    }
}

/// The next message on `done`, reading the connection's replies on this
/// thread while it waits anyway (as a fetch does).
fn wait<T>(
    connection: &Arc<dyn Connection>,
    done: &crossbeam_channel::Receiver<T>,
    deadline: Instant,
) -> Result<T> {
    const SLICE: Duration = Duration::from_millis(20);
    loop {
        if let Ok(value) = done.try_recv() {
            return Ok(value);
        }
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(Error::Timeout(format!(
                "no READ reply from {} in time",
                connection.peer()
            )));
        }
        if connection.receive_here(left.min(SLICE)) {
            continue;
        }
        if let Ok(value) = done.recv_timeout(left.min(SLICE)) {
            return Ok(value);
        }
    }
}
