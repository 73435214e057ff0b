//! The tcp provider: one-sided READ semantics over a TCP stream.

mod client;
mod inbox;
mod outbox;
mod server;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

pub use client::TcpConnection;

use super::reactor::ReactorHandle;
use super::{Connection, Provider, ServeContext};
use crate::error::Result;

pub struct TcpProvider {
    reactor: Arc<ReactorHandle>,
    secret: Option<Vec<u8>>,
    lz4: bool,
    connect_timeout: Duration,
}

impl TcpProvider {
    pub(crate) fn new(reactor: Arc<ReactorHandle>, config: &crate::Config) -> Self {
        TcpProvider {
            reactor,
            secret: config.secret.clone(),
            lz4: config.compression == crate::config::Compression::Lz4,
            connect_timeout: config.connect_timeout,
        }
    }
}

impl Provider for TcpProvider {
    fn name(&self) -> &'static str {
        "tcp"
    }

    fn connect(&self, addr: SocketAddr) -> Result<Arc<dyn Connection>> {
        let dial = client::Dial {
            reactor: &self.reactor,
            secret: self.secret.clone(),
            lz4: self.lz4,
            timeout: self.connect_timeout,
        };
        Ok(dial.connect(addr)?)
    }

    fn listen(&self, addr: SocketAddr, context: Arc<ServeContext>) -> Result<SocketAddr> {
        let listener = std::net::TcpListener::bind(addr)?;
        listener.set_nonblocking(true)?;
        let bound = listener.local_addr()?;
        let listener = server::Listener {
            listener: mio::net::TcpListener::from_std(listener),
            context,
        };
        self.reactor.add(move |_| Box::new(listener));
        log::info!("ferry: serving blocks on {bound} (tcp provider)");
        Ok(bound)
    }
}
