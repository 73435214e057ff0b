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
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use ferry_core::block::RemoteSlice;
use ferry_core::provider::{Connection, ReadRequest};
use ferry_core::Node;

use crate::bench::{command_line, ferry_server_on, BenchArgs, Latency, Record, Target};
use crate::fetch::fetch_blocks;
use crate::{manifest, size_name, CliError, Result};

const SIZES: [u64; 3] = [4 << 10, 64 << 10, 1 << 20];

/// perftest figures by (tool, size).
fn read_perftest(path: &Path) -> Result<HashMap<(String, u64), f64>> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| CliError::new(format!("reading {}: {e}", path.display())))?;
    let mut figures = HashMap::new();
    for line in text.lines() {
        let fields: Vec<&str> = line.split_whitespace().collect();
        if let [tool, size, value] = fields[..] {
            if let (Ok(size), Ok(value)) = (size.parse::<u64>(), value.parse::<f64>()) {
                figures.insert((tool.to_string(), size), value);
            }
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
    let perftest = read_perftest(args.perftest.as_deref().expect("clap requires --perftest"))?;
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
    let node = Node::new(config)?;
    let command = command_line();
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
        // Warmup that verifies every block's crc32.
        fetch_blocks(&node, server.addr, &manifest.blocks, true).check(&manifest.blocks)?;
        let mut best = 0f64;
        for rep in 1..=args.repetitions {
            let outcome = fetch_blocks(&node, server.addr, &manifest.blocks, false);
            outcome.check(&manifest.blocks)?;
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
                     {}) vs ib_read_bw -R average at {size} B on the same rxe device, same VM run",
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
        if let Some(&baseline) = perftest.get(&("ib_read_lat".to_string(), size)) {
            records.push(Record {
                name: format!("read_latency_{}_median", size_name(size)),
                ferry: reads.median,
                baseline,
                unit: "us",
                target: Some(Target::AtMost(1.2)),
                detail: format!(
                    "median of {iterations} single RDMA READs of {} through the verbs \
                     connection (one in flight, completion by bounded spin then completion \
                     channel) vs ib_read_lat -R typical, same device, same VM run",
                    size_name(size)
                ),
            });
            records.push(Record {
                name: format!("fetch_latency_{}_median", size_name(size)),
                ferry: fetches.median,
                baseline,
                unit: "us",
                target: None,
                detail: format!(
                    "median of {iterations} single-block Node::fetch calls of {} (lookup \
                     round trip on the tcp control connection, then the RDMA READ; inline \
                     replies {}) vs ib_read_lat -R typical",
                    size_name(size),
                    if size <= node.config().inline_bytes as u64 {
                        "on: the block rides in the lookup reply"
                    } else {
                        "not used at this size"
                    }
                ),
            });
        }
        drop(server);
    }
    let mut out = String::new();
    use std::fmt::Write as _;
    let _ = writeln!(
        out,
        "ferry bench: verbs provider on {ip} vs perftest (same device, same run)"
    );
    let _ = writeln!(
        out,
        "{:<26} {:>10} {:>10} {:>6} {:>8}  target",
        "name", "ferry", "perftest", "unit", "ratio"
    );
    for r in &records {
        let target = r.target.map_or(String::new(), |t| {
            format!(
                "{} {}",
                t.describe(),
                if t.met(r.ratio()) { "met" } else { "MISSED" }
            )
        });
        let _ = writeln!(
            out,
            "{:<26} {:>10.1} {:>10.1} {:>6} {:>7.3}x  {target}",
            r.name,
            r.ferry,
            r.baseline,
            r.unit,
            r.ratio()
        );
    }
    crate::say(out.trim_end())?;
    if let Some(path) = &args.json {
        let objects: Vec<String> = records.iter().map(|r| r.to_json(&command)).collect();
        let text = format!("[\n{}\n]\n", objects.join(",\n"));
        manifest::write_atomically(path, text.as_bytes())?;
        crate::say(format_args!("results written to {}", path.display()))?;
    }
    Ok(())
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
        let outcome = fetch_blocks(node, addr, spec, false);
        outcome.check(spec)?;
        if i >= (iterations / 10).max(5) {
            samples.push(outcome.elapsed);
        }
    }
    Ok(Latency::of(samples))
}
