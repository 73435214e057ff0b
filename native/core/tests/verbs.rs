//! Block fetch over the verbs provider (real RDMA). These tests need an RDMA
//! device and run only when FERRY_VERBS_TEST_IP names an address on it (the
//! Soft-RoCE VM sets 192.0.2.1: tests/vm/verbs-guest.sh); elsewhere they pass
//! without doing anything.

mod common;

use std::io::{BufRead, BufReader, Write};
use std::net::SocketAddr;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::{fetch_all, pattern, put};
use ferry_core::block::RemoteSlice;
use ferry_core::provider::{Connection, ReadRequest};
use ferry_core::{Config, ErrorCode, Node};

fn test_ip() -> Option<String> {
    let _ = env_logger::builder().is_test(true).try_init();
    let ip = std::env::var("FERRY_VERBS_TEST_IP")
        .ok()
        .filter(|s| !s.is_empty());
    if ip.is_none() {
        eprintln!("skipped: FERRY_VERBS_TEST_IP is not set (no RDMA device here)");
    }
    ip
}

fn node(pairs: &[(&str, &str)]) -> Node {
    Node::new(Config::from_pairs(pairs.iter().copied()).unwrap()).unwrap()
}

/// Inline replies off, so every byte crosses as an RDMA READ.
const VERBS: &[(&str, &str)] = &[
    ("ferry.provider", "verbs"),
    ("ferry.fetch.inline.bytes", "0"),
    ("ferry.pool.buffer.size", "256k"),
    ("ferry.pool.bytes", "16m"),
    ("ferry.request.timeout.ms", "20000"),
];

fn verbs_server(ip: &str) -> (Node, SocketAddr) {
    let server = node(VERBS);
    let addr = server.serve(format!("{ip}:0").parse().unwrap()).unwrap();
    (server, addr)
}

#[test]
fn checksummed_anonymous_and_file_blocks_many_in_flight() {
    let Some(ip) = test_ip() else { return };
    let (server, addr) = verbs_server(&ip);
    assert_eq!(server.provider_name(), "verbs");
    // Anonymous regions: sizes around the buffer size, so blocks split into several READs.
    let sizes = [
        1usize,
        4096,
        65_536,
        262_144,
        262_145,
        700_000,
        (1 << 20) + 3,
    ];
    let mut ids = Vec::new();
    let mut want = Vec::new();
    for i in 0..60 {
        let data = pattern(i as u64, sizes[i % sizes.len()]);
        let id = format!("anon-{i}");
        put(&server, &id, data.clone());
        ids.push(id);
        want.push(data);
    }
    // A file-backed region: one read-only mmap, blocks at offsets within it.
    let file_data = pattern(999, 5 << 20);
    let mut file = tempfile::NamedTempFile::new().unwrap();
    file.write_all(&file_data).unwrap();
    file.flush().unwrap();
    let region = server
        .regions()
        .register_file(file.path(), 4096, Some((5 << 20) - 4096))
        .unwrap();
    for (i, (offset, len)) in [(0u64, 1u64 << 20), (12345, 777_777), (3 << 20, 1 << 20)]
        .into_iter()
        .enumerate()
    {
        let id = format!("file-{i}");
        server
            .register_region_block(id.as_bytes().to_vec(), region, offset, len)
            .unwrap();
        ids.push(id);
        let start = 4096 + offset as usize;
        want.push(file_data[start..start + len as usize].to_vec());
    }

    let client = node(VERBS);
    let connection = client.connection(addr).unwrap();
    assert_eq!(
        connection.provider(),
        "verbs",
        "the connection runs on RDMA"
    );
    let refs: Vec<&str> = ids.iter().map(String::as_str).collect();
    let got = fetch_all(&client, vec![(addr, refs)]);
    for (i, (got, want)) in got.iter().zip(&want).enumerate() {
        let got = got
            .as_ref()
            .unwrap_or_else(|e| panic!("block {}: {e}", ids[i]));
        assert_eq!(
            crc32fast::hash(got),
            crc32fast::hash(want),
            "block {} differs",
            ids[i]
        );
    }
    let served = server.metrics();
    assert_eq!(
        served.reads_served, 0,
        "the NIC served the READs, not the server's CPU"
    );
    let total: usize = want.iter().map(Vec::len).sum();
    assert_eq!(client.metrics().bytes_fetched, total as u64);
    assert_eq!(client.pool_stats().in_use_bytes, 0);
}

/// Looks `id` up on `connection` and returns its slice.
fn lookup(connection: &Arc<dyn Connection>, id: &str) -> RemoteSlice {
    let (tx, rx) = crossbeam_channel::bounded(1);
    connection.lookup(
        vec![id.as_bytes().to_vec()],
        0,
        Box::new(move |r| {
            let _ = tx.send(r);
        }),
    );
    let results = rx.recv_timeout(Duration::from_secs(10)).unwrap().unwrap();
    results.into_iter().next().unwrap().unwrap().slice
}

/// One READ of `src` on `connection`; the error text on failure.
fn read(
    client: &Node,
    connection: &Arc<dyn Connection>,
    src: RemoteSlice,
) -> Result<Vec<u8>, ferry_core::Error> {
    let (tx, rx) = crossbeam_channel::bounded(1);
    let dst = client.buffer_pool().acquire().unwrap();
    connection.read(vec![ReadRequest {
        src,
        dst,
        done: Box::new(move |r| {
            let _ = tx.send(r.map(|b| b.to_vec()));
        }),
    }]);
    let started = Instant::now();
    let result = rx
        .recv_timeout(Duration::from_secs(15))
        .expect("a bad READ ends in an error, never a hang");
    assert!(started.elapsed() < Duration::from_secs(15));
    result
}

#[test]
fn bad_keys_and_out_of_range_reads_fail_that_read_and_the_node_recovers() {
    let Some(ip) = test_ip() else { return };
    let (server, addr) = verbs_server(&ip);
    let data = pattern(5, 100_000);
    put(&server, "b", data.clone());
    let client = node(VERBS);

    type Spoil = fn(RemoteSlice) -> RemoteSlice;
    let cases: [(&str, Spoil); 3] = [
        ("forged key", |s| RemoteSlice {
            key: s.key ^ 0x5a5a00,
            ..s
        }),
        ("past the end", |s| RemoteSlice {
            addr: s.addr + 90_000,
            len: 20_000,
            ..s
        }),
        ("before the start", |s| RemoteSlice {
            addr: s.addr - 4096,
            len: 4096,
            ..s
        }),
    ];
    for (what, spoil) in cases {
        let connection = client.connection(addr).unwrap();
        assert_eq!(connection.provider(), "verbs");
        let slice = lookup(&connection, "b");
        assert_eq!(
            read(&client, &connection, slice).unwrap(),
            data,
            "a good READ first"
        );
        let error = read(&client, &connection, spoil(slice)).expect_err(what);
        let text = error.to_string();
        assert!(
            matches!(
                &error,
                ferry_core::Error::Remote {
                    code: ErrorCode::InvalidKey,
                    ..
                }
            ),
            "{what}: {text}"
        );
        assert!(text.contains("refused"), "{what}: {text}");
        // The queue pair is in the error state; the next fetch reconnects and succeeds.
        let got = fetch_all(&client, vec![(addr, vec!["b"])]);
        assert_eq!(got[0].as_ref().unwrap(), &data, "{what}: recovered");
    }
    assert_eq!(client.pool_stats().in_use_bytes, 0);
}

#[test]
fn deregistration_revokes_remote_access() {
    let Some(ip) = test_ip() else { return };
    let (server, addr) = verbs_server(&ip);
    let data = pattern(6, 50_000);
    let region = server.regions().register_bytes(data.clone());
    server
        .register_region_block(b"r".to_vec(), region, 0, data.len() as u64)
        .unwrap();
    let client = node(VERBS);
    let connection = client.connection(addr).unwrap();
    let slice = lookup(&connection, "r");
    assert_eq!(read(&client, &connection, slice).unwrap(), data);
    assert!(server.regions().deregister(region));
    let error = read(&client, &connection, slice).expect_err("stale key");
    assert!(error.to_string().contains("refused"), "{error}");
}

/// A serving node pins at most `ferry.rdma.serve.pinned.bytes` of registered regions per
/// device: a region past the bound is served by its CPU over the control connection (every
/// byte still arrives), and deregistering a region makes room for RDMA again.
#[test]
fn regions_past_the_pinned_bound_are_served_by_the_cpu() {
    let Some(ip) = test_ip() else { return };
    let bounded: Vec<_> = VERBS
        .iter()
        .copied()
        .chain([("ferry.rdma.serve.pinned.bytes", "1m")])
        .collect();
    let server = node(&bounded);
    let addr = server.serve(format!("{ip}:0").parse().unwrap()).unwrap();
    let blocks: Vec<(&str, Vec<u8>)> = ["a", "b", "c"]
        .iter()
        .enumerate()
        .map(|(i, id)| (*id, pattern(20 + i as u64, 600_000)))
        .collect();
    let region = server.regions().register_bytes(blocks[0].1.clone());
    server
        .register_region_block(b"a".to_vec(), region, 0, 600_000)
        .unwrap();
    put(&server, "b", blocks[1].1.clone());
    let client = node(VERBS);
    let served = || server.metrics().bytes_served;

    // a is registered (600,000 of 1 MiB); b would pass the bound: its CPU serves it.
    let got = fetch_all(&client, vec![(addr, vec!["a", "b"])]);
    assert_eq!(got[0].as_ref().unwrap(), &blocks[0].1);
    assert_eq!(got[1].as_ref().unwrap(), &blocks[1].1);
    assert_eq!(served(), 600_000, "b, and only b, by the server's CPU");
    assert_eq!(client.metrics().bytes_fetched, 1_200_000);

    // With a deregistered, c fits: by READ again.
    assert!(server.regions().deregister(region));
    put(&server, "c", blocks[2].1.clone());
    let got = fetch_all(&client, vec![(addr, vec!["c"])]);
    assert_eq!(got[0].as_ref().unwrap(), &blocks[2].1);
    assert_eq!(served(), 600_000, "c by RDMA READ");
    assert_eq!(client.pool_stats().in_use_bytes, 0);
}

/// `ferry.rdma.device` (with port and type of service) set to the device under test: it is
/// used; set to another device here, the route to the test address does not go through it,
/// so a forced verbs node refuses the connection naming the key and `auto` falls back to tcp.
#[test]
fn a_named_device_is_used_and_another_is_refused() {
    let Some(ip) = test_ip() else { return };
    let device =
        std::env::var("FERRY_VERBS_TEST_DEV").expect("FERRY_VERBS_TEST_DEV names the device");
    let named = |device: &str, provider: &str| {
        let mut pairs = VERBS.to_vec();
        pairs.retain(|(k, _)| *k != "ferry.provider");
        pairs.extend([
            ("ferry.provider", provider),
            ("ferry.rdma.device", device),
            ("ferry.rdma.port", "1"),
            ("ferry.rdma.tos", "32"),
        ]);
        node(&pairs)
    };
    let server = named(&device, "verbs");
    let addr = server.serve(format!("{ip}:0").parse().unwrap()).unwrap();
    let data = pattern(8, 200_000);
    put(&server, "d", data.clone());
    let client = named(&device, "verbs");
    assert_eq!(client.connection(addr).unwrap().provider(), "verbs");
    let got = fetch_all(&client, vec![(addr, vec!["d"])]);
    assert_eq!(got[0].as_ref().unwrap(), &data, "READ through {device}");

    let names = ferry_core::provider::verbs::probe().unwrap();
    if let Some(other) = names.iter().find(|n| **n != device) {
        let error = named(other, "verbs")
            .connection(addr)
            .err()
            .expect("a route through another device than the named one is refused");
        let text = error.to_string();
        assert!(
            text.contains("ferry.rdma.device") && text.contains(&device),
            "{text}"
        );
        let fallback = named(other, "auto");
        assert_eq!(fallback.connection(addr).unwrap().provider(), "tcp");
        assert_eq!(
            fetch_all(&fallback, vec![(addr, vec!["d"])])[0]
                .as_ref()
                .unwrap(),
            &data
        );
    } else {
        eprintln!("only {device} here: the refusal of another device is not checked");
    }
    let error = Node::new(
        Config::from_pairs([("ferry.provider", "auto"), ("ferry.rdma.device", "nosuch0")]).unwrap(),
    )
    .err()
    .expect("an unknown device is an error, even under auto");
    let text = error.to_string();
    assert!(
        text.contains("ferry.rdma.device") && text.contains(&device),
        "{text}"
    );
}

#[test]
fn a_peer_without_rdma_gets_tcp() {
    let Some(ip) = test_ip() else { return };
    let server = node(&[("ferry.provider", "tcp")]);
    let addr = server.serve(format!("{ip}:0").parse().unwrap()).unwrap();
    let data = pattern(7, 300_000);
    put(&server, "t", data.clone());
    let client = node(&[("ferry.provider", "auto")]);
    assert_eq!(client.provider_name(), "verbs", "this node has a device");
    let connection = client.connection(addr).unwrap();
    assert_eq!(connection.provider(), "tcp", "the peer offers no RDMA: tcp");
    let got = fetch_all(&client, vec![(addr, vec!["t"])]);
    assert_eq!(got[0].as_ref().unwrap(), &data);
    // Forced verbs refuses such a peer instead.
    let forced = node(&[("ferry.provider", "verbs")]);
    let error = forced
        .connection(addr)
        .err()
        .expect("forced verbs refuses a tcp-only peer");
    assert!(error.to_string().contains("offers no RDMA"), "{error}");
}

/// The server half of `a_peer_killed_mid_transfer_fails_fast`, run in a child process.
#[test]
fn child_server_for_kill_test() {
    if std::env::var("FERRY_VERBS_CHILD").is_err() {
        return;
    }
    let ip = std::env::var("FERRY_VERBS_TEST_IP").unwrap();
    let _ = env_logger::builder().is_test(false).try_init();
    let (server, addr) = verbs_server(&ip);
    for i in 0..64 {
        put(&server, &format!("k{i}"), pattern(i, 1 << 20));
    }
    println!("ADDR {addr}");
    std::io::stdout().flush().unwrap();
    std::thread::sleep(Duration::from_secs(120));
}

#[test]
fn a_peer_killed_mid_transfer_fails_fast() {
    let Some(ip) = test_ip() else { return };
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "child_server_for_kill_test",
            "--nocapture",
            "--test-threads=1",
        ])
        .env("FERRY_VERBS_CHILD", "1")
        .env("FERRY_VERBS_TEST_IP", &ip)
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let addr: SocketAddr = loop {
        let Some(line) = lines.next() else {
            panic!(
                "the child server ended without an address: {:?}",
                child.wait()
            );
        };
        let line = line.unwrap();
        eprintln!("child: {line}");
        if let Some(at) = line.find("ADDR ") {
            break line[at + 5..].trim().parse().unwrap();
        }
    };
    let client = node(VERBS);
    let ids: Vec<Vec<u8>> = (0..64).map(|i| format!("k{i}").into_bytes()).collect();
    let mut fetch = client.fetch(vec![(addr, ids)]);
    let first = fetch.next().expect("a first chunk");
    first.expect("the first chunk arrives");
    child.kill().unwrap();
    let killed = Instant::now();
    child.wait().unwrap();
    let mut failures = 0;
    for item in fetch {
        if let Err(failure) = item {
            let text = failure.error.to_string();
            assert!(text.contains("lost") || text.contains("closed"), "{text}");
            failures += 1;
        }
    }
    assert!(failures > 0, "blocks of a killed peer fail");
    // The connection's end (rdma_cm event, control connection) fails the READs, not
    // ferry.request.timeout.ms (20 s here). Bound with margin for TCG on a loaded host.
    let took = killed.elapsed();
    eprintln!("in-flight READs of the killed peer failed {took:?} after the kill");
    assert!(
        took < Duration::from_secs(4),
        "failed in {took:?}, not at once"
    );
    assert_eq!(
        client.pool_stats().in_use_bytes,
        0,
        "every buffer came back"
    );
}

#[test]
fn stream_messages_by_rdma_read() {
    let Some(ip) = test_ip() else { return };
    let (read, served) = common::remote_stream_roundtrip(VERBS, &ip, 40, 8 << 20);
    // The senders' NICs served the READs: their CPUs served none of the payload.
    assert!(read > 4_000_000);
    assert_eq!(served, 0, "RDMA READs bypass the serving node's CPU");
}
