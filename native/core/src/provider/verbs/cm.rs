//! The requester's rdma_cm objects, one owning type each: the event channel,
//! and the id with the queue pair and completion queue made on it. Each step
//! of a connection is one small call, and whatever a failed step leaves behind
//! is freed by the owners' `Drop`, in the order verbs needs (QP, then CQ, then
//! id, then channel).

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use super::sys::{self, Lib};
use super::{set_nonblocking, sockaddr, timeout_ms};
use crate::error::{Error, Result};

fn fail(what: &str) -> Error {
    Error::ProviderUnavailable(format!("{what}: {}", sys::errno_text()))
}

/// An rdma_cm event channel.
pub(crate) struct CmChannel {
    lib: &'static Lib,
    raw: *mut sys::rdma_event_channel,
}

impl CmChannel {
    pub fn new(lib: &'static Lib) -> Result<CmChannel> {
        // SAFETY: no arguments; the result is checked.
        let raw = unsafe { (lib.rdma_create_event_channel)() };
        if raw.is_null() {
            return Err(fail("rdma_create_event_channel"));
        }
        Ok(CmChannel { lib, raw })
    }

    fn fd(&self) -> libc::c_int {
        // SAFETY: a live channel.
        unsafe { (*self.raw).fd }
    }

    /// From here on, `next_event` never blocks.
    pub fn set_nonblocking(&self) {
        set_nonblocking(self.fd());
    }

    /// Waits for one event of kind `want`; any other kind, or a failure status, is an error.
    pub fn wait(&self, want: libc::c_uint, timeout: Duration) -> Result<()> {
        let lib = self.lib;
        let mut poll = libc::pollfd {
            fd: self.fd(),
            events: libc::POLLIN,
            revents: 0,
        };
        // SAFETY: one valid pollfd.
        if unsafe { libc::poll(&mut poll, 1, timeout_ms(timeout)) } <= 0 {
            return Err(Error::Timeout(format!(
                "no rdma_cm {} event within {timeout:?}",
                event_name(lib, want)
            )));
        }
        let (kind, status) = self.take_event().ok_or_else(|| fail("rdma_get_cm_event"))?;
        if kind != want || status != 0 {
            return Err(Error::ProviderUnavailable(format!(
                "rdma_cm: expected {}, got {} (status {status})",
                event_name(lib, want),
                event_name(lib, kind)
            )));
        }
        Ok(())
    }

    /// The next event (after `set_nonblocking`, only one already there), by name.
    pub fn next_event(&self) -> Option<String> {
        let (kind, status) = self.take_event()?;
        Some(format!("{} (status {status})", event_name(self.lib, kind)))
    }

    /// One event's kind and status, acked at once.
    fn take_event(&self) -> Option<(libc::c_uint, libc::c_int)> {
        let mut event = std::ptr::null_mut();
        // SAFETY: a live channel; the event is read, then acked right away.
        unsafe {
            if (self.lib.rdma_get_cm_event)(self.raw, &mut event) != 0 {
                return None;
            }
            let taken = ((*event).event, (*event).status);
            (self.lib.rdma_ack_cm_event)(event);
            Some(taken)
        }
    }
}

impl Drop for CmChannel {
    fn drop(&mut self) {
        // SAFETY: every id on this channel is gone (ids are dropped before their channel).
        unsafe { (self.lib.rdma_destroy_event_channel)(self.raw) };
    }
}

fn event_name(lib: &Lib, kind: libc::c_uint) -> String {
    // SAFETY: any event code; the library returns a static string.
    sys::cstr(unsafe { (lib.rdma_event_str)(kind) })
}

/// An rdma_cm id, with the queue pair and completion queue once made on it.
pub(crate) struct CmId {
    lib: &'static Lib,
    raw: *mut sys::rdma_cm_id,
    cq: *mut sys::ibv_cq,
    qp: *mut sys::ibv_qp,
}

/// A queue pair's sizes and the completion channel its CQ reports to.
pub(crate) struct QpSpec {
    pub pd: *mut sys::ibv_pd,
    pub channel: *mut sys::ibv_comp_channel,
    pub depth: u32,
}

impl CmId {
    /// A connected-mode (TCP port space) id on `channel`; drop it before the channel.
    pub fn new(lib: &'static Lib, channel: &CmChannel) -> Result<CmId> {
        let mut raw = std::ptr::null_mut();
        // SAFETY: a live channel; the id is written on success only.
        if unsafe {
            (lib.rdma_create_id)(
                channel.raw,
                &mut raw,
                std::ptr::null_mut(),
                sys::RDMA_PS_TCP,
            )
        } != 0
        {
            return Err(fail("rdma_create_id"));
        }
        Ok(CmId {
            lib,
            raw,
            cq: std::ptr::null_mut(),
            qp: std::ptr::null_mut(),
        })
    }

    pub fn set_tos(&self, tos: Option<u8>) -> Result<()> {
        set_tos(self.lib, self.raw, tos)
    }

    /// Resolves the address (from `src` when given) and the route to `dst`.
    pub fn resolve(
        &self,
        channel: &CmChannel,
        src: Option<IpAddr>,
        dst: SocketAddr,
        timeout: Duration,
    ) -> Result<()> {
        let (to, _) = sockaddr(dst);
        let from = src.map(|ip| sockaddr(SocketAddr::new(ip, 0)).0);
        let from = from
            .as_ref()
            .map_or(std::ptr::null(), |s| s as *const _ as *const libc::sockaddr);
        let ms = timeout_ms(timeout);
        // SAFETY: a live id; the addresses live across the call.
        let rc = unsafe {
            (self.lib.rdma_resolve_addr)(
                self.raw,
                from,
                &to as *const _ as *const libc::sockaddr,
                ms,
            )
        };
        if rc != 0 {
            return Err(fail(&format!("rdma_resolve_addr {dst}")));
        }
        channel.wait(sys::RDMA_CM_EVENT_ADDR_RESOLVED, timeout)?;
        // SAFETY: a live id with its address resolved.
        if unsafe { (self.lib.rdma_resolve_route)(self.raw, ms) } != 0 {
            return Err(fail("rdma_resolve_route"));
        }
        channel.wait(sys::RDMA_CM_EVENT_ROUTE_RESOLVED, timeout)
    }

    /// The device and port rdma_cm resolved to.
    pub fn routed_device(&self) -> (String, u8) {
        routed_device(self.lib, self.raw)
    }

    /// The resolved device's context, as rdma_cm opened it.
    pub fn context(&self) -> *mut sys::ibv_context {
        // SAFETY: a live id; `verbs` is set once the address is resolved.
        unsafe { (*self.raw).verbs }
    }

    /// Makes the completion queue and the RC queue pair: `(cq, qp)`, owned by this id.
    pub fn create_qp(&mut self, spec: &QpSpec) -> Result<(*mut sys::ibv_cq, *mut sys::ibv_qp)> {
        // SAFETY: the context and completion channel belong to the resolved device.
        self.cq = unsafe {
            (self.lib.ibv_create_cq)(
                self.context(),
                spec.depth as i32 + 1,
                std::ptr::null_mut(),
                spec.channel,
                0,
            )
        };
        if self.cq.is_null() {
            return Err(fail("ibv_create_cq"));
        }
        let mut attr = sys::ibv_qp_init_attr::rc(self.cq, spec.depth);
        // SAFETY: a live id, a PD and CQ of its device; on success the id holds the QP.
        if unsafe { (self.lib.rdma_create_qp)(self.raw, spec.pd, &mut attr) } != 0 {
            return Err(fail("rdma_create_qp"));
        }
        // SAFETY: just set by rdma_create_qp.
        self.qp = unsafe { (*self.raw).qp };
        Ok((self.cq, self.qp))
    }

    /// Connects, presenting `token` as private data, and waits until established.
    pub fn connect(
        &self,
        channel: &CmChannel,
        token: u64,
        (initiator_depth, responder_resources): (u8, u8),
        timeout: Duration,
    ) -> Result<()> {
        let token_bytes = token.to_le_bytes();
        let mut param = sys::rdma_conn_param {
            private_data: token_bytes.as_ptr() as *const libc::c_void,
            private_data_len: 8,
            responder_resources,
            initiator_depth,
            flow_control: 0,
            retry_count: 7,
            rnr_retry_count: 7,
            srq: 0,
            qp_num: 0,
        };
        // SAFETY: a live id with a QP; the private data lives across the call (copied by it).
        if unsafe { (self.lib.rdma_connect)(self.raw, &mut param) } != 0 {
            return Err(fail("rdma_connect"));
        }
        channel.wait(sys::RDMA_CM_EVENT_ESTABLISHED, timeout)
    }

    /// Disconnects and destroys the queue pair (no DMA after this); the CQ stays.
    pub fn destroy_qp(&mut self) {
        // SAFETY: the queue pair was made here and is destroyed once (nulled after).
        unsafe {
            if !self.qp.is_null() {
                (self.lib.rdma_disconnect)(self.raw);
                (self.lib.rdma_destroy_qp)(self.raw);
                self.qp = std::ptr::null_mut();
            }
        }
    }

    /// Destroys the queue pair, then its CQ.
    pub fn close(&mut self) {
        self.destroy_qp();
        // SAFETY: the CQ was made here and is destroyed once (nulled after).
        unsafe {
            if !self.cq.is_null() {
                (self.lib.ibv_destroy_cq)(self.cq);
                self.cq = std::ptr::null_mut();
            }
        }
    }
}

impl Drop for CmId {
    fn drop(&mut self) {
        self.close();
        // SAFETY: its QP is gone; its events were acked as they were read.
        unsafe { (self.lib.rdma_destroy_id)(self.raw) };
    }
}

/// Sets the type of service of an id's connection, when one is chosen.
pub(crate) fn set_tos(lib: &Lib, id: *mut sys::rdma_cm_id, tos: Option<u8>) -> Result<()> {
    let Some(mut tos) = tos else { return Ok(()) };
    // SAFETY: a live id; the option is one byte, as rdma_cma.h documents for TOS.
    let rc = unsafe {
        (lib.rdma_set_option)(
            id,
            sys::RDMA_OPTION_ID,
            sys::RDMA_OPTION_ID_TOS,
            &mut tos as *mut u8 as *mut libc::c_void,
            1,
        )
    };
    if rc != 0 {
        return Err(Error::ProviderUnavailable(format!(
            "rdma_set_option TOS {tos} (ferry.rdma.tos): {}",
            sys::errno_text()
        )));
    }
    Ok(())
}

/// The device and port rdma_cm bound an id to (after address resolution or a connect request).
pub(crate) fn routed_device(lib: &Lib, id: *mut sys::rdma_cm_id) -> (String, u8) {
    // SAFETY: an id with its device context set; port_num is a u8 at a header-checked offset.
    unsafe {
        let name = sys::cstr((lib.ibv_get_device_name)((*(*id).verbs).device));
        let port = *(id as *const u8).add(sys::CM_ID_PORT_NUM);
        (name, port)
    }
}
