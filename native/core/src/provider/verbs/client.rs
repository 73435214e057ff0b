//! The requesting side: an RC queue pair per peer (set up with rdma_cm),
//! RDMA READs straight into the pinned pool's buffers, and completions.
//!
//! Every slab of the pinned pool is registered (local write; on iWARP also
//! remote write, which iWARP requires of an RDMA READ's sink) in one
//! protection domain per device, when the device is first used and whenever
//! the pool grows, so any pooled buffer can be a READ target.
//!
//! Completions: a fetching thread that would otherwise wait polls the CQ
//! itself for a bounded spin (`receive_here`); past that, one completion
//! thread per device sleeps on the completion channel and hands completions
//! over. The CQ is armed for READs posted while no thread spins, and again
//! after each event while READs are outstanding and no thread spins: arming
//! is a system call on software devices, and every event it raises wakes the
//! completion thread to contend with the spinner (in the Soft-RoCE profile of
//! one 4 KiB READ at a time, a fifth of the time). The same thread checks
//! every 100 ms each queue pair's rdma_cm events and control connection, and
//! moves the queue pair of a dead peer to the error state, so its READs fail
//! at once instead of waiting for transport retries; READs it has not flushed
//! 500 ms later fail when it is destroyed (siw never flushes READs posted
//! after its own move to the error state).
//!
//! A failed READ ends its queue pair on every device class. RoCE names the
//! culprit (remote access error) and flushes the rest; iWARP terminates the
//! connection and flushes every READ, the culprit included. A flush nobody
//! explained is judged by asking the peer over the control connection: a
//! peer that answers is alive, so its NIC refused a READ (a forged or stale
//! key, or a range outside its region); one that does not is gone.

use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock, RwLock, Weak};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use super::cm::{CmChannel, CmId, QpSpec};
use super::sys::{self, Lib};
use super::{set_nonblocking, Choice};
use crate::block::BlockId;
use crate::error::{Error, ErrorCode, Result};
use crate::memory::{BufferPool, PooledBuffer};
use crate::protocol::served_by_cpu;
use crate::provider::tcp::TcpConnection;
use crate::provider::{Connection, LookupDone, ReadDone, ReadRequest};

/// Work requests one queue pair keeps posted; more READs wait in a backlog.
const QUEUE_DEPTH: u32 = 128;
/// Completions taken per poll.
const POLL_BATCH: usize = 32;
/// A spin reads the clock once per this many polls: where the clocksource has
/// no vDSO path (the emulated HPET of the test VM) a clock read is a system
/// call and costs more than a poll (siw 64 KiB READ latency: 0.8 against 1.0 ms).
const CLOCK_EVERY: u32 = 16;

/// One device context (as rdma_cm opened it): its PD, the pool's MRs in it,
/// its completion channel and the queue pairs on it.
pub(crate) struct Device {
    lib: &'static Lib,
    context: *mut sys::ibv_context,
    pd: *mut sys::ibv_pd,
    channel: *mut sys::ibv_comp_channel,
    slabs: RwLock<Vec<(usize, usize, *mut sys::ibv_mr)>>,
    qps: Mutex<HashMap<usize, Weak<Qp>>>,
    max_qp_wr: u32,
    init_rd_atom: u8,
    rd_atom: u8,
    /// iWARP: READ sinks need remote write access too.
    iwarp: bool,
}

// SAFETY: the handles are thread-safe verbs objects; the maps are behind locks.
unsafe impl Send for Device {}
unsafe impl Sync for Device {}

impl Device {
    fn open(lib: &'static Lib, context: *mut sys::ibv_context) -> Result<Device> {
        let fail =
            |what: &str| Error::ProviderUnavailable(format!("{what}: {}", sys::errno_text()));
        let mut attr = [0u8; sys::DEVICE_ATTR_SIZE];
        // SAFETY: a device context from rdma_cm; the buffer is larger than ibv_device_attr.
        unsafe {
            if (lib.ibv_query_device)(context, attr.as_mut_ptr()) != 0 {
                return Err(fail("ibv_query_device"));
            }
            let pd = (lib.ibv_alloc_pd)(context);
            if pd.is_null() {
                return Err(fail("ibv_alloc_pd"));
            }
            let channel = (lib.ibv_create_comp_channel)(context);
            if channel.is_null() {
                let error = fail("ibv_create_comp_channel");
                (lib.ibv_dealloc_pd)(pd);
                return Err(error);
            }
            set_nonblocking((*channel).fd);
            let int_at = |at: usize| i32::from_ne_bytes(attr[at..at + 4].try_into().unwrap());
            let iwarp = (*(*context).device).transport_type == sys::IBV_TRANSPORT_IWARP;
            Ok(Device {
                lib,
                context,
                pd,
                channel,
                slabs: RwLock::new(Vec::new()),
                qps: Mutex::new(HashMap::new()),
                max_qp_wr: int_at(sys::DEV_MAX_QP_WR).max(1) as u32,
                init_rd_atom: int_at(sys::DEV_MAX_QP_INIT_RD_ATOM).clamp(1, 128) as u8,
                rd_atom: int_at(sys::DEV_MAX_QP_RD_ATOM).clamp(1, 128) as u8,
                iwarp,
            })
        }
    }

    fn register_slab(&self, start: *mut u8, len: usize) {
        // iWARP places READ responses like remote writes: hardware refuses a
        // sink without remote write access (soft devices may not check). The
        // slabs' keys never leave this node, and the queue pairs of this PD
        // connect only to peers that proved themselves on the control path.
        let access = if self.iwarp {
            sys::IBV_ACCESS_LOCAL_WRITE | sys::IBV_ACCESS_REMOTE_WRITE
        } else {
            sys::IBV_ACCESS_LOCAL_WRITE
        };
        // SAFETY: a pool slab, mapped until the pool is gone; the MR pins its
        // pages, so even a slab unmapped first cannot be written after reuse.
        let mr = unsafe { (self.lib.ibv_reg_mr)(self.pd, start as *mut libc::c_void, len, access) };
        if mr.is_null() {
            log::warn!(
                "ferry: cannot register {len} bytes of pinned buffers for RDMA: {} \
                 (raise RLIMIT_MEMLOCK); READs into them will fail",
                sys::errno_text()
            );
            return;
        }
        self.slabs.write().unwrap().push((start as usize, len, mr));
    }

    fn lkey(&self, ptr: *const u8, len: usize) -> Option<u32> {
        let at = ptr as usize;
        self.slabs
            .read()
            .unwrap()
            .iter()
            .find(|(start, slab_len, _)| at >= *start && at + len <= start + slab_len)
            // SAFETY: a live MR.
            .map(|(_, _, mr)| unsafe { (**mr).lkey })
    }

    /// The completion thread: CQ events, then a liveness sweep every 100 ms.
    fn run(self: Arc<Self>, stop: Arc<AtomicBool>) {
        while !stop.load(Ordering::Relaxed) {
            // SAFETY: the channel lives as long as the device.
            let mut poll = libc::pollfd {
                fd: unsafe { (*self.channel).fd },
                events: libc::POLLIN,
                revents: 0,
            };
            // SAFETY: one valid pollfd.
            let ready = unsafe { libc::poll(&mut poll, 1, 100) } > 0;
            if ready {
                loop {
                    let mut cq = std::ptr::null_mut();
                    let mut context = std::ptr::null_mut();
                    // SAFETY: non-blocking channel; each event is acked at once.
                    if unsafe { (self.lib.ibv_get_cq_event)(self.channel, &mut cq, &mut context) }
                        != 0
                    {
                        break;
                    }
                    // SAFETY: the CQ outlives its queue pair's entry in `qps`.
                    unsafe { (self.lib.ibv_ack_cq_events)(cq, 1) };
                    let qp = self
                        .qps
                        .lock()
                        .unwrap()
                        .get(&(cq as usize))
                        .and_then(Weak::upgrade);
                    if let Some(qp) = qp {
                        // The event used up the arming.
                        qp.armed.store(false, Ordering::Release);
                        qp.settle();
                    }
                }
            }
            let qps: Vec<Arc<Qp>> = self
                .qps
                .lock()
                .unwrap()
                .values()
                .filter_map(Weak::upgrade)
                .collect();
            for qp in qps {
                qp.sweep();
            }
        }
    }
}

impl Drop for Device {
    fn drop(&mut self) {
        // SAFETY: every queue pair (and CQ) on this device is gone: they hold an Arc to it.
        unsafe {
            for (_, _, mr) in self.slabs.get_mut().unwrap().drain(..) {
                (self.lib.ibv_dereg_mr)(mr);
            }
            (self.lib.ibv_destroy_comp_channel)(self.channel);
            (self.lib.ibv_dealloc_pd)(self.pd);
        }
    }
}

/// The devices in use and their completion threads.
pub(crate) struct ClientSide {
    lib: &'static Lib,
    pool: BufferPool,
    spin: Duration,
    choice: Arc<Choice>,
    devices: Mutex<Vec<Arc<Device>>>,
    stop: Arc<AtomicBool>,
    threads: Mutex<Vec<JoinHandle<()>>>,
}

impl Drop for ClientSide {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        for thread in self.threads.get_mut().unwrap().drain(..) {
            let _ = thread.join();
        }
    }
}

impl ClientSide {
    pub fn new(lib: &'static Lib, pool: BufferPool, spin: Duration, choice: Arc<Choice>) -> Self {
        ClientSide {
            lib,
            pool,
            spin,
            choice,
            devices: Mutex::new(Vec::new()),
            stop: Arc::new(AtomicBool::new(false)),
            threads: Mutex::new(Vec::new()),
        }
    }

    fn device(&self, context: *mut sys::ibv_context) -> Result<Arc<Device>> {
        let mut devices = self.devices.lock().unwrap();
        if let Some(device) = devices.iter().find(|d| d.context == context) {
            return Ok(device.clone());
        }
        let device = Arc::new(Device::open(self.lib, context)?);
        let weak = Arc::downgrade(&device);
        self.pool.on_slab(Arc::new(move |start, len| {
            if let Some(device) = weak.upgrade() {
                device.register_slab(start, len);
            }
        }));
        let thread = {
            let (device, stop) = (device.clone(), self.stop.clone());
            std::thread::Builder::new()
                .name("ferry-rdma-cq".into())
                .spawn(move || device.run(stop))?
        };
        self.threads.lock().unwrap().push(thread);
        devices.push(device.clone());
        Ok(device)
    }

    /// RDMA registers (pins) every pool buffer. Without root (CAP_IPC_LOCK),
    /// RLIMIT_MEMLOCK must cover the whole pool, or READs into the buffers
    /// past the limit would fail: refuse up front, so `auto` falls back to tcp.
    fn check_memlock(&self) -> Result<()> {
        let mut limit = libc::rlimit {
            rlim_cur: 0,
            rlim_max: 0,
        };
        // SAFETY: getrlimit fills the struct it is given.
        if unsafe { libc::getrlimit(libc::RLIMIT_MEMLOCK, &mut limit) } != 0 {
            return Ok(());
        }
        let cap = self.pool.stats().capacity_bytes as u64;
        // SAFETY: geteuid has no preconditions.
        let root = unsafe { libc::geteuid() } == 0;
        if root || limit.rlim_cur == libc::RLIM_INFINITY || limit.rlim_cur >= cap {
            return Ok(());
        }
        Err(Error::ProviderUnavailable(format!(
            "RLIMIT_MEMLOCK is {} bytes, below the pinned pool (ferry.pool.bytes = {cap}): its \
             buffers cannot all be registered for RDMA; raise `ulimit -l` or lower the pool",
            limit.rlim_cur
        )))
    }

    /// Connects a queue pair to the server's rdma_cm port, presenting `token`.
    pub fn connect(
        &self,
        peer: &str,
        addr: SocketAddr,
        token: u64,
        control: Arc<TcpConnection>,
        timeout: Duration,
    ) -> Result<Arc<Qp>> {
        self.check_memlock()?;
        let channel = CmChannel::new(self.lib)?;
        let mut id = CmId::new(self.lib, &channel)?;
        id.set_tos(self.choice.tos)?;
        // A chosen GID's address as the source makes rdma_cm resolve from that GID.
        id.resolve(&channel, self.choice.source, addr, timeout)?;
        let (name, port) = id.routed_device();
        self.choice.check_route(&name, port, &addr.to_string())?;
        let device = self.device(id.context())?;
        let depth = QUEUE_DEPTH.min(device.max_qp_wr);
        let (cq, raw_qp) = id.create_qp(&QpSpec {
            pd: device.pd,
            channel: device.channel,
            depth,
        })?;
        id.connect(
            &channel,
            token,
            (device.init_rd_atom, device.rd_atom),
            timeout,
        )?;
        // From here the completion thread reads the channel for the connection's end.
        channel.set_nonblocking();
        let qp = Arc::new(Qp {
            lib: self.lib,
            peer: peer.to_string(),
            control,
            id: Mutex::new(id),
            channel,
            device,
            cq,
            qp: raw_qp,
            depth,
            spin: self.spin,
            poll_lock: Mutex::new(()),
            spinners: AtomicUsize::new(0),
            armed: AtomicBool::new(false),
            settle_asked: AtomicBool::new(false),
            state: Mutex::new(QpState::default()),
            cut_at: OnceLock::new(),
        });
        qp.device
            .qps
            .lock()
            .unwrap()
            .insert(qp.cq as usize, Arc::downgrade(&qp));
        qp.settle();
        log::debug!("ferry: RDMA queue pair to {peer} ({addr}) established, {depth} READs deep");
        Ok(qp)
    }
}

struct Pending {
    dst: PooledBuffer,
    len: usize,
    done: ReadDone,
}

impl Pending {
    /// Reports the READ failed, its buffer back in the pool first.
    fn fail(self, error: Error) {
        let Pending { dst, done, .. } = self;
        drop(dst);
        done(Err(error));
    }

    /// Reports the READ done, its buffer filled.
    fn complete(self) {
        let Pending { mut dst, len, done } = self;
        dst.set_len(len);
        done(Ok(dst));
    }
}

#[derive(Default)]
struct QpState {
    slots: Vec<Option<Pending>>,
    free: Vec<usize>,
    backlog: VecDeque<ReadRequest>,
    outstanding: usize,
    broken: Option<String>,
    /// READs flushed with no cause given: they fail once the peer's liveness is known.
    suspects: Vec<Pending>,
    /// The control-path question deciding the suspects: when asked, and the answer.
    probe: Option<(Instant, Arc<OnceLock<bool>>)>,
}

/// `broken` while the suspects' verdict is pending.
const UNEXPLAINED: &str = "queue pair ended with no cause given";
/// How long the peer has to answer on the control connection before it counts as gone.
const PROBE_WAIT: Duration = Duration::from_secs(2);
/// How long a cut queue pair's READs have to come back flushed before it is
/// destroyed under them: siw never completes READs posted after its own move to
/// the error state (a user-mapped send queue it no longer reads).
const FLUSH_WAIT: Duration = Duration::from_millis(500);

/// A connected RC queue pair to one peer, shared by every fetch to it.
pub(crate) struct Qp {
    lib: &'static Lib,
    peer: String,
    control: Arc<TcpConnection>,
    /// Owns the queue pair and CQ; dropped before its channel and device (field order).
    id: Mutex<CmId>,
    channel: CmChannel,
    device: Arc<Device>,
    /// The CQ and queue pair `id` owns, for the fast paths.
    cq: *mut sys::ibv_cq,
    qp: *mut sys::ibv_qp,
    depth: u32,
    spin: Duration,
    poll_lock: Mutex<()>,
    /// Threads spinning on the CQ now: while any does, completions need no event.
    spinners: AtomicUsize,
    /// The CQ will raise an event for its next completion.
    armed: AtomicBool,
    /// A `settle` found the poll lock held: its holder settles again on release.
    settle_asked: AtomicBool,
    state: Mutex<QpState>,
    /// When it was moved to the error state here because the peer is gone.
    cut_at: OnceLock<Instant>,
}

// SAFETY: posting and polling are thread-safe in libibverbs; our state is behind locks.
unsafe impl Send for Qp {}
unsafe impl Sync for Qp {}

type Failed = Vec<(ReadDone, Error)>;

impl Qp {
    fn broken_error(&self, reason: &str) -> Error {
        Error::PeerClosed {
            peer: self.peer.clone(),
            reason: reason.to_string(),
        }
    }

    fn read(&self, batch: Vec<ReadRequest>) {
        let mut failed = Vec::new();
        {
            let mut state = self.state.lock().unwrap();
            if let Some(reason) = state.broken.clone() {
                for request in batch {
                    failed.push((request.done, self.broken_error(&reason)));
                }
            } else {
                state.backlog.extend(batch);
                self.post_backlog(&mut state, &mut failed);
            }
        }
        // A spinner settles when it stops (and sees these READs: `spin`).
        if self.spinners.load(Ordering::SeqCst) == 0 {
            self.settle();
        }
        for (done, error) in failed {
            done(Err(error));
        }
    }

    /// Posts READs from the backlog while the send queue has room.
    fn post_backlog(&self, state: &mut QpState, failed: &mut Failed) {
        let room = (self.depth as usize)
            .saturating_sub(state.outstanding)
            .min(state.backlog.len());
        if room == 0 {
            return;
        }
        let mut sges: Vec<sys::ibv_sge> = Vec::with_capacity(room);
        let mut wrs: Vec<sys::ibv_send_wr> = Vec::with_capacity(room);
        let mut slots = Vec::with_capacity(room);
        while wrs.len() < room {
            let Some(ReadRequest { src, dst, done }) = state.backlog.pop_front() else {
                break;
            };
            let len = src.len as usize;
            if len > dst.capacity() || src.len > u32::MAX as u64 {
                let message = format!(
                    "READ of {} bytes into a buffer of {}",
                    src.len,
                    dst.capacity()
                );
                failed.push((done, Error::InvalidArgument(message)));
                continue;
            }
            let Some(lkey) = self.device.lkey(dst.as_ptr(), len) else {
                let message = "pinned buffer is not registered with the RDMA device".to_string();
                failed.push((done, Error::Internal(message)));
                continue;
            };
            let slot = match state.free.pop() {
                Some(slot) => slot,
                None => {
                    state.slots.push(None);
                    state.slots.len() - 1
                }
            };
            sges.push(sys::ibv_sge {
                addr: dst.as_ptr() as u64,
                length: len as u32,
                lkey,
            });
            let mut wr = sys::ibv_send_wr::default();
            wr.wr_id = slot as u64;
            wr.num_sge = 1;
            wr.opcode = sys::IBV_WR_RDMA_READ;
            wr.send_flags = sys::IBV_SEND_SIGNALED;
            wr.remote_addr = src.addr;
            wr.rkey = src.key as u32;
            wrs.push(wr);
            state.slots[slot] = Some(Pending { dst, len, done });
            slots.push(slot);
        }
        if wrs.is_empty() {
            return;
        }
        // Chain the work requests (the vectors no longer grow, so pointers stay put).
        for i in 0..wrs.len() {
            wrs[i].sg_list = &mut sges[i];
            if i + 1 < wrs.len() {
                let next: *mut sys::ibv_send_wr = &mut wrs[i + 1];
                wrs[i].next = next;
            }
        }
        let mut bad: *mut sys::ibv_send_wr = std::ptr::null_mut();
        // SAFETY: a connected QP; post_send is the provider's entry from ctx->ops,
        // exactly what the inline ibv_post_send calls.
        let rc = unsafe {
            let post = (*(*self.qp).context).ops.post_send.expect("post_send");
            post(self.qp, wrs.as_mut_ptr(), &mut bad)
        };
        let posted = if rc == 0 {
            wrs.len()
        } else {
            // SAFETY: `bad` points into `wrs`.
            (unsafe { bad.offset_from(wrs.as_ptr()) }).clamp(0, wrs.len() as isize) as usize
        };
        state.outstanding += posted;
        if rc != 0 {
            let reason = format!(
                "ibv_post_send failed: {}",
                std::io::Error::from_raw_os_error(rc)
            );
            for &slot in &slots[posted..] {
                if let Some(pending) = state.slots[slot].take() {
                    state.free.push(slot);
                    failed.push((pending.done, self.broken_error(&reason)));
                }
            }
        }
    }

    /// Polls the CQ once; runs the callbacks. Call with `poll_lock` held.
    fn poll_once(&self) -> usize {
        let mut wcs = std::mem::MaybeUninit::<[sys::ibv_wc; POLL_BATCH]>::uninit();
        // SAFETY: a live CQ; poll_cq from ctx->ops, as the inline ibv_poll_cq does.
        let n = unsafe {
            let poll = (*(*self.cq).context).ops.poll_cq.expect("poll_cq");
            poll(
                self.cq,
                POLL_BATCH as i32,
                wcs.as_mut_ptr() as *mut sys::ibv_wc,
            )
        };
        if n <= 0 {
            return 0;
        }
        // SAFETY: poll_cq filled the first n entries.
        let wcs =
            unsafe { std::slice::from_raw_parts(wcs.as_ptr() as *const sys::ibv_wc, n as usize) };
        let mut done = Vec::with_capacity(n as usize);
        let mut failed = Vec::new();
        {
            let mut state = self.state.lock().unwrap();
            for wc in wcs {
                let slot = wc.wr_id as usize;
                let Some(pending) = state.slots.get_mut(slot).and_then(Option::take) else {
                    continue;
                };
                state.free.push(slot);
                state.outstanding -= 1;
                if wc.status == sys::IBV_WC_SUCCESS {
                    done.push((pending, Ok(())));
                    continue;
                }
                let unexplained = wc.status == sys::IBV_WC_WR_FLUSH_ERR
                    && state.broken.as_deref().is_none_or(|b| b == UNEXPLAINED);
                if unexplained {
                    if state.broken.is_none() {
                        log::debug!(
                            "ferry: RDMA queue pair to {} flushed with no cause; asking the peer",
                            self.peer
                        );
                        state.broken = Some(UNEXPLAINED.into());
                        state.probe = Some((Instant::now(), self.ask_peer()));
                    }
                    state.suspects.push(pending);
                    continue;
                }
                let error = self.wc_error(wc.status);
                if state.broken.is_none() {
                    log::warn!("ferry: RDMA READ from {} failed: {error}", self.peer);
                    state.broken = Some(format!("queue pair failed: {error}"));
                }
                done.push((pending, Err(error)));
            }
            if let Some(reason) = state.broken.clone() {
                for request in state.backlog.drain(..) {
                    failed.push((request.done, self.broken_error(&reason)));
                }
            } else {
                self.post_backlog(&mut state, &mut failed);
            }
        }
        if done.iter().any(|(_, r)| r.is_err()) {
            // The queue pair is in the error state: end the control connection
            // too, so the server frees its side and the next fetch reconnects.
            self.control.close();
        }
        for (pending, result) in done {
            match result {
                Ok(()) => pending.complete(),
                Err(error) => pending.fail(error),
            }
        }
        for (done, error) in failed {
            done(Err(error));
        }
        n as usize
    }

    fn wc_error(&self, status: libc::c_uint) -> Error {
        // SAFETY: a status code; the library returns a static string.
        let text = sys::cstr(unsafe { (self.lib.ibv_wc_status_str)(status) });
        match status {
            sys::IBV_WC_REM_ACCESS_ERR => Error::Remote {
                peer: self.peer.clone(),
                code: ErrorCode::InvalidKey,
                message: format!(
                    "RDMA READ refused by the peer's NIC ({text}): the key is forged, stale \
                     (region deregistered) or from another connection, or the range is outside \
                     the region"
                ),
            },
            sys::IBV_WC_WR_FLUSH_ERR => self.broken_error(&format!(
                "RDMA READ flushed ({text}): the queue pair failed or the peer went away"
            )),
            sys::IBV_WC_RETRY_EXC_ERR => {
                self.broken_error(&format!("peer unreachable over RDMA ({text})"))
            }
            _ => self.broken_error(&format!("RDMA READ failed: {text} (status {status})")),
        }
    }

    /// Takes the completions and arms the CQ if READs are outstanding and no
    /// thread spins, so the completion nobody polls for raises an event. Never
    /// waits for the poll lock (a READ's callback may post the next READ while
    /// its thread holds it): the holder settles again when it lets go.
    fn settle(&self) {
        self.settle_asked.store(true, Ordering::SeqCst);
        while self.settle_asked.load(Ordering::SeqCst) {
            let Ok(_guard) = self.poll_lock.try_lock() else {
                return;
            };
            self.settle_asked.store(false, Ordering::SeqCst);
            loop {
                while self.poll_once() > 0 {}
                let idle = self.spinners.load(Ordering::SeqCst) == 0 && self.outstanding() > 0;
                if !idle || self.armed.swap(true, Ordering::AcqRel) {
                    break;
                }
                // SAFETY: a live CQ; req_notify_cq from ctx->ops.
                unsafe {
                    let notify = (*(*self.cq).context)
                        .ops
                        .req_notify_cq
                        .expect("req_notify_cq");
                    notify(self.cq, 0);
                }
                // Once more: a completion before the arming raises no event.
            }
        }
    }

    /// Periodic check: the connection's end (an rdma_cm event, or the control
    /// connection closing) cuts the queue pair; suspects get their verdict.
    fn sweep(&self) {
        if let Some(event) = self.channel.next_event() {
            self.cut(&format!("rdma_cm reported {event}"));
        }
        if !self.control.is_open() && self.outstanding() > 0 {
            self.cut("control connection closed");
        }
        if self
            .cut_at
            .get()
            .is_some_and(|at| at.elapsed() >= FLUSH_WAIT)
        {
            self.retire();
        }
        self.judge_suspects();
        // A missed event must not strand completions.
        self.settle();
    }

    /// The peer is gone: move the queue pair to the error state, which flushes
    /// every READ on every device class. (rdma_disconnect would not: on iWARP
    /// it only asks for a graceful close, and READs wait for a dead peer.)
    fn cut(&self, reason: &str) {
        if self.cut_at.set(Instant::now()).is_err() {
            return;
        }
        log::debug!(
            "ferry: RDMA queue pair to {}: {reason}; flushing its READs",
            self.peer
        );
        // A cut after an unexplained flush (iWARP reports its own termination
        // as DISCONNECTED) leaves the verdict to the control path.
        self.state
            .lock()
            .unwrap()
            .broken
            .get_or_insert_with(|| format!("peer gone: {reason}"));
        let mut attr = [0u8; sys::QP_ATTR_SIZE];
        attr[..4].copy_from_slice(&sys::IBV_QPS_ERR.to_ne_bytes());
        // SAFETY: a live QP; the attribute buffer is larger than ibv_qp_attr.
        let rc = unsafe { (self.lib.ibv_modify_qp)(self.qp, attr.as_mut_ptr(), sys::IBV_QP_STATE) };
        if rc != 0 {
            log::warn!(
                "ferry: cannot move the RDMA queue pair to {} to the error state: {}",
                self.peer,
                std::io::Error::from_raw_os_error(rc)
            );
        }
    }

    /// Destroys a cut queue pair whose READs did not all come back flushed within
    /// `FLUSH_WAIT`, then fails them: with the queue pair gone no DMA reaches
    /// their buffers. (The CQ stays for the fast paths until the drop.)
    fn retire(&self) {
        let stranded: Vec<Pending> = {
            let mut state = self.state.lock().unwrap();
            if state.outstanding == 0 {
                return;
            }
            state.outstanding = 0;
            self.id.lock().unwrap().destroy_qp();
            state.slots.iter_mut().filter_map(Option::take).collect()
        };
        log::debug!(
            "ferry: RDMA queue pair to {} destroyed with {} READs never flushed",
            self.peer,
            stranded.len()
        );
        for pending in stranded {
            pending.fail(self.broken_error("queue pair cut; READ never flushed"));
        }
    }

    /// Asks the peer on the control connection (an empty lookup); the answer says whether it lives.
    fn ask_peer(&self) -> Arc<OnceLock<bool>> {
        let answer = Arc::new(OnceLock::new());
        let set = answer.clone();
        self.control.lookup(
            Vec::new(),
            0,
            Box::new(move |reply| {
                let _ = set.set(reply.is_ok());
            }),
        );
        answer
    }

    /// Fails the suspects once the peer answered (alive: its NIC refused a
    /// READ), closed or stayed silent past `PROBE_WAIT` (gone).
    fn judge_suspects(&self) {
        let (suspects, alive) = {
            let mut state = self.state.lock().unwrap();
            let Some((asked, answer)) = &state.probe else {
                return;
            };
            let alive = match answer.get() {
                Some(&answered) => answered,
                None if asked.elapsed() >= PROBE_WAIT => false,
                None => return,
            };
            state.probe = None;
            (std::mem::take(&mut state.suspects), alive)
        };
        let n = suspects.len();
        log::warn!(
            "ferry: RDMA queue pair to {} ended with {n} READs in flight; the peer {}",
            self.peer,
            if alive {
                "is alive, so its NIC refused a READ"
            } else {
                "is gone"
            }
        );
        // The queue pair is done for: the next fetch connects afresh.
        self.control.close();
        for pending in suspects {
            let error = if alive {
                Error::Remote {
                    peer: self.peer.clone(),
                    code: ErrorCode::InvalidKey,
                    message: format!(
                        "RDMA READ refused: the peer is alive but its NIC ended the queue pair \
                         ({n} READs in flight). On iWARP a forged or stale key (region \
                         deregistered), or a range outside the region, ends the connection"
                    ),
                }
            } else {
                self.broken_error("RDMA READ flushed and the peer no longer answers")
            };
            pending.fail(error);
        }
    }

    fn is_open(&self) -> bool {
        self.state.lock().unwrap().broken.is_none() && self.cut_at.get().is_none()
    }

    fn outstanding(&self) -> usize {
        let state = self.state.lock().unwrap();
        state.outstanding + state.suspects.len()
    }

    /// Spins on the CQ for up to the configured spin; true if it took completions.
    /// While the completion thread holds the CQ (it drains after every event),
    /// the spin keeps trying rather than giving up at once.
    fn spin(&self, wait: Duration) -> bool {
        let deadline = Instant::now() + wait.min(self.spin);
        self.spinners.fetch_add(1, Ordering::SeqCst);
        let mut polls = 0u32;
        let took = loop {
            if let Ok(_guard) = self.poll_lock.try_lock() {
                if self.poll_once() > 0 {
                    break true;
                }
            }
            if self.outstanding() == 0 {
                // Another thread took our completion: the caller finds it on its channel.
                break true;
            }
            polls += 1;
            if polls % CLOCK_EVERY == 0 && Instant::now() >= deadline {
                break false;
            }
            // Yield rather than hold the CPU: a software device's kernel thread
            // (siw's transmit thread is per CPU) may need it to do the READ.
            std::thread::yield_now();
        };
        // Whatever is still outstanding (ours, or READs posted while we spun)
        // now needs the CQ armed.
        self.spinners.fetch_sub(1, Ordering::SeqCst);
        self.settle();
        took
    }
}

impl Drop for Qp {
    fn drop(&mut self) {
        self.device.qps.lock().unwrap().remove(&(self.cq as usize));
        self.id.get_mut().unwrap().close();
        // No DMA can reach the buffers now: fail what never completed.
        let state = std::mem::take(self.state.get_mut().unwrap());
        let reason = "queue pair closed";
        for pending in state.slots.into_iter().flatten().chain(state.suspects) {
            pending.fail(self.broken_error(reason));
        }
        for request in state.backlog {
            (request.done)(Err(self.broken_error(reason)));
        }
    }
}

/// A verbs connection: lookups over the tcp control connection, READs over the queue pair.
pub struct VerbsConnection {
    pub(crate) control: Arc<TcpConnection>,
    pub(crate) qp: Arc<Qp>,
}

impl Connection for VerbsConnection {
    fn peer(&self) -> &str {
        self.control.peer()
    }

    fn lookup(&self, ids: Vec<BlockId>, inline_max: u32, done: LookupDone) {
        self.control.lookup(ids, inline_max, done)
    }

    /// RDMA keys go to the queue pair; keys of regions the peer could not
    /// register (its pinned bound) to its CPU over the control connection.
    fn read(&self, batch: Vec<ReadRequest>) {
        let (by_cpu, by_nic): (Vec<_>, Vec<_>) = batch
            .into_iter()
            .partition(|request| served_by_cpu(request.src.key));
        if !by_cpu.is_empty() {
            self.control.read(by_cpu);
        }
        if !by_nic.is_empty() {
            self.qp.read(by_nic);
        }
    }

    fn is_open(&self) -> bool {
        self.control.is_open() && self.qp.is_open()
    }

    fn receive_here(&self, wait: Duration) -> bool {
        if self.qp.outstanding() == 0 {
            // Only lookups can be pending: their replies come on the control connection.
            return self.control.receive_here(wait);
        }
        self.qp.spin(wait)
    }

    fn provider(&self) -> &'static str {
        "verbs"
    }
}
