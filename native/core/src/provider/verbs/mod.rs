//! The verbs provider: RDMA READs over reliable-connected queue pairs set up
//! with rdma_cm (so it works on InfiniBand, RoCE, iWARP and Alibaba eRDMA).
//!
//! The control path stays the tcp provider's connection and frames: the
//! client advertises CAP_VERBS in its hello; a server that agrees answers
//! VerbsConnect with an rdma_cm port and a one-time token; the client connects
//! a queue pair there presenting the token. From then on that connection's
//! lookups return RDMA keys (per-connection protection domain, see
//! `server.rs`) and its READs are RDMA READs into the pinned pool (see
//! `client.rs`). One queue pair per peer carries every fetch to that peer.
//!
//! libibverbs and librdmacm are loaded at run time (`sys.rs`): without them,
//! or without a device, `auto` logs one line and runs on tcp. Under `auto`,
//! any failure to set up a queue pair falls back to tcp for that connection,
//! again with one log line; `verbs` makes such failures errors.

mod choice;
mod client;
mod cm;
mod device;
mod server;
pub(crate) mod sys;

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

pub use choice::Choice;
pub use client::VerbsConnection;
use device::device_names;
pub use device::{devices, DeviceInfo, PortInfo};

use super::reactor::ReactorHandle;
use super::tcp::TcpProvider;
use super::{Connection, Provider, ServeContext};
use crate::error::{Error, Result};
use crate::memory::BufferPool;
use crate::protocol::CAP_VERBS;

pub struct VerbsProvider {
    tcp: TcpProvider,
    lib: &'static sys::Lib,
    client: client::ClientSide,
    servers: Mutex<Vec<Arc<server::ServerSide>>>,
    choice: Arc<Choice>,
    /// `ferry.rdma.serve.pinned.bytes`.
    serve_pinned: usize,
    /// `ferry.provider=verbs`: failures are errors rather than tcp fallbacks.
    forced: bool,
}

impl VerbsProvider {
    /// Loads rdma-core and checks that a device exists and that the `ferry.rdma.*`
    /// keys fit the devices; the error says why not (a `Config` error names the key).
    pub(crate) fn new(
        reactor: Arc<ReactorHandle>,
        config: &crate::Config,
        pool: BufferPool,
        forced: bool,
    ) -> Result<Self> {
        let lib = sys::lib().map_err(Error::ProviderUnavailable)?;
        let names = device_names(lib).map_err(Error::ProviderUnavailable)?;
        if names.is_empty() {
            return Err(Error::ProviderUnavailable("no RDMA device found".into()));
        }
        log::debug!("ferry: RDMA devices: {}", names.join(", "));
        let choice = Arc::new(choose(&config.rdma)?);
        if config.rdma != crate::config::RdmaConfig::default() {
            log::info!("ferry: RDMA {}", choice.describe().join("; "));
        }
        Ok(VerbsProvider {
            tcp: TcpProvider::new(reactor, config),
            lib,
            client: client::ClientSide::new(lib, pool, config.verbs_spin, choice.clone()),
            servers: Mutex::new(Vec::new()),
            choice,
            serve_pinned: config.rdma_serve_pinned,
            forced,
        })
    }

    fn connect_verbs(&self, addr: SocketAddr) -> Result<Arc<dyn Connection>> {
        let (control, offer) = self.tcp.dial(addr, true)?;
        let Some(offer) = offer else {
            if self.forced {
                control.close();
                return Err(Error::ProviderUnavailable(format!(
                    "ferry.provider=verbs, but peer {addr} offers no RDMA"
                )));
            }
            log::info!("ferry: peer {addr} offers no RDMA; tcp on this connection");
            return Ok(control);
        };
        let rdma_addr = SocketAddr::new(addr.ip(), offer.port);
        let peer = addr.to_string();
        match self.client.connect(
            &peer,
            rdma_addr,
            offer.token,
            control.clone(),
            self.tcp.connect_timeout(),
        ) {
            Ok(qp) => Ok(Arc::new(VerbsConnection { control, qp })),
            Err(error) => {
                control.close();
                if self.forced {
                    return Err(error);
                }
                log::warn!("ferry: RDMA to {addr} failed ({error}); tcp on this connection");
                Ok(self.tcp.dial(addr, false)?.0)
            }
        }
    }
}

impl Provider for VerbsProvider {
    fn name(&self) -> &'static str {
        "verbs"
    }

    fn connect(&self, addr: SocketAddr) -> Result<Arc<dyn Connection>> {
        self.connect_verbs(addr)
    }

    fn listen(&self, addr: SocketAddr, context: Arc<ServeContext>) -> Result<SocketAddr> {
        let bound = self.tcp.listen_bound(addr)?;
        let local = bound.local_addr()?;
        let rdma = match server::ServerSide::start(
            self.lib,
            local,
            &context.regions,
            &self.choice,
            self.serve_pinned,
        ) {
            Ok(server) => Some(Arc::new(server)),
            Err(error) if self.forced => return Err(error),
            Err(error) => {
                log::warn!("ferry: cannot serve RDMA on {addr} ({error}); serving tcp only");
                None
            }
        };
        let context = Arc::new(ServeContext {
            regions: context.regions.clone(),
            blocks: context.blocks.clone(),
            secret: context.secret.clone(),
            caps: context.caps | if rdma.is_some() { CAP_VERBS } else { 0 },
            metrics: context.metrics.clone(),
            rdma: rdma.clone().map(|s| s as Arc<dyn super::RdmaServe>),
            limits: context.limits,
            inline: context.inline,
        });
        if let Some(server) = rdma {
            self.servers.lock().unwrap().push(server);
        }
        self.tcp.serve_bound(bound, context)
    }
}

/// `ip:port` as a C sockaddr for rdma_cm.
pub(crate) fn sockaddr(addr: SocketAddr) -> (libc::sockaddr_storage, libc::socklen_t) {
    // SAFETY: all-zero sockaddr_storage is valid; the family-specific view is filled in.
    let mut storage: libc::sockaddr_storage = unsafe { std::mem::zeroed() };
    let len = match addr {
        SocketAddr::V4(v4) => {
            let sin = libc::sockaddr_in {
                sin_family: libc::AF_INET as libc::sa_family_t,
                sin_port: v4.port().to_be(),
                sin_addr: libc::in_addr {
                    s_addr: u32::from_ne_bytes(v4.ip().octets()),
                },
                sin_zero: [0; 8],
            };
            // SAFETY: sockaddr_storage is larger than sockaddr_in and suitably aligned.
            unsafe { std::ptr::write(&mut storage as *mut _ as *mut libc::sockaddr_in, sin) };
            std::mem::size_of::<libc::sockaddr_in>()
        }
        SocketAddr::V6(v6) => {
            let sin6 = libc::sockaddr_in6 {
                sin6_family: libc::AF_INET6 as libc::sa_family_t,
                sin6_port: v6.port().to_be(),
                sin6_flowinfo: v6.flowinfo(),
                sin6_addr: libc::in6_addr {
                    s6_addr: v6.ip().octets(),
                },
                sin6_scope_id: v6.scope_id(),
            };
            // SAFETY: as above.
            unsafe { std::ptr::write(&mut storage as *mut _ as *mut libc::sockaddr_in6, sin6) };
            std::mem::size_of::<libc::sockaddr_in6>()
        }
    };
    (storage, len as libc::socklen_t)
}

/// Makes an rdma_cm or completion channel's descriptor non-blocking.
pub(crate) fn set_nonblocking(fd: libc::c_int) {
    // SAFETY: fcntl on a descriptor the library owns; only the flags change.
    unsafe {
        let flags = libc::fcntl(fd, libc::F_GETFL);
        libc::fcntl(fd, libc::F_SETFL, flags | libc::O_NONBLOCK);
    }
}

pub(crate) fn timeout_ms(timeout: Duration) -> i32 {
    timeout.as_millis().clamp(1, i32::MAX as u128) as i32
}

/// `ferry.rdma.*` checked against the devices here (only a named device needs them listed).
pub fn choose(config: &crate::config::RdmaConfig) -> Result<Choice> {
    let devices = if config.device.is_some() {
        devices().map_err(Error::ProviderUnavailable)?
    } else {
        Vec::new()
    };
    Choice::resolve(config, &devices)
}

/// Whether RDMA verbs can be used here: `Ok(device names)` or why not.
pub fn probe() -> std::result::Result<Vec<String>, String> {
    let lib = sys::lib()?;
    let names = device_names(lib)?;
    if names.is_empty() {
        return Err("no RDMA device found".into());
    }
    Ok(names)
}
