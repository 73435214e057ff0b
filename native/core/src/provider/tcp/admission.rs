//! Which connections a server holds: at most `ferry.server.connections.max` in
//! all, and at most `ferry.server.unauthenticated.max` still in the handshake.
//! A connection over the first cap is refused with an error frame naming the
//! key; one over the second closes the connection that has waited longest for
//! its hello, so a flood of silent peers cannot lock out one that answers at
//! once. Descriptors stay within the caps, never at the mercy of `accept`.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::config::ServerLimits;
use crate::provider::reactor::Notifier;

pub(crate) struct Admission {
    max: usize,
    max_waiting: usize,
    open: AtomicUsize,
    /// Connections in the handshake, oldest first.
    waiting: Mutex<VecDeque<Waiting>>,
    next_id: AtomicU64,
    refusals: Warnings,
    evictions: Warnings,
    /// Handshakes that failed or ran out of time.
    unproven: Warnings,
}

struct Waiting {
    id: u64,
    peer: SocketAddr,
    evicted: Arc<AtomicBool>,
    notifier: Notifier,
}

impl Admission {
    /// Caps from `limits`, the total held to half of `descriptors` (the process's limit).
    pub fn new(limits: &ServerLimits, descriptors: Option<u64>) -> Admission {
        let mut max = limits.max_connections;
        if let Some(cap) = descriptors
            .map(|n| (n / 2) as usize)
            .filter(|&cap| cap < max)
        {
            log::info!(
                "ferry: serving at most {cap} connections, half the descriptor limit \
                 ({} open files), below ferry.server.connections.max={max}",
                descriptors.unwrap_or_default()
            );
            max = cap.max(1);
        }
        Admission {
            max,
            max_waiting: limits.max_unauthenticated.min(max),
            open: AtomicUsize::new(0),
            waiting: Mutex::new(VecDeque::new()),
            next_id: AtomicU64::new(0),
            refusals: Warnings::default(),
            evictions: Warnings::default(),
            unproven: Warnings::default(),
        }
    }

    /// A place for a new connection from `peer`, or the refusal to send it.
    pub fn admit(self: &Arc<Self>, peer: SocketAddr) -> Result<Ticket, String> {
        let taken = self
            .open
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                (n < self.max).then_some(n + 1)
            });
        if taken.is_err() {
            let message = format!(
                "the server holds its maximum of {} connections (ferry.server.connections.max)",
                self.max
            );
            self.refusals
                .warn(|| format!("ferry: refused a connection from {peer}: {message}"));
            return Err(message);
        }
        Ok(Ticket {
            admission: self.clone(),
            id: self.next_id.fetch_add(1, Ordering::Relaxed),
            evicted: Arc::new(AtomicBool::new(false)),
            waiting: false,
        })
    }

    /// Counts `ticket` among the connections in the handshake, closing the
    /// oldest of them when that makes one too many.
    fn wait(&self, ticket: &Ticket, peer: SocketAddr, notifier: Notifier) {
        let mut waiting = self.waiting.lock().unwrap();
        if waiting.len() >= self.max_waiting {
            let oldest = waiting.pop_front().expect("max_waiting is at least 1");
            oldest.evicted.store(true, Ordering::Release);
            oldest.notifier.notify();
            self.evictions.warn(|| {
                format!(
                    "ferry: closing the connection from {} that waited longest for its hello: \
                     {} connections are in the handshake (ferry.server.unauthenticated.max)",
                    oldest.peer, self.max_waiting
                )
            });
        }
        waiting.push_back(Waiting {
            id: ticket.id,
            peer,
            evicted: ticket.evicted.clone(),
            notifier,
        });
    }

    fn done_waiting(&self, id: u64) {
        let mut waiting = self.waiting.lock().unwrap();
        if let Some(at) = waiting.iter().position(|w| w.id == id) {
            waiting.remove(at);
        }
    }
}

/// A connection's place; given back when dropped.
pub(crate) struct Ticket {
    admission: Arc<Admission>,
    id: u64,
    evicted: Arc<AtomicBool>,
    waiting: bool,
}

impl Ticket {
    /// The connection starts its handshake; `notifier` wakes it if it is evicted.
    pub fn start_handshake(&mut self, peer: SocketAddr, notifier: Notifier) {
        self.admission.wait(self, peer, notifier);
        self.waiting = true;
    }

    /// The peer proved itself: it no longer counts as waiting.
    pub fn authenticated(&mut self) {
        if std::mem::take(&mut self.waiting) {
            self.admission.done_waiting(self.id);
        }
    }

    /// Logs, at a bounded rate, why a connection that never proved itself is closed.
    pub fn warn_unproven(&self, message: impl FnOnce() -> String) {
        self.admission.unproven.warn(message);
    }

    /// Whether a newer connection took this one's place in the handshake.
    pub fn evicted(&self) -> bool {
        self.evicted.load(Ordering::Acquire)
    }
}

impl Drop for Ticket {
    fn drop(&mut self) {
        self.authenticated();
        self.admission.open.fetch_sub(1, Ordering::AcqRel);
    }
}

/// A warning logged at most every ten seconds, with the count of those held back:
/// a flood of refusals must not become a flood of log lines.
#[derive(Default)]
pub(crate) struct Warnings {
    last: Mutex<Option<Instant>>,
    held_back: AtomicU64,
}

const WARN_EVERY: Duration = Duration::from_secs(10);

impl Warnings {
    /// Logs `message` unless one was logged less than ten seconds ago; returns whether it did.
    pub fn warn(&self, message: impl FnOnce() -> String) -> bool {
        let mut last = self.last.lock().unwrap();
        if last.is_some_and(|at| at.elapsed() < WARN_EVERY) {
            self.held_back.fetch_add(1, Ordering::Relaxed);
            return false;
        }
        *last = Some(Instant::now());
        match self.held_back.swap(0, Ordering::Relaxed) {
            0 => log::warn!("{}", message()),
            n => log::warn!("{} ({n} more like it since the last)", message()),
        }
        true
    }
}

/// The soft limit on open descriptors of this process, if it has one.
pub(crate) fn descriptor_limit() -> Option<u64> {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit fills the struct it is given.
    let ok = unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) } == 0;
    (ok && limit.rlim_cur != libc::RLIM_INFINITY).then_some(limit.rlim_cur)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits(max_connections: usize, max_unauthenticated: usize) -> ServerLimits {
        ServerLimits {
            max_connections,
            max_unauthenticated,
            ..crate::Config::default().server
        }
    }

    #[test]
    fn the_total_cap_refuses_by_name_and_frees_on_drop() {
        let admission = Arc::new(Admission::new(&limits(2, 2), None));
        let peer = "192.0.2.1:9".parse().unwrap();
        let a = admission.admit(peer).unwrap();
        let _b = admission.admit(peer).unwrap();
        let refused = admission.admit(peer).err().unwrap();
        assert!(
            refused.contains("ferry.server.connections.max"),
            "{refused}"
        );
        drop(a);
        assert!(admission.admit(peer).is_ok());
    }

    #[test]
    fn a_flood_of_warnings_logs_one_and_counts_the_rest() {
        let warnings = Warnings::default();
        assert!(warnings.warn(|| "first".into()));
        for _ in 0..1000 {
            assert!(!warnings.warn(|| unreachable!("held back")));
        }
        assert_eq!(warnings.held_back.load(Ordering::Relaxed), 1000);
    }

    #[test]
    fn the_descriptor_limit_halves_the_cap() {
        let admission = Admission::new(&limits(4096, 256), Some(1024));
        assert_eq!((admission.max, admission.max_waiting), (512, 256));
        let admission = Admission::new(&limits(4096, 256), Some(100));
        assert_eq!((admission.max, admission.max_waiting), (50, 50));
    }
}
