//! Helpers for running the `ferry` binary in tests: servers that are killed when
//! dropped, commands with a deadline, and per-test scratch directories.

#![allow(dead_code)]

use std::fs;
use std::io::{BufRead, BufReader, Read};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

pub const FERRY: &str = env!("CARGO_BIN_EXE_ferry");

/// A fresh scratch directory for one test.
pub fn scratch(test: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("cli-{test}"));
    let _ = fs::remove_dir_all(&dir);
    fs::create_dir_all(&dir).unwrap();
    dir
}

/// A `ferry serve` child; killed (SIGKILL) and reaped when dropped.
pub struct Server {
    pub child: Child,
    pub addr: SocketAddr,
    pub manifest: PathBuf,
    pub log: PathBuf,
}

impl Server {
    /// Runs `ferry serve <args> --manifest <dir>/<name>.json --until-stdin-closes`.
    pub fn start(dir: &Path, name: &str, args: &[&str]) -> Server {
        Server::start_with(dir, name, args, |_| {})
    }

    /// [`start`](Self::start), with `setup` adjusting the command first (limits, environment).
    pub fn start_with(
        dir: &Path,
        name: &str,
        args: &[&str],
        setup: impl FnOnce(&mut Command),
    ) -> Server {
        let manifest = dir.join(format!("{name}.json"));
        let log = dir.join(format!("{name}.log"));
        let mut command = Command::new(FERRY);
        setup(&mut command);
        let mut child = command
            .arg("serve")
            .args(args)
            .arg("--manifest")
            .arg(&manifest)
            .arg("--until-stdin-closes")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(fs::File::create(&log).unwrap())
            .spawn()
            .expect("start ferry serve");
        let stdout = child.stdout.take().unwrap();
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if let Some(addr) = line.strip_prefix("listening on ") {
                    let _ = tx.send(addr.to_string());
                }
            }
        });
        let addr = match rx.recv_timeout(Duration::from_secs(30)) {
            Ok(addr) => addr.parse().unwrap(),
            Err(_) => {
                let _ = child.kill();
                let _ = child.wait();
                panic!(
                    "ferry serve did not start; its log:\n{}",
                    fs::read_to_string(&log).unwrap_or_default()
                );
            }
        };
        Server {
            child,
            addr,
            manifest,
            log,
        }
    }

    /// SIGKILL, and wait until the process is gone.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.kill();
    }
}

pub struct Output {
    pub status: ExitStatus,
    pub stdout: String,
    pub stderr: String,
    pub elapsed: Duration,
}

impl Output {
    pub fn success(&self) -> bool {
        self.status.success()
    }

    /// Fails the test (showing the output) unless the command succeeded.
    pub fn assert_ok(&self) -> &Self {
        assert!(
            self.success(),
            "ferry failed ({}):\nstdout:\n{}\nstderr:\n{}",
            self.status,
            self.stdout,
            self.stderr
        );
        self
    }

    /// Fails the test unless the command failed with exit code 1, cleanly (no panic).
    pub fn assert_failed(&self) -> &Self {
        assert_eq!(
            self.status.code(),
            Some(1),
            "expected exit code 1:\nstdout:\n{}\nstderr:\n{}",
            self.stdout,
            self.stderr
        );
        assert!(!self.stderr.contains("panicked"), "panic:\n{}", self.stderr);
        self
    }
}

/// Runs `ferry <args>`; kills it and fails the test if it runs past `deadline`.
pub fn ferry_within(deadline: Duration, args: &[&str]) -> Output {
    let start = Instant::now();
    let mut child = Command::new(FERRY)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run ferry");
    let mut stdout = child.stdout.take().unwrap();
    let mut stderr = child.stderr.take().unwrap();
    let out = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = stdout.read_to_string(&mut s);
        s
    });
    let err = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = stderr.read_to_string(&mut s);
        s
    });
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if start.elapsed() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!(
                "`ferry {}` still running after {deadline:?}; stderr:\n{}",
                args.join(" "),
                err.join().unwrap()
            );
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    Output {
        status,
        stdout: out.join().unwrap(),
        stderr: err.join().unwrap(),
        elapsed: start.elapsed(),
    }
}

pub fn ferry(args: &[&str]) -> Output {
    ferry_within(Duration::from_secs(60), args)
}

/// Deterministic, incompressible-looking test bytes.
pub fn pseudo_random(len: usize, seed: u64) -> Vec<u8> {
    let mut state = seed ^ 0x2545_F491_4F6C_DD1D;
    (0..len)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            (state >> 24) as u8
        })
        .collect()
}

/// The manifest as JSON.
pub fn manifest(path: &Path) -> serde_json::Value {
    serde_json::from_str(&fs::read_to_string(path).unwrap()).unwrap()
}
