//! `ferry.encryption=aes-gcm` on the tcp provider, through a relay on loopback
//! that keeps what crossed it (and can alter one byte): blocks arrive intact
//! over every path (READ in place, lz4, inline in lookup replies, files), none
//! of their bytes cross in clear, an altered byte ends that connection only,
//! and a side that does not encrypt is refused.

mod common;

use std::io::{Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use common::*;
use ferry_core::Node;

const SECRET: (&str, &str) = ("ferry.auth.secret", "app-secret");
const ENCRYPTED: (&str, &str) = ("ferry.encryption", "aes-gcm");

/// What crossed a relay: client to server, server to client.
type Seen = Arc<Mutex<[Vec<u8>; 2]>>;

/// Forwards connections to `to`, keeping every byte that crossed. With
/// `flip = Some((direction, at))`, the first connection gets byte `at` of that
/// direction (0: to the server, 1: to the client) altered. Writes go out in
/// uneven pieces, so records arrive split at every kind of boundary.
fn relay(to: SocketAddr, flip: Option<(usize, usize)>) -> (SocketAddr, Seen) {
    let listener = TcpListener::bind(LOOPBACK).unwrap();
    let addr = listener.local_addr().unwrap();
    let seen: Seen = Arc::default();
    let kept = seen.clone();
    std::thread::spawn(move || {
        let flipped = Arc::new(AtomicBool::new(false));
        for client in listener.incoming() {
            let client = client.unwrap();
            let server = TcpStream::connect(to).unwrap();
            for (direction, from, into) in [
                (0, client.try_clone().unwrap(), server.try_clone().unwrap()),
                (1, server.try_clone().unwrap(), client.try_clone().unwrap()),
            ] {
                let flip = flip
                    .filter(|&(d, _)| d == direction && !flipped.swap(true, Ordering::SeqCst))
                    .map(|(_, at)| at);
                let kept = kept.clone();
                std::thread::spawn(move || pump(from, into, direction, flip, &kept));
            }
        }
    });
    (addr, seen)
}

fn pump(
    mut from: TcpStream,
    mut into: TcpStream,
    direction: usize,
    flip: Option<usize>,
    seen: &Seen,
) {
    let pieces = [1usize, 3, 17, 4096, 5, 65536, 300];
    let (mut buf, mut offset, mut piece) = (vec![0u8; 1 << 20], 0usize, 0usize);
    loop {
        let n = match from.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        if let Some(at) = flip.filter(|at| (offset..offset + n).contains(at)) {
            buf[at - offset] ^= 0x20;
        }
        seen.lock().unwrap()[direction].extend_from_slice(&buf[..n]);
        offset += n;
        let mut at = 0;
        while at < n {
            let len = pieces[piece % pieces.len()].min(n - at);
            piece += 1;
            if into.write_all(&buf[at..at + len]).is_err() {
                return;
            }
            at += len;
        }
    }
    let _ = into.shutdown(Shutdown::Both);
    let _ = from.shutdown(Shutdown::Both);
}

/// Text the blocks whose bytes must not cross in clear are made of.
const MARKER: &[u8] = b"<ferry marker: never in clear>";

fn marked(len: usize) -> Vec<u8> {
    MARKER.iter().copied().cycle().take(len).collect()
}

fn in_clear(wire: &[u8]) -> bool {
    wire.windows(MARKER.len()).any(|w| w == MARKER)
}

/// Blocks of every path: READ in place (large, several records), lz4, file
/// ranges, and small ones inline in the lookup reply.
#[test]
fn encrypted_fetches_arrive_intact_and_nothing_crosses_in_clear() {
    let (server, addr) = server(&[SECRET, ENCRYPTED, ("ferry.compression", "lz4")]);
    let sizes = [0usize, 1, 4096, 100_000, 1 << 20, (1 << 20) + 7, 3 << 20];
    let names: Vec<String> = sizes.iter().map(|s| format!("b{s}")).collect();
    for (i, (name, &size)) in names.iter().zip(&sizes).enumerate() {
        put(&server, name, pattern(i as u64, size));
    }
    let squeezable: Vec<u8> = (0..2_000_000u32).map(|i| (i / 1000) as u8).collect();
    put(&server, "squeezable", squeezable.clone());
    let mut file = tempfile::NamedTempFile::new().unwrap();
    let on_disk = marked(1_500_000);
    file.write_all(&on_disk).unwrap();
    server
        .register_file_block(b"file".to_vec(), file.path(), 1000, 1_400_000)
        .unwrap();
    put(&server, "marked", marked((1 << 20) + 5));
    let small: Vec<String> = (0..20).map(|i| format!("s{i}")).collect();
    for (i, name) in small.iter().enumerate() {
        put(&server, name, marked(100 + i * 1000));
    }

    let (through, seen) = relay(addr, None);
    for compression in ["none", "lz4"] {
        let client = Node::new(config(&[
            SECRET,
            ENCRYPTED,
            ("ferry.compression", compression),
            ("ferry.fetch.inline.bytes", "0"),
        ]))
        .unwrap();
        let mut ids: Vec<&str> = names.iter().map(String::as_str).collect();
        ids.extend(["squeezable", "file", "marked"]);
        let got = fetch_all(&client, vec![(through, ids)]);
        for (i, &size) in sizes.iter().enumerate() {
            assert_eq!(
                got[i].as_ref().unwrap(),
                &pattern(i as u64, size),
                "{compression} {size}"
            );
        }
        assert!(
            got[sizes.len()].as_ref().unwrap() == &squeezable,
            "{compression}"
        );
        assert!(got[sizes.len() + 1].as_ref().unwrap() == &on_disk[1000..1_401_000]);
        assert!(got[sizes.len() + 2].as_ref().unwrap() == &marked((1 << 20) + 5));
        assert_eq!(client.pool_stats().in_use_bytes, 0, "every buffer returned");
    }
    // Lookups with inline bytes: one reply carries every small block.
    let client = Node::new(config(&[
        SECRET,
        ENCRYPTED,
        ("ferry.fetch.inline.bytes", "32k"),
    ]))
    .unwrap();
    let before = server.metrics().blocks_inlined;
    let got = fetch_all(
        &client,
        vec![(through, small.iter().map(String::as_str).collect())],
    );
    for (i, block) in got.iter().enumerate() {
        assert_eq!(block.as_ref().unwrap(), &marked(100 + i * 1000));
    }
    assert_eq!(
        server.metrics().blocks_inlined - before,
        20,
        "all came inline"
    );

    let seen = seen.lock().unwrap();
    assert!(seen[1].len() > 10 << 20, "the replies crossed the relay");
    assert!(!in_clear(&seen[1]), "block bytes crossed in clear");
    assert!(
        !seen[0].windows(10).any(|w| w == b"squeezable"),
        "block ids crossed in clear"
    );
}

/// The same check sees blocks in clear without encryption: it can fail.
#[test]
fn without_encryption_the_relay_sees_the_blocks() {
    let (server, addr) = server(&[SECRET]);
    put(&server, "marked", marked(1 << 20));
    let (through, seen) = relay(addr, None);
    let client = Node::new(config(&[SECRET])).unwrap();
    let got = fetch_all(&client, vec![(through, vec!["marked"])]);
    assert_eq!(got[0].as_ref().unwrap(), &marked(1 << 20));
    assert!(in_clear(&seen.lock().unwrap()[1]));
}

/// An altered byte fails the record's check: that connection ends with an
/// error naming the peer and nothing of the altered block is delivered; a
/// second connection (and a new one through the same relay) keeps working.
#[test]
fn an_altered_byte_ends_that_connection_only() {
    let (server, addr) = server(&[SECRET, ENCRYPTED]);
    put(&server, "big", pattern(9, 3 << 20));
    // ServerHello (49 bytes) and Welcome (42) go in clear; byte 1000 to the
    // client lies in the first READ payload's first record; byte 200 to the
    // server in the client's first sealed request.
    for (direction, at, says) in [(1, 1000, "AES-GCM"), (0, 200, "AES-GCM")] {
        let (through, _) = relay(addr, Some((direction, at)));
        let client = Node::new(config(&[
            SECRET,
            ENCRYPTED,
            ("ferry.fetch.inline.bytes", "0"),
        ]))
        .unwrap();
        let got = fetch_all(&client, vec![(through, vec!["big"]), (addr, vec!["big"])]);
        let error = got[0].as_ref().unwrap_err();
        assert!(error.contains(says), "direction {direction}: {error}");
        if direction == 1 {
            assert!(
                error.contains(&through.to_string()),
                "names the peer: {error}"
            );
        }
        assert_eq!(
            got[1].as_ref().unwrap(),
            &pattern(9, 3 << 20),
            "the other connection"
        );
        assert_eq!(client.pool_stats().in_use_bytes, 0, "no buffer kept");
        // The broken connection is replaced by a new one, which works.
        let again = fetch_all(&client, vec![(through, vec!["big"])]);
        assert_eq!(
            again[0].as_ref().unwrap(),
            &pattern(9, 3 << 20),
            "a new connection"
        );
    }
}

/// One side encrypts, the other does not: refused either way, naming the key.
#[test]
fn a_side_that_does_not_encrypt_is_refused() {
    for (server_side, client_side) in [
        (vec![SECRET, ENCRYPTED], vec![SECRET]),
        (vec![SECRET], vec![SECRET, ENCRYPTED]),
    ] {
        let (server, addr) = server(&server_side);
        put(&server, "block", pattern(1, 1000));
        let client = Node::new(config(&client_side)).unwrap();
        let got = fetch_all(&client, vec![(addr, vec!["block"])]);
        let error = got[0].as_ref().unwrap_err();
        assert!(error.contains("ferry.encryption"), "{error}");
    }
}
