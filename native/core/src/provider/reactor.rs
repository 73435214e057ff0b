//! A fixed set of I/O threads, each an edge-triggered mio poll loop, shared by
//! every connection and listener: no thread per connection.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};
use std::io;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Instant;

use crossbeam_channel::{unbounded, Receiver, Sender};

use mio::{event::Source, Events, Interest, Poll, Token, Waker};

use crate::error::{Error, Result};

const WAKE: Token = Token(0);

/// Something the reactor drives: a connection or a listener.
pub(crate) trait Driven: Send {
    fn source(&mut self) -> &mut dyn Source;
    /// Does all the I/O possible now. A short read may be taken to mean the
    /// socket is empty, except when `hangup` says the peer closed or failed:
    /// then read to the end, as no further event will come.
    /// An error closes the connection.
    fn drive(&mut self, reactor: &ReactorHandle, hangup: bool) -> Result<()>;
    /// The connection is gone: fail whatever waits on it.
    fn closed(&mut self, error: Error);
    /// When the connection must have moved on, asked once when it is added;
    /// returning `None` by then cancels it.
    fn deadline(&self) -> Option<Instant> {
        None
    }
    /// The deadline passed: the error that closes the connection.
    fn expired(&mut self) -> Error {
        Error::Timeout("deadline passed".into())
    }
}

enum Command {
    Add(Token, Box<dyn Driven>),
    Drive(Token),
    Shutdown,
}

struct WorkerLink {
    commands: Sender<Command>,
    waker: Arc<Waker>,
}

/// Cheap handle for adding work to the reactor from any thread.
pub(crate) struct ReactorHandle {
    workers: Vec<WorkerLink>,
    next_worker: AtomicUsize,
    next_token: AtomicUsize,
}

/// Wakes the worker that owns one connection, after new outbound work was queued.
#[derive(Clone)]
pub(crate) struct Notifier {
    commands: Sender<Command>,
    waker: Arc<Waker>,
    token: Token,
}

impl Notifier {
    pub fn notify(&self) {
        if self.commands.send(Command::Drive(self.token)).is_ok() {
            let _ = self.waker.wake();
        }
    }
}

impl ReactorHandle {
    /// Adds a connection to the next worker; `make` receives the notifier that wakes it.
    pub fn add(&self, make: impl FnOnce(Notifier) -> Box<dyn Driven>) {
        let worker =
            &self.workers[self.next_worker.fetch_add(1, Ordering::Relaxed) % self.workers.len()];
        let token = Token(self.next_token.fetch_add(1, Ordering::Relaxed));
        let notifier = Notifier {
            commands: worker.commands.clone(),
            waker: worker.waker.clone(),
            token,
        };
        let driven = make(notifier);
        if worker.commands.send(Command::Add(token, driven)).is_ok() {
            let _ = worker.waker.wake();
        }
    }
}

pub(crate) struct Reactor {
    handle: Arc<ReactorHandle>,
    threads: Vec<JoinHandle<()>>,
}

impl Reactor {
    pub fn start(threads: usize) -> Result<Reactor> {
        let mut workers = Vec::new();
        let mut pending = Vec::new();
        for _ in 0..threads {
            let poll = Poll::new()?;
            let waker = Arc::new(Waker::new(poll.registry(), WAKE)?);
            let (commands, inbox) = unbounded();
            workers.push(WorkerLink { commands, waker });
            pending.push((poll, inbox));
        }
        let handle = Arc::new(ReactorHandle {
            workers,
            next_worker: AtomicUsize::new(0),
            next_token: AtomicUsize::new(1),
        });
        let threads = pending
            .into_iter()
            .enumerate()
            .map(|(i, (poll, inbox))| {
                let handle = handle.clone();
                std::thread::Builder::new()
                    .name(format!("ferry-io-{i}"))
                    .spawn(move || run_worker(poll, inbox, &handle))
                    .map_err(Error::from)
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(Reactor { handle, threads })
    }

    pub fn handle(&self) -> &Arc<ReactorHandle> {
        &self.handle
    }
}

impl Drop for Reactor {
    fn drop(&mut self) {
        for worker in &self.handle.workers {
            let _ = worker.commands.send(Command::Shutdown);
            let _ = worker.waker.wake();
        }
        for thread in self.threads.drain(..) {
            let _ = thread.join();
        }
    }
}

fn run_worker(mut poll: Poll, inbox: Receiver<Command>, handle: &ReactorHandle) {
    let mut entries: HashMap<Token, Box<dyn Driven>> = HashMap::new();
    let mut timers: BinaryHeap<Reverse<(Instant, Token)>> = BinaryHeap::new();
    let mut events = Events::with_capacity(256);
    loop {
        let now = Instant::now();
        while timers.peek().is_some_and(|Reverse((due, _))| *due <= now) {
            let Reverse((_, token)) = timers.pop().expect("peeked");
            let expired = entries
                .get(&token)
                .and_then(|driven| driven.deadline())
                .is_some_and(|deadline| deadline <= now);
            if expired {
                let mut driven = entries.remove(&token).expect("present above");
                let _ = poll.registry().deregister(driven.source());
                let error = driven.expired();
                driven.closed(error);
            }
        }
        let timeout = timers
            .peek()
            .map(|Reverse((due, _))| due.saturating_duration_since(now));
        if let Err(e) = poll.poll(&mut events, timeout) {
            if e.kind() == io::ErrorKind::Interrupted {
                continue;
            }
            log::error!("ferry: I/O thread stops, poll failed: {e}");
            break;
        }
        let mut ready: Vec<(Token, bool)> = Vec::with_capacity(events.iter().count());
        for event in events.iter() {
            if event.token() != WAKE {
                let hangup = event.is_read_closed() || event.is_error();
                ready.push((event.token(), hangup));
                continue;
            }
            for command in inbox.try_iter() {
                match command {
                    Command::Add(token, mut driven) => {
                        match poll.registry().register(
                            driven.source(),
                            token,
                            Interest::READABLE | Interest::WRITABLE,
                        ) {
                            Ok(()) => {
                                if let Some(deadline) = driven.deadline() {
                                    timers.push(Reverse((deadline, token)));
                                }
                                entries.insert(token, driven);
                                ready.push((token, false));
                            }
                            Err(e) => driven.closed(e.into()),
                        }
                    }
                    Command::Drive(token) => ready.push((token, false)),
                    Command::Shutdown => {
                        for (_, mut driven) in entries.drain() {
                            driven.closed(Error::PeerClosed {
                                peer: "local".into(),
                                reason: "node closed".into(),
                            });
                        }
                        return;
                    }
                }
            }
        }
        ready.sort_unstable();
        ready.dedup_by(|later, earlier| {
            let same = later.0 == earlier.0;
            earlier.1 |= same && later.1;
            same
        });
        for (token, hangup) in ready {
            let Some(driven) = entries.get_mut(&token) else {
                continue;
            };
            // A bug in one connection's handling closes that connection, not the thread.
            let outcome = catch_unwind(AssertUnwindSafe(|| driven.drive(handle, hangup)))
                .unwrap_or_else(|_| {
                    Err(Error::Internal("panic while driving a connection".into()))
                });
            if let Err(error) = outcome {
                let mut driven = entries.remove(&token).expect("present above");
                let _ = poll.registry().deregister(driven.source());
                driven.closed(error);
            }
        }
    }
}
