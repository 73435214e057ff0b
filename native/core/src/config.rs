//! Configuration: every key, its default and its meaning in one table, so that
//! `ferry info`, the README and the JVM bindings all show the same thing.

use std::collections::BTreeMap;
use std::time::Duration;

use crate::error::{Error, Result};

/// Which transport moves the bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ProviderChoice {
    /// RDMA verbs when a device and a willing peer exist, else tcp.
    Auto,
    Tcp,
    Verbs,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Compression {
    None,
    Lz4,
}

/// Whether the tcp provider encrypts what it moves.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Encryption {
    None,
    /// AES-256-GCM records with per-connection keys derived from `ferry.auth.secret`.
    AesGcm,
}

/// A documented configuration key.
pub struct Key {
    pub name: &'static str,
    pub default: &'static str,
    pub doc: &'static str,
}

pub const KEYS: &[Key] = &[
    Key {
        name: "ferry.provider",
        default: "auto",
        doc: "auto | tcp | verbs. auto uses RDMA verbs when a device and the peer agree, else tcp.",
    },
    Key {
        name: "ferry.pool.bytes",
        default: "256m",
        doc: "Hard cap on pinned receive buffers (bytes; k/m/g suffixes).",
    },
    Key {
        name: "ferry.pool.buffer.size",
        default: "1m",
        doc: "Size of one pinned buffer; also the largest single READ. Blocks above it arrive in chunks.",
    },
    Key {
        name: "ferry.pool.grow.bytes",
        default: "4m",
        doc: "Pinned memory is mapped and locked in steps of this size, up to ferry.pool.bytes (at most that; the default shrinks to a smaller pool).",
    },
    Key {
        name: "ferry.pool.lock",
        default: "true",
        doc: "mlock pinned buffers where the process may (RLIMIT_MEMLOCK); logged once when it may not.",
    },
    Key {
        name: "ferry.pool.wait.ms",
        default: "30000",
        doc: "How long a fetch waits for a free buffer before failing with 'pool exhausted'.",
    },
    Key {
        name: "ferry.fetch.inflight.bytes",
        default: "64m",
        doc: "Bound on bytes requested but not yet received, per fetch.",
    },
    Key {
        name: "ferry.fetch.inflight.peer.bytes",
        default: "4m",
        doc: "The same bound per peer of a fetch (at least one READ each). Every byte in flight holds a pinned buffer; a few MiB per peer keep a connection busy, and more only spread the receiving CPU's writes over more memory than its caches hold.",
    },
    Key {
        name: "ferry.fetch.inline.bytes",
        default: "32k",
        doc: "On a tcp connection, blocks up to this size come back inside the lookup reply when all the blocks of that lookup do (1 MiB at most in all): one round trip, not two. A larger fetch takes every block by READ, adjacent blocks joined. 0 disables. A server inlines no larger block, whatever a peer asks.",
    },
    Key {
        name: "ferry.rdma.inline.bytes",
        default: "0",
        doc: "On a connection with RDMA, blocks up to this size come back inside the lookup reply (when all the blocks of that lookup do, as for ferry.fetch.inline.bytes), sent by the server's CPU, instead of by one-sided RDMA READ. 0: every block by READ. A server inlines no larger block, whatever a peer asks.",
    },
    Key {
        name: "ferry.io.threads",
        default: "2",
        doc: "I/O threads shared by all connections (no thread per connection).",
    },
    Key {
        name: "ferry.compression",
        default: "none",
        doc: "none | lz4. A server compresses READ payloads (up to 4 MiB each, tcp provider, when it saves bytes) only when its own setting and the peer's are lz4.",
    },
    Key {
        name: "ferry.auth.secret",
        default: "",
        doc: "Shared secret. When set, peers prove it (HMAC-SHA256 challenge) before anything is served.",
    },
    Key {
        name: "ferry.encryption",
        default: "none",
        doc: "none | aes-gcm. aes-gcm: after the handshake every byte of a connection travels in AES-256-GCM records, keys derived per connection from ferry.auth.secret (required) and both sides' nonces. Both sides must agree: a side that encrypts refuses a peer that does not, and the other way round. tcp provider only (an RDMA READ cannot be encrypted by the CPU): ferry.provider=auto then uses tcp, verbs is refused.",
    },
    Key {
        name: "ferry.verbs.spin.us",
        default: "200",
        doc: "verbs provider: a fetching thread polls the completion queue this long before it sleeps on the completion channel. 0 never spins.",
    },
    Key {
        name: "ferry.rdma.device",
        default: "",
        doc: "verbs provider: the RDMA device to use, by name (see RDMA devices above). Empty: per peer, the device rdma_cm routes to it through. Set: a connection routed through another device fails (tcp under auto).",
    },
    Key {
        name: "ferry.rdma.port",
        default: "0",
        doc: "verbs provider: the port of ferry.rdma.device to use; 0: the routed one.",
    },
    Key {
        name: "ferry.rdma.gid.index",
        default: "auto",
        doc: "verbs provider, RoCE: connect from the IP address in this GID table entry of ferry.rdma.device's port. auto: the GID of the routed source address. iWARP has no GID to choose.",
    },
    Key {
        name: "ferry.rdma.tos",
        default: "auto",
        doc: "verbs provider: IP type of service (traffic class, DSCP in the upper 6 bits) of RDMA connections, 0-255. auto: the system default.",
    },
    Key {
        name: "ferry.rdma.serve.pinned.bytes",
        default: "auto",
        doc: "verbs provider, serving side: bytes of served regions registered with an RDMA device (their pages pinned) at once, per device. Past it, or when the device refuses a registration (RLIMIT_MEMLOCK), further regions are served by this node's CPU over the control connection, as on tcp, until registered ones are deregistered. auto: a quarter of physical memory.",
    },
    Key {
        name: "ferry.connect.timeout.ms",
        default: "10000",
        doc: "Connect and handshake timeout.",
    },
    Key {
        name: "ferry.request.timeout.ms",
        default: "120000",
        doc: "A fetch fails when a peer makes no progress for this long.",
    },
    Key {
        name: "ferry.server.handshake.timeout.ms",
        default: "10000",
        doc: "A server closes a connection whose peer has not completed the handshake (hello and proof of the secret) this long after connecting.",
    },
    Key {
        name: "ferry.server.connections.max",
        default: "4096",
        doc: "Connections a server holds at once; past it new ones are refused with an error naming this key. Never more than half the descriptor limit (RLIMIT_NOFILE).",
    },
    Key {
        name: "ferry.server.unauthenticated.max",
        default: "256",
        doc: "Connections still in the handshake a server holds at once (at most ferry.server.connections.max); past it, each new one closes the one that has waited longest.",
    },
    Key {
        name: "ferry.server.output.bytes",
        default: "4m",
        doc: "Replies a server queues for one peer before it stops reading that peer's requests until the peer reads them.",
    },
];

/// Typed configuration. Build it with [`Config::from_pairs`] or take the defaults.
#[derive(Clone, Debug)]
pub struct Config {
    pub provider: ProviderChoice,
    pub pool_bytes: usize,
    pub buffer_size: usize,
    pub pool_grow_bytes: usize,
    pub pool_lock: bool,
    pub pool_wait: Duration,
    pub inflight_bytes: usize,
    pub inflight_peer_bytes: usize,
    pub inline: InlineLimits,
    pub io_threads: usize,
    pub compression: Compression,
    pub secret: Option<Vec<u8>>,
    pub encryption: Encryption,
    pub verbs_spin: Duration,
    pub rdma: RdmaConfig,
    /// `ferry.rdma.serve.pinned.bytes`, `auto` resolved.
    pub rdma_serve_pinned: usize,
    pub connect_timeout: Duration,
    pub request_timeout: Duration,
    pub server: ServerLimits,
}

/// The largest block that comes back inside a lookup reply, by the kind of connection: over tcp
/// inlining saves a round trip; with RDMA it would put the server's CPU back in the data path.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct InlineLimits {
    pub tcp: u32,
    pub rdma: u32,
}

impl InlineLimits {
    pub fn for_connection(&self, rdma: bool) -> u32 {
        if rdma {
            self.rdma
        } else {
            self.tcp
        }
    }
}

/// What a serving node lets each peer spend.
#[derive(Clone, Copy, Debug)]
pub struct ServerLimits {
    pub handshake_timeout: Duration,
    pub max_connections: usize,
    pub max_unauthenticated: usize,
    pub output_bytes: usize,
}

impl Default for Config {
    fn default() -> Self {
        Config::from_pairs(std::iter::empty::<(&str, &str)>()).expect("defaults are valid")
    }
}

impl Config {
    /// Parses `key=value` pairs over the defaults. An unknown key or a bad value
    /// (a size beyond the machine's memory or beyond the pool, for one) is an
    /// error that names the key.
    pub fn from_pairs<K, V>(pairs: impl IntoIterator<Item = (K, V)>) -> Result<Config>
    where
        K: AsRef<str>,
        V: AsRef<str>,
    {
        let mut values: BTreeMap<&'static str, String> = KEYS
            .iter()
            .map(|k| (k.name, k.default.to_string()))
            .collect();
        let mut grow_set = false;
        for (key, value) in pairs {
            let key = key.as_ref().trim();
            let known = KEYS.iter().find(|k| k.name == key).ok_or_else(|| {
                Error::config(key, "unknown key (see `ferry info` for the valid keys)")
            })?;
            grow_set |= known.name == "ferry.pool.grow.bytes";
            values.insert(known.name, value.as_ref().trim().to_string());
        }
        let get = |key: &str| values[key].as_str();
        let config = Config {
            provider: match get("ferry.provider") {
                "auto" => ProviderChoice::Auto,
                "tcp" => ProviderChoice::Tcp,
                "verbs" => ProviderChoice::Verbs,
                other => return Err(bad("ferry.provider", other, "auto, tcp or verbs")),
            },
            pool_bytes: parse_size("ferry.pool.bytes", get("ferry.pool.bytes"))?,
            buffer_size: parse_size("ferry.pool.buffer.size", get("ferry.pool.buffer.size"))?,
            pool_grow_bytes: parse_size("ferry.pool.grow.bytes", get("ferry.pool.grow.bytes"))?,
            pool_lock: parse_bool("ferry.pool.lock", get("ferry.pool.lock"))?,
            pool_wait: parse_millis("ferry.pool.wait.ms", get("ferry.pool.wait.ms"))?,
            inflight_bytes: parse_size(
                "ferry.fetch.inflight.bytes",
                get("ferry.fetch.inflight.bytes"),
            )?,
            inflight_peer_bytes: parse_size(
                "ferry.fetch.inflight.peer.bytes",
                get("ferry.fetch.inflight.peer.bytes"),
            )?,
            inline: InlineLimits {
                tcp: parse_inline("ferry.fetch.inline.bytes", get("ferry.fetch.inline.bytes"))?,
                rdma: parse_inline("ferry.rdma.inline.bytes", get("ferry.rdma.inline.bytes"))?,
            },
            io_threads: parse_count("ferry.io.threads", get("ferry.io.threads"), 1, 64)?,
            compression: match get("ferry.compression") {
                "none" => Compression::None,
                "lz4" => Compression::Lz4,
                other => return Err(bad("ferry.compression", other, "none or lz4")),
            },
            secret: Some(get("ferry.auth.secret"))
                .filter(|s| !s.is_empty())
                .map(|s| s.as_bytes().to_vec()),
            encryption: match get("ferry.encryption") {
                "none" => Encryption::None,
                "aes-gcm" => Encryption::AesGcm,
                other => return Err(bad("ferry.encryption", other, "none or aes-gcm")),
            },
            verbs_spin: match get("ferry.verbs.spin.us") {
                "0" => Duration::ZERO,
                other => {
                    Duration::from_micros(
                        parse_count("ferry.verbs.spin.us", other, 1, 1_000_000)? as u64
                    )
                }
            },
            rdma: RdmaConfig::parse(&values)?,
            rdma_serve_pinned: match get("ferry.rdma.serve.pinned.bytes") {
                "auto" => physical_memory().map_or(1 << 30, |memory| memory / 4),
                other => parse_size("ferry.rdma.serve.pinned.bytes", other)?,
            },
            connect_timeout: parse_millis(
                "ferry.connect.timeout.ms",
                get("ferry.connect.timeout.ms"),
            )?,
            request_timeout: parse_millis(
                "ferry.request.timeout.ms",
                get("ferry.request.timeout.ms"),
            )?,
            server: ServerLimits {
                handshake_timeout: parse_millis(
                    "ferry.server.handshake.timeout.ms",
                    get("ferry.server.handshake.timeout.ms"),
                )?,
                max_connections: parse_count(
                    "ferry.server.connections.max",
                    get("ferry.server.connections.max"),
                    1,
                    1 << 20,
                )?,
                max_unauthenticated: parse_count(
                    "ferry.server.unauthenticated.max",
                    get("ferry.server.unauthenticated.max"),
                    1,
                    1 << 20,
                )?,
                output_bytes: parse_size(
                    "ferry.server.output.bytes",
                    get("ferry.server.output.bytes"),
                )?,
            },
        };
        let mut config = config;
        // The default step is a step, not a demand: a small pool maps in one.
        if !grow_set {
            config.pool_grow_bytes = config.pool_grow_bytes.min(config.pool_bytes);
        }
        config.validate(physical_memory())?;
        Ok(config)
    }

    fn validate(&self, memory: Option<usize>) -> Result<()> {
        const MAX_BUFFER: usize = 64 << 20;
        if let Some(memory) = memory {
            let sizes = [
                ("ferry.pool.bytes", self.pool_bytes),
                ("ferry.pool.grow.bytes", self.pool_grow_bytes),
                ("ferry.fetch.inflight.bytes", self.inflight_bytes),
                ("ferry.fetch.inflight.peer.bytes", self.inflight_peer_bytes),
                ("ferry.rdma.serve.pinned.bytes", self.rdma_serve_pinned),
            ];
            if let Some((key, size)) = sizes.into_iter().find(|(_, size)| *size > memory) {
                return Err(Error::config(
                    key,
                    format!("{size} bytes is more than this machine's memory ({memory} bytes)"),
                ));
            }
        }
        if !(4096..=MAX_BUFFER).contains(&self.buffer_size) {
            return Err(Error::config(
                "ferry.pool.buffer.size",
                format!("must be between 4k and 64m, got {}", self.buffer_size),
            ));
        }
        if self.pool_bytes < self.buffer_size {
            return Err(Error::config(
                "ferry.pool.bytes",
                "must hold at least one buffer (ferry.pool.buffer.size)",
            ));
        }
        if self.pool_grow_bytes < self.buffer_size {
            return Err(Error::config(
                "ferry.pool.grow.bytes",
                "must hold at least one buffer (ferry.pool.buffer.size)",
            ));
        }
        if self.pool_grow_bytes > self.pool_bytes {
            return Err(Error::config(
                "ferry.pool.grow.bytes",
                format!(
                    "{} bytes is more than the pool (ferry.pool.bytes = {})",
                    self.pool_grow_bytes, self.pool_bytes
                ),
            ));
        }
        if self.inflight_bytes < self.buffer_size {
            return Err(Error::config(
                "ferry.fetch.inflight.bytes",
                "must allow at least one buffer (ferry.pool.buffer.size)",
            ));
        }
        if self.encryption == Encryption::AesGcm {
            if self.secret.is_none() {
                return Err(Error::config(
                    "ferry.encryption",
                    "aes-gcm derives its keys from ferry.auth.secret, which is not set",
                ));
            }
            if self.provider == ProviderChoice::Verbs {
                return Err(Error::config(
                    "ferry.encryption",
                    "aes-gcm needs the tcp provider (ferry.provider=tcp or auto): \
                     ferry.provider=verbs moves blocks by RDMA READ, which the CPU cannot encrypt",
                ));
            }
        }
        for (key, bytes) in [
            ("ferry.fetch.inline.bytes", self.inline.tcp),
            ("ferry.rdma.inline.bytes", self.inline.rdma),
        ] {
            if bytes as usize > self.buffer_size {
                return Err(Error::config(key, "must not exceed ferry.pool.buffer.size"));
            }
        }
        Ok(())
    }

    /// The effective value of every key, secrets masked, for `ferry info` and logs.
    pub fn describe(&self) -> Vec<(&'static str, String)> {
        let provider = match self.provider {
            ProviderChoice::Auto => "auto",
            ProviderChoice::Tcp => "tcp",
            ProviderChoice::Verbs => "verbs",
        };
        let compression = match self.compression {
            Compression::None => "none",
            Compression::Lz4 => "lz4",
        };
        let encryption = match self.encryption {
            Encryption::None => "none",
            Encryption::AesGcm => "aes-gcm",
        };
        vec![
            ("ferry.provider", provider.to_string()),
            ("ferry.pool.bytes", self.pool_bytes.to_string()),
            ("ferry.pool.buffer.size", self.buffer_size.to_string()),
            ("ferry.pool.grow.bytes", self.pool_grow_bytes.to_string()),
            ("ferry.pool.lock", self.pool_lock.to_string()),
            ("ferry.pool.wait.ms", self.pool_wait.as_millis().to_string()),
            (
                "ferry.fetch.inflight.bytes",
                self.inflight_bytes.to_string(),
            ),
            (
                "ferry.fetch.inflight.peer.bytes",
                self.inflight_peer_bytes.to_string(),
            ),
            ("ferry.fetch.inline.bytes", self.inline.tcp.to_string()),
            ("ferry.rdma.inline.bytes", self.inline.rdma.to_string()),
            ("ferry.io.threads", self.io_threads.to_string()),
            ("ferry.compression", compression.to_string()),
            (
                "ferry.auth.secret",
                if self.secret.is_some() {
                    "<set>"
                } else {
                    "<unset>"
                }
                .to_string(),
            ),
            ("ferry.encryption", encryption.to_string()),
            (
                "ferry.verbs.spin.us",
                self.verbs_spin.as_micros().to_string(),
            ),
            (
                "ferry.rdma.device",
                self.rdma.device.clone().unwrap_or_default(),
            ),
            ("ferry.rdma.port", self.rdma.port.unwrap_or(0).to_string()),
            ("ferry.rdma.gid.index", auto_or(self.rdma.gid_index)),
            ("ferry.rdma.tos", auto_or(self.rdma.tos)),
            (
                "ferry.rdma.serve.pinned.bytes",
                self.rdma_serve_pinned.to_string(),
            ),
            (
                "ferry.connect.timeout.ms",
                self.connect_timeout.as_millis().to_string(),
            ),
            (
                "ferry.request.timeout.ms",
                self.request_timeout.as_millis().to_string(),
            ),
            (
                "ferry.server.handshake.timeout.ms",
                self.server.handshake_timeout.as_millis().to_string(),
            ),
            (
                "ferry.server.connections.max",
                self.server.max_connections.to_string(),
            ),
            (
                "ferry.server.unauthenticated.max",
                self.server.max_unauthenticated.to_string(),
            ),
            (
                "ferry.server.output.bytes",
                self.server.output_bytes.to_string(),
            ),
        ]
    }
}

/// The `ferry.rdma.*` keys: which device, port, GID and traffic class the verbs provider uses.
/// `None` leaves the choice to rdma_cm (see `provider::verbs::Choice`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RdmaConfig {
    pub device: Option<String>,
    pub port: Option<u8>,
    pub gid_index: Option<u32>,
    pub tos: Option<u8>,
}

impl RdmaConfig {
    fn parse(values: &BTreeMap<&'static str, String>) -> Result<RdmaConfig> {
        let get = |key: &str| values[key].as_str();
        let device = match get("ferry.rdma.device") {
            "" => None,
            name if name.len() <= 64
                && name
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"_.-".contains(&b)) =>
            {
                Some(name.to_string())
            }
            other => {
                return Err(bad(
                    "ferry.rdma.device",
                    other,
                    "a device name such as mlx5_0 or erdma_0",
                ))
            }
        };
        let auto = |key: &str, max: usize| match get(key) {
            "auto" => Ok(None),
            other => parse_count(key, other, 0, max).map(Some),
        };
        let config = RdmaConfig {
            device,
            port: Some(parse_count("ferry.rdma.port", get("ferry.rdma.port"), 0, 255)? as u8)
                .filter(|&p| p != 0),
            gid_index: auto("ferry.rdma.gid.index", 65_535)?.map(|i| i as u32),
            tos: auto("ferry.rdma.tos", 255)?.map(|t| t as u8),
        };
        for (key, set) in [
            ("ferry.rdma.port", config.port.is_some()),
            ("ferry.rdma.gid.index", config.gid_index.is_some()),
        ] {
            if set && config.device.is_none() {
                return Err(Error::config(
                    key,
                    "needs ferry.rdma.device (which device's?)",
                ));
            }
        }
        Ok(config)
    }
}

fn auto_or(value: Option<impl ToString>) -> String {
    value.map_or_else(|| "auto".to_string(), |v| v.to_string())
}

fn bad(key: &str, value: &str, expected: &str) -> Error {
    Error::config(key, format!("invalid value `{value}`, expected {expected}"))
}

/// Physical memory, when the system says.
fn physical_memory() -> Option<usize> {
    // SAFETY: sysconf reads system constants.
    let (pages, page) = unsafe {
        (
            libc::sysconf(libc::_SC_PHYS_PAGES),
            libc::sysconf(libc::_SC_PAGESIZE),
        )
    };
    let (pages, page) = (usize::try_from(pages).ok()?, usize::try_from(page).ok()?);
    pages.checked_mul(page)
}

/// Parses `123`, `64k`, `16m`, `2g` (powers of 1024): digits only, no sign.
pub fn parse_size(key: &str, value: &str) -> Result<usize> {
    let lower = value.to_ascii_lowercase();
    let shift = match lower.chars().last() {
        Some('k') => 10,
        Some('m') => 20,
        Some('g') => 30,
        _ => 0,
    };
    let digits = if shift == 0 {
        &lower[..]
    } else {
        &lower[..lower.len() - 1]
    };
    Some(digits)
        .filter(|d| !d.is_empty() && d.bytes().all(|b| b.is_ascii_digit()))
        .and_then(|d| d.parse::<usize>().ok())
        .and_then(|n| n.checked_mul(1usize << shift))
        .filter(|&n| n > 0)
        .ok_or_else(|| bad(key, value, "a positive size such as 65536, 64k, 16m or 1g"))
}

/// A size, or 0 to turn inlining off.
fn parse_inline(key: &str, value: &str) -> Result<u32> {
    if value == "0" {
        return Ok(0);
    }
    u32::try_from(parse_size(key, value)?)
        .map_err(|_| Error::config(key, "must not exceed ferry.pool.buffer.size"))
}

fn parse_bool(key: &str, value: &str) -> Result<bool> {
    match value {
        "true" => Ok(true),
        "false" => Ok(false),
        _ => Err(bad(key, value, "true or false")),
    }
}

fn parse_millis(key: &str, value: &str) -> Result<Duration> {
    parse_count(key, value, 1, 24 * 3600 * 1000).map(|ms| Duration::from_millis(ms as u64))
}

fn parse_count(key: &str, value: &str, min: usize, max: usize) -> Result<usize> {
    Some(value)
        .filter(|v| !v.is_empty() && v.bytes().all(|b| b.is_ascii_digit()))
        .and_then(|v| v.parse::<usize>().ok())
        .filter(|n| (min..=max).contains(n))
        .ok_or_else(|| bad(key, value, &format!("a whole number from {min} to {max}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_valid_and_documented() {
        let c = Config::default();
        assert_eq!(c.provider, ProviderChoice::Auto);
        assert_eq!(c.buffer_size, 1 << 20);
        assert_eq!(c.describe().len(), KEYS.len());
        let quarter = physical_memory().expect("sysconf knows the memory") / 4;
        assert_eq!(c.rdma_serve_pinned, quarter);
    }

    /// Inlining is per connection kind: tcp saves a round trip, RDMA keeps the server's CPU out.
    #[test]
    fn inline_limits_follow_the_connection_kind() {
        let c = Config::default();
        assert_eq!(
            c.inline,
            InlineLimits {
                tcp: 32 << 10,
                rdma: 0
            }
        );
        assert_eq!(c.inline.for_connection(false), 32 << 10);
        assert_eq!(c.inline.for_connection(true), 0);
        let c = Config::from_pairs([
            ("ferry.rdma.inline.bytes", "4k"),
            ("ferry.fetch.inline.bytes", "0"),
        ])
        .unwrap();
        assert_eq!(c.inline, InlineLimits { tcp: 0, rdma: 4096 });
        for key in ["ferry.rdma.inline.bytes", "ferry.fetch.inline.bytes"] {
            let err = Config::from_pairs([(key, "2m")]).unwrap_err().to_string();
            assert!(
                err.contains(key) && err.contains("ferry.pool.buffer.size"),
                "{err}"
            );
            let err = Config::from_pairs([(key, "8g")]).unwrap_err().to_string();
            assert!(err.contains(key), "{err}");
        }
    }

    #[test]
    fn sizes_parse_with_suffixes() {
        assert_eq!(parse_size("k", "4096").unwrap(), 4096);
        assert_eq!(parse_size("k", "64K").unwrap(), 64 << 10);
        assert_eq!(parse_size("k", "16m").unwrap(), 16 << 20);
        assert_eq!(parse_size("k", "2g").unwrap(), 2 << 30);
        assert!(parse_size("k", "").is_err());
        assert!(parse_size("k", "0").is_err());
        assert!(parse_size("k", "12q").is_err());
        assert!(parse_size("k", "+64m").is_err());
        assert!(parse_size("k", "-1").is_err());
        assert!(parse_size("k", "m").is_err());
        assert!(parse_size("k", "99999999999999999999g").is_err());
    }

    /// Sizes the machine or the pool cannot hold are refused up front, naming
    /// the key, rather than failing every fetch later.
    #[test]
    fn sizes_beyond_memory_or_the_pool_are_named() {
        let memory = physical_memory().expect("sysconf knows the memory");
        let too_much = format!("{}", memory / 1024 + 1024) + "k";
        for (key, value, says) in [
            ("ferry.pool.grow.bytes", "64g", "more than"),
            (
                "ferry.pool.bytes",
                "8589934592g",
                "more than this machine's memory",
            ),
            (
                "ferry.pool.bytes",
                too_much.as_str(),
                "more than this machine's memory",
            ),
            ("ferry.fetch.inflight.bytes", too_much.as_str(), "memory"),
            ("ferry.rdma.serve.pinned.bytes", too_much.as_str(), "memory"),
            ("ferry.rdma.serve.pinned.bytes", "0", "invalid value"),
            ("ferry.pool.bytes", "+64m", "invalid value"),
            ("ferry.io.threads", "+2", "invalid value"),
            ("ferry.pool.buffer.size", "512m", "between 4k and 64m"),
        ] {
            let err = Config::from_pairs([(key, value)]).unwrap_err().to_string();
            assert!(
                err.contains(key) && err.contains(says),
                "{key}={value}: {err}"
            );
        }
        let err = Config::from_pairs([("ferry.pool.bytes", "2m"), ("ferry.pool.grow.bytes", "4m")])
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("ferry.pool.grow.bytes") && err.contains("more than the pool"),
            "{err}"
        );
        // The default step shrinks to a small pool rather than failing it.
        let small = Config::from_pairs([("ferry.pool.bytes", "2m")]).unwrap();
        assert_eq!(small.pool_grow_bytes, 2 << 20);
    }

    #[test]
    fn unknown_key_is_named() {
        let err = Config::from_pairs([("ferry.pool.byts", "1m")]).unwrap_err();
        assert!(err.to_string().contains("ferry.pool.byts"), "{err}");
    }

    #[test]
    fn rdma_keys_parse_and_name_themselves() {
        let c = Config::default().rdma;
        assert_eq!(c, RdmaConfig::default(), "rdma_cm chooses by default");
        let c = Config::from_pairs([
            ("ferry.rdma.device", "mlx5_1"),
            ("ferry.rdma.port", "2"),
            ("ferry.rdma.gid.index", "3"),
            ("ferry.rdma.tos", "106"),
        ])
        .unwrap();
        assert_eq!(
            c.rdma,
            RdmaConfig {
                device: Some("mlx5_1".into()),
                port: Some(2),
                gid_index: Some(3),
                tos: Some(106)
            }
        );
        let described = c.describe();
        assert!(described.contains(&("ferry.rdma.tos", "106".into())));
        let c = Config::from_pairs([("ferry.rdma.serve.pinned.bytes", "64m")]).unwrap();
        assert_eq!(c.rdma_serve_pinned, 64 << 20);
        for (key, value) in [
            ("ferry.rdma.device", "mlx5 1"),
            ("ferry.rdma.device", "../../etc"),
            ("ferry.rdma.port", "256"),
            ("ferry.rdma.gid.index", "-1"),
            ("ferry.rdma.tos", "256"),
            ("ferry.rdma.tos", "ef"),
        ] {
            let pairs = [("ferry.rdma.device", "rxe0"), (key, value)];
            let err = Config::from_pairs(pairs).unwrap_err().to_string();
            assert!(err.contains(key), "{key}={value}: {err}");
        }
        // A port or GID needs to know whose.
        for key in ["ferry.rdma.port", "ferry.rdma.gid.index"] {
            let err = Config::from_pairs([(key, "1")]).unwrap_err().to_string();
            assert!(
                err.contains(key) && err.contains("ferry.rdma.device"),
                "{err}"
            );
        }
    }

    /// Encryption needs the secret its keys come from and the tcp provider; the
    /// error names the key and what it needs.
    #[test]
    fn encryption_needs_a_secret_and_tcp() {
        assert_eq!(Config::default().encryption, Encryption::None);
        let on = [("ferry.encryption", "aes-gcm"), ("ferry.auth.secret", "s")];
        let c = Config::from_pairs(on).unwrap();
        assert_eq!(c.encryption, Encryption::AesGcm);
        assert!(c
            .describe()
            .contains(&("ferry.encryption", "aes-gcm".into())));
        let err = Config::from_pairs([("ferry.encryption", "aes-gcm")])
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("ferry.encryption") && err.contains("ferry.auth.secret"),
            "{err}"
        );
        let err = Config::from_pairs([on[0], on[1], ("ferry.provider", "verbs")])
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("ferry.encryption") && err.contains("ferry.provider=verbs"),
            "{err}"
        );
        let err = Config::from_pairs([("ferry.encryption", "aes")])
            .unwrap_err()
            .to_string();
        assert!(err.contains("ferry.encryption"), "{err}");
    }

    #[test]
    fn bad_value_is_named() {
        let err = Config::from_pairs([("ferry.provider", "carrier-pigeon")]).unwrap_err();
        assert!(err.to_string().contains("ferry.provider"), "{err}");
        let err = Config::from_pairs([("ferry.io.threads", "0")]).unwrap_err();
        assert!(err.to_string().contains("ferry.io.threads"), "{err}");
        let err = Config::from_pairs([("ferry.pool.bytes", "4k")]).unwrap_err();
        assert!(err.to_string().contains("ferry.pool.bytes"), "{err}");
    }
}
