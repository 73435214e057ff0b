//! `ferry`: inspect the local setup, serve blocks, fetch them, and benchmark
//! the transport against plain TCP.

mod affinity;
mod baseline;
mod bench;
mod bench_verbs;
mod child;
mod error;
mod fetch;
mod gen;
mod info;
mod manifest;
mod progress;
mod serve;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

pub use error::{CliError, Result};

#[derive(Parser)]
#[command(
    name = "ferry",
    version,
    about = "Ferry block transport: inspect, serve, fetch, benchmark"
)]
struct Cli {
    /// A configuration setting, KEY=VALUE (repeatable; `ferry info` lists the keys).
    #[arg(short = 'c', long = "config", value_name = "KEY=VALUE", global = true)]
    config: Vec<String>,

    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Show providers, RDMA devices and every configuration key.
    Info,
    /// Serve files and/or generated blocks until killed.
    Serve(serve::ServeArgs),
    /// Fetch every block named in a manifest and verify it.
    Fetch(fetch::FetchArgs),
    /// Measure Ferry over loopback against plain TCP.
    Bench(bench::BenchArgs),
    /// The plain-TCP side of `ferry bench` (internal).
    #[command(hide = true)]
    BaselineServer(baseline::BaselineArgs),
}

fn main() -> ExitCode {
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("info"))
        .target(env_logger::Target::Pipe(Box::new(progress::LogWriter)))
        .init();
    let cli = Cli::parse();
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            use std::io::Write;
            let _ = writeln!(std::io::stderr(), "ferry: {error}");
            ExitCode::FAILURE
        }
    }
}

fn run(cli: Cli) -> Result<()> {
    let pairs = config_pairs(&cli.config)?;
    match cli.command {
        Command::Info => info::run(&pairs),
        Command::Serve(args) => serve::run(&pairs, args),
        Command::Fetch(args) => fetch::run(&pairs, args),
        Command::Bench(args) => bench::run(&cli.config, &pairs, args),
        Command::BaselineServer(args) => baseline::run(args),
    }
}

/// Splits `-c key=value` settings; the keys and values are checked by `Config::from_pairs`.
fn config_pairs(settings: &[String]) -> Result<Vec<(String, String)>> {
    settings
        .iter()
        .map(|setting| {
            setting
                .split_once('=')
                .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
                .ok_or_else(|| {
                    CliError::new(format!(
                        "-c/--config `{setting}`: expected KEY=VALUE (see `ferry info` for the keys)"
                    ))
                })
        })
        .collect()
}

pub fn config(pairs: &[(String, String)]) -> Result<ferry_core::Config> {
    Ok(ferry_core::Config::from_pairs(
        pairs.iter().map(|(k, v)| (k.as_str(), v.as_str())),
    )?)
}

/// Parses sizes like `4096`, `64k`, `1m`, `2g` (powers of 1024) for clap.
pub fn size_arg(value: &str) -> std::result::Result<u64, String> {
    match ferry_core::config::parse_size("size", value) {
        Ok(n) => Ok(n as u64),
        Err(ferry_core::Error::Config { message, .. }) => Err(message),
        Err(other) => Err(other.to_string()),
    }
}

/// `1m`-style rendering of a byte count, for tables and names.
pub fn size_name(bytes: u64) -> String {
    const UNITS: [(u64, &str); 3] = [(1 << 30, "g"), (1 << 20, "m"), (1 << 10, "k")];
    for (unit, suffix) in UNITS {
        if bytes >= unit && bytes % unit == 0 {
            return format!("{}{suffix}", bytes / unit);
        }
    }
    bytes.to_string()
}

/// Writes a line to stdout; a closed stdout is an error, not a panic.
pub fn say(line: impl std::fmt::Display) -> Result<()> {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    writeln!(out, "{line}")
        .and_then(|()| out.flush())
        .map_err(|e| CliError::new(format!("writing to stdout: {e}")))
}

/// Throughput in MB/s (10^6 bytes per second).
pub fn mb_per_s(bytes: u64, seconds: f64) -> f64 {
    if seconds > 0.0 {
        bytes as f64 / seconds / 1e6
    } else {
        0.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn config_pairs_split_at_the_first_equals() {
        let pairs = config_pairs(&["ferry.auth.secret=a=b".into()]).unwrap();
        assert_eq!(pairs, vec![("ferry.auth.secret".into(), "a=b".into())]);
        let err = config_pairs(&["ferry.io.threads".into()]).unwrap_err();
        assert!(err.to_string().contains("ferry.io.threads"), "{err}");
    }

    #[test]
    fn sizes_parse_and_print() {
        assert_eq!(size_arg("4k").unwrap(), 4096);
        assert_eq!(size_arg("1m").unwrap(), 1 << 20);
        assert!(size_arg("1q").is_err());
        assert_eq!(size_name(4096), "4k");
        assert_eq!(size_name(8 << 20), "8m");
        assert_eq!(size_name(1500), "1500");
    }

    #[test]
    fn cli_definition_is_consistent() {
        use clap::CommandFactory;
        Cli::command().debug_assert();
    }
}
