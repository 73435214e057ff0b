//! A node: one per process. It serves the process's registered blocks and
//! fetches blocks from peers, sharing one pool, one reactor and one
//! connection per peer across all fetches.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::{Arc, Mutex};

use crate::block::{BlockId, BlockLocation, BlockRegistry, BlockResolver};
use crate::config::{Compression, Config, Encryption, ProviderChoice};
use crate::error::Result;
use crate::fetch::{Fetch, PeerBatch};
use crate::memory::{BufferPool, PoolStats, RegionId, RegionRegistry};
use crate::metrics::{Metrics, MetricsSnapshot};
use crate::protocol::{CAP_AES_GCM, CAP_LZ4};
use crate::provider::reactor::Reactor;
use crate::provider::tcp::TcpProvider;
use crate::provider::verbs::VerbsProvider;
use crate::provider::{Connection, Provider, ServeContext};

type PeerSlot = Arc<Mutex<Option<Arc<dyn Connection>>>>;

/// A connection to a peer is named by its address and a lane: fetches use lane 0,
/// streams spread over lanes of a bounded number of streams each ([`Node::join_lane`]).
type PeerKey = (SocketAddr, u32);

pub struct Node {
    config: Config,
    pool: BufferPool,
    regions: Arc<RegionRegistry>,
    blocks: Arc<BlockRegistry>,
    metrics: Arc<Metrics>,
    provider: Box<dyn Provider>,
    peers: Mutex<HashMap<PeerKey, PeerSlot>>,
    /// Per peer: how many streams use each lane.
    lanes: Mutex<HashMap<SocketAddr, Vec<u32>>>,
    // Last: dropping it stops the I/O threads and fails what still waits on them.
    _reactor: Reactor,
}

impl Node {
    pub fn new(config: Config) -> Result<Node> {
        let reactor = Reactor::start(config.io_threads)?;
        let metrics = Arc::new(Metrics::default());
        let pool = BufferPool::from_config(&config);
        let handle = reactor.handle().clone();
        let provider: Box<dyn Provider> = match config.provider {
            ProviderChoice::Tcp => Box::new(TcpProvider::new(handle, &config)),
            ProviderChoice::Verbs => {
                Box::new(VerbsProvider::new(handle, &config, pool.clone(), true)?)
            }
            // An RDMA READ cannot be encrypted by the CPU: encrypted nodes move blocks over tcp.
            ProviderChoice::Auto if config.encryption == Encryption::AesGcm => {
                log::info!("ferry: ferry.encryption=aes-gcm: using tcp, not RDMA verbs");
                Box::new(TcpProvider::new(handle, &config))
            }
            ProviderChoice::Auto => {
                match VerbsProvider::new(handle.clone(), &config, pool.clone(), false) {
                    Ok(verbs) => Box::new(verbs),
                    // A wrong ferry.rdma.* value is the user's error, not a missing device.
                    Err(error @ crate::Error::Config { .. }) => return Err(error),
                    Err(error) => {
                        log::info!("ferry: RDMA verbs unavailable ({error}); using tcp");
                        Box::new(TcpProvider::new(handle, &config))
                    }
                }
            }
        };
        let regions = Arc::new(RegionRegistry::default());
        log::info!(
            "ferry: node started, provider {}, pool {} bytes in buffers of {}, {} I/O threads",
            provider.name(),
            config.pool_bytes,
            config.buffer_size,
            config.io_threads
        );
        Ok(Node {
            pool,
            blocks: Arc::new(BlockRegistry::new(regions.clone())),
            regions,
            metrics,
            provider,
            peers: Mutex::new(HashMap::new()),
            lanes: Mutex::new(HashMap::new()),
            config,
            _reactor: reactor,
        })
    }

    pub fn config(&self) -> &Config {
        &self.config
    }

    pub fn provider_name(&self) -> &'static str {
        self.provider.name()
    }

    /// Serves this node's [`BlockRegistry`] on `addr`; returns the bound address.
    pub fn serve(&self, addr: SocketAddr) -> Result<SocketAddr> {
        self.serve_with(addr, self.blocks.clone())
    }

    /// Serves blocks that `resolver` names (Spark resolves ids through its index files).
    pub fn serve_with(
        &self,
        addr: SocketAddr,
        resolver: Arc<dyn BlockResolver>,
    ) -> Result<SocketAddr> {
        // The server's own settings decide: it compresses only when ferry.compression
        // says so, for peers that ask; a peer may ask for less, never for more.
        let caps = match self.config.compression {
            Compression::Lz4 => CAP_LZ4,
            Compression::None => 0,
        } | match self.config.encryption {
            Encryption::AesGcm => CAP_AES_GCM,
            Encryption::None => 0,
        };
        let context = Arc::new(ServeContext {
            regions: self.regions.clone(),
            blocks: resolver,
            secret: self.config.secret.clone(),
            caps,
            metrics: self.metrics.clone(),
            rdma: None, // the verbs provider adds its own
            limits: self.config.server,
            inline: self.config.inline,
        });
        self.provider.listen(addr, context)
    }

    pub fn regions(&self) -> &Arc<RegionRegistry> {
        &self.regions
    }

    pub fn blocks(&self) -> &BlockRegistry {
        &self.blocks
    }

    /// Registers `[offset, offset + len)` of a file as block `id` and returns its region.
    pub fn register_file_block(
        &self,
        id: BlockId,
        path: &Path,
        offset: u64,
        len: u64,
    ) -> Result<RegionId> {
        let region = self.regions.register_file(path, offset, Some(len))?;
        self.register_region_block(id, region, 0, len)?;
        Ok(region)
    }

    /// Names a range of a registered region as a block (ids starting
    /// `ferry-stream/` are reserved for streams' slabs).
    pub fn register_region_block(
        &self,
        id: BlockId,
        region: RegionId,
        offset: u64,
        len: u64,
    ) -> Result<()> {
        crate::stream::remote::check_not_reserved(&id)?;
        self.blocks.register(
            id,
            BlockLocation {
                region,
                offset,
                len,
            },
        )
    }

    /// The shared connection to `addr`, made on first use and again after it breaks.
    pub fn connection(&self, addr: SocketAddr) -> Result<Arc<dyn Connection>> {
        self.lane_connection(addr, 0)
    }

    /// The connection of `lane` to `addr` (each its own queue pair on verbs).
    pub fn lane_connection(&self, addr: SocketAddr, lane: u32) -> Result<Arc<dyn Connection>> {
        let slot = self
            .peers
            .lock()
            .unwrap()
            .entry((addr, lane))
            .or_default()
            .clone();
        let mut slot = slot.lock().unwrap();
        if let Some(connection) = slot.as_ref().filter(|c| c.is_open()) {
            return Ok(connection.clone());
        }
        let connection = self.provider.connect(addr)?;
        *slot = Some(connection.clone());
        Ok(connection)
    }

    /// Takes a place for one more stream to `addr` on the first lane with fewer
    /// than `per_lane` streams (a new lane when all are full); give it back with
    /// [`leave_lane`](Self::leave_lane). Lanes start at 1: fetches keep lane 0.
    pub fn join_lane(&self, addr: SocketAddr, per_lane: u32) -> u32 {
        let mut lanes = self.lanes.lock().unwrap();
        let counts = lanes.entry(addr).or_default();
        let lane = match counts.iter().position(|&n| n < per_lane.max(1)) {
            Some(i) => i,
            None => {
                counts.push(0);
                counts.len() - 1
            }
        };
        counts[lane] += 1;
        lane as u32 + 1
    }

    /// Gives back a place [`join_lane`](Self::join_lane) took.
    pub fn leave_lane(&self, addr: SocketAddr, lane: u32) {
        let mut lanes = self.lanes.lock().unwrap();
        if let Some(n) = lanes
            .get_mut(&addr)
            .and_then(|counts| counts.get_mut(lane as usize - 1))
        {
            *n = n.saturating_sub(1);
        }
    }

    /// Fetches blocks from several peers as one pipelined batch. Results come in
    /// completion order; each chunk names its block by its index in `requests`.
    pub fn fetch(&self, requests: Vec<(SocketAddr, Vec<BlockId>)>) -> Fetch {
        let batches = requests
            .into_iter()
            .map(|(addr, ids)| PeerBatch {
                connection: self.connection(addr),
                ids,
            })
            .collect();
        Fetch::start(
            self.pool.clone(),
            self.metrics.clone(),
            batches,
            &self.config,
        )
    }

    /// The pinned pool fetched bytes land in (registered with RDMA devices in use).
    pub fn buffer_pool(&self) -> &BufferPool {
        &self.pool
    }

    pub fn pool_stats(&self) -> PoolStats {
        self.pool.stats()
    }

    pub fn metrics(&self) -> MetricsSnapshot {
        self.metrics.snapshot()
    }

    pub(crate) fn metrics_sink(&self) -> &Metrics {
        &self.metrics
    }
}
