//! `ferry bench --verbs IP --perftest FILE`: the verbs provider against
//! perftest's `ib_read_bw` and `ib_read_lat` on the same RDMA device, in the
//! same run (tests/vm/verbs.sh --bench does both inside the Soft-RoCE VM).
//!
//! Bandwidth: one batched fetch of many blocks of each size from a `ferry
//! serve` child on the verbs provider (best of the repetitions), against
//! ib_read_bw's average at that size. Both in MiB/s: perftest's MB is 2^20.
//! Latency: single RDMA READs of one block through the verbs connection (the
//! block looked up once, as ib_read_lat reads one registered buffer), median,
//! against ib_read_lat's typical; the full single-block fetch (lookup round
//! trip on the control connection, then the READ) is recorded beside it.

use std::collections::HashMap;
use std::net::IpAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use ferry_core::block::RemoteSlice;
use ferry_core::provider::{Connection, ReadRequest};
use ferry_core::Node;

use crate::bench::{command_line, ferry_server_on, report, BenchArgs, Latency, Record, Target};
use crate::fetch::fetch_blocks;
use crate::{manifest, size_name, CliError, Result};

const SIZES: [u64; 3] = [4 << 10, 64 << 10, 1 << 20];

/// perftest figures by (tool, size): the best of all passes (highest
/// bandwidth, lowest latency); `inf`, `nan` and zero readings are dropped.
fn read_perftest(paths: &[PathBuf]) -> Result<HashMap<(String, u64), f64>> {
    let mut figures: HashMap<(String, u64), f64> = HashMap::new();
    for path in paths {
        let text = std::fs::read_to_string(path)
            .map_err(|e| CliError::new(format!("reading {}: {e}", path.display())))?;
        for line in text.lines() {
            let fields: Vec<&str> = line.split_whitespace().collect();
            let [tool, size, value] = fields[..] else {
                continue;
            };
            let (Ok(size), Ok(value)) = (size.parse::<u64>(), value.parse::<f64>()) else {
                continue;
            };
            if !value.is_finite() || value <= 0.0 {
                continue;
            }
            let latency = tool == "ib_read_lat";
            figures
                .entry((tool.to_string(), size))
                .and_modify(|best| {
                    *best = if latency {
                        best.min(value)
                    } else {
                        best.max(value)
                    }
                })
                .or_insert(value);
        }
    }
    Ok(figures)
}

fn mib_per_s(bytes: u64, elapsed: Duration) -> f64 {
    bytes as f64 / (1 << 20) as f64 / elapsed.as_secs_f64().max(1e-9)
}

pub fn run(
    settings: &[String],
    pairs: &[(String, String)],
    ip: IpAddr,
    args: &BenchArgs,
) -> Result<()> {
    let perftest = read_perftest(&args.perftest)?;
    let mut settings = settings.to_vec();
    if !settings.iter().any(|s| s.starts_with("ferry.provider")) {
        settings.push("ferry.provider=verbs".into());
    }
    let config_args: Vec<String> = settings
        .iter()
        .flat_map(|s| ["-c".to_string(), s.clone()])
        .collect();
    let mut pairs = pairs.to_vec();
    if !pairs.iter().any(|(k, _)| k == "ferry.provider") {
        pairs.push(("ferry.provider".into(), "verbs".into()));
    }
    let config = crate::config(&pairs)?;
    let node = Node::new(config.clone())?;
    // The same fetches on the tcp provider, over the same veth, for context.
    let tcp_args = ["-c".to_string(), "ferry.provider=tcp".to_string()];
    let tcp_node = Node::new(ferry_core::Config {
        provider: ferry_core::config::ProviderChoice::Tcp,
        ..config
    })?;
    // The JSON names the command that reproduces the whole comparison (perftest included).
    let command = format!(
        "bash tests/vm/verbs.sh --bench  (in the VM: {})",
        command_line()
    );
    let sizes: Vec<u64> = if args.sizes == [4 << 10, 32 << 10, 256 << 10, 1 << 20, 8 << 20] {
        SIZES.to_vec()
    } else {
        args.sizes.clone()
    };
    let mut records = Vec::new();
    for &size in &sizes {
        let count = (args.bytes_per_size / size).max(2);
        let (server, manifest) = ferry_server_on(&config_args, count, size, Some(ip))?;
        let connection = node.connection(server.addr)?;
        if connection.provider() != "verbs" {
            return Err(CliError::new(format!(
                "the connection to {} runs on {}, not verbs",
                server.addr,
                connection.provider()
            )));
        }
        let blocks = one_read_each(&manifest.blocks);
        // Warmup that verifies every block's crc32.
        fetch_blocks(&node, server.addr, &blocks, true, None).check(&blocks)?;
        let mut best = 0f64;
        for rep in 1..=args.repetitions {
            let outcome = fetch_blocks(&node, server.addr, &blocks, false, None);
            outcome.check(&blocks)?;
            let rate = mib_per_s(outcome.bytes, outcome.elapsed);
            log::info!(
                "  {} rep {rep}: ferry verbs {rate:.1} MiB/s",
                size_name(size)
            );
            best = best.max(rate);
        }
        if let Some(&baseline) = perftest.get(&("ib_read_bw".to_string(), size)) {
            records.push(Record {
                name: format!("bandwidth_{}", size_name(size)),
                ferry: best,
                baseline,
                unit: "MiB/s",
                target: Some(Target::AtLeast(0.9)),
                detail: format!(
                    "one batched fetch of {count} blocks of {} over the verbs provider (best of \
                     {}), listed so that no two lie end to end (one READ each), vs ib_read_bw -R \
                     average at {size} B on the same device, same VM run",
                    size_name(size),
                    args.repetitions
                ),
            });
        }

        // Latency: one READ in flight, the block looked up once.
        let iterations = latency_iterations(size, args.latency_iterations);
        let spec = &manifest.blocks[0];
        let slice = lookup(&connection, &spec.id)?;
        let reads = read_latency(&node, &connection, slice, iterations)?;
        let fetches = fetch_latency(&node, server.addr, &manifest.blocks[..1], iterations)?;
        let (tcp_server, tcp_manifest) = ferry_server_on(&tcp_args, 1, size, Some(ip))?;
        let tcp_fetches =
            fetch_latency(&tcp_node, tcp_server.addr, &tcp_manifest.blocks, iterations)?;
        drop(tcp_server);
        records.push(Record {
            name: format!("fetch_latency_{}_median_vs_tcp", size_name(size)),
            ferry: fetches.median,
            baseline: tcp_fetches.median,
            unit: "us",
            target: None,
            detail: format!(
                "median of {iterations} single-block Node::fetch calls of {} (lookup round \
                 trip on the control connection, then one READ; inline replies off): verbs \
                 provider vs tcp provider, same VM, same veth",
                size_name(size)
            ),
        });
        // ib_read_lat's typical, or the time per READ of ib_read_bw with one READ
        // in flight (ib_read_lat sometimes prints `inf` under TCG): the lower.
        let typical = perftest
            .get(&("ib_read_lat".to_string(), size))
            .map(|&v| (v, "ib_read_lat -R typical"));
        let one_deep = perftest
            .get(&("ib_read_bw_1deep".to_string(), size))
            .map(|&mib| {
                (
                    size as f64 / (mib * (1 << 20) as f64) * 1e6,
                    "ib_read_bw -R -t 1 -o 1 (one READ in flight) as time per READ",
                )
            });
        let lat = match (typical, one_deep) {
            (Some(a), Some(b)) => Some(if a.0 <= b.0 { a } else { b }),
            (a, b) => a.or(b),
        };
        if let Some((baseline, reference)) = lat {
            records.push(Record {
                name: format!("read_latency_{}_median", size_name(size)),
                ferry: reads.median,
                baseline,
                unit: "us",
                target: Some(Target::AtMost(1.2)),
                detail: format!(
                    "median of {iterations} single RDMA READs of {} through the verbs \
                     connection (one in flight, completion by bounded spin then completion \
                     channel) vs {reference}, same device, same VM run",
                    size_name(size)
                ),
            });
        }
        drop(server);
    }
    let title = format!("ferry bench: verbs provider on {ip} vs perftest (same device, same run)");
    report(&title, "baseline", &records, args.json.as_deref(), &command)
}

/// The generated blocks (end to end in one region) listed evens first, then
/// odds: no two neighbours are adjacent, so the fetch cannot join them into one
/// READ. Each is its own READ, as perftest's are, and as a reducer's blocks from
/// different map outputs are.
fn one_read_each(blocks: &[manifest::BlockSpec]) -> Vec<manifest::BlockSpec> {
    let evens = blocks.iter().step_by(2);
    evens
        .chain(blocks.iter().skip(1).step_by(2))
        .cloned()
        .collect()
}

/// Fewer iterations for large blocks: under TCG a 1 MiB READ takes tens of ms.
fn latency_iterations(size: u64, asked: u32) -> u32 {
    let budget = (64u64 << 20) / size.max(1);
    (asked as u64).min(budget).max(20) as u32
}

fn lookup(connection: &Arc<dyn Connection>, id: &str) -> Result<RemoteSlice> {
    let (tx, rx) = crossbeam_channel::bounded(1);
    connection.lookup(
        vec![id.as_bytes().to_vec()],
        0,
        Box::new(move |r| {
            let _ = tx.send(r);
        }),
    );
    let results = rx
        .recv_timeout(Duration::from_secs(30))
        .map_err(|_| CliError::new("lookup timed out"))??;
    let located = results
        .into_iter()
        .next()
        .ok_or_else(|| CliError::new("empty lookup reply"))?
        .map_err(|code| CliError::new(format!("lookup refused: {code:?}")))?;
    Ok(located.slice)
}

/// Single READs, one in flight, waited for the way a fetch waits (spin, then sleep).
fn read_latency(
    node: &Node,
    connection: &Arc<dyn Connection>,
    slice: RemoteSlice,
    iterations: u32,
) -> Result<Latency> {
    let warmup = (iterations / 10).max(5);
    let mut samples = Vec::with_capacity(iterations as usize);
    for i in 0..warmup + iterations {
        let dst = node.buffer_pool().acquire()?;
        let (tx, rx) = crossbeam_channel::bounded(1);
        let started = Instant::now();
        connection.read(vec![ReadRequest {
            src: slice,
            dst,
            done: Box::new(move |r| {
                let _ = tx.send(r);
            }),
        }]);
        let result = loop {
            if let Ok(result) = rx.try_recv() {
                break result;
            }
            if !connection.receive_here(Duration::from_millis(20)) {
                if let Ok(result) = rx.recv_timeout(Duration::from_millis(20)) {
                    break result;
                }
            }
        };
        let elapsed = started.elapsed();
        let buffer = result?;
        if buffer.len() as u64 != slice.len {
            return Err(CliError::new("short READ"));
        }
        if i >= warmup {
            samples.push(elapsed);
        }
    }
    Ok(Latency::of(samples))
}

fn fetch_latency(
    node: &Node,
    addr: std::net::SocketAddr,
    spec: &[manifest::BlockSpec],
    iterations: u32,
) -> Result<Latency> {
    let mut samples = Vec::with_capacity(iterations as usize);
    for i in 0..iterations + (iterations / 10).max(5) {
        let outcome = fetch_blocks(node, addr, spec, false, None);
        outcome.check(spec)?;
        if i >= (iterations / 10).max(5) {
            samples.push(outcome.elapsed);
        }
    }
    Ok(Latency::of(samples))
}
