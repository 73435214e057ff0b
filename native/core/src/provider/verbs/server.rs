//! The serving side: an rdma_cm listener beside the tcp listener, and one
//! session per control connection that asked for RDMA.
//!
//! One protection domain per device ([`Domain`]), shared by the sessions on
//! that device: a region is registered (ibv_reg_mr, remote READ only) there the
//! first time any peer looks up one of its blocks, so a region many peers read
//! is registered, and its pages pinned, once per device rather than once per
//! peer. Its key works on every queue pair of the domain, and only peers that
//! proved the node's secret on the control path get a queue pair: each of them
//! could look the same blocks up anyway. Deregistering a region deregisters its
//! memory region in every domain before `RegionRegistry::deregister` returns,
//! so the NIC refuses later READs.
//!
//! Registered regions pin their pages, so a domain registers at most
//! `ferry.rdma.serve.pinned.bytes` of them: past that (or when the device
//! refuses, as at RLIMIT_MEMLOCK) a lookup answers with a key the node's CPU
//! serves over the control connection, as on tcp, and peers keep fetching.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::thread::JoinHandle;

use super::cm::{routed_device, set_tos};
use super::sys::{self, Lib};
use super::{set_nonblocking, sockaddr, Choice};
use crate::error::{Error, ErrorCode, Result};
use crate::memory::{Region, RegionId, RegionRegistry};
use crate::provider::{RdmaServe, RdmaSession};

/// Owns the rdma_cm event channel and listening id; sessions keep it alive,
/// since their ids were created on its channel.
pub(crate) struct Listener {
    lib: &'static Lib,
    channel: *mut sys::rdma_event_channel,
    id: *mut sys::rdma_cm_id,
    choice: Arc<Choice>,
    /// `ferry.rdma.serve.pinned.bytes`, per domain.
    pinned_max: usize,
    port: u16,
    pending: Mutex<HashMap<u64, Weak<Session>>>,
    /// By device context.
    domains: Mutex<HashMap<usize, Arc<Domain>>>,
}

// SAFETY: the raw handles are used under the locks below or by the one event thread.
unsafe impl Send for Listener {}
unsafe impl Sync for Listener {}

impl Drop for Listener {
    fn drop(&mut self) {
        // The domains go while the listening id still holds its device open;
        // every session (and queue pair) is gone: sessions hold an Arc to us.
        self.domains.get_mut().unwrap().clear();
        // SAFETY: every session id on this channel is gone, as above.
        unsafe {
            (self.lib.rdma_destroy_id)(self.id);
            (self.lib.rdma_destroy_event_channel)(self.channel);
        }
    }
}

/// The listener with its event thread; dropping it stops the thread.
pub(crate) struct ServerSide {
    listener: Arc<Listener>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Drop for ServerSide {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

impl ServerSide {
    /// Listens with rdma_cm on `ip` (any port) and revokes keys when `regions` deregisters.
    pub fn start(
        lib: &'static Lib,
        addr: SocketAddr,
        regions: &RegionRegistry,
        choice: &Arc<Choice>,
        pinned_max: usize,
    ) -> Result<Self> {
        let fail =
            |what: &str| Error::ProviderUnavailable(format!("{what}: {}", sys::errno_text()));
        // SAFETY: plain rdma_cm calls; every handle is checked and freed on the error paths.
        let listener = unsafe {
            let channel = (lib.rdma_create_event_channel)();
            if channel.is_null() {
                return Err(fail("rdma_create_event_channel"));
            }
            let mut id = std::ptr::null_mut();
            if (lib.rdma_create_id)(channel, &mut id, std::ptr::null_mut(), sys::RDMA_PS_TCP) != 0 {
                let error = fail("rdma_create_id");
                (lib.rdma_destroy_event_channel)(channel);
                return Err(error);
            }
            let mut listener = Listener {
                lib,
                channel,
                id,
                choice: choice.clone(),
                pinned_max,
                port: 0,
                pending: Mutex::new(HashMap::new()),
                domains: Mutex::new(HashMap::new()),
            };
            // Connections accepted here inherit the listener's type of service.
            set_tos(lib, id, choice.tos)?;
            let bind = SocketAddr::new(addr.ip(), 0);
            let (storage, _len) = sockaddr(bind);
            if (lib.rdma_bind_addr)(id, &storage as *const _ as *const libc::sockaddr) != 0 {
                return Err(fail(&format!("rdma_bind_addr {bind}")));
            }
            if (lib.rdma_listen)(id, 64) != 0 {
                return Err(fail("rdma_listen"));
            }
            listener.port = u16::from_be((lib.rdma_get_src_port)(id));
            set_nonblocking((*channel).fd);
            listener
        };
        let listener = Arc::new(listener);
        let weak = Arc::downgrade(&listener);
        regions.on_deregister(Arc::new(move |region| {
            if let Some(listener) = weak.upgrade() {
                listener.revoke(region);
            }
        }));
        let stop = Arc::new(AtomicBool::new(false));
        let thread = {
            let (listener, stop) = (listener.clone(), stop.clone());
            std::thread::Builder::new()
                .name("ferry-rdma-cm".into())
                .spawn(move || listener.run(&stop))?
        };
        log::info!(
            "ferry: RDMA (rdma_cm) listening on {}:{} beside the tcp control port",
            addr.ip(),
            listener.port
        );
        Ok(ServerSide {
            listener,
            stop,
            thread: Some(thread),
        })
    }
}

impl RdmaServe for ServerSide {
    fn offer(&self, peer: &str) -> Result<(u16, u64, Arc<dyn RdmaSession>)> {
        let mut bytes = [0u8; 8];
        getrandom::getrandom(&mut bytes).map_err(|e| Error::Internal(e.to_string()))?;
        let token = u64::from_le_bytes(bytes);
        let session = Arc::new(Session {
            listener: self.listener.clone(),
            token,
            peer: peer.to_string(),
            active: AtomicBool::new(false),
            inner: Mutex::new(SessionInner::default()),
        });
        let listener = &self.listener;
        listener
            .pending
            .lock()
            .unwrap()
            .insert(token, Arc::downgrade(&session));
        Ok((listener.port, token, session))
    }
}

impl Listener {
    fn revoke(&self, region: RegionId) {
        let domains: Vec<Arc<Domain>> = self.domains.lock().unwrap().values().cloned().collect();
        for domain in domains {
            domain.revoke(region);
        }
    }

    /// The domain of a device context, opened on first use.
    fn domain(&self, context: *mut sys::ibv_context) -> Result<Arc<Domain>> {
        let mut domains = self.domains.lock().unwrap();
        if let Some(domain) = domains.get(&(context as usize)) {
            return Ok(domain.clone());
        }
        let domain = Arc::new(Domain::open(self.lib, context, self.pinned_max)?);
        domains.insert(context as usize, domain.clone());
        Ok(domain)
    }

    fn run(&self, stop: &AtomicBool) {
        while !stop.load(Ordering::Relaxed) {
            // SAFETY: the channel lives as long as self.
            let fd = unsafe { (*self.channel).fd };
            let mut poll = libc::pollfd {
                fd,
                events: libc::POLLIN,
                revents: 0,
            };
            // SAFETY: one valid pollfd.
            if unsafe { libc::poll(&mut poll, 1, 100) } <= 0 {
                continue;
            }
            loop {
                let mut event = std::ptr::null_mut();
                // SAFETY: non-blocking channel; a returned event is acked below.
                if unsafe { (self.lib.rdma_get_cm_event)(self.channel, &mut event) } != 0 {
                    break;
                }
                // Sessions are dropped, and ids destroyed, only after the ack:
                // rdma_destroy_id waits for its events to be acked.
                let (_keep, destroy) = self.handle(event);
                // SAFETY: the event came from rdma_get_cm_event.
                unsafe { (self.lib.rdma_ack_cm_event)(event) };
                if let Some(id) = destroy {
                    // SAFETY: a rejected request's id, no longer used.
                    unsafe { (self.lib.rdma_destroy_id)(id) };
                }
            }
        }
    }

    /// Handles one event; returns a session to drop after the ack and an id to destroy.
    fn handle(
        &self,
        event: *mut sys::rdma_cm_event,
    ) -> (Option<Arc<Session>>, Option<*mut sys::rdma_cm_id>) {
        // SAFETY: a valid event until acked.
        let event = unsafe { &*event };
        match event.event {
            sys::RDMA_CM_EVENT_CONNECT_REQUEST => {
                let conn = event.conn;
                let token =
                    (conn.private_data_len >= 8 && !conn.private_data.is_null()).then(|| {
                        // SAFETY: at least 8 bytes of private data.
                        let bytes = unsafe {
                            std::slice::from_raw_parts(conn.private_data as *const u8, 8)
                        };
                        u64::from_le_bytes(bytes.try_into().expect("8 bytes"))
                    });
                let session = token
                    .and_then(|t| self.pending.lock().unwrap().remove(&t))
                    .and_then(|w| w.upgrade());
                let Some(session) = session else {
                    log::warn!("ferry: rdma_cm connect request with an unknown token, rejected");
                    // SAFETY: a connect request id; destroyed after the ack.
                    unsafe { (self.lib.rdma_reject)(event.id, std::ptr::null(), 0) };
                    return (None, Some(event.id));
                };
                let (device, port) = routed_device(self.lib, event.id);
                if let Err(error) = self.choice.check_route(&device, port, &session.peer) {
                    log::warn!(
                        "ferry: RDMA connect request from {} rejected: {error}",
                        session.peer
                    );
                    // SAFETY: as above.
                    unsafe { (self.lib.rdma_reject)(event.id, std::ptr::null(), 0) };
                    return (Some(session), Some(event.id));
                }
                match session.accept(event.id, &conn) {
                    Ok(()) => (Some(session), None),
                    Err(error) => {
                        log::warn!("ferry: RDMA accept for {} failed: {error}", session.peer);
                        // SAFETY: as above.
                        unsafe { (self.lib.rdma_reject)(event.id, std::ptr::null(), 0) };
                        (Some(session), Some(event.id))
                    }
                }
            }
            sys::RDMA_CM_EVENT_ESTABLISHED => (None, None),
            other => {
                log::debug!(
                    "ferry: rdma_cm event {} (status {})",
                    sys::cstr(unsafe { (self.lib.rdma_event_str)(other) }),
                    event.status
                );
                (None, None)
            }
        }
    }
}

/// A device's protection domain on the serving side and the regions registered
/// in it, each once, whichever peers read it.
struct Domain {
    lib: &'static Lib,
    pd: *mut sys::ibv_pd,
    registered: Mutex<Registered>,
    pinned_max: usize,
    /// The first region served by the CPU for want of pinned memory is logged.
    warned: AtomicBool,
}

#[derive(Default)]
struct Registered {
    mrs: HashMap<RegionId, (*mut sys::ibv_mr, Arc<Region>)>,
    /// Bytes of the regions in `mrs`: what this domain pins.
    bytes: usize,
}

// SAFETY: the PD is a thread-safe verbs object; the MRs are touched under `registered`' lock.
unsafe impl Send for Domain {}
unsafe impl Sync for Domain {}

impl Domain {
    fn open(
        lib: &'static Lib,
        context: *mut sys::ibv_context,
        pinned_max: usize,
    ) -> Result<Domain> {
        // SAFETY: a device context rdma_cm holds open while the listener lives.
        let pd = unsafe { (lib.ibv_alloc_pd)(context) };
        if pd.is_null() {
            return Err(Error::ProviderUnavailable(format!(
                "ibv_alloc_pd: {}",
                sys::errno_text()
            )));
        }
        Ok(Domain {
            lib,
            pd,
            registered: Mutex::new(Registered::default()),
            pinned_max,
            warned: AtomicBool::new(false),
        })
    }

    /// The key and base address of `region` in this domain, registered on
    /// first use; `None` when it cannot be registered (pinned bytes at the
    /// bound, or the device refused): the CPU serves it instead.
    fn key(&self, region: &Arc<Region>, peer: &str) -> Option<(u64, u64)> {
        let mut registered = self.registered.lock().unwrap();
        if let Some((mr, _)) = registered.mrs.get(&region.id()) {
            // SAFETY: a live MR of this domain.
            let mr = unsafe { &**mr };
            return Some((mr.rkey as u64, mr.addr as u64));
        }
        let (addr, len) = region.mapping();
        if registered.bytes + len > self.pinned_max {
            self.warn_once(|| {
                format!(
                    "regions registered for RDMA reached ferry.rdma.serve.pinned.bytes ({} \
                     bytes): {peer} and later peers get regions past it served by this \
                     node's CPU until registered ones are deregistered",
                    self.pinned_max
                )
            });
            return None;
        }
        // SAFETY: the region's memory stays mapped while the MR exists: the
        // Arc kept beside it is dropped only after ibv_dereg_mr. READ-only
        // access, so read-only file mappings register too.
        let mr = unsafe {
            (self.lib.ibv_reg_mr)(
                self.pd,
                addr as *mut libc::c_void,
                len,
                sys::IBV_ACCESS_REMOTE_READ,
            )
        };
        if mr.is_null() {
            let error = sys::errno_text();
            self.warn_once(|| {
                format!(
                    "ibv_reg_mr of {len} bytes for {peer} failed: {error} (RLIMIT_MEMLOCK?): \
                     regions the device refuses are served by this node's CPU"
                )
            });
            return None;
        }
        registered.mrs.insert(region.id(), (mr, region.clone()));
        registered.bytes += len;
        // SAFETY: just registered.
        let mr = unsafe { &*mr };
        Some((mr.rkey as u64, mr.addr as u64))
    }

    fn warn_once(&self, message: impl FnOnce() -> String) {
        if !self.warned.swap(true, Ordering::Relaxed) {
            log::warn!("ferry: {}", message());
        }
    }

    fn revoke(&self, region: RegionId) {
        let mut registered = self.registered.lock().unwrap();
        if let Some((mr, region)) = registered.mrs.remove(&region) {
            registered.bytes -= region.mapping().1;
            drop(registered);
            // SAFETY: an MR of this domain; the region outlives it (held until here).
            unsafe { (self.lib.ibv_dereg_mr)(mr) };
            log::debug!("ferry: revoked RDMA access to {:?}", region.id());
        }
    }
}

impl Drop for Domain {
    fn drop(&mut self) {
        // SAFETY: no queue pair of this PD is left (sessions hold the domain),
        // so no READ is served from memory being deregistered.
        unsafe {
            for (_, (mr, _region)) in self.registered.get_mut().unwrap().mrs.drain() {
                (self.lib.ibv_dereg_mr)(mr);
            }
            (self.lib.ibv_dealloc_pd)(self.pd);
        }
    }
}

#[derive(Default)]
struct SessionInner {
    id: Option<*mut sys::rdma_cm_id>,
    domain: Option<Arc<Domain>>,
    cq: Option<*mut sys::ibv_cq>,
}

/// One peer's queue pair, on its device's [`Domain`].
pub(crate) struct Session {
    listener: Arc<Listener>,
    token: u64,
    peer: String,
    active: AtomicBool,
    inner: Mutex<SessionInner>,
}

// SAFETY: the raw handles are only touched under `inner`'s lock.
unsafe impl Send for Session {}
unsafe impl Sync for Session {}

impl Session {
    fn accept(&self, id: *mut sys::rdma_cm_id, request: &sys::rdma_conn_param) -> Result<()> {
        let lib = self.listener.lib;
        let fail =
            |what: &str| Error::ProviderUnavailable(format!("{what}: {}", sys::errno_text()));
        let mut inner = self.inner.lock().unwrap();
        // SAFETY: `id` is the connect request's id with its device context set.
        unsafe {
            let context = (*id).verbs;
            let mut attr = [0u8; sys::DEVICE_ATTR_SIZE];
            let max_rd_atom = if (lib.ibv_query_device)(context, attr.as_mut_ptr()) == 0 {
                let at = sys::DEV_MAX_QP_RD_ATOM;
                i32::from_ne_bytes(attr[at..at + 4].try_into().unwrap()).clamp(1, 128) as u8
            } else {
                1
            };
            let domain = self.listener.domain(context)?;
            let pd = domain.pd;
            inner.domain = Some(domain);
            // The server posts nothing; the queue pair still needs a CQ.
            let cq = (lib.ibv_create_cq)(context, 2, std::ptr::null_mut(), std::ptr::null_mut(), 0);
            if cq.is_null() {
                return Err(fail("ibv_create_cq"));
            }
            inner.cq = Some(cq);
            let mut attr = sys::ibv_qp_init_attr::rc(cq, 1);
            if (lib.rdma_create_qp)(id, pd, &mut attr) != 0 {
                return Err(fail("rdma_create_qp"));
            }
            inner.id = Some(id);
            let mut param = sys::rdma_conn_param {
                private_data: std::ptr::null(),
                private_data_len: 0,
                responder_resources: request.initiator_depth.clamp(1, max_rd_atom),
                initiator_depth: 0,
                flow_control: 0,
                retry_count: 7,
                rnr_retry_count: 7,
                srq: 0,
                qp_num: 0,
            };
            // Lookups from here on return RDMA keys: the peer sends its next
            // lookup only after it sees the connection established.
            self.active.store(true, Ordering::Release);
            if (lib.rdma_accept)(id, &mut param) != 0 {
                self.active.store(false, Ordering::Release);
                let error = fail("rdma_accept");
                (lib.rdma_destroy_qp)(id);
                inner.id = None;
                return Err(error);
            }
        }
        log::debug!("ferry: RDMA queue pair accepted for {}", self.peer);
        Ok(())
    }
}

impl RdmaSession for Session {
    fn active(&self) -> bool {
        self.active.load(Ordering::Acquire)
    }

    fn key(&self, region: &Arc<Region>) -> std::result::Result<Option<(u64, u64)>, ErrorCode> {
        if region.is_empty() {
            return Ok(Some((0, 0)));
        }
        let domain = self.inner.lock().unwrap().domain.clone();
        Ok(domain.ok_or(ErrorCode::Internal)?.key(region, &self.peer))
    }
}

impl Drop for Session {
    fn drop(&mut self) {
        let lib = self.listener.lib;
        self.listener.pending.lock().unwrap().remove(&self.token);
        let inner = std::mem::take(&mut *self.inner.lock().unwrap());
        // SAFETY: the queue pair goes first, then the CQ and the id; the
        // domain (PD and MRs) outlives them, shared with other sessions.
        unsafe {
            if let Some(id) = inner.id {
                (lib.rdma_disconnect)(id);
                (lib.rdma_destroy_qp)(id);
            }
            if let Some(cq) = inner.cq {
                (lib.ibv_destroy_cq)(cq);
            }
            if let Some(id) = inner.id {
                (lib.rdma_destroy_id)(id);
            }
        }
        log::debug!("ferry: RDMA session for {} closed", self.peer);
    }
}
