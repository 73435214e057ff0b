//! Batched, pipelined block fetch with bounded bytes in flight.
//!
//! One lookup per peer per batch of ids, then one READ per buffer-sized piece
//! of each block, posted while the in-flight budget and the pinned pool allow.
//! Pieces that lie end to end in one remote region (adjacent blocks of one
//! file, as a map output holds them) go as one READ into one buffer, and small
//! blocks that came inline in one lookup reply share buffers too: per-block
//! costs (a request frame, a syscall, a wake-up, a whole pool buffer) are paid
//! per buffer instead. Small READs that cannot be joined (blocks of different
//! map outputs) each get their own part of a shared pool buffer.
//! The caller pulls results; pulling is what posts more READs, so a slow
//! consumer holds back the transfer instead of growing memory: a pull that
//! finds nothing ready takes every completion queued and posts the READs they
//! free as one batch, so besides the bytes in flight a fetch holds at most one
//! such batch waiting for the consumer. Every byte counts against the pool
//! until the consumer drops the [`Chunk`].

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crossbeam_channel::{unbounded, Receiver, RecvTimeoutError, Sender};

use crate::block::{BlockId, RemoteSlice};
use crate::config::InlineLimits;
use crate::error::{Error, Result};
use crate::memory::{BufferPool, BufferSlice, PooledBuffer};
use crate::metrics::Metrics;
use crate::protocol::{Located, LookupResult, MAX_IDS};
use crate::provider::{Connection, ReadRequest};
use crate::Config;

/// How `io.ferry.Native.fetchNext` lays chunks out for Java: a `long[]` whose
/// first entry is the count, then [`abi::CHUNK_FIELDS`] longs per chunk at
/// these positions. `io.ferry.FetchStream` declares the same names
/// (`tests/abi.rs` checks them).
pub mod abi {
    /// The chunk's block: its index in the order the fetch listed them.
    pub const CHUNK_BLOCK: usize = 0;
    /// Where the chunk starts in its block.
    pub const CHUNK_OFFSET: usize = 1;
    /// The whole block's length.
    pub const CHUNK_BLOCK_LENGTH: usize = 2;
    /// The handle that owns the chunk's part of its pool buffer.
    pub const CHUNK_HANDLE: usize = 3;
    /// The pool buffer's address (Java views each buffer once).
    pub const CHUNK_BUFFER_ADDRESS: usize = 4;
    /// The chunk's length.
    pub const CHUNK_LENGTH: usize = 5;
    /// Where the chunk starts in its pool buffer.
    pub const CHUNK_START: usize = 6;
    /// Longs per chunk.
    pub const CHUNK_FIELDS: usize = 7;

    /// Every constant by name, for the check against the Java side.
    pub const ALL: &[(&str, i64)] = &[
        ("CHUNK_BLOCK", CHUNK_BLOCK as i64),
        ("CHUNK_OFFSET", CHUNK_OFFSET as i64),
        ("CHUNK_BLOCK_LENGTH", CHUNK_BLOCK_LENGTH as i64),
        ("CHUNK_HANDLE", CHUNK_HANDLE as i64),
        ("CHUNK_BUFFER_ADDRESS", CHUNK_BUFFER_ADDRESS as i64),
        ("CHUNK_LENGTH", CHUNK_LENGTH as i64),
        ("CHUNK_START", CHUNK_START as i64),
        ("CHUNK_FIELDS", CHUNK_FIELDS as i64),
    ];
}

/// A piece of a block, in order within its block. The block is complete when
/// `offset + data.len() == block_len`.
#[derive(Debug)]
pub struct Chunk {
    /// Index of the block in the order the fetch listed them.
    pub block: usize,
    pub offset: u64,
    pub block_len: u64,
    pub data: BufferSlice,
}

impl Chunk {
    pub fn is_last(&self) -> bool {
        self.offset + self.data.len() as u64 == self.block_len
    }
}

/// A block that could not be fetched; chunks of it already delivered must be discarded.
#[derive(Debug)]
pub struct BlockFailure {
    pub block: usize,
    pub error: Error,
}

/// Where each requested block is to be fetched from.
pub struct PeerBatch {
    pub connection: Result<Arc<dyn Connection>>,
    pub ids: Vec<BlockId>,
}

enum Event {
    Looked {
        peer: usize,
        first_block: usize,
        count: usize,
        result: Result<Vec<LookupResult>>,
    },
    Read {
        job: ReadJob,
        result: Result<PooledBuffer>,
    },
}

/// A buffer-sized or smaller piece of one block, waiting to be read.
struct Piece {
    block: usize,
    slice: RemoteSlice,
    offset: u64,
}

/// Where a piece of a block lies within a READ's (or a reply's) buffer: parts follow each other.
struct Part {
    block: usize,
    offset: u64,
    len: usize,
}

/// One READ: pieces adjacent in the peer's region, read into one buffer.
struct ReadJob {
    peer: usize,
    slice: RemoteSlice,
    parts: Vec<Part>,
}

/// Inline blocks of one lookup reply, copied one after the other into a shared buffer.
#[derive(Default)]
struct InlinePack {
    buffer: Option<PooledBuffer>,
    parts: Vec<Part>,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum BlockState {
    Looking,
    Reading { len: u64, received: u64 },
    Finished,
}

pub struct Fetch {
    pool: BufferPool,
    metrics: Arc<Metrics>,
    connections: Vec<Option<Arc<dyn Connection>>>,
    blocks: Vec<BlockState>,
    /// Pieces waiting to be read, per peer: READs go round the peers, so none
    /// waits behind another that is at its limit.
    queues: Vec<VecDeque<Piece>>,
    next_peer: usize,
    ready: VecDeque<std::result::Result<Chunk, BlockFailure>>,
    events: Receiver<Event>,
    sender: Sender<Event>,
    /// Bytes requested and not yet received, in all and per peer. Each READ
    /// holds a pinned buffer until its bytes arrive, so these bound the
    /// buffers in use as well as what is asked of peers.
    in_flight: usize,
    peer_in_flight: Vec<usize>,
    inflight_limit: usize,
    peer_inflight_limit: usize,
    /// The room left in the pool buffer the last READ was carved from: small
    /// READs that cannot be joined (blocks of different map outputs) share
    /// buffers instead of holding one each.
    spare: Option<PooledBuffer>,
    inline: InlineLimits,
    timeout: Duration,
    unfinished: usize,
}

impl Fetch {
    pub(crate) fn start(
        pool: BufferPool,
        metrics: Arc<Metrics>,
        batches: Vec<PeerBatch>,
        config: &Config,
    ) -> Fetch {
        let (sender, events) = unbounded();
        let total = batches.iter().map(|b| b.ids.len()).sum();
        let mut fetch = Fetch {
            pool,
            metrics,
            connections: Vec::with_capacity(batches.len()),
            blocks: vec![BlockState::Looking; total],
            queues: (0..batches.len()).map(|_| VecDeque::new()).collect(),
            next_peer: 0,
            ready: VecDeque::new(),
            events,
            sender,
            in_flight: 0,
            peer_in_flight: vec![0; batches.len()],
            inflight_limit: config.inflight_bytes,
            peer_inflight_limit: config.inflight_peer_bytes,
            spare: None,
            inline: config.inline,
            timeout: config.request_timeout,
            unfinished: total,
        };
        let mut first_block = 0;
        for (peer, batch) in batches.into_iter().enumerate() {
            let count = batch.ids.len();
            match batch.connection {
                Ok(connection) => {
                    fetch.lookup(peer, &connection, first_block, batch.ids);
                    fetch.connections.push(Some(connection));
                }
                Err(error) => {
                    fetch.connections.push(None);
                    for block in first_block..first_block + count {
                        fetch.fail(block, error.clone());
                    }
                }
            }
            first_block += count;
        }
        fetch
    }

    fn lookup(
        &self,
        peer: usize,
        connection: &Arc<dyn Connection>,
        first: usize,
        ids: Vec<BlockId>,
    ) {
        let mut ids = ids.into_iter().peekable();
        let mut first_block = first;
        while ids.peek().is_some() {
            let group: Vec<BlockId> = ids.by_ref().take(MAX_IDS).collect();
            let count = group.len();
            let sender = self.sender.clone();
            connection.lookup(
                group,
                self.inline.for_connection(connection.provider() == "verbs"),
                Box::new(move |result| {
                    let _ = sender.send(Event::Looked {
                        peer,
                        first_block,
                        count,
                        result,
                    });
                }),
            );
            first_block += count;
        }
    }

    fn fail(&mut self, block: usize, error: Error) {
        if self.blocks[block] != BlockState::Finished {
            self.blocks[block] = BlockState::Finished;
            self.unfinished -= 1;
            self.ready.push_back(Err(BlockFailure { block, error }));
        }
    }

    fn apply(&mut self, event: Event) {
        match event {
            Event::Looked {
                peer,
                first_block,
                count,
                result,
            } => match result {
                Ok(results) if results.len() == count => {
                    let mut pack = InlinePack::default();
                    for (i, result) in results.into_iter().enumerate() {
                        self.located(peer, first_block + i, result, &mut pack);
                    }
                    self.deliver_pack(&mut pack);
                }
                Ok(results) => {
                    let error = Error::Malformed(format!(
                        "lookup of {count} blocks answered with {} results",
                        results.len()
                    ));
                    for block in first_block..first_block + count {
                        self.fail(block, error.clone());
                    }
                }
                Err(error) => {
                    for block in first_block..first_block + count {
                        self.fail(block, error.clone());
                    }
                }
            },
            Event::Read { job, result } => {
                self.in_flight -= job.slice.len as usize;
                self.peer_in_flight[job.peer] -= job.slice.len as usize;
                match result {
                    Ok(data) => self.deliver(data, job.parts),
                    Err(error) => {
                        for part in job.parts {
                            self.fail(part.block, error.clone());
                        }
                    }
                }
            }
        }
    }

    fn located(&mut self, peer: usize, block: usize, result: LookupResult, pack: &mut InlinePack) {
        let Located { slice, inline } = match result {
            Ok(located) => located,
            Err(code) => {
                let peer = self.connections[peer]
                    .as_ref()
                    .map_or("?", |c| c.peer())
                    .to_string();
                let message = format!("lookup of block {block} refused");
                return self.fail(
                    block,
                    Error::Remote {
                        peer,
                        code,
                        message,
                    },
                );
            }
        };
        self.blocks[block] = BlockState::Reading {
            len: slice.len,
            received: 0,
        };
        if let Some(data) = inline.filter(|d| d.len() <= self.pool.buffer_size()) {
            if self.pack_inline(pack, block, &data) {
                return;
            }
        }
        let piece = self.pool.buffer_size() as u64;
        let mut offset = 0;
        loop {
            let len = piece.min(slice.len - offset);
            self.queues[peer].push_back(Piece {
                block,
                slice: RemoteSlice {
                    key: slice.key,
                    addr: slice.addr + offset,
                    len,
                },
                offset,
            });
            offset += len;
            if offset >= slice.len {
                break;
            }
        }
    }

    /// Copies an inline block behind the others of its reply; false when no
    /// buffer is free now (the block is then read instead of waited for here).
    fn pack_inline(&mut self, pack: &mut InlinePack, block: usize, data: &[u8]) -> bool {
        let fits = |buffer: &PooledBuffer| buffer.len() + data.len() <= buffer.capacity();
        if !pack.buffer.as_ref().is_some_and(fits) {
            self.deliver_pack(pack);
            match self.pool.try_acquire() {
                Ok(Some(mut buffer)) => {
                    buffer.set_len(0);
                    pack.buffer = Some(buffer);
                }
                _ => return false,
            }
        }
        let buffer = pack.buffer.as_mut().expect("a buffer with room");
        let at = buffer.len();
        buffer.spare()[at..at + data.len()].copy_from_slice(data);
        buffer.set_len(at + data.len());
        self.metrics.fetched_inline(data.len() as u64);
        pack.parts.push(Part {
            block,
            offset: 0,
            len: data.len(),
        });
        true
    }

    fn deliver_pack(&mut self, pack: &mut InlinePack) {
        if let Some(buffer) = pack.buffer.take() {
            self.deliver(buffer, std::mem::take(&mut pack.parts));
        }
    }

    /// Hands out a filled buffer as the chunks of the parts it holds.
    fn deliver(&mut self, buffer: PooledBuffer, parts: Vec<Part>) {
        if let [part] = &parts[..] {
            return self.received(part.block, part.offset, buffer.into());
        }
        let slices = BufferSlice::split(buffer, parts.iter().map(|p| p.len));
        for (part, data) in parts.into_iter().zip(slices) {
            self.received(part.block, part.offset, data);
        }
    }

    fn received(&mut self, block: usize, offset: u64, data: BufferSlice) {
        let BlockState::Reading { len, received } = self.blocks[block] else {
            return; // the block already failed; dropping `data` returns it to the pool
        };
        self.metrics.fetched(data.len() as u64);
        let received = received + data.len() as u64;
        self.blocks[block] = if received == len {
            self.unfinished -= 1;
            BlockState::Finished
        } else {
            BlockState::Reading { len, received }
        };
        self.ready.push_back(Ok(Chunk {
            block,
            offset,
            block_len: len,
            data,
        }));
    }

    /// Posts READs while the in-flight budgets and the pool allow, going round
    /// the peers one READ at a time; one batch per peer.
    fn pump(&mut self) {
        let peers = self.queues.len();
        let mut batches: Vec<Vec<ReadRequest>> = (0..peers).map(|_| Vec::new()).collect();
        // Stops after a round in which no peer could post.
        let mut idle = 0;
        while idle < peers {
            let peer = self.next_peer;
            self.next_peer = (peer + 1) % peers;
            match self.next_read(peer) {
                Next::Read(request) => {
                    batches[peer].push(request);
                    idle = 0;
                }
                Next::Progress => idle = 0,
                Next::PeerWaits => idle += 1,
                Next::AllWait => break,
            }
        }
        for (connection, batch) in self.connections.iter().zip(batches) {
            if let (Some(connection), false) = (connection, batch.is_empty()) {
                connection.read(batch);
            }
        }
    }

    /// The next READ of `peer`'s queue, if its budget, the fetch's and the pool allow one.
    fn next_read(&mut self, peer: usize) -> Next {
        while self.queues[peer]
            .front()
            .is_some_and(|piece| !self.wanted(piece))
        {
            self.queues[peer].pop_front();
        }
        let Some(piece) = self.queues[peer].front() else {
            return Next::PeerWaits;
        };
        let len = piece.slice.len as usize;
        if self.in_flight > 0 && self.in_flight + len > self.inflight_limit {
            return Next::AllWait;
        }
        let peer_in_flight = self.peer_in_flight[peer];
        if peer_in_flight > 0 && peer_in_flight + len > self.peer_inflight_limit {
            return Next::PeerWaits;
        }
        let Some(buffer) = self.destination(len) else {
            return Next::AllWait;
        };
        let piece = self.queues[peer].pop_front().expect("front exists");
        let mut buffer = match buffer {
            Ok(buffer) => buffer,
            Err(error) => {
                self.fail(piece.block, error);
                return Next::Progress;
            }
        };
        if len == 0 {
            self.spare = Some(buffer.split_off(0));
            self.received(piece.block, piece.offset, buffer.into());
            return Next::Progress;
        }
        let job = self.join_adjacent(peer, piece, buffer.capacity());
        self.spare =
            Some(buffer.split_off(job.slice.len as usize)).filter(|rest| rest.capacity() > 0);
        let len = job.slice.len as usize;
        self.in_flight += len;
        self.peer_in_flight[peer] += len;
        let sender = self.sender.clone();
        Next::Read(ReadRequest {
            src: job.slice,
            dst: buffer,
            done: Box::new(move |result| {
                let _ = sender.send(Event::Read { job, result });
            }),
        })
    }

    /// Where a READ of at least `len` bytes can land: the room left in the
    /// buffer the last READ was carved from, or a fresh pool buffer. `None`
    /// when the pool has none free now.
    fn destination(&mut self, len: usize) -> Option<Result<PooledBuffer>> {
        // A remainder too small is let go: it must not hold its pool buffer
        // while this waits for one.
        if let Some(spare) = self.spare.take().filter(|spare| spare.capacity() >= len) {
            return Some(Ok(spare));
        }
        // With nothing in flight and nothing ready, nothing will free a buffer
        // but the consumer's next chunks: wait for it.
        if self.in_flight == 0 && self.ready.is_empty() {
            Some(self.pool.acquire())
        } else {
            self.pool.try_acquire().transpose()
        }
    }

    fn wanted(&self, piece: &Piece) -> bool {
        matches!(self.blocks[piece.block], BlockState::Reading { .. })
    }

    /// One READ of `first` and the queued pieces that continue it in the same
    /// region, as many as fit the buffer and the in-flight budgets.
    fn join_adjacent(&mut self, peer: usize, first: Piece, capacity: usize) -> ReadJob {
        let mut slice = first.slice;
        let mut parts = vec![Part {
            block: first.block,
            offset: first.offset,
            len: first.slice.len as usize,
        }];
        while let Some(next) = self.queues[peer].front() {
            let len = next.slice.len;
            let joined = (slice.len + len) as usize;
            let joins = next.slice.key == slice.key
                && next.slice.addr == slice.addr + slice.len
                && len > 0
                && joined <= capacity
                && self.in_flight + joined <= self.inflight_limit
                && self.peer_in_flight[peer] + joined <= self.peer_inflight_limit
                && self.wanted(next);
            if !joins {
                break;
            }
            let next = self.queues[peer].pop_front().expect("front exists");
            slice.len += len;
            parts.push(Part {
                block: next.block,
                offset: next.offset,
                len: len as usize,
            });
        }
        ReadJob { peer, slice, parts }
    }
}

/// What [`Fetch::next_read`] found for one peer.
enum Next {
    Read(ReadRequest),
    /// A piece was settled without a READ (failed, or empty).
    Progress,
    /// This peer has nothing to read, or is at its budget.
    PeerWaits,
    /// The fetch is at its budget, or the pool has no buffer free.
    AllWait,
}

impl Fetch {
    /// The next event, or `None` after the request timeout. A fetch from one
    /// peer reads that peer's replies on this thread while it would wait anyway.
    fn wait(&self) -> Option<Event> {
        const SLICE: Duration = Duration::from_millis(20);
        let deadline = Instant::now() + self.timeout;
        let mut peers = self.connections.iter().flatten();
        let only_peer = match (peers.next(), peers.next()) {
            (Some(peer), None) => Some(peer),
            _ => None,
        };
        loop {
            if let Ok(event) = self.events.try_recv() {
                return Some(event);
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return None;
            }
            if only_peer.is_some_and(|peer| peer.receive_here(left.min(SLICE))) {
                continue;
            }
            match self.events.recv_timeout(left) {
                Ok(event) => return Some(event),
                Err(RecvTimeoutError::Timeout) => return None,
                Err(RecvTimeoutError::Disconnected) => unreachable!("the fetch holds a sender"),
            }
        }
    }
}

impl Fetch {
    /// The next result if it is a chunk already received: never waits and posts
    /// no READs (a binding hands several chunks over in one call with it).
    pub fn next_ready_chunk(&mut self) -> Option<Chunk> {
        match self.ready.front() {
            Some(Ok(_)) => self.ready.pop_front()?.ok(),
            _ => None,
        }
    }
}

impl Iterator for Fetch {
    type Item = std::result::Result<Chunk, BlockFailure>;

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            if let Some(item) = self.ready.pop_front() {
                return Some(item);
            }
            if self.unfinished == 0 {
                return None;
            }
            self.pump();
            if !self.ready.is_empty() {
                continue;
            }
            match self.wait() {
                Some(event) => {
                    self.apply(event);
                    // And every event already queued, then post the READs
                    // their bytes free up, as one batch, before handing them
                    // out: the peers work while the consumer does.
                    while let Ok(event) = self.events.try_recv() {
                        self.apply(event);
                    }
                    self.pump();
                }
                None => {
                    let message = format!(
                        "no progress for {:?} (ferry.request.timeout.ms)",
                        self.timeout
                    );
                    for block in 0..self.blocks.len() {
                        self.fail(block, Error::Timeout(message.clone()));
                    }
                }
            }
        }
    }
}
