//! `ferry serve`: register files cut into blocks and/or generated blocks, write
//! a manifest, and serve until killed (or until stdin closes).

use std::io::Read;
use std::net::SocketAddr;
use std::path::PathBuf;

use clap::Args;
use ferry_core::Node;

use crate::error::Context;
use crate::manifest::{BlockSpec, Manifest};
use crate::{gen, CliError, Result};

#[derive(Args)]
pub struct ServeArgs {
    /// Address to serve on; port 0 picks a free port.
    #[arg(long, default_value = "127.0.0.1:0")]
    pub listen: SocketAddr,

    /// A file to serve, cut into blocks `<file index>:<block index>` (repeatable).
    #[arg(long = "file", value_name = "PATH")]
    pub files: Vec<PathBuf>,

    /// Block size for --file (k/m/g suffixes).
    #[arg(long, default_value = "1m", value_parser = crate::size_arg)]
    pub block_size: u64,

    /// Serve COUNT generated blocks `gen:<i>` of deterministic pseudo-random bytes.
    #[arg(long, value_name = "COUNT", requires = "size")]
    pub generate: Option<u64>,

    /// Size of each generated block (k/m/g suffixes).
    #[arg(long, value_name = "BYTES", value_parser = crate::size_arg, requires = "generate")]
    pub size: Option<u64>,

    /// Write {"addr", "blocks": [{"id", "len", "crc32"}]} here (atomically).
    #[arg(long, value_name = "OUT.json")]
    pub manifest: Option<PathBuf>,

    /// Exit when standard input reaches end of file (for tests and `ferry bench`).
    #[arg(long)]
    pub until_stdin_closes: bool,
}

pub fn run(pairs: &[(String, String)], args: ServeArgs) -> Result<()> {
    let config = crate::config(pairs)?;
    if args.files.is_empty() && args.generate.is_none() {
        return Err(CliError::new(
            "nothing to serve: give --file PATH and/or --generate COUNT --size BYTES",
        ));
    }
    let node = Node::new(config)?;
    let mut blocks = Vec::new();
    for (index, path) in args.files.iter().enumerate() {
        register_file(&node, index, path, args.block_size, &mut blocks)?;
    }
    if let (Some(count), Some(size)) = (args.generate, args.size) {
        register_generated(&node, count, size, &mut blocks)?;
    }
    let total: u64 = blocks.iter().map(|b| b.len).sum();
    log::info!("registered {} blocks, {total} bytes", blocks.len());

    let addr = node.serve(args.listen)?;
    if let Some(path) = &args.manifest {
        Manifest { addr, blocks }.write(path)?;
    }
    crate::say(format_args!("listening on {addr}"))?;

    if args.until_stdin_closes {
        let mut sink = [0u8; 256];
        let mut stdin = std::io::stdin().lock();
        loop {
            match stdin.read(&mut sink) {
                Ok(0) => break,
                Ok(_) => {}
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => return Err(CliError::new(format!("reading stdin: {e}"))),
            }
        }
        log::info!("stdin closed, stopping");
        Ok(())
    } else {
        // SIGTERM and SIGINT end the process; nothing needs flushing.
        loop {
            std::thread::park();
        }
    }
}

fn register_file(
    node: &Node,
    index: usize,
    path: &std::path::Path,
    block_size: u64,
    blocks: &mut Vec<BlockSpec>,
) -> Result<()> {
    // One read-only mapping per file; blocks are ranges of it.
    let region_id = node.regions().register_file(path, 0, None)?;
    let region = node
        .regions()
        .get(region_id)
        .ok_or_else(|| CliError::new(format!("{}: region vanished", path.display())))?;
    let len = region.len();
    if len == 0 {
        log::warn!("{} is empty: no blocks", path.display());
    }
    let mut offset = 0;
    let mut block = 0;
    while offset < len {
        let block_len = block_size.min(len - offset);
        let bytes = region
            .read(offset, block_len)
            .map_err(|e| CliError::new(e.to_string()))?;
        let id = format!("{index}:{block}");
        node.register_region_block(id.clone().into_bytes(), region_id, offset, block_len)
            .context(|| format!("registering {id} of {}", path.display()))?;
        blocks.push(BlockSpec {
            id,
            len: block_len,
            crc32: crc32fast::hash(&bytes),
        });
        offset += block_len;
        block += 1;
    }
    log::info!("{}: {len} bytes in {block} blocks", path.display());
    Ok(())
}

fn register_generated(
    node: &Node,
    count: u64,
    size: u64,
    blocks: &mut Vec<BlockSpec>,
) -> Result<()> {
    let data = gen::generate(count, size)?;
    let crcs: Vec<u32> = data.chunks(size as usize).map(crc32fast::hash).collect();
    let region = node.regions().register_bytes(data);
    for (i, crc32) in crcs.into_iter().enumerate() {
        let id = format!("gen:{i}");
        node.register_region_block(id.clone().into_bytes(), region, i as u64 * size, size)
            .context(|| format!("registering {id}"))?;
        blocks.push(BlockSpec {
            id,
            len: size,
            crc32,
        });
    }
    Ok(())
}
