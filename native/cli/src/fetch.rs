//! `ferry fetch`: fetch every block of a manifest in one batch and verify it.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use clap::Args;
use ferry_core::Node;
use indicatif::ProgressBar;

use crate::manifest::{BlockSpec, Manifest};
use crate::{mb_per_s, CliError, Result};

#[derive(Args)]
pub struct FetchArgs {
    /// The manifest `ferry serve --manifest` wrote.
    #[arg(long, value_name = "M.json")]
    pub manifest: PathBuf,

    /// Fetch from this address instead of the manifest's.
    #[arg(long, value_name = "ADDR")]
    pub peer: Option<SocketAddr>,

    /// Fetch the whole set this many times (over the same connection).
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..))]
    pub repeat: u32,
}

pub fn run(pairs: &[(String, String)], args: FetchArgs) -> Result<()> {
    let config = crate::config(pairs)?;
    let manifest = Manifest::read(&args.manifest)?;
    let peer = args.peer.unwrap_or(manifest.addr);
    let node = Node::new(config)?;
    let total = manifest.blocks.iter().map(|b| b.len).sum();
    for round in 1..=args.repeat {
        let bar = crate::progress::bytes(total, &format!("fetch {round}/{}", args.repeat));
        let outcome = fetch_blocks(&node, peer, &manifest.blocks, true, Some(&bar));
        bar.finish_and_clear();
        outcome.check(&manifest.blocks)?;
        let seconds = outcome.elapsed.as_secs_f64();
        crate::say(format!(
            "{}blocks {}, bytes {}, seconds {seconds:.4}, MB/s {:.1}",
            if args.repeat > 1 {
                format!("[{round}/{}] ", args.repeat)
            } else {
                String::new()
            },
            outcome.blocks,
            outcome.bytes,
            mb_per_s(outcome.bytes, seconds)
        ))?;
    }
    Ok(())
}

/// What one batched fetch did.
pub struct Outcome {
    pub blocks: usize,
    pub bytes: u64,
    pub elapsed: Duration,
    /// Blocks that failed or did not verify, by index, with the reason.
    pub failures: Vec<(usize, String)>,
}

impl Outcome {
    /// An error naming the failed blocks (grouped by reason), if any failed.
    pub fn check(&self, blocks: &[BlockSpec]) -> Result<()> {
        if self.failures.is_empty() {
            return Ok(());
        }
        let mut by_reason: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
        for (block, reason) in &self.failures {
            let id = blocks.get(*block).map_or("?", |b| b.id.as_str());
            by_reason.entry(reason).or_default().push(id);
        }
        let mut message = format!("{} of {} blocks failed:", self.failures.len(), blocks.len());
        for (reason, ids) in by_reason {
            const SHOWN: usize = 8;
            let mut names = ids[..ids.len().min(SHOWN)].join(", ");
            if ids.len() > SHOWN {
                names.push_str(&format!(" and {} more", ids.len() - SHOWN));
            }
            message.push_str(&format!("\n  {names}: {reason}"));
        }
        Err(CliError::new(message))
    }
}

struct Progress {
    received: u64,
    crc: crc32fast::Hasher,
    done: bool,
    failed: Option<String>,
}

/// Fetches `blocks` from `peer` as one batch. Checks every chunk's length and
/// order; with `verify_crc`, also each block's crc32. Chunks are dropped at once;
/// their bytes advance `bar`, if given.
pub fn fetch_blocks(
    node: &Node,
    peer: SocketAddr,
    blocks: &[BlockSpec],
    verify_crc: bool,
    bar: Option<&ProgressBar>,
) -> Outcome {
    let ids = blocks.iter().map(|b| b.id.clone().into_bytes()).collect();
    let mut progress: Vec<Progress> = blocks
        .iter()
        .map(|_| Progress {
            received: 0,
            crc: crc32fast::Hasher::new(),
            done: false,
            failed: None,
        })
        .collect();
    let mut bytes = 0u64;
    let mut stray = Vec::new();
    let start = Instant::now();
    for item in node.fetch(vec![(peer, ids)]) {
        let chunk = match item {
            Ok(chunk) => chunk,
            Err(failure) => {
                match progress.get_mut(failure.block) {
                    Some(p) if p.failed.is_none() => p.failed = Some(failure.error.to_string()),
                    Some(_) => {}
                    None => stray.push(format!("failure for unknown block {}", failure.block)),
                }
                continue;
            }
        };
        let (Some(p), Some(spec)) = (progress.get_mut(chunk.block), blocks.get(chunk.block)) else {
            stray.push(format!("chunk for unknown block {}", chunk.block));
            continue;
        };
        if p.failed.is_some() || p.done {
            if p.done {
                p.failed = Some(format!(
                    "chunk at offset {} after the block was complete",
                    chunk.offset
                ));
            }
            continue;
        }
        let len = chunk.data.len() as u64;
        bytes += len;
        if let Some(bar) = bar {
            bar.inc(len);
        }
        if chunk.block_len != spec.len {
            p.failed = Some(format!(
                "length mismatch: fetched {} bytes, manifest says {}",
                chunk.block_len, spec.len
            ));
            continue;
        }
        if chunk.offset != p.received {
            p.failed = Some(format!(
                "chunk at offset {} where {} was expected",
                chunk.offset, p.received
            ));
            continue;
        }
        if verify_crc {
            p.crc.update(&chunk.data);
        }
        p.received += len;
        if chunk.is_last() {
            p.done = true;
            if p.received != spec.len {
                p.failed = Some(format!(
                    "length mismatch: fetched {} bytes, manifest says {}",
                    p.received, spec.len
                ));
            } else if verify_crc {
                let crc = std::mem::replace(&mut p.crc, crc32fast::Hasher::new()).finalize();
                if crc != spec.crc32 {
                    p.failed = Some(format!(
                        "crc32 mismatch: fetched {crc:#010x}, manifest says {:#010x}",
                        spec.crc32
                    ));
                }
            }
        }
    }
    let elapsed = start.elapsed();
    for reason in stray {
        log::error!("{reason}");
    }
    let failures = progress
        .into_iter()
        .enumerate()
        .filter_map(|(i, p)| match p.failed {
            Some(reason) => Some((i, reason)),
            None if !p.done => Some((
                i,
                format!(
                    "incomplete: {} of {} bytes arrived",
                    p.received, blocks[i].len
                ),
            )),
            None => None,
        })
        .collect();
    Outcome {
        blocks: blocks.len(),
        bytes,
        elapsed,
        failures,
    }
}
