//! Bad input and faults: each gives the requester a clear error, and the
//! server keeps serving its other peers.

mod common;

use std::io::Write;
use std::net::{SocketAddr, TcpListener};
use std::time::{Duration, Instant};

use common::*;
use ferry_core::protocol::handshake::{ClientHandshake, ServerHandshake};
use ferry_core::protocol::{Frame, Located, CAP_LZ4};
use ferry_core::{ErrorCode, Node, RemoteSlice};

/// A server with one 100 KiB block named "ok".
fn serving() -> (Node, SocketAddr) {
    let (node, addr) = server(&[]);
    put(&node, "ok", pattern(1, 100 << 10));
    (node, addr)
}

fn assert_still_serves(addr: SocketAddr) {
    let client = Node::new(config(&[])).unwrap();
    let got = fetch_all(&client, vec![(addr, vec!["ok"])]);
    assert_eq!(got[0].as_ref().unwrap(), &pattern(1, 100 << 10));
}

/// The error frame the server sends before closing, then checks it closed.
fn refusal(client: &mut RawClient) -> (ErrorCode, String) {
    let frame = client.recv().expect("an error frame before the close");
    let Frame::Error { code, message } = frame else {
        panic!("expected Error, got {frame:?}");
    };
    assert!(client.is_closed(), "closed after the error");
    (code, message)
}

fn lookup_key(client: &mut RawClient, id: &str) -> RemoteSlice {
    client.send(&Frame::Lookup {
        request: 1,
        inline_max: 0,
        ids: vec![id.as_bytes().to_vec()],
    });
    match client.recv() {
        Some(Frame::LookupReply { mut results, .. }) => results.remove(0).unwrap().slice,
        other => panic!("expected a lookup reply, got {other:?}"),
    }
}

fn read_failure(client: &mut RawClient, key: u64, addr: u64, len: u64) -> (ErrorCode, String) {
    client.send(&Frame::Read {
        tag: 9,
        key,
        addr,
        len,
        compress: false,
    });
    match client.recv() {
        Some(Frame::ReadFailed {
            tag: 9,
            code,
            message,
        }) => (code, message),
        other => panic!("expected ReadFailed, got {other:?}"),
    }
}

#[test]
fn garbage_after_the_handshake_closes_only_that_connection() {
    let (node, addr) = serving();
    let mut client = RawClient::handshake(addr, None);
    client.send_raw(&[3, 0, 0, 0, 200, 1, 2, 3]); // a frame of unknown kind 200
    let (code, message) = refusal(&mut client);
    assert_eq!(code, ErrorCode::Malformed);
    assert!(message.contains("unknown frame kind 200"), "{message}");
    assert_eq!(node.metrics().connections_rejected, 1);
    assert_still_serves(addr);
}

#[test]
fn garbage_instead_of_a_hello_is_refused() {
    let (_node, addr) = serving();
    let mut client = RawClient::connect(addr);
    assert!(matches!(client.recv(), Some(Frame::ServerHello { .. })));
    client.send_raw(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n");
    let (code, _) = refusal(&mut client);
    assert_eq!(code, ErrorCode::Malformed);
    assert_still_serves(addr);
}

#[test]
fn oversized_length_is_refused_before_buffering() {
    let (_node, addr) = serving();
    let mut client = RawClient::handshake(addr, None);
    client.send_raw(&[0xff, 0xff, 0xff, 0xff, 4]);
    let (code, message) = refusal(&mut client);
    assert_eq!(code, ErrorCode::Malformed);
    assert!(message.contains("exceeds the limit"), "{message}");
    assert_still_serves(addr);
}

#[test]
fn truncated_frame_then_hang_up_leaves_the_server_serving() {
    let (_node, addr) = serving();
    for cut in [1, 4, 5, 20] {
        let mut client = RawClient::handshake(addr, None);
        let mut bytes = Vec::new();
        ferry_core::protocol::encode(
            &Frame::Lookup {
                request: 1,
                inline_max: 0,
                ids: vec![b"ok".to_vec()],
            },
            &mut bytes,
        );
        client.send_raw(&bytes[..cut.min(bytes.len() - 1)]);
        drop(client);
    }
    assert_still_serves(addr);
}

#[test]
fn a_frame_larger_than_a_hello_is_refused_before_authentication() {
    let (_node, addr) = serving();
    let mut client = RawClient::connect(addr);
    assert!(matches!(client.recv(), Some(Frame::ServerHello { .. })));
    client.send_raw(&[76, 0, 0, 0, 2]); // a ClientHello one byte too long
    let (code, message) = refusal(&mut client);
    assert_eq!(code, ErrorCode::Malformed);
    assert!(
        message.contains("exceeds the limit of 75 bytes before authentication"),
        "{message}"
    );
    assert_still_serves(addr);
}

#[test]
fn the_server_decides_what_it_inlines_and_compresses() {
    let (_node, addr) = serving(); // "ok" is 100 KiB; the server inlines up to 32 KiB
    let mut client = RawClient::connect(addr);
    let hello = client.recv().unwrap();
    let (handshake, reply) = ClientHandshake::answer(hello, CAP_LZ4, None).unwrap();
    client.send(&reply);
    let agreed = handshake.finish(client.recv().unwrap()).unwrap();
    assert_eq!(agreed.caps & CAP_LZ4, 0, "no lz4 from a server set to none");
    client.send(&Frame::Lookup {
        request: 1,
        inline_max: u32::MAX,
        ids: vec![b"ok".to_vec()],
    });
    let Some(Frame::LookupReply { results, .. }) = client.recv() else {
        panic!("no lookup reply");
    };
    let located = results[0].clone().unwrap();
    assert!(
        located.inline.is_none(),
        "inlined beyond the server's setting"
    );
    client.send(&Frame::Read {
        tag: 3,
        key: located.slice.key,
        addr: 0,
        len: 4096,
        compress: true,
    });
    assert!(matches!(
        client.recv(),
        Some(Frame::ReadData {
            compressed: false,
            len: 4096,
            ..
        })
    ));
}

#[test]
fn a_server_set_to_lz4_compresses_reads_up_to_4_mib() {
    let (node, addr) = server(&[("ferry.compression", "lz4")]);
    put(&node, "zeros", vec![0; 5 << 20]);
    let mut client = RawClient::connect(addr);
    let hello = client.recv().unwrap();
    let (handshake, reply) = ClientHandshake::answer(hello, CAP_LZ4, None).unwrap();
    client.send(&reply);
    let agreed = handshake.finish(client.recv().unwrap()).unwrap();
    assert_eq!(agreed.caps & CAP_LZ4, CAP_LZ4);
    let key = lookup_key(&mut client, "zeros").key;
    for (len, compressed) in [(4u64 << 20, true), (5 << 20, false)] {
        client.send(&Frame::Read {
            tag: len,
            key,
            addr: 0,
            len,
            compress: true,
        });
        let Some(Frame::ReadData {
            len: wire,
            compressed: got,
            ..
        }) = client.recv()
        else {
            panic!("no ReadData");
        };
        assert_eq!(got, compressed, "READ of {len}");
        let _ = client.payload(wire as usize);
    }
}

/// A peer that sends requests as fast as it reads the replies never lets its
/// socket go quiet: it still shares its I/O thread with the other peers.
#[test]
fn a_busy_peer_shares_its_io_thread() {
    let (node, addr) = server(&[("ferry.io.threads", "1")]);
    put(&node, "ok", pattern(1, 100 << 10));
    let mut busy = RawClient::handshake(addr, None);
    let slice = lookup_key(&mut busy, "ok");
    let mut batch = Vec::new();
    for tag in 0..2000 {
        ferry_core::protocol::encode(
            &Frame::Read {
                tag,
                key: slice.key,
                addr: 0,
                len: 16,
                compress: false,
            },
            &mut batch,
        );
    }
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let running = |stop: &std::sync::Arc<std::sync::atomic::AtomicBool>| {
        !stop.load(std::sync::atomic::Ordering::Relaxed)
    };
    let mut writer = busy.stream.try_clone().unwrap();
    let mut reader = busy.stream.try_clone().unwrap();
    let threads = [
        std::thread::spawn({
            let stop = stop.clone();
            move || {
                while running(&stop) && writer.write_all(&batch).is_ok() {}
            }
        }),
        std::thread::spawn({
            let stop = stop.clone();
            move || {
                let mut buf = vec![0u8; 1 << 20];
                while running(&stop) && std::io::Read::read(&mut reader, &mut buf).is_ok() {}
            }
        }),
    ];
    std::thread::sleep(Duration::from_millis(300));
    let (done, served) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        assert_still_serves(addr);
        let _ = done.send(());
    });
    let waited = served.recv_timeout(Duration::from_secs(5));
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let _ = busy.stream.shutdown(std::net::Shutdown::Both);
    for thread in threads {
        thread.join().unwrap();
    }
    assert!(waited.is_ok(), "another peer was not served within 5 s");
    assert!(
        node.metrics().reads_served > 2000,
        "the busy peer was served"
    );
}

#[test]
fn unknown_version_is_refused_with_its_code() {
    let (_node, addr) = serving();
    let mut client = RawClient::connect(addr);
    let Some(Frame::ServerHello { nonce, .. }) = client.recv() else {
        panic!("no hello");
    };
    client.send(&Frame::ClientHello {
        version: 77,
        caps: 0,
        nonce,
        proof: None,
    });
    let (code, message) = refusal(&mut client);
    assert_eq!(code, ErrorCode::UnsupportedVersion);
    assert!(message.contains("77"), "{message}");
    assert_still_serves(addr);
}

#[test]
fn wrong_or_missing_secret_is_served_nothing() {
    let (node, addr) = server(&[("ferry.auth.secret", "right")]);
    put(&node, "ok", pattern(1, 1000));
    for secret in ["wrong", ""] {
        let client = Node::new(config(&[("ferry.auth.secret", secret)])).unwrap();
        let got = fetch_all(&client, vec![(addr, vec!["ok"])]);
        let error = got[0].as_ref().unwrap_err();
        assert!(error.contains("authentication failed"), "{error}");
    }
    assert_eq!(node.metrics().bytes_served, 0);
    let client = Node::new(config(&[("ferry.auth.secret", "right")])).unwrap();
    let got = fetch_all(&client, vec![(addr, vec!["ok"])]);
    assert_eq!(got[0].as_ref().unwrap(), &pattern(1, 1000));
}

#[test]
fn forged_and_foreign_keys_are_refused() {
    let (_node, addr) = serving();
    let mut owner = RawClient::handshake(addr, None);
    let slice = lookup_key(&mut owner, "ok");
    let (code, _) = read_failure(&mut owner, slice.key ^ 0x5a5a, 0, 16);
    assert_eq!(code, ErrorCode::InvalidKey);
    // Keys are scoped to the connection that looked the block up.
    let mut other = RawClient::handshake(addr, None);
    let (code, _) = read_failure(&mut other, slice.key, 0, 16);
    assert_eq!(code, ErrorCode::InvalidKey);
    // The refused reads did not cost the owner its connection.
    owner.send(&Frame::Read {
        tag: 2,
        key: slice.key,
        addr: 0,
        len: 16,
        compress: false,
    });
    assert!(matches!(
        owner.recv(),
        Some(Frame::ReadData {
            tag: 2,
            len: 16,
            ..
        })
    ));
    assert_eq!(owner.payload(16), pattern(1, 16));
}

#[test]
fn deregistering_makes_keys_stale() {
    let (node, addr) = server(&[]);
    let region = node.regions().register_bytes(pattern(3, 5000));
    node.register_region_block(b"temp".to_vec(), region, 0, 5000)
        .unwrap();
    let mut client = RawClient::handshake(addr, None);
    let slice = lookup_key(&mut client, "temp");
    assert!(node.regions().deregister(region));
    let (code, message) = read_failure(&mut client, slice.key, 0, 100);
    assert_eq!(code, ErrorCode::StaleKey, "{message}");
    // The block itself is gone too: a fresh lookup says so.
    let fresh = Node::new(config(&[])).unwrap();
    let got = fetch_all(&fresh, vec![(addr, vec!["temp"])]);
    assert!(got[0].as_ref().unwrap_err().contains("UnknownBlock"));
}

#[test]
fn reads_outside_the_region_are_refused() {
    let (node, addr) = serving();
    let mut client = RawClient::handshake(addr, None);
    let slice = lookup_key(&mut client, "ok");
    let size = 100u64 << 10;
    for (offset, len) in [(size - 10, 11), (size, 1), (u64::MAX - 3, 8), (0, size + 1)] {
        let (code, _) = read_failure(&mut client, slice.key, offset, len);
        assert_eq!(code, ErrorCode::OutOfRange, "{offset}+{len}");
    }
    let (code, _) = read_failure(&mut client, slice.key, 0, 1 << 40);
    assert_eq!(code, ErrorCode::TooLarge);
    assert_eq!(node.metrics().reads_rejected, 5);
    assert_still_serves(addr);
}

#[test]
fn unknown_blocks_fail_alone() {
    let (_node, addr) = serving();
    let client = Node::new(config(&[])).unwrap();
    let got = fetch_all(&client, vec![(addr, vec!["ok", "missing", "ok"])]);
    assert!(got[0].is_ok() && got[2].is_ok());
    assert!(got[1].as_ref().unwrap_err().contains("UnknownBlock"));
}

/// A peer that speaks the protocol, then dies halfway through a READ payload.
fn dying_peer() -> SocketAddr {
    let listener = TcpListener::bind(LOOPBACK).unwrap();
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        let (mut stream, _) = listener.accept().unwrap();
        let handshake = ServerHandshake::new(0, None);
        let mut server = RawClient::from_stream(stream.try_clone().unwrap());
        server.send(&handshake.hello());
        let (welcome, _) = handshake.accept(server.recv().unwrap()).unwrap();
        server.send(&welcome);
        let Some(Frame::Lookup { request, .. }) = server.recv() else {
            return;
        };
        let slice = RemoteSlice {
            key: 1,
            addr: 0,
            len: 4 << 20,
        };
        server.send(&Frame::LookupReply {
            request,
            results: vec![Ok(Located {
                slice,
                inline: None,
            })],
        });
        let Some(Frame::Read { tag, .. }) = server.recv() else {
            return;
        };
        server.send(&Frame::ReadData {
            tag,
            len: 1 << 20,
            compressed: false,
            raw_len: 1 << 20,
        });
        stream.write_all(&vec![7u8; 300_000]).unwrap();
        // Dies: the socket closes with the payload two thirds missing.
    });
    addr
}

#[test]
fn a_peer_dying_mid_transfer_fails_its_blocks_fast() {
    let (_good, good_addr) = serving();
    let client = Node::new(config(&[])).unwrap();
    let started = Instant::now();
    let got = fetch_all(
        &client,
        vec![(dying_peer(), vec!["big"]), (good_addr, vec!["ok"])],
    );
    let error = got[0].as_ref().unwrap_err();
    assert!(
        error.contains("lost") || error.contains("closed"),
        "{error}"
    );
    assert_eq!(got[1].as_ref().unwrap(), &pattern(1, 100 << 10));
    assert!(started.elapsed() < Duration::from_secs(5), "failed fast");
    assert_eq!(
        client.pool_stats().in_use_bytes,
        0,
        "the half-filled buffer came back"
    );
}

#[test]
fn a_non_ferry_peer_is_told_apart() {
    let listener = TcpListener::bind(LOOPBACK).unwrap();
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        let (mut stream, _) = listener.accept().unwrap();
        let _ = stream.write_all(b"SSH-2.0-OpenSSH_9.2\r\n");
        std::thread::sleep(Duration::from_secs(1));
    });
    let client = Node::new(config(&[])).unwrap();
    let got = fetch_all(&client, vec![(addr, vec!["x"])]);
    let error = got[0].as_ref().unwrap_err();
    assert!(
        error.contains("not a Ferry peer") || error.contains("malformed"),
        "{error}"
    );
}

#[test]
fn an_unreachable_peer_fails_with_its_address() {
    let port = TcpListener::bind(LOOPBACK).unwrap().local_addr().unwrap();
    let client = Node::new(config(&[])).unwrap();
    let got = fetch_all(&client, vec![(port, vec!["x"])]);
    let error = got[0].as_ref().unwrap_err();
    assert!(
        error.contains(&port.to_string()) && error.contains("connect failed"),
        "{error}"
    );
}

#[test]
fn a_full_pool_fails_clearly_and_recovers() {
    let (node, addr) = server(&[]);
    put(&node, "wide", pattern(5, 6 * 4096));
    let client = Node::new(config(&[
        ("ferry.pool.buffer.size", "4k"),
        ("ferry.pool.bytes", "8k"),
        ("ferry.pool.grow.bytes", "8k"),
        ("ferry.fetch.inflight.bytes", "4k"),
        ("ferry.fetch.inline.bytes", "0"),
        ("ferry.pool.wait.ms", "200"),
    ]))
    .unwrap();
    let mut held = Vec::new();
    let mut failure = None;
    for item in client.fetch(vec![(addr, vec![b"wide".to_vec()])]) {
        match item {
            Ok(chunk) => held.push(chunk), // a consumer that never releases
            Err(f) => failure = Some(f.error.to_string()),
        }
    }
    assert_eq!(held.len(), 2);
    let failure = failure.expect("the third chunk cannot get a buffer");
    assert!(
        failure.contains("pool exhausted") && failure.contains("ferry.pool.bytes"),
        "{failure}"
    );
    drop(held);
    let got = fetch_all(&client, vec![(addr, vec!["ok_missing", "wide"])]);
    assert_eq!(got[1].as_ref().unwrap(), &pattern(5, 6 * 4096));
}

/// A served file truncated on disk after registration (cleaned up early, a
/// disk error): reads of the part it lost fail with an error naming the file,
/// the part it kept is still served, and so are other files; nothing ever
/// reads through the mapping, where the lost pages would raise SIGBUS.
#[test]
fn a_file_truncated_after_registration_fails_its_reads_not_the_node() {
    let data = pattern(7, 4 << 20);
    // Inline (tiny), pread (small), sendfile (mid), chunked sendfile (big).
    let cuts = [
        ("tiny", 70_000, 100),
        ("small", 80_000, 40_000),
        ("mid", 200_000, 300_000),
        ("big", 1 << 20, 3 << 20),
        ("kept", 0, 60_000),
    ];
    for compression in ["none", "lz4"] {
        let [mut file, mut other] = [(); 2].map(|_| tempfile::NamedTempFile::new().unwrap());
        file.write_all(&data).unwrap();
        other.write_all(&data).unwrap();
        let settings = [("ferry.compression", compression)];
        let (server, addr) = server(&settings);
        let region = server
            .regions()
            .register_file(file.path(), 0, None)
            .unwrap();
        for (id, offset, len) in cuts {
            server
                .register_region_block(id.into(), region, offset, len)
                .unwrap();
        }
        server
            .register_file_block(b"other".to_vec(), other.path(), 0, 1 << 20)
            .unwrap();
        file.as_file().set_len(60_000).unwrap();

        let client = Node::new(config(&settings)).unwrap();
        let ids = cuts.iter().map(|(id, ..)| *id).collect();
        let got = fetch_all(&client, vec![(addr, ids)]);
        for ((id, ..), got) in cuts[..4].iter().zip(&got) {
            let error = got.as_ref().expect_err(id);
            assert!(error.contains("Unreadable"), "{id}: {error}");
            assert!(
                error.contains("truncated after registration"),
                "{id}: {error}"
            );
            assert!(
                error.contains(&file.path().display().to_string()),
                "{id}: {error}"
            );
        }
        assert!(got[4].as_ref().unwrap() == &data[..60_000], "the kept part");
        let got = fetch_all(&client, vec![(addr, vec!["other", "kept"])]);
        assert!(
            got[0].as_ref().unwrap() == &data[..1 << 20],
            "{compression}"
        );
        assert!(got[1].as_ref().unwrap() == &data[..60_000], "{compression}");
        assert!(server.metrics().reads_rejected >= 4, "{compression}");
    }
}
