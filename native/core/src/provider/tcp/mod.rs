//! The tcp provider: one-sided READ semantics over a TCP stream.

mod admission;
mod client;
mod inbox;
mod outbox;
mod records;
mod server;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

pub use client::{TcpConnection, VerbsOffer};

use super::reactor::ReactorHandle;
use super::{Connection, Provider, ServeContext};
use crate::error::Result;

pub struct TcpProvider {
    reactor: Arc<ReactorHandle>,
    secret: Option<Vec<u8>>,
    lz4: bool,
    encrypt: bool,
    connect_timeout: Duration,
}

impl TcpProvider {
    pub(crate) fn new(reactor: Arc<ReactorHandle>, config: &crate::Config) -> Self {
        TcpProvider {
            reactor,
            secret: config.secret.clone(),
            lz4: config.compression == crate::config::Compression::Lz4,
            encrypt: config.encryption == crate::config::Encryption::AesGcm,
            connect_timeout: config.connect_timeout,
        }
    }
}

impl TcpProvider {
    /// A control connection; with `verbs`, also the server's queue-pair offer, if it made one.
    pub(crate) fn dial(
        &self,
        addr: SocketAddr,
        verbs: bool,
    ) -> Result<(Arc<TcpConnection>, Option<VerbsOffer>)> {
        let dial = client::Dial {
            reactor: &self.reactor,
            secret: self.secret.clone(),
            lz4: self.lz4,
            encrypt: self.encrypt,
            timeout: self.connect_timeout,
            verbs,
        };
        dial.connect(addr)
    }

    pub(crate) fn connect_timeout(&self) -> Duration {
        self.connect_timeout
    }
}

impl Provider for TcpProvider {
    fn name(&self) -> &'static str {
        "tcp"
    }

    fn connect(&self, addr: SocketAddr) -> Result<Arc<dyn Connection>> {
        Ok(self.dial(addr, false)?.0)
    }

    fn listen(&self, addr: SocketAddr, context: Arc<ServeContext>) -> Result<SocketAddr> {
        let listener = self.listen_bound(addr)?;
        self.serve_bound(listener, context)
    }
}

impl TcpProvider {
    pub(crate) fn listen_bound(&self, addr: SocketAddr) -> Result<std::net::TcpListener> {
        let listener = std::net::TcpListener::bind(addr)?;
        listener.set_nonblocking(true)?;
        Ok(listener)
    }

    /// Serves control connections (and, with `context.rdma`, RDMA set-up) on a bound listener.
    pub(crate) fn serve_bound(
        &self,
        listener: std::net::TcpListener,
        context: Arc<ServeContext>,
    ) -> Result<SocketAddr> {
        let bound = listener.local_addr()?;
        let rdma = context.rdma.is_some();
        let encrypted = match context.caps & crate::protocol::CAP_AES_GCM {
            0 => "",
            _ => ", AES-GCM encrypted",
        };
        let admission = admission::Admission::new(&context.limits, admission::descriptor_limit());
        let listener = server::Listener {
            listener: mio::net::TcpListener::from_std(listener),
            context,
            admission: Arc::new(admission),
        };
        self.reactor.add(move |_| Box::new(listener));
        if rdma {
            log::info!("ferry: serving blocks on {bound} (verbs provider, tcp control path)");
        } else {
            log::info!("ferry: serving blocks on {bound} (tcp provider{encrypted})");
        }
        Ok(bound)
    }
}
