//! `ferry bench`: Ferry against plain TCP over loopback, two processes.
//!
//! For each block size, this process fetches every generated block of that size
//! from a `ferry serve` child (one batch, best of several repetitions) and reads
//! the same number of bytes as a plain stream from a `ferry baseline-server`
//! child. Latency compares one 4 KiB block per `Node::fetch` call with a plain
//! 16-byte request answered by 4096 bytes, first as the scheduler places the
//! threads, then with this process, both servers and all their threads pinned
//! to one CPU (`_1cpu` figures: less placement noise, same software path).
//! With `--against-clear` the baseline is Ferry itself: encrypted fetches
//! (`ferry.encryption=aes-gcm`) against the same fetches in clear, throughput only.

use std::fmt::Write as _;
use std::path::PathBuf;
use std::time::Duration;

use clap::Args;
use ferry_core::config::Encryption;
use ferry_core::Node;
use indicatif::ProgressBar;
use serde_json::json;

use crate::child::ServerChild;
use crate::fetch::fetch_blocks;
use crate::manifest::{self, Manifest};
use crate::{affinity, baseline};
use crate::{mb_per_s, size_name, CliError, Result};

const LATENCY_BLOCK: u64 = 4096;
const LATENCY_BLOCKS: u64 = 1024;

#[derive(Args)]
pub struct BenchArgs {
    /// Block sizes to measure throughput at.
    #[arg(long, value_delimiter = ',', default_value = "4k,32k,256k,1m,8m", value_parser = crate::size_arg)]
    pub sizes: Vec<u64>,

    /// Bytes moved per repetition at each size (the number of blocks follows).
    #[arg(long, default_value = "256m", value_parser = crate::size_arg)]
    pub bytes_per_size: u64,

    /// Throughput repetitions per size; the best counts.
    #[arg(long, default_value_t = 5, value_parser = clap::value_parser!(u32).range(1..))]
    pub repetitions: u32,

    /// Timed 4 KiB round trips for the latency figures (after a warmup).
    #[arg(long, default_value_t = 2000, value_parser = clap::value_parser!(u32).range(1..))]
    pub latency_iterations: u32,

    /// Also write the results as a JSON array here.
    #[arg(long, value_name = "PATH")]
    pub json: Option<PathBuf>,

    /// Benchmark the verbs provider instead: serve on this IP (an address on
    /// the RDMA device) and compare with perftest's figures (--perftest).
    #[arg(long, value_name = "IP", requires = "perftest")]
    pub verbs: Option<std::net::IpAddr>,

    /// perftest summary ("ib_read_bw SIZE MB/s", "ib_read_lat SIZE usec" lines,
    /// from tests/vm/perftest-guest.sh) to compare the verbs provider with.
    /// Repeatable: the best figure of all passes counts.
    #[arg(long, value_name = "PATH")]
    pub perftest: Vec<PathBuf>,

    /// Measure what encryption costs: the settings given (with
    /// ferry.encryption=aes-gcm) against the same with ferry.encryption=none,
    /// both Ferry, alternating; throughput only.
    #[arg(long, conflicts_with = "verbs")]
    pub against_clear: bool,
}

/// Where a figure must land, as a ratio ferry / baseline.
#[derive(Clone, Copy)]
pub(crate) enum Target {
    AtLeast(f64),
    AtMost(f64),
}

impl Target {
    pub fn met(self, ratio: f64) -> bool {
        match self {
            Target::AtLeast(t) => ratio >= t,
            Target::AtMost(t) => ratio <= t,
        }
    }
    pub fn describe(self) -> String {
        match self {
            Target::AtLeast(t) => format!("ratio >= {t}"),
            Target::AtMost(t) => format!("ratio <= {t}"),
        }
    }
}

pub(crate) struct Record {
    pub name: String,
    pub ferry: f64,
    pub baseline: f64,
    pub unit: &'static str,
    pub target: Option<Target>,
    pub detail: String,
}

impl Record {
    pub fn ratio(&self) -> f64 {
        if self.baseline > 0.0 {
            self.ferry / self.baseline
        } else {
            0.0
        }
    }

    /// One JSON object, fields in a fixed, readable order.
    pub fn to_json(&self, command: &str) -> String {
        let round = |x: f64, places: i32| {
            let scale = 10f64.powi(places);
            (x * scale).round() / scale
        };
        let mut fields = vec![
            ("name", json!(self.name)),
            ("ferry", json!(round(self.ferry, 2))),
            ("baseline", json!(round(self.baseline, 2))),
            ("ratio", json!(round(self.ratio(), 3))),
            ("unit", json!(self.unit)),
        ];
        if let Some(target) = self.target {
            fields.push(("target", json!(target.describe())));
            fields.push(("met", json!(target.met(self.ratio()))));
        }
        fields.push(("detail", json!(self.detail)));
        fields.push(("command", json!(command)));
        let body: Vec<String> = fields
            .into_iter()
            .map(|(key, value)| format!("    \"{key}\": {value}"))
            .collect();
        format!("  {{\n{}\n  }}", body.join(",\n"))
    }
}

pub fn run(settings: &[String], pairs: &[(String, String)], args: BenchArgs) -> Result<()> {
    if let Some(ip) = args.verbs {
        return crate::bench_verbs::run(settings, pairs, ip, &args);
    }
    let config = crate::config(pairs)?;
    let command = command_line();
    let node = Node::new(config.clone())?;
    let provider = node.provider_name();
    let config_args: Vec<String> = settings
        .iter()
        .flat_map(|s| ["-c".to_string(), s.clone()])
        .collect();
    let clear = match args.against_clear {
        true => Some(Clear::new(&config, pairs, &config_args)?),
        false => None,
    };
    let mut records = Vec::new();
    // A step per measured round of each size (its warmup included), then both latency runs.
    let steps = args.sizes.len() as u64 * (u64::from(args.repetitions) + 1) + 2;
    let bar = crate::progress::steps(steps, "bench");
    for &size in &args.sizes {
        let count = (args.bytes_per_size / size).max(1);
        let (ferry, baseline) = throughput(
            &node,
            &config_args,
            clear.as_ref(),
            count,
            size,
            &args,
            &bar,
        )?;
        let against = match clear {
            Some(_) => "the same fetch with ferry.encryption=none (alternating)",
            None => "the same bytes as one plain TCP stream (1 MiB writes, read into a reused 1 MiB buffer)",
        };
        records.push(Record {
            name: format!("throughput_{}", size_name(size)),
            ferry,
            baseline,
            unit: "MB/s",
            target: (size == 1 << 20 && clear.is_none()).then_some(Target::AtLeast(0.8)),
            detail: format!(
                "one batched fetch of {count} blocks of {} ({} bytes) vs {against}; best of {}; \
                 MB = 10^6 bytes",
                size_name(size),
                count * size,
                args.repetitions
            ),
        });
    }
    if clear.is_some() {
        bar.finish_and_clear();
        let title = format!(
            "ferry bench --against-clear: provider {provider}, loopback, {} per size, best of {}; \
             ferry = encrypted (aes-gcm), clear = ferry.encryption=none",
            size_name(args.bytes_per_size),
            args.repetitions
        );
        return report(&title, "clear", &records, args.json.as_deref(), &command);
    }

    let iterations = args.latency_iterations;
    let what = format!(
        "{iterations} single-block Node::fetch calls of a 4 KiB block vs {iterations} plain \
         round trips (16 B request, 4096 B reply), alternating, after a warmup"
    );
    bar.set_message("bench latency");
    let (ferry, baseline) = latency(&node, &config_args, iterations)?;
    bar.inc(1);
    records.extend(latency_records(
        "",
        ferry,
        baseline,
        Some(Target::AtMost(1.5)),
        &what,
    ));
    drop(node);

    // Again with every thread of both sides on one CPU: wake-ups then cost a
    // context switch, not a cross-CPU interrupt, so the figure shows the cost
    // of the software path with less scheduler noise.
    let pinned = affinity::pin_to_one_cpu()
        .map_err(|e| CliError::new(format!("cannot pin to one CPU: {e}")))?;
    let cpu = pinned.cpu;
    let pinned_node = Node::new(config)?;
    bar.set_message(format!("bench latency on CPU {cpu}"));
    let (ferry, baseline) = latency(&pinned_node, &config_args, iterations)?;
    bar.finish_and_clear();
    drop(pinned_node);
    drop(pinned);
    let what = format!("{what}; client, servers and all their threads pinned to CPU {cpu}");
    records.extend(latency_records("_1cpu", ferry, baseline, None, &what));

    let title = format!(
        "ferry bench: provider {provider}, loopback, {} per size, best of {} (throughput), \
         {} iterations (latency)",
        size_name(args.bytes_per_size),
        args.repetitions,
        args.latency_iterations
    );
    report(
        &title,
        "plain tcp",
        &records,
        args.json.as_deref(),
        &command,
    )
}

/// Prints the results table and, when asked, writes the records as a JSON array.
pub(crate) fn report(
    title: &str,
    baseline: &str,
    records: &[Record],
    json: Option<&std::path::Path>,
    command: &str,
) -> Result<()> {
    crate::say(records_table(title, baseline, records).trim_end())?;
    if let Some(path) = json {
        let objects: Vec<String> = records.iter().map(|r| r.to_json(command)).collect();
        let text = format!("[\n{}\n]\n", objects.join(",\n"));
        manifest::write_atomically(path, text.as_bytes())?;
        crate::say(format_args!("results written to {}", path.display()))?;
    }
    Ok(())
}

fn latency_records(
    suffix: &str,
    ferry: Latency,
    baseline: Latency,
    target: Option<Target>,
    what: &str,
) -> [Record; 2] {
    [
        Record {
            name: format!("latency_4k_median{suffix}"),
            ferry: ferry.median,
            baseline: baseline.median,
            unit: "us",
            target,
            detail: format!("median of {what}"),
        },
        Record {
            name: format!("latency_4k_p99{suffix}"),
            ferry: ferry.p99,
            baseline: baseline.p99,
            unit: "us",
            target: None,
            detail: format!("99th percentile of {what}"),
        },
    ]
}

/// `--against-clear`: a node and `ferry serve` settings with encryption off, the rest as given.
struct Clear {
    node: Node,
    config_args: Vec<String>,
}

impl Clear {
    fn new(
        config: &ferry_core::Config,
        pairs: &[(String, String)],
        args: &[String],
    ) -> Result<Self> {
        if config.encryption != Encryption::AesGcm {
            return Err(CliError::new(
                "--against-clear compares encrypted fetches with clear ones: \
                 set -c ferry.encryption=aes-gcm (and -c ferry.auth.secret=...)",
            ));
        }
        let off = ("ferry.encryption".to_string(), "none".to_string());
        let pairs: Vec<_> = pairs.iter().cloned().chain([off]).collect();
        let mut config_args = args.to_vec();
        config_args.extend(["-c".into(), "ferry.encryption=none".into()]);
        Ok(Clear {
            node: Node::new(crate::config(&pairs)?)?,
            config_args,
        })
    }
}

/// Best Ferry MB/s for blocks of `size` bytes, and the best of the baseline:
/// a plain stream of the same bytes, or with `clear` the same fetch unencrypted.
fn throughput(
    node: &Node,
    config_args: &[String],
    clear: Option<&Clear>,
    count: u64,
    size: u64,
    args: &BenchArgs,
    bar: &ProgressBar,
) -> Result<(f64, f64)> {
    let total = count * size;
    log::info!(
        "throughput at {}: {count} blocks, {total} bytes, best of {}",
        size_name(size),
        args.repetitions
    );
    let (ours, manifest) = ferry_server(config_args, count, size)?;
    // One fetch of every block, in MB/s; `verify` checks every block's crc32 too.
    let fetch = |node: &Node, addr, verify| -> Result<f64> {
        let outcome = fetch_blocks(node, addr, &manifest.blocks, verify, None);
        outcome.check(&manifest.blocks)?;
        Ok(mb_per_s(outcome.bytes, outcome.elapsed.as_secs_f64()))
    };
    // Each closure owns its server child, which lives as long as the closure.
    let mut baseline: Box<dyn FnMut(bool) -> Result<f64> + '_> = match clear {
        Some(clear) => {
            let (server, _) = ferry_server(&clear.config_args, count, size)?;
            Box::new(move |verify| {
                let server = &server;
                fetch(&clear.node, server.addr, verify)
            })
        }
        None => {
            let server = baseline_server(count, size)?;
            let mut plain = baseline::Client::connect(server.addr)?;
            Box::new(move |_| {
                let _server = &server;
                Ok(mb_per_s(total, plain.stream(total)?.as_secs_f64()))
            })
        }
    };

    // Untimed warmup that also verifies every block's crc32.
    bar.set_message(format!("bench {} warmup", size_name(size)));
    fetch(node, ours.addr, true)?;
    baseline(true)?;
    bar.inc(1);

    let (mut best_ferry, mut best_baseline) = (0f64, 0f64);
    for rep in 1..=args.repetitions {
        bar.set_message(format!(
            "bench {} round {rep}/{}",
            size_name(size),
            args.repetitions
        ));
        let ferry = fetch(node, ours.addr, false)?;
        let other = baseline(false)?;
        log::info!(
            "  {} rep {rep}: ferry {ferry:.1} MB/s, baseline {other:.1} MB/s",
            size_name(size)
        );
        best_ferry = best_ferry.max(ferry);
        best_baseline = best_baseline.max(other);
        bar.inc(1);
    }
    Ok((best_ferry, best_baseline))
}

pub(crate) struct Latency {
    pub median: f64,
    pub p99: f64,
}

impl Latency {
    pub fn of(mut samples: Vec<Duration>) -> Latency {
        samples.sort_unstable();
        let at = |q: f64| {
            let i = ((samples.len() as f64 * q).ceil() as usize).clamp(1, samples.len()) - 1;
            samples[i].as_secs_f64() * 1e6
        };
        Latency {
            median: at(0.5),
            p99: at(0.99),
        }
    }
}

/// 4 KiB single-block fetch latency against a plain 16 B -> 4 KiB round trip.
fn latency(node: &Node, config_args: &[String], iterations: u32) -> Result<(Latency, Latency)> {
    log::info!("latency: {iterations} single 4 KiB fetches and plain round trips");
    let (ferry_server, manifest) = ferry_server(config_args, LATENCY_BLOCKS, LATENCY_BLOCK)?;
    let plain_server = baseline_server(1, LATENCY_BLOCK)?;
    let mut plain = baseline::Client::connect(plain_server.addr)?;
    let warmup = (iterations / 10).max(100);

    let one = |i: u32| -> Result<Duration> {
        let spec = &manifest.blocks[i as usize % manifest.blocks.len()];
        let outcome = fetch_blocks(
            node,
            ferry_server.addr,
            std::slice::from_ref(spec),
            false,
            None,
        );
        outcome.check(std::slice::from_ref(spec))?;
        Ok(outcome.elapsed)
    };
    for i in 0..warmup {
        one(i)?;
        plain.round_trip(LATENCY_BLOCK as usize)?;
    }
    let mut ferry = Vec::with_capacity(iterations as usize);
    let mut baseline = Vec::with_capacity(iterations as usize);
    // Alternate, so both see the same machine conditions.
    for i in 0..iterations {
        ferry.push(one(i)?);
        baseline.push(plain.round_trip(LATENCY_BLOCK as usize)?);
    }
    Ok((Latency::of(ferry), Latency::of(baseline)))
}

fn ferry_server(config_args: &[String], count: u64, size: u64) -> Result<(ServerChild, Manifest)> {
    ferry_server_on(config_args, count, size, None)
}

/// A `ferry serve` child with `count` generated blocks of `size`, on `ip` (loopback by default).
pub(crate) fn ferry_server_on(
    config_args: &[String],
    count: u64,
    size: u64,
    ip: Option<std::net::IpAddr>,
) -> Result<(ServerChild, Manifest)> {
    let path = std::env::temp_dir().join(format!(
        "ferry-bench-{}-{}.json",
        std::process::id(),
        size_name(size)
    ));
    let mut args = vec!["serve".to_string()];
    args.extend_from_slice(config_args);
    if let Some(ip) = ip {
        args.extend([
            "--listen".into(),
            std::net::SocketAddr::new(ip, 0).to_string(),
        ]);
    }
    args.extend([
        "--generate".into(),
        count.to_string(),
        "--size".into(),
        size.to_string(),
        "--manifest".into(),
        path.display().to_string(),
    ]);
    let server = ServerChild::spawn("ferry server", &args)?;
    let manifest = Manifest::read(&path);
    let _ = std::fs::remove_file(&path);
    let manifest = manifest?;
    if manifest.blocks.len() as u64 != count {
        return Err(CliError::new(format!(
            "ferry server lists {} blocks, expected {count}",
            manifest.blocks.len()
        )));
    }
    Ok((server, manifest))
}

fn baseline_server(count: u64, size: u64) -> Result<ServerChild> {
    ServerChild::spawn(
        "baseline server",
        &[
            "baseline-server".into(),
            "--generate".into(),
            count.to_string(),
            "--size".into(),
            size.to_string(),
        ],
    )
}

/// The results as a text table under `title`: each record beside its baseline, with the ratio
/// and whether it meets its target.
fn records_table(title: &str, baseline: &str, records: &[Record]) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "{title}");
    let _ = writeln!(
        out,
        "{:<26} {:>10} {:>10} {:>6} {:>8}  target",
        "name", "ferry", baseline, "unit", "ratio"
    );
    for r in records {
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
    out
}

/// This invocation as a shell command line.
pub(crate) fn command_line() -> String {
    std::env::args()
        .map(|arg| {
            let plain = !arg.is_empty()
                && arg
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || "-_./=:,@%+".contains(c));
            if plain {
                arg
            } else {
                format!("'{}'", arg.replace('\'', r"'\''"))
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}
