//! The few libibverbs and librdmacm entry points the verbs provider uses,
//! resolved at run time with dlopen so that the library loads (and runs on
//! the tcp provider) on a machine without rdma-core.
//!
//! Struct layouts are the parts of `<infiniband/verbs.h>` and
//! `<rdma/rdma_cma.h>` (rdma-core, x86-64 Linux ABI) that this module reads or
//! fills; the fields it never touches are padding. `ibv_post_send`,
//! `ibv_poll_cq` and `ibv_req_notify_cq` are `static inline` in verbs.h: they
//! call through `ctx->ops`, so this module does the same. The offsets are
//! checked against the installed headers by a test (`layout_matches_headers`)
//! whenever a C compiler and the headers are present.

#![allow(non_camel_case_types)]

use std::ffi::{c_char, c_int, c_uint, c_void, CStr};
use std::sync::OnceLock;

// ---- opaque handles ------------------------------------------------------

/// `struct ibv_device`: two private function pointers, node type, transport type, then names.
#[repr(C)]
pub struct ibv_device {
    _ops: [usize; 2],
    pub node_type: c_int,
    pub transport_type: c_int,
}
#[repr(C)]
pub struct ibv_pd {
    _opaque: [u8; 0],
}
#[repr(C)]
pub struct rdma_event_channel {
    pub fd: c_int,
}

// ---- structs whose fields are read or written ------------------------------

/// `struct ibv_context`: device, then `ops` (the function table) at offset 8.
#[repr(C)]
pub struct ibv_context {
    pub device: *mut ibv_device,
    pub ops: ibv_context_ops,
}

pub type PollCq = unsafe extern "C" fn(*mut ibv_cq, c_int, *mut ibv_wc) -> c_int;
pub type ReqNotifyCq = unsafe extern "C" fn(*mut ibv_cq, c_int) -> c_int;
pub type PostSend =
    unsafe extern "C" fn(*mut ibv_qp, *mut ibv_send_wr, *mut *mut ibv_send_wr) -> c_int;

/// `struct ibv_context_ops`: 11 entries,, poll_cq, req_notify_cq, 12 more, post_send.
#[repr(C)]
pub struct ibv_context_ops {
    _before_poll: [usize; 11],
    pub poll_cq: Option<PollCq>,
    pub req_notify_cq: Option<ReqNotifyCq>,
    _before_post_send: [usize; 12],
    pub post_send: Option<PostSend>,
}

#[repr(C)]
pub struct ibv_cq {
    pub context: *mut ibv_context,
    pub channel: *mut ibv_comp_channel,
    pub cq_context: *mut c_void,
}

#[repr(C)]
pub struct ibv_qp {
    pub context: *mut ibv_context,
}

#[repr(C)]
pub struct ibv_comp_channel {
    pub context: *mut ibv_context,
    pub fd: c_int,
}

#[repr(C)]
pub struct ibv_mr {
    pub context: *mut ibv_context,
    pub pd: *mut ibv_pd,
    pub addr: *mut c_void,
    pub length: usize,
    pub handle: u32,
    pub lkey: u32,
    pub rkey: u32,
}

#[repr(C)]
#[derive(Clone, Copy, Default)]
pub struct ibv_sge {
    pub addr: u64,
    pub length: u32,
    pub lkey: u32,
}

#[repr(C)]
pub struct ibv_send_wr {
    pub wr_id: u64,
    pub next: *mut ibv_send_wr,
    pub sg_list: *mut ibv_sge,
    pub num_sge: c_int,
    pub opcode: c_uint,
    pub send_flags: c_uint,
    pub imm_data: u32,
    /// The `wr` union; for RDMA READ: remote_addr (u64), rkey (u32).
    pub remote_addr: u64,
    pub rkey: u32,
    _rest: [u32; 19],
}

impl Default for ibv_send_wr {
    fn default() -> Self {
        // SAFETY: a C struct of integers and pointers; all zeros is its valid empty state.
        unsafe { std::mem::zeroed() }
    }
}

#[repr(C)]
#[derive(Clone, Copy)]
pub struct ibv_wc {
    pub wr_id: u64,
    pub status: c_uint,
    pub opcode: c_uint,
    pub vendor_err: u32,
    pub byte_len: u32,
    _rest: [u32; 6],
}

impl Default for ibv_wc {
    fn default() -> Self {
        // SAFETY: plain integers.
        unsafe { std::mem::zeroed() }
    }
}

#[repr(C)]
#[derive(Clone, Copy, Default)]
pub struct ibv_qp_cap {
    pub max_send_wr: u32,
    pub max_recv_wr: u32,
    pub max_send_sge: u32,
    pub max_recv_sge: u32,
    pub max_inline_data: u32,
}

#[repr(C)]
pub struct ibv_qp_init_attr {
    pub qp_context: *mut c_void,
    pub send_cq: *mut ibv_cq,
    pub recv_cq: *mut ibv_cq,
    pub srq: *mut c_void,
    pub cap: ibv_qp_cap,
    pub qp_type: c_uint,
    pub sq_sig_all: c_int,
}

impl ibv_qp_init_attr {
    /// A reliable-connected queue pair with both queues on `cq`, `max_send_wr`
    /// work requests of one SGE each; Ferry posts no receives.
    pub fn rc(cq: *mut ibv_cq, max_send_wr: u32) -> Self {
        ibv_qp_init_attr {
            qp_context: std::ptr::null_mut(),
            send_cq: cq,
            recv_cq: cq,
            srq: std::ptr::null_mut(),
            cap: ibv_qp_cap {
                max_send_wr,
                max_recv_wr: 1,
                max_send_sge: 1,
                max_recv_sge: 1,
                max_inline_data: 0,
            },
            qp_type: IBV_QPT_RC,
            sq_sig_all: 0,
        }
    }
}

/// `struct ibv_port_attr` (52 bytes), as bytes: read with the offsets below.
pub const PORT_ATTR_SIZE: usize = 64;
pub const PORT_STATE: usize = 0;
pub const PORT_ACTIVE_MTU: usize = 8;
pub const PORT_GID_TBL_LEN: usize = 12;
pub const PORT_LID: usize = 34;
pub const PORT_LINK_LAYER: usize = 46;

/// `struct ibv_device_attr` (232 bytes), as bytes.
pub const DEVICE_ATTR_SIZE: usize = 256;
pub const DEV_MAX_QP_WR: usize = 112;
pub const DEV_MAX_QP_RD_ATOM: usize = 144;
pub const DEV_MAX_QP_INIT_RD_ATOM: usize = 156;
pub const DEV_PHYS_PORT_CNT: usize = 227;

/// `struct rdma_cm_id`: verbs, channel, context, qp, then the route (not read).
#[repr(C)]
pub struct rdma_cm_id {
    pub verbs: *mut ibv_context,
    pub channel: *mut rdma_event_channel,
    pub context: *mut c_void,
    pub qp: *mut ibv_qp,
}

#[repr(C)]
#[derive(Clone, Copy)]
pub struct rdma_conn_param {
    pub private_data: *const c_void,
    pub private_data_len: u8,
    pub responder_resources: u8,
    pub initiator_depth: u8,
    pub flow_control: u8,
    pub retry_count: u8,
    pub rnr_retry_count: u8,
    pub srq: u8,
    pub qp_num: u32,
}

#[repr(C)]
pub struct rdma_cm_event {
    pub id: *mut rdma_cm_id,
    pub listen_id: *mut rdma_cm_id,
    pub event: c_uint,
    pub status: c_int,
    /// The `param` union; `conn` for connection events.
    pub conn: rdma_conn_param,
    _rest: [u8; 32],
}

// ---- constants -------------------------------------------------------------

pub const IBV_WR_RDMA_READ: c_uint = 4;
pub const IBV_SEND_SIGNALED: c_uint = 2;
pub const IBV_QPT_RC: c_uint = 2;
pub const IBV_ACCESS_LOCAL_WRITE: c_int = 1;
pub const IBV_ACCESS_REMOTE_WRITE: c_int = 2;
pub const IBV_ACCESS_REMOTE_READ: c_int = 4;
pub const IBV_TRANSPORT_IWARP: c_int = 1;
/// `ibv_modify_qp` with `IBV_QP_STATE` only: `qp_state` is the first field of `ibv_qp_attr`.
pub const IBV_QP_STATE: c_int = 1;
pub const IBV_QPS_ERR: u32 = 6;
/// `struct ibv_qp_attr` (144 bytes), as bytes.
pub const QP_ATTR_SIZE: usize = 256;
pub const IBV_WC_SUCCESS: c_uint = 0;
pub const IBV_WC_WR_FLUSH_ERR: c_uint = 5;
pub const IBV_WC_REM_ACCESS_ERR: c_uint = 10;
pub const IBV_WC_RETRY_EXC_ERR: c_uint = 12;
pub const IBV_LINK_LAYER_INFINIBAND: u8 = 1;
pub const IBV_LINK_LAYER_ETHERNET: u8 = 2;
pub const RDMA_PS_TCP: c_uint = 0x0106;
/// `rdma_set_option(id, RDMA_OPTION_ID, RDMA_OPTION_ID_TOS, &u8, 1)`.
pub const RDMA_OPTION_ID: c_int = 0;
pub const RDMA_OPTION_ID_TOS: c_int = 0;
/// `rdma_cm_id.port_num` (u8), past the route this module does not model.
pub const CM_ID_PORT_NUM: usize = 348;

pub const RDMA_CM_EVENT_ADDR_RESOLVED: c_uint = 0;
pub const RDMA_CM_EVENT_ROUTE_RESOLVED: c_uint = 2;
pub const RDMA_CM_EVENT_CONNECT_REQUEST: c_uint = 4;
pub const RDMA_CM_EVENT_ESTABLISHED: c_uint = 9;

// ---- the loaded libraries ------------------------------------------------------

/// Every entry point, resolved once. The libraries stay loaded for the process.
pub struct Lib {
    pub ibv_get_device_list: unsafe extern "C" fn(*mut c_int) -> *mut *mut ibv_device,
    pub ibv_free_device_list: unsafe extern "C" fn(*mut *mut ibv_device),
    pub ibv_get_device_name: unsafe extern "C" fn(*mut ibv_device) -> *const c_char,
    pub ibv_open_device: unsafe extern "C" fn(*mut ibv_device) -> *mut ibv_context,
    pub ibv_close_device: unsafe extern "C" fn(*mut ibv_context) -> c_int,
    pub ibv_query_device: unsafe extern "C" fn(*mut ibv_context, *mut u8) -> c_int,
    pub ibv_query_port: unsafe extern "C" fn(*mut ibv_context, u8, *mut u8) -> c_int,
    pub ibv_query_gid: unsafe extern "C" fn(*mut ibv_context, u8, c_int, *mut [u8; 16]) -> c_int,
    pub ibv_alloc_pd: unsafe extern "C" fn(*mut ibv_context) -> *mut ibv_pd,
    pub ibv_dealloc_pd: unsafe extern "C" fn(*mut ibv_pd) -> c_int,
    pub ibv_reg_mr: unsafe extern "C" fn(*mut ibv_pd, *mut c_void, usize, c_int) -> *mut ibv_mr,
    pub ibv_dereg_mr: unsafe extern "C" fn(*mut ibv_mr) -> c_int,
    pub ibv_create_comp_channel: unsafe extern "C" fn(*mut ibv_context) -> *mut ibv_comp_channel,
    pub ibv_destroy_comp_channel: unsafe extern "C" fn(*mut ibv_comp_channel) -> c_int,
    pub ibv_create_cq: unsafe extern "C" fn(
        *mut ibv_context,
        c_int,
        *mut c_void,
        *mut ibv_comp_channel,
        c_int,
    ) -> *mut ibv_cq,
    pub ibv_destroy_cq: unsafe extern "C" fn(*mut ibv_cq) -> c_int,
    pub ibv_get_cq_event:
        unsafe extern "C" fn(*mut ibv_comp_channel, *mut *mut ibv_cq, *mut *mut c_void) -> c_int,
    pub ibv_ack_cq_events: unsafe extern "C" fn(*mut ibv_cq, c_uint),
    pub ibv_wc_status_str: unsafe extern "C" fn(c_uint) -> *const c_char,
    pub ibv_modify_qp: unsafe extern "C" fn(*mut ibv_qp, *mut u8, c_int) -> c_int,

    pub rdma_create_event_channel: unsafe extern "C" fn() -> *mut rdma_event_channel,
    pub rdma_destroy_event_channel: unsafe extern "C" fn(*mut rdma_event_channel),
    pub rdma_create_id: unsafe extern "C" fn(
        *mut rdma_event_channel,
        *mut *mut rdma_cm_id,
        *mut c_void,
        c_uint,
    ) -> c_int,
    pub rdma_destroy_id: unsafe extern "C" fn(*mut rdma_cm_id) -> c_int,
    pub rdma_bind_addr: unsafe extern "C" fn(*mut rdma_cm_id, *const libc::sockaddr) -> c_int,
    pub rdma_listen: unsafe extern "C" fn(*mut rdma_cm_id, c_int) -> c_int,
    pub rdma_resolve_addr: unsafe extern "C" fn(
        *mut rdma_cm_id,
        *const libc::sockaddr,
        *const libc::sockaddr,
        c_int,
    ) -> c_int,
    pub rdma_resolve_route: unsafe extern "C" fn(*mut rdma_cm_id, c_int) -> c_int,
    pub rdma_create_qp:
        unsafe extern "C" fn(*mut rdma_cm_id, *mut ibv_pd, *mut ibv_qp_init_attr) -> c_int,
    pub rdma_destroy_qp: unsafe extern "C" fn(*mut rdma_cm_id),
    pub rdma_connect: unsafe extern "C" fn(*mut rdma_cm_id, *mut rdma_conn_param) -> c_int,
    pub rdma_accept: unsafe extern "C" fn(*mut rdma_cm_id, *mut rdma_conn_param) -> c_int,
    pub rdma_reject: unsafe extern "C" fn(*mut rdma_cm_id, *const c_void, u8) -> c_int,
    pub rdma_disconnect: unsafe extern "C" fn(*mut rdma_cm_id) -> c_int,
    pub rdma_get_cm_event:
        unsafe extern "C" fn(*mut rdma_event_channel, *mut *mut rdma_cm_event) -> c_int,
    pub rdma_ack_cm_event: unsafe extern "C" fn(*mut rdma_cm_event) -> c_int,
    pub rdma_get_src_port: unsafe extern "C" fn(*mut rdma_cm_id) -> u16,
    pub rdma_event_str: unsafe extern "C" fn(c_uint) -> *const c_char,
    pub rdma_set_option:
        unsafe extern "C" fn(*mut rdma_cm_id, c_int, c_int, *mut c_void, usize) -> c_int,
}

// SAFETY: plain function pointers into libraries that stay loaded.
unsafe impl Send for Lib {}
unsafe impl Sync for Lib {}

/// Library names, overridable for tests that simulate a machine without rdma-core.
fn names() -> (String, String) {
    let verbs = std::env::var("FERRY_LIBIBVERBS").unwrap_or_else(|_| "libibverbs.so.1".into());
    let cm = std::env::var("FERRY_LIBRDMACM").unwrap_or_else(|_| "librdmacm.so.1".into());
    (verbs, cm)
}

fn dlerror() -> String {
    // SAFETY: dlerror returns a thread-local C string or null.
    let message = unsafe { libc::dlerror() };
    if message.is_null() {
        "unknown dlopen error".into()
    } else {
        // SAFETY: non-null, NUL-terminated.
        unsafe { CStr::from_ptr(message) }
            .to_string_lossy()
            .into_owned()
    }
}

fn open(name: &str) -> Result<*mut c_void, String> {
    let cname = std::ffi::CString::new(name).map_err(|_| format!("bad library name {name}"))?;
    // SAFETY: dlopen with a valid C string; GLOBAL so librdmacm finds libibverbs' symbols.
    let handle = unsafe { libc::dlopen(cname.as_ptr(), libc::RTLD_NOW | libc::RTLD_GLOBAL) };
    if handle.is_null() {
        Err(dlerror())
    } else {
        Ok(handle)
    }
}

fn symbol(handle: *mut c_void, name: &str) -> Result<*mut c_void, String> {
    let cname = std::ffi::CString::new(name).expect("symbol names have no NUL");
    // SAFETY: a handle from dlopen and a valid C string.
    let ptr = unsafe { libc::dlsym(handle, cname.as_ptr()) };
    if ptr.is_null() {
        Err(format!("symbol {name} missing: {}", dlerror()))
    } else {
        Ok(ptr)
    }
}

macro_rules! load {
    ($verbs:expr, $cm:expr; $($vname:ident),* ; $($cname:ident),*) => {
        Lib {
            $(
                // SAFETY: the symbol has the C signature declared in `Lib` (from the headers).
                $vname: unsafe { std::mem::transmute::<*mut c_void, _>(symbol($verbs, stringify!($vname))?) },
            )*
            $(
                // SAFETY: as above.
                $cname: unsafe { std::mem::transmute::<*mut c_void, _>(symbol($cm, stringify!($cname))?) },
            )*
        }
    };
}

// The target type of each transmute is the field's declared signature.
#[allow(clippy::missing_transmute_annotations)]
fn load() -> Result<Lib, String> {
    let (verbs_name, cm_name) = names();
    let verbs = open(&verbs_name)?;
    let cm = open(&cm_name)?;
    Ok(load!(verbs, cm;
        ibv_get_device_list, ibv_free_device_list, ibv_get_device_name, ibv_open_device,
        ibv_close_device, ibv_query_device, ibv_query_port, ibv_query_gid, ibv_alloc_pd,
        ibv_dealloc_pd, ibv_reg_mr, ibv_dereg_mr, ibv_create_comp_channel,
        ibv_destroy_comp_channel, ibv_create_cq, ibv_destroy_cq, ibv_get_cq_event,
        ibv_ack_cq_events, ibv_wc_status_str, ibv_modify_qp;
        rdma_create_event_channel, rdma_destroy_event_channel, rdma_create_id, rdma_destroy_id,
        rdma_bind_addr, rdma_listen, rdma_resolve_addr, rdma_resolve_route, rdma_create_qp,
        rdma_destroy_qp, rdma_connect, rdma_accept, rdma_reject, rdma_disconnect,
        rdma_get_cm_event, rdma_ack_cm_event, rdma_get_src_port, rdma_event_str, rdma_set_option))
}

/// The libraries, loaded on first use; the error says which library or symbol is missing.
pub fn lib() -> Result<&'static Lib, String> {
    static LIB: OnceLock<Result<Lib, String>> = OnceLock::new();
    LIB.get_or_init(load).as_ref().map_err(Clone::clone)
}

/// `errno` after a failed call, as text.
pub fn errno_text() -> String {
    std::io::Error::last_os_error().to_string()
}

pub fn cstr(ptr: *const c_char) -> String {
    if ptr.is_null() {
        return String::new();
    }
    // SAFETY: non-null C string from the library.
    unsafe { CStr::from_ptr(ptr) }
        .to_string_lossy()
        .into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::mem::{offset_of, size_of};

    /// What the C compiler says about the installed headers.
    const PROBE: &str = r#"
#include <stdio.h>
#include <stddef.h>
#include <infiniband/verbs.h>
#include <rdma/rdma_cma.h>
#define O(s,f) printf("%s.%s %zu\n", #s, #f, offsetof(struct s, f))
#define S(s) printf("sizeof.%s %zu\n", #s, sizeof(struct s))
int main(void) {
 O(ibv_context, ops); O(ibv_context_ops, poll_cq); O(ibv_context_ops, req_notify_cq);
 O(ibv_context_ops, post_send); O(ibv_cq, cq_context); O(ibv_comp_channel, fd);
 O(ibv_mr, addr); O(ibv_mr, lkey); O(ibv_mr, rkey);
 S(ibv_sge); S(ibv_send_wr); O(ibv_send_wr, opcode); O(ibv_send_wr, send_flags); O(ibv_send_wr, wr);
 S(ibv_wc); O(ibv_wc, status); O(ibv_wc, byte_len);
 S(ibv_qp_init_attr); O(ibv_qp_init_attr, cap); O(ibv_qp_init_attr, qp_type);
 O(ibv_port_attr, state); O(ibv_port_attr, active_mtu); O(ibv_port_attr, gid_tbl_len);
 O(ibv_port_attr, lid); O(ibv_port_attr, link_layer); S(ibv_port_attr);
 O(ibv_device_attr, max_qp_wr); O(ibv_device_attr, max_qp_rd_atom);
 O(ibv_device_attr, max_qp_init_rd_atom); O(ibv_device_attr, phys_port_cnt); S(ibv_device_attr);
 O(rdma_cm_id, qp); O(rdma_cm_id, port_num); S(rdma_conn_param); O(rdma_conn_param, qp_num);
 O(rdma_cm_event, status); O(rdma_cm_event, param); S(rdma_cm_event);
 O(ibv_device, node_type); O(ibv_device, transport_type); O(ibv_qp_attr, qp_state); S(ibv_qp_attr);
 printf("const.iwarp %d\nconst.qps_err %d\nconst.qp_state %d\nconst.opt_id %d\nconst.opt_tos %d\n",
        IBV_TRANSPORT_IWARP, IBV_QPS_ERR, IBV_QP_STATE, RDMA_OPTION_ID, RDMA_OPTION_ID_TOS);
 printf("const.read %d\nconst.ps_tcp %d\nconst.rem_access %d\n", IBV_WR_RDMA_READ, RDMA_PS_TCP, IBV_WC_REM_ACCESS_ERR);
 return 0;
}
"#;

    #[test]
    fn layout_matches_headers() {
        let dir = tempfile::tempdir().unwrap();
        let src = dir.path().join("probe.c");
        let exe = dir.path().join("probe");
        std::fs::write(&src, PROBE).unwrap();
        let built = std::process::Command::new("cc")
            .arg(&src)
            .arg("-o")
            .arg(&exe)
            .output();
        if !built.is_ok_and(|o| o.status.success()) {
            eprintln!("skipped: no C compiler or no rdma-core headers (libibverbs-dev)");
            return;
        }
        let out = std::process::Command::new(&exe).output().unwrap();
        let text = String::from_utf8(out.stdout).unwrap();
        let c: std::collections::HashMap<&str, usize> = text
            .lines()
            .filter_map(|l| l.split_once(' '))
            .map(|(k, v)| (k, v.parse().unwrap()))
            .collect();
        let ops = offset_of!(ibv_context, ops);
        let want: &[(&str, usize)] = &[
            ("ibv_context.ops", ops),
            (
                "ibv_context_ops.poll_cq",
                offset_of!(ibv_context_ops, poll_cq),
            ),
            (
                "ibv_context_ops.req_notify_cq",
                offset_of!(ibv_context_ops, req_notify_cq),
            ),
            (
                "ibv_context_ops.post_send",
                offset_of!(ibv_context_ops, post_send),
            ),
            ("ibv_cq.cq_context", offset_of!(ibv_cq, cq_context)),
            ("ibv_comp_channel.fd", offset_of!(ibv_comp_channel, fd)),
            ("ibv_mr.addr", offset_of!(ibv_mr, addr)),
            ("ibv_mr.lkey", offset_of!(ibv_mr, lkey)),
            ("ibv_mr.rkey", offset_of!(ibv_mr, rkey)),
            ("sizeof.ibv_sge", size_of::<ibv_sge>()),
            ("sizeof.ibv_send_wr", size_of::<ibv_send_wr>()),
            ("ibv_send_wr.opcode", offset_of!(ibv_send_wr, opcode)),
            (
                "ibv_send_wr.send_flags",
                offset_of!(ibv_send_wr, send_flags),
            ),
            ("ibv_send_wr.wr", offset_of!(ibv_send_wr, remote_addr)),
            ("sizeof.ibv_wc", size_of::<ibv_wc>()),
            ("ibv_wc.status", offset_of!(ibv_wc, status)),
            ("ibv_wc.byte_len", offset_of!(ibv_wc, byte_len)),
            ("sizeof.ibv_qp_init_attr", size_of::<ibv_qp_init_attr>()),
            ("ibv_qp_init_attr.cap", offset_of!(ibv_qp_init_attr, cap)),
            (
                "ibv_qp_init_attr.qp_type",
                offset_of!(ibv_qp_init_attr, qp_type),
            ),
            ("ibv_port_attr.state", PORT_STATE),
            ("ibv_port_attr.active_mtu", PORT_ACTIVE_MTU),
            ("ibv_port_attr.gid_tbl_len", PORT_GID_TBL_LEN),
            ("ibv_port_attr.lid", PORT_LID),
            ("ibv_port_attr.link_layer", PORT_LINK_LAYER),
            ("ibv_device_attr.max_qp_wr", DEV_MAX_QP_WR),
            ("ibv_device_attr.max_qp_rd_atom", DEV_MAX_QP_RD_ATOM),
            (
                "ibv_device_attr.max_qp_init_rd_atom",
                DEV_MAX_QP_INIT_RD_ATOM,
            ),
            ("ibv_device_attr.phys_port_cnt", DEV_PHYS_PORT_CNT),
            ("rdma_cm_id.qp", offset_of!(rdma_cm_id, qp)),
            ("sizeof.rdma_conn_param", size_of::<rdma_conn_param>()),
            (
                "rdma_conn_param.qp_num",
                offset_of!(rdma_conn_param, qp_num),
            ),
            ("rdma_cm_event.status", offset_of!(rdma_cm_event, status)),
            ("rdma_cm_event.param", offset_of!(rdma_cm_event, conn)),
            ("const.read", IBV_WR_RDMA_READ as usize),
            ("const.ps_tcp", RDMA_PS_TCP as usize),
            ("const.rem_access", IBV_WC_REM_ACCESS_ERR as usize),
            ("ibv_device.node_type", offset_of!(ibv_device, node_type)),
            (
                "ibv_device.transport_type",
                offset_of!(ibv_device, transport_type),
            ),
            ("ibv_qp_attr.qp_state", 0),
            ("const.iwarp", IBV_TRANSPORT_IWARP as usize),
            ("const.qps_err", IBV_QPS_ERR as usize),
            ("const.qp_state", IBV_QP_STATE as usize),
            ("const.opt_id", RDMA_OPTION_ID as usize),
            ("const.opt_tos", RDMA_OPTION_ID_TOS as usize),
            ("rdma_cm_id.port_num", CM_ID_PORT_NUM),
        ];
        for (name, ours) in want {
            assert_eq!(
                c[name], *ours,
                "{name}: headers say {}, ferry says {ours}",
                c[name]
            );
        }
        assert!(c["sizeof.ibv_port_attr"] <= PORT_ATTR_SIZE);
        assert!(c["sizeof.ibv_device_attr"] <= DEVICE_ATTR_SIZE);
        assert!(c["sizeof.rdma_cm_event"] <= size_of::<rdma_cm_event>());
        assert!(c["sizeof.ibv_qp_attr"] <= QP_ATTR_SIZE);
    }
}
