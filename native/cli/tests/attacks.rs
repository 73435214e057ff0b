//! Hostile peers against a real `ferry serve` over loopback, one test per kind
//! of attack: each sends the traffic an attacker would and asserts what the
//! server may spend (resident memory, descriptors, CPU), that an honest fetch
//! is still served in time, that the process lives, and the refusal's text.
//!
//! Figures print with `--nocapture`; the README's "Limits a peer cannot pass"
//! records them before and after the bounds.

mod common;

use std::fs;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::Command;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use common::{pseudo_random, scratch, Server};
use ferry_core::protocol::handshake::ClientHandshake;
use ferry_core::protocol::{decode, encode, Frame, CAP_LZ4};
use ferry_core::{Config, Node};

const MIB: u64 = 1 << 20;

/// One attack at a time: each measures a whole process and loads the machine.
static SERIAL: Mutex<()> = Mutex::new(());

fn serial() -> std::sync::MutexGuard<'static, ()> {
    SERIAL.lock().unwrap_or_else(|e| e.into_inner())
}

fn s(path: &std::path::Path) -> &str {
    path.to_str().unwrap()
}

/// Resident bytes of process `pid`.
fn resident(pid: u32) -> u64 {
    let statm = fs::read_to_string(format!("/proc/{pid}/statm")).unwrap();
    let pages: u64 = statm.split_whitespace().nth(1).unwrap().parse().unwrap();
    pages * 4096
}

/// Open descriptors of process `pid`.
fn descriptors(pid: u32) -> usize {
    fs::read_dir(format!("/proc/{pid}/fd")).unwrap().count()
}

/// User plus system CPU time process `pid` has used.
fn cpu(pid: u32) -> Duration {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    let fields: Vec<u64> = stat[stat.rfind(')').unwrap() + 2..]
        .split_whitespace()
        .skip(11) // utime is field 14; the slice starts at field 3
        .take(2)
        .map(|f| f.parse().unwrap())
        .collect();
    // SAFETY: sysconf only reads a constant.
    let ticks = unsafe { libc::sysconf(libc::_SC_CLK_TCK) } as u64;
    Duration::from_millis((fields[0] + fields[1]) * 1000 / ticks)
}

/// The highest resident size once it stops growing (steady for a second, or after `limit`).
fn settled_resident(pid: u32, limit: Duration) -> u64 {
    let start = Instant::now();
    let (mut peak, mut steady) = (resident(pid), Instant::now());
    while start.elapsed() < limit && steady.elapsed() < Duration::from_secs(1) {
        std::thread::sleep(Duration::from_millis(100));
        let now = resident(pid);
        if now > peak + MIB {
            steady = Instant::now();
        }
        peak = peak.max(now);
    }
    peak
}

fn assert_alive(server: &mut Server) {
    assert!(
        server.child.try_wait().unwrap().is_none(),
        "ferry serve died; its log:\n{}",
        fs::read_to_string(&server.log).unwrap_or_default()
    );
}

/// The server lives and served the honest fetch, in time.
fn assert_served(server: &mut Server, latency: Duration, fetched: Result<(), String>) {
    assert_alive(server);
    fetched.unwrap();
    assert!(
        latency < Duration::from_secs(5),
        "honest fetch took {latency:?}"
    );
}

/// `ferry serve` of a 32 KiB file, block `0:0` (its bytes are returned), and what `args` add.
fn serve_small(test: &str, args: &[&str], setup: impl FnOnce(&mut Command)) -> (Server, Vec<u8>) {
    let dir = scratch(test);
    let small = pseudo_random(32 << 10, 7);
    let path = dir.join("small.bin");
    fs::write(&path, &small).unwrap();
    let all: Vec<&str> = ["--file", s(&path)].iter().chain(args).copied().collect();
    (Server::start_with(&dir, "server", &all, setup), small)
}

fn log_of(server: &Server) -> String {
    fs::read_to_string(&server.log).unwrap_or_default()
}

fn connect(addr: SocketAddr) -> Option<TcpStream> {
    let stream = TcpStream::connect_timeout(&addr, Duration::from_secs(2)).ok()?;
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    Some(stream)
}

/// The next frame from `stream` (bytes kept in `inbox`), or None once it closes.
fn recv(stream: &mut TcpStream, inbox: &mut Vec<u8>) -> Option<Frame> {
    loop {
        if let Ok(Some((frame, n))) = decode(inbox) {
            inbox.drain(..n);
            return Some(frame);
        }
        let mut buf = [0u8; 4096];
        match stream.read(&mut buf) {
            Ok(0) | Err(_) => return None,
            Ok(n) => inbox.extend_from_slice(&buf[..n]),
        }
    }
}

/// A connection that completed the handshake asking for `caps`; the welcome's caps.
fn authenticated(addr: SocketAddr, secret: Option<&str>, caps: u32) -> (TcpStream, u32) {
    let mut stream = connect(addr).expect("connect");
    let mut inbox = Vec::new();
    let hello = recv(&mut stream, &mut inbox).expect("server hello");
    let (handshake, reply) =
        ClientHandshake::answer(hello, caps, secret.map(|s| s.as_bytes().to_vec())).unwrap();
    stream.write_all(&encoded(&[reply])).unwrap();
    let agreed = handshake
        .finish(recv(&mut stream, &mut inbox).expect("welcome"))
        .unwrap();
    (stream, agreed.caps)
}

fn encoded(frames: &[Frame]) -> Vec<u8> {
    let mut bytes = Vec::new();
    for frame in frames {
        encode(frame, &mut bytes);
    }
    bytes
}

/// Writes what the peer takes of `bytes` within a few seconds (a server that
/// stopped reading makes the rest wait in vain); returns how much it took.
fn push(stream: &mut TcpStream, bytes: &[u8]) -> usize {
    stream
        .set_write_timeout(Some(Duration::from_secs(3)))
        .unwrap();
    let mut at = 0;
    while at < bytes.len() {
        match stream.write(&bytes[at..]) {
            Ok(0) | Err(_) => break,
            Ok(n) => at += n,
        }
    }
    at
}

/// An honest client's fetch of `ids` (checked against `want`) and how long it took.
fn honest_fetch(
    addr: SocketAddr,
    pairs: &[(&str, &str)],
    ids: &[&str],
    want: &[&[u8]],
) -> (Duration, Result<(), String>) {
    let node = Node::new(Config::from_pairs(pairs.iter().copied()).unwrap()).unwrap();
    let started = Instant::now();
    let ids = ids.iter().map(|id| id.as_bytes().to_vec()).collect();
    let mut got: Vec<Vec<u8>> = vec![Vec::new(); want.len()];
    for item in node.fetch(vec![(addr, ids)]) {
        match item {
            Ok(chunk) => got[chunk.block].extend_from_slice(&chunk.data),
            Err(failure) => return (started.elapsed(), Err(failure.error.to_string())),
        }
    }
    let elapsed = started.elapsed();
    for (i, (got, want)) in got.iter().zip(want).enumerate() {
        if got != want {
            return (elapsed, Err(format!("block {i}: wrong bytes")));
        }
    }
    (elapsed, Ok(()))
}

/// Lookups of 26 bytes asking for a 1 MiB block inline, and lookups naming an
/// inlinable block 1024 times, with no reply ever read: the server stops
/// reading a peer whose replies wait, so memory stays bounded.
#[test]
fn unread_replies_do_not_grow_the_server() {
    let _serial = serial();
    let big = pseudo_random(MIB as usize, 1);
    let big_path = scratch("attack-amplify-big").join("big.bin");
    fs::write(&big_path, &big).unwrap();
    let (mut server, small) = serve_small("attack-amplify", &["--file", s(&big_path)], |_| {});
    let pid = server.child.id();
    let before = settled_resident(pid, Duration::from_secs(2));

    let mut requests = Vec::new();
    for request in 0..1000 {
        requests.push(Frame::Lookup {
            request,
            inline_max: u32::MAX,
            ids: vec![b"1:0".to_vec()],
        });
    }
    for request in 1000..1200 {
        requests.push(Frame::Lookup {
            request,
            inline_max: u32::MAX,
            ids: vec![b"0:0".to_vec(); 1024],
        });
    }
    let bytes = encoded(&requests);
    let attackers: Vec<TcpStream> = (0..2)
        .map(|_| {
            let (mut stream, _) = authenticated(server.addr, None, 0);
            let taken = push(&mut stream, &bytes);
            eprintln!("an attacker sent {taken} of {} bytes", bytes.len());
            stream
        })
        .collect();
    let after = settled_resident(pid, Duration::from_secs(20));
    let (latency, fetched) =
        honest_fetch(server.addr, &[], &["0:0", "1:0"], &[&small[..], &big[..]]);
    let grown = after.saturating_sub(before);
    eprintln!(
        "amplification: RSS {} -> {} MiB (+{} MiB), honest fetch {latency:?}: {fetched:?}",
        before / MIB,
        after / MIB,
        grown / MIB
    );
    assert_served(&mut server, latency, fetched);
    // Per connection: the output bound (4 MiB) plus one reply of at most 1 MiB.
    assert!(grown < 48 * MIB, "server grew by {} MiB", grown / MIB);
    drop(attackers);
}

/// 1100 connections that never say hello, against a server limited to 1024
/// descriptors: the oldest waiting connection makes room for a new one, the
/// handshake deadline closes the rest, and an honest fetch is served meanwhile.
#[test]
fn idle_connections_cannot_take_every_descriptor() {
    let _serial = serial();
    let (mut server, small) = serve_small(
        "attack-idle",
        &["-c", "ferry.server.handshake.timeout.ms=3000"],
        limit_descriptors(1024),
    );
    let pid = server.child.id();
    let base = descriptors(pid);
    let started = Instant::now();
    let idle: Vec<TcpStream> = (0..1100).filter_map(|_| connect(server.addr)).collect();
    let opened = started.elapsed();
    std::thread::sleep(Duration::from_millis(500));
    let held = descriptors(pid);
    let (latency, fetched) = honest_fetch(server.addr, &[], &["0:0"], &[&small[..]]);
    eprintln!(
        "idle flood: {} of 1100 connected in {opened:?}; server descriptors {base} -> {held}; \
         honest fetch {latency:?}: {fetched:?}",
        idle.len()
    );
    assert_served(&mut server, latency, fetched);
    // The default cap on connections awaiting a hello is 256.
    assert!(held <= base + 256 + 16, "{held} descriptors (base {base})");
    let log = log_of(&server);
    assert!(
        log.contains("ferry.server.unauthenticated.max"),
        "no refusal naming the limit:\n{log}"
    );
    // Past the deadline, the idle connections are gone, though their peers stay.
    std::thread::sleep(Duration::from_secs(5));
    let left = descriptors(pid);
    eprintln!("after the handshake deadline: {left} descriptors");
    assert!(left <= base + 4, "{left} descriptors (base {base})");
    assert!(log_of(&server).contains("ferry.server.handshake.timeout.ms"));
    drop(idle);
}

/// Connections that complete the handshake (no secret is set) and idle: past
/// `ferry.server.connections.max` each new one is refused with an error frame
/// that names the key, and the server keeps serving the ones it holds.
#[test]
fn connections_beyond_the_cap_are_refused_by_name() {
    let _serial = serial();
    let (mut server, small) = serve_small(
        "attack-cap",
        &["-c", "ferry.server.connections.max=40"],
        |_| {},
    );
    let pid = server.child.id();
    let base = descriptors(pid);
    let mut held: Vec<TcpStream> = (0..40)
        .map(|_| authenticated(server.addr, None, 0).0)
        .collect();
    let mut refused = connect(server.addr).unwrap();
    let frame = recv(&mut refused, &mut Vec::new());
    let Some(Frame::Error { message, .. }) = frame else {
        panic!("expected a refusal, got {frame:?}");
    };
    assert!(
        message.contains("ferry.server.connections.max"),
        "{message}"
    );
    let (_, fetched) = honest_fetch(server.addr, &[], &["0:0"], &[&small[..]]);
    let error = fetched.unwrap_err();
    assert!(error.contains("ferry.server.connections.max"), "{error}");
    assert!(descriptors(pid) <= base + 40 + 4);
    held.truncate(30);
    std::thread::sleep(Duration::from_millis(300));
    let (latency, fetched) = honest_fetch(server.addr, &[], &["0:0"], &[&small[..]]);
    fetched.unwrap();
    eprintln!("cap: refused by name, then served in {latency:?} once peers left");
    assert_alive(&mut server);
}

/// 200 connections that announce a 2 MiB frame instead of a hello and send all
/// but its last byte, to a server with a secret: refused at the header.
#[test]
fn frames_larger_than_a_hello_are_refused_before_authentication() {
    let _serial = serial();
    let (mut server, small) = serve_small(
        "attack-preauth",
        &["-c", "ferry.auth.secret=hunter2"],
        |_| {},
    );
    let pid = server.child.id();
    let before = settled_resident(pid, Duration::from_secs(2));
    let base = descriptors(pid);
    let body = 2 << 20;
    let mut frame = Vec::with_capacity(5 + body);
    frame.extend_from_slice(&(body as u32).to_le_bytes());
    frame.push(2); // ClientHello
    frame.resize(5 + body - 1, 0x41);
    let attackers: Vec<TcpStream> = std::thread::scope(|scope| {
        let workers: Vec<_> = (0..4)
            .map(|_| {
                scope.spawn(|| {
                    (0..50)
                        .filter_map(|_| {
                            let mut stream = connect(server.addr)?;
                            recv(&mut stream, &mut Vec::new())?;
                            push(&mut stream, &frame);
                            Some(stream)
                        })
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        workers
            .into_iter()
            .flat_map(|w| w.join().unwrap())
            .collect()
    });
    let after = settled_resident(pid, Duration::from_secs(20));
    let held = descriptors(pid);
    let (latency, fetched) = honest_fetch(
        server.addr,
        &[("ferry.auth.secret", "hunter2")],
        &["0:0"],
        &[&small[..]],
    );
    let grown = after.saturating_sub(before);
    eprintln!(
        "pre-auth frames: {} attackers; RSS {} -> {} MiB (+{} MiB), descriptors {base} -> {held}, \
         honest fetch {latency:?}: {fetched:?}",
        attackers.len(),
        before / MIB,
        after / MIB,
        grown / MIB
    );
    assert_served(&mut server, latency, fetched);
    assert!(grown < 32 * MIB, "server grew by {} MiB", grown / MIB);
    assert!(held <= base + 8, "{held} descriptors (base {base})");
    let log = log_of(&server);
    let refusals = log
        .lines()
        .filter(|l| l.contains("exceeds the limit of 75 bytes before authentication"))
        .count();
    // One line, then at most one every ten seconds: the flood stays out of the log.
    assert!(
        (1..=2).contains(&refusals),
        "{refusals} refusals logged:\n{log}"
    );
    drop(attackers);
}

/// 300 READs of 64 MiB asking for lz4 over four connections, replies never
/// read: a server whose own `ferry.compression` is none compresses nothing; one
/// with lz4, sent READs it does compress, stops at the output bound; neither
/// keeps others waiting.
#[test]
fn compression_is_the_servers_choice_and_bounded() {
    let _serial = serial();
    for compression in ["none", "lz4"] {
        let (mut server, small) = serve_small(
            &format!("attack-lz4-{compression}"),
            &[
                "--generate",
                "1",
                "--size",
                "64m",
                "-c",
                &format!("ferry.compression={compression}"),
            ],
            |_| {},
        );
        let pid = server.child.id();
        let before = settled_resident(pid, Duration::from_secs(2));
        let cpu_before = cpu(pid);
        // Four connections, so every I/O thread gets its share, all set up first.
        // A server that compresses does so only for READs up to 4 MiB.
        let len = if compression == "lz4" {
            4 * MIB
        } else {
            64 * MIB
        };
        let mut attackers: Vec<_> = (0..4).map(|_| lz4_attacker(server.addr, 75, len)).collect();
        for (attacker, _, reads) in &mut attackers {
            push(attacker, reads);
        }
        let caps = attackers[0].1;
        let (latency, fetched) = honest_fetch(server.addr, &[], &["0:0"], &[&small[..]]);
        std::thread::sleep(Duration::from_secs(5));
        let spent = cpu(pid) - cpu_before;
        let after = resident(pid);
        let grown = after.saturating_sub(before);
        eprintln!(
            "lz4 READs, server compression {compression}: server CPU {spent:?} in ~5 s, \
             RSS +{} MiB, honest fetch {latency:?}: {fetched:?}",
            grown / MIB
        );
        assert_eq!(
            caps & CAP_LZ4 != 0,
            compression == "lz4",
            "the server offers lz4 only when it compresses"
        );
        assert_served(&mut server, latency, fetched);
        assert!(
            spent < Duration::from_secs(2),
            "server spent {spent:?} of CPU"
        );
        drop(attackers);
        assert!(grown < 32 * MIB, "server grew by {} MiB", grown / MIB);
    }
}

/// A connection asking for lz4 that looked up the 64 MiB block `gen:0`, the
/// welcome's caps, and `count` READs of its first `len` bytes asking for compression.
fn lz4_attacker(addr: SocketAddr, count: u64, len: u64) -> (TcpStream, u32, Vec<u8>) {
    let (mut attacker, caps) = authenticated(addr, None, CAP_LZ4);
    attacker
        .write_all(&encoded(&[Frame::Lookup {
            request: 1,
            inline_max: u32::MAX,
            ids: vec![b"gen:0".to_vec()],
        }]))
        .unwrap();
    let Some(Frame::LookupReply { results, .. }) = recv(&mut attacker, &mut Vec::new()) else {
        panic!("no lookup reply");
    };
    let located = results[0].clone().unwrap();
    assert!(located.inline.is_none(), "64 MiB came back inline");
    let reads: Vec<Frame> = (0..count)
        .map(|tag| Frame::Read {
            tag,
            key: located.slice.key,
            addr: 0,
            len,
            compress: true,
        })
        .collect();
    (attacker, caps, encoded(&reads))
}

/// Lowers the child's descriptor limit (soft and hard) to `n`.
fn limit_descriptors(n: u64) -> impl FnOnce(&mut Command) {
    move |command| {
        use std::os::unix::process::CommandExt;
        // SAFETY: setrlimit is async-signal-safe; it runs in the forked child.
        unsafe {
            command.pre_exec(move || {
                let limit = libc::rlimit {
                    rlim_cur: n,
                    rlim_max: n,
                };
                match libc::setrlimit(libc::RLIMIT_NOFILE, &limit) {
                    0 => Ok(()),
                    _ => Err(std::io::Error::last_os_error()),
                }
            });
        }
    }
}
