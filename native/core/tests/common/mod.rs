//! Shared helpers for the integration tests: nodes on loopback and a raw
//! protocol client that can send whatever bytes a test wants.
#![allow(dead_code)]

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

use ferry_core::protocol::handshake::ClientHandshake;
use ferry_core::protocol::{decode, encode, Frame};
use ferry_core::{Chunk, Config, Node};

pub const LOOPBACK: &str = "127.0.0.1:0";

pub fn config(pairs: &[(&str, &str)]) -> Config {
    Config::from_pairs(pairs.iter().copied()).unwrap()
}

/// A node serving on loopback; returns it with its address.
pub fn server(pairs: &[(&str, &str)]) -> (Node, SocketAddr) {
    let node = Node::new(config(pairs)).unwrap();
    let addr = node.serve(LOOPBACK.parse().unwrap()).unwrap();
    (node, addr)
}

/// Deterministic bytes that differ per seed.
pub fn pattern(seed: u64, len: usize) -> Vec<u8> {
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}

/// Registers `data` as block `id` in its own region.
pub fn put(node: &Node, id: &str, data: Vec<u8>) {
    let len = data.len() as u64;
    let region = node.regions().register_bytes(data);
    node.register_region_block(id.as_bytes().to_vec(), region, 0, len)
        .unwrap();
}

/// Fetches and reassembles every block; `Err` entries keep the failure text.
pub fn fetch_all(
    node: &Node,
    requests: Vec<(SocketAddr, Vec<&str>)>,
) -> Vec<Result<Vec<u8>, String>> {
    let total: usize = requests.iter().map(|(_, ids)| ids.len()).sum();
    let requests = requests
        .into_iter()
        .map(|(addr, ids)| (addr, ids.iter().map(|id| id.as_bytes().to_vec()).collect()))
        .collect();
    let mut blocks: Vec<Option<Result<Vec<u8>, String>>> = (0..total).map(|_| None).collect();
    let mut partial: Vec<Vec<u8>> = vec![Vec::new(); total];
    for item in node.fetch(requests) {
        match item {
            Ok(Chunk {
                block,
                offset,
                block_len,
                data,
            }) => {
                assert_eq!(
                    offset,
                    partial[block].len() as u64,
                    "chunks arrive in order"
                );
                partial[block].extend_from_slice(&data);
                if partial[block].len() as u64 == block_len {
                    assert!(blocks[block].is_none(), "block {block} completed twice");
                    blocks[block] = Some(Ok(std::mem::take(&mut partial[block])));
                }
            }
            Err(failure) => {
                assert!(
                    blocks[failure.block].is_none(),
                    "block {} reported twice",
                    failure.block
                );
                blocks[failure.block] = Some(Err(failure.error.to_string()));
            }
        }
    }
    blocks
        .into_iter()
        .enumerate()
        .map(|(i, b)| b.unwrap_or_else(|| panic!("block {i} never completed")))
        .collect()
}

/// A hand-driven protocol client over a blocking socket.
pub struct RawClient {
    pub stream: TcpStream,
    inbox: Vec<u8>,
}

impl RawClient {
    /// Connects without answering the server's hello.
    pub fn connect(addr: SocketAddr) -> RawClient {
        let stream = TcpStream::connect(addr).unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        RawClient {
            stream,
            inbox: Vec::new(),
        }
    }

    /// Wraps an accepted socket, for tests that play the server side.
    pub fn from_stream(stream: TcpStream) -> RawClient {
        RawClient {
            stream,
            inbox: Vec::new(),
        }
    }

    /// Connects and completes the handshake with `secret`.
    pub fn handshake(addr: SocketAddr, secret: Option<&str>) -> RawClient {
        let mut client = RawClient::connect(addr);
        let hello = client.recv().expect("server hello");
        let (handshake, reply) =
            ClientHandshake::answer(hello, 0, secret.map(|s| s.as_bytes().to_vec())).unwrap();
        client.send(&reply);
        handshake.finish(client.recv().expect("welcome")).unwrap();
        client
    }

    pub fn send(&mut self, frame: &Frame) {
        let mut bytes = Vec::new();
        encode(frame, &mut bytes);
        self.stream.write_all(&bytes).unwrap();
    }

    pub fn send_raw(&mut self, bytes: &[u8]) {
        self.stream.write_all(bytes).unwrap();
    }

    /// The next frame, or `None` once the server closed the connection.
    pub fn recv(&mut self) -> Option<Frame> {
        loop {
            if let Some((frame, n)) = decode(&self.inbox).unwrap() {
                self.inbox.drain(..n);
                return Some(frame);
            }
            let mut buf = [0u8; 65536];
            match self.stream.read(&mut buf) {
                Ok(0) | Err(_) => return None,
                Ok(n) => self.inbox.extend_from_slice(&buf[..n]),
            }
        }
    }

    /// Reads `len` payload bytes that follow a ReadData frame.
    pub fn payload(&mut self, len: usize) -> Vec<u8> {
        while self.inbox.len() < len {
            let mut buf = [0u8; 65536];
            let n = self.stream.read(&mut buf).unwrap();
            assert!(n > 0, "closed inside a payload");
            self.inbox.extend_from_slice(&buf[..n]);
        }
        self.inbox.drain(..len).collect()
    }

    /// True when the server has closed the connection.
    pub fn is_closed(&mut self) -> bool {
        self.recv().is_none()
    }
}

/// Reads one control unit of `stream` from `sock` (blocking) and sends what it wants sent.
fn pump(stream: &mut ferry_core::stream::Stream, sock: &mut TcpStream) {
    flush(stream, sock);
    let want = stream.wanted();
    if want > 0 {
        let mut buf = vec![0u8; want];
        sock.read_exact(&mut buf).unwrap();
        assert_eq!(stream.input(&buf).unwrap(), want);
    }
    flush(stream, sock);
}

fn flush(stream: &mut ferry_core::stream::Stream, sock: &mut TcpStream) {
    let n = stream.output().len();
    sock.write_all(stream.output()).unwrap();
    stream.sent(n);
}

/// Runs `stream`'s side of the handshake over `sock` (blocking) and sends what is left to send.
pub fn handshake(stream: &mut ferry_core::stream::Stream, sock: &mut TcpStream) {
    while stream.state() == ferry_core::stream::State::Handshaking {
        pump(stream, sock);
    }
    flush(stream, sock);
}

/// A driver over `sock` (made non-blocking) that offers READs from `node`, serving on `port`.
pub fn remote_driver(
    sock: &TcpStream,
    server: bool,
    node: std::sync::Arc<Node>,
    port: u16,
    window: u64,
) -> ferry_core::stream::Driver<ferry_core::stream::Fd> {
    use ferry_core::stream::{Driver, Fd, RemoteSettings, Settings};
    use std::os::fd::AsRawFd;

    sock.set_nonblocking(true).unwrap();
    let remote = RemoteSettings {
        node,
        port,
        window,
        slab_bytes: 256 << 10,
        min_read: 4096,
        per_connection: 8,
    };
    let settings = Settings {
        server,
        secret: b"s".to_vec(),
        max_frame: 1 << 20,
        framed: true,
        remote: Some(remote),
    };
    Driver::new(Fd(sock.as_raw_fd()), settings).unwrap()
}

/// Sends `messages` and receives `expect` bytes on one stream end, both at
/// once (never blocking on the socket), reading in pieces of 4 bytes then
/// `piece` bytes as Kafka reads a size and then a body.
pub fn exchange(
    driver: &mut ferry_core::stream::Driver<ferry_core::stream::Fd>,
    messages: &[Vec<u8>],
    expect: usize,
    piece: usize,
) -> Vec<u8> {
    use std::time::Instant;
    let mut got = Vec::with_capacity(expect);
    let mut buf = vec![0u8; piece.max(4)];
    let (mut message, mut at) = (0, 0);
    let mut reads = 0usize;
    let deadline = Instant::now() + std::time::Duration::from_secs(120);
    while got.len() < expect || message < messages.len() {
        assert!(Instant::now() < deadline, "stream stalled");
        let mut progress = false;
        if message < messages.len() {
            let n = driver
                .write(&[&messages[message][at..]], Instant::now())
                .unwrap();
            at += n;
            if at == messages[message].len() {
                (message, at) = (message + 1, 0);
            }
            progress |= n > 0;
        }
        // Read what is there, as a selector loop would, before writing more.
        while got.len() < expect {
            let capacity = if reads % 2 == 0 { 4 } else { piece };
            let capacity = capacity.min(expect - got.len());
            let n = driver
                .read(&mut buf[..capacity], Instant::now())
                .unwrap()
                .expect("the peer keeps the stream open");
            got.extend_from_slice(&buf[..n]);
            reads += 1;
            progress |= n > 0;
            if n == 0 {
                break;
            }
        }
        if !progress {
            driver.socket().wait(false, 5).unwrap();
        }
    }
    got
}

/// Keeps reading (and discarding) until the peer has credited every message
/// this end notified, so that its slabs can go.
pub fn await_credits(driver: &mut ferry_core::stream::Driver<ferry_core::stream::Fd>) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    let mut buf = [0u8; 4096];
    while driver.in_flight() > 0 {
        assert!(std::time::Instant::now() < deadline, "the peer never READ");
        if driver.read(&mut buf, std::time::Instant::now()).unwrap() == Some(0) {
            driver.socket().wait(false, 5).unwrap();
        }
    }
}

/// Two nodes serving on `ip` stream `count` messages each way at once (sizes up
/// to 300 KB: small ones in DATA frames, the rest by one-sided READ) over a
/// control TCP connection with `window` bytes of slabs per direction; checks
/// every byte and that the window bounded the slabs. Payload beyond the window
/// rides in DATA frames; with a window of 8 MiB (more than each direction's
/// ~7.4 MB), no write finds it full and READs must move most of it.
/// Returns the bytes READ and the bytes the nodes served themselves (with their
/// CPU: over the tcp provider, not for RDMA READs).
pub fn remote_stream_roundtrip(
    pairs: &[(&str, &str)],
    ip: &str,
    count: usize,
    window: u64,
) -> (u64, u64) {
    use ferry_core::stream::abi;
    use std::sync::Arc;

    let node_a = Arc::new(Node::new(config(pairs)).unwrap());
    let port_a = node_a
        .serve(format!("{ip}:0").parse().unwrap())
        .unwrap()
        .port();
    let node_b = Arc::new(Node::new(config(pairs)).unwrap());
    let port_b = node_b
        .serve(format!("{ip}:0").parse().unwrap())
        .unwrap()
        .port();
    let listener = std::net::TcpListener::bind(format!("{ip}:0")).unwrap();
    let control = listener.local_addr().unwrap();
    let messages = |seed: u64| -> Vec<Vec<u8>> {
        (0..count)
            .map(|i| pattern(seed + i as u64, 1 + (i * 7919) % 300_000))
            .collect()
    };
    let (to_b, to_a) = (messages(1), messages(1_000_000));
    let expect_a: usize = to_a.iter().map(Vec::len).sum();
    let expect_b: usize = to_b.iter().map(Vec::len).sum();
    let regions_a = node_a.regions().len();

    let b = {
        let (node_b, to_a) = (node_b.clone(), to_a.clone());
        std::thread::spawn(move || {
            let (sock, _) = listener.accept().unwrap();
            let mut driver = remote_driver(&sock, true, node_b, port_b, window);
            let got = exchange(&mut driver, &to_a, expect_b, 100_000);
            assert!(driver.stats().get(abi::STAT_SLAB_BYTES) <= window);
            // A's last READs of B's slabs may still be on their way.
            await_credits(&mut driver);
            got
        })
    };
    let sock = TcpStream::connect(control).unwrap();
    let mut driver = remote_driver(&sock, false, node_a.clone(), port_a, window);
    let got = exchange(&mut driver, &to_b, expect_a, 7_000);
    assert!(driver.stats().get(abi::STAT_SLAB_BYTES) <= window);
    await_credits(&mut driver);
    assert_eq!(got, to_a.concat(), "A received B's bytes in order");
    assert_eq!(
        b.join().unwrap(),
        to_b.concat(),
        "B received A's bytes in order"
    );
    let read = node_a.metrics().bytes_fetched + node_b.metrics().bytes_fetched;
    assert!(
        window < 8 << 20 || read > (expect_a + expect_b) as u64 / 2,
        "most payload moved by READ ({read} of {})",
        expect_a + expect_b
    );
    assert!(driver.stats().get(abi::STAT_READ_BYTES) > 0 || window < 8 << 20);
    drop(driver);
    assert_eq!(
        node_a.regions().len(),
        regions_a,
        "slabs freed with the stream"
    );
    let served = node_a.metrics().bytes_served + node_b.metrics().bytes_served;
    (read, served)
}
