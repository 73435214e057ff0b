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

/// Streams `count` messages (sizes up to 300 KB) by one-sided READ from a sender
/// node serving on `ip` to a receiver node, over a control TCP connection, with
/// a 1 MiB window; checks every byte and that all registered memory is freed.
/// Returns the bytes streamed and the bytes the sender's node served itself
/// (with its CPU: over the tcp provider, not for RDMA READs).
pub fn remote_stream_roundtrip(pairs: &[(&str, &str)], ip: &str, count: usize) -> (u64, u64) {
    use ferry_core::stream::remote::{RemoteReceiver, RemoteSender};
    use ferry_core::stream::{State, Stream};
    use std::sync::Arc;

    let sender_node = Arc::new(Node::new(config(pairs)).unwrap());
    let serving = sender_node
        .serve(format!("{ip}:0").parse().unwrap())
        .unwrap();
    let receiver_node = Arc::new(Node::new(config(pairs)).unwrap());
    let listener = std::net::TcpListener::bind(format!("{ip}:0")).unwrap();
    let control = listener.local_addr().unwrap();
    let messages: Vec<Vec<u8>> = (0..count)
        .map(|i| pattern(i as u64, 1 + (i * 7919) % 300_000))
        .collect();
    let expected = messages.concat();
    let regions_before = sender_node.regions().len();

    let receiver = std::thread::spawn(move || {
        let (mut sock, _) = listener.accept().unwrap();
        let mut stream = Stream::server(b"s", 1 << 20).unwrap();
        let rx = RemoteReceiver::new(receiver_node, serving);
        let (mut got, mut seen) = (Vec::new(), 0);
        while seen < count {
            pump(&mut stream, &mut sock);
            while let Some(event) = stream.poll_event() {
                assert_eq!(
                    rx.on_event(&mut stream, event, &mut got).unwrap(),
                    seen as u64
                );
                seen += 1;
            }
        }
        flush(&mut stream, &mut sock);
        got
    });

    let mut sock = TcpStream::connect(control).unwrap();
    let mut stream = Stream::client(b"s", 1 << 20, true).unwrap();
    while stream.state() != State::Open {
        pump(&mut stream, &mut sock);
    }
    let mut tx = RemoteSender::new(sender_node.clone(), 1 << 20).unwrap();
    for message in &messages {
        while !tx.offer(&mut stream, message).unwrap() {
            pump(&mut stream, &mut sock); // wait for a credit
            while let Some(event) = stream.poll_event() {
                tx.on_event(event).unwrap();
            }
        }
        assert!(tx.in_flight() <= (1 << 20) + 300_000);
        flush(&mut stream, &mut sock);
    }
    while tx.in_flight() > 0 {
        pump(&mut stream, &mut sock);
        while let Some(event) = stream.poll_event() {
            tx.on_event(event).unwrap();
        }
    }
    assert_eq!(receiver.join().unwrap(), expected);
    assert_eq!(
        sender_node.regions().len(),
        regions_before,
        "every message freed"
    );
    (expected.len() as u64, sender_node.metrics().bytes_served)
}
