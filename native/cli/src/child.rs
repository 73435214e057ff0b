//! Server child processes for `ferry bench`: this same binary, started with
//! `--until-stdin-closes` so it also exits if the bench dies, and killed when
//! the guard drops (on success, on error paths and during unwinding).

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use crate::{CliError, Result};

const START_TIMEOUT: Duration = Duration::from_secs(120);

pub struct ServerChild {
    name: String,
    child: Child,
    _stdin: Option<ChildStdin>,
    pub addr: SocketAddr,
}

impl ServerChild {
    /// Runs `ferry <args> --until-stdin-closes` and waits for its `listening on ADDR` line.
    pub fn spawn(name: &str, args: &[String]) -> Result<ServerChild> {
        let exe = std::env::current_exe()
            .map_err(|e| CliError::new(format!("cannot find the ferry executable: {e}")))?;
        let log_level = std::env::var("RUST_LOG").unwrap_or_else(|_| "warn".into());
        let mut child = Command::new(&exe)
            .args(args)
            .arg("--until-stdin-closes")
            .env("RUST_LOG", log_level)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .map_err(|e| CliError::new(format!("cannot start {name} ({}): {e}", exe.display())))?;
        let stdin = child.stdin.take();
        let stdout = child.stdout.take();
        // From here on, dropping `guard` kills the child.
        let mut guard = ServerChild {
            name: name.to_string(),
            child,
            _stdin: stdin,
            addr: SocketAddr::from(([127, 0, 0, 1], 0)),
        };
        let stdout = stdout.ok_or_else(|| CliError::new(format!("{name}: no stdout pipe")))?;
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            let mut lines = BufReader::new(stdout).lines();
            for line in lines.by_ref() {
                let Ok(line) = line else { break };
                if let Some(addr) = line.strip_prefix("listening on ") {
                    let _ = tx.send(addr.trim().to_string());
                    break;
                }
            }
            // Keep draining so the child never blocks on a full pipe.
            for _ in lines {}
        });
        let addr = match rx.recv_timeout(START_TIMEOUT) {
            Ok(addr) => addr,
            Err(_) => {
                let status = guard.child.try_wait().ok().flatten();
                return Err(CliError::new(match status {
                    Some(status) => format!("{name} exited ({status}) before listening"),
                    None => format!("{name} did not start listening within {START_TIMEOUT:?}"),
                }));
            }
        };
        guard.addr = addr
            .parse()
            .map_err(|_| CliError::new(format!("{name} printed a bad address `{addr}`")))?;
        log::debug!(
            "{name} (pid {}) listens on {}",
            guard.child.id(),
            guard.addr
        );
        Ok(guard)
    }
}

impl Drop for ServerChild {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        log::debug!("stopped {}", self.name);
    }
}
