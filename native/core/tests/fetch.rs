//! Block fetch over the tcp provider on loopback: real sockets, real nodes.

mod common;

use common::*;
use std::io::Write;

#[test]
fn blocks_of_every_size_arrive_intact() {
    let (server, addr) = server(&[]);
    let sizes = [
        0usize,
        1,
        4096,
        32 << 10,
        (32 << 10) + 1,
        1 << 20,
        (1 << 20) + 7,
        5 << 20,
    ];
    let names: Vec<String> = sizes.iter().map(|s| format!("b{s}")).collect();
    for (i, (name, &size)) in names.iter().zip(&sizes).enumerate() {
        put(&server, name, pattern(i as u64, size));
    }
    let client = ferry_core::Node::new(config(&[])).unwrap();
    let got = fetch_all(
        &client,
        vec![(addr, names.iter().map(String::as_str).collect())],
    );
    for (i, (block, &size)) in got.iter().zip(&sizes).enumerate() {
        assert_eq!(
            block.as_ref().unwrap(),
            &pattern(i as u64, size),
            "block of {size} bytes"
        );
    }
    assert_eq!(client.pool_stats().in_use_bytes, 0, "every buffer returned");
    let served: u64 = sizes.iter().map(|&s| s as u64).sum();
    assert_eq!(server.metrics().bytes_served, served);
    assert_eq!(client.metrics().bytes_fetched, served);
}

#[test]
fn file_ranges_are_served_without_copies() {
    let mut file = tempfile::NamedTempFile::new().unwrap();
    let data = pattern(42, 3_000_001);
    file.write_all(&data).unwrap();
    let (server, addr) = server(&[]);
    let cuts = [(0u64, 1000u64), (1000, 2_000_000), (2_001_000, 999_001)];
    for (i, (offset, len)) in cuts.iter().enumerate() {
        server
            .register_file_block(format!("f{i}").into_bytes(), file.path(), *offset, *len)
            .unwrap();
    }
    let client = ferry_core::Node::new(config(&[])).unwrap();
    let got = fetch_all(&client, vec![(addr, vec!["f0", "f1", "f2"])]);
    for (block, (offset, len)) in got.iter().zip(cuts) {
        let want = &data[offset as usize..(offset + len) as usize];
        assert!(block.as_ref().unwrap() == want);
    }
}

#[test]
fn many_blocks_from_two_peers_with_a_small_budget() {
    let (a, addr_a) = server(&[]);
    let (b, addr_b) = server(&[]);
    let ids: Vec<String> = (0..400).map(|i| format!("k{i}")).collect();
    for (i, id) in ids.iter().enumerate() {
        let node = if i % 2 == 0 { &a } else { &b };
        put(node, id, pattern(i as u64, 1000 + i * 997));
    }
    // 8 buffers of 64 KiB and 256 KiB in flight: far less than the 80 MB requested.
    let client = ferry_core::Node::new(config(&[
        ("ferry.pool.buffer.size", "64k"),
        ("ferry.pool.bytes", "512k"),
        ("ferry.pool.grow.bytes", "128k"),
        ("ferry.fetch.inflight.bytes", "256k"),
    ]))
    .unwrap();
    let even: Vec<&str> = ids.iter().step_by(2).map(String::as_str).collect();
    let odd: Vec<&str> = ids.iter().skip(1).step_by(2).map(String::as_str).collect();
    let got = fetch_all(&client, vec![(addr_a, even), (addr_b, odd)]);
    for (j, block) in got.iter().enumerate() {
        let i = if j < 200 { j * 2 } else { (j - 200) * 2 + 1 };
        assert_eq!(
            block.as_ref().unwrap(),
            &pattern(i as u64, 1000 + i * 997),
            "block k{i}"
        );
    }
    let stats = client.pool_stats();
    assert!(
        stats.mapped_bytes <= 512 << 10,
        "pool stayed under its cap: {stats:?}"
    );
    assert_eq!(stats.in_use_bytes, 0);
}

/// `ferry.fetch.inflight.peer.bytes` bounds each peer's READs in flight, so a fetch holds
/// few pinned buffers however much the whole fetch may have in flight.
#[test]
fn each_peer_keeps_within_its_in_flight_budget() {
    let (a, addr_a) = server(&[]);
    let (b, addr_b) = server(&[]);
    // Blocks in separate regions: one READ, and one buffer, each.
    for i in 0..64u64 {
        let node = if i % 2 == 0 { &a } else { &b };
        put(node, &format!("p{i}"), pattern(i, 64 << 10));
    }
    let client = ferry_core::Node::new(config(&[
        ("ferry.pool.buffer.size", "64k"),
        ("ferry.pool.bytes", "4m"),
        ("ferry.fetch.inflight.bytes", "4m"),
        ("ferry.fetch.inflight.peer.bytes", "128k"),
    ]))
    .unwrap();
    let ids = |parity: u64| -> Vec<Vec<u8>> {
        (0..64u64)
            .filter(|i| i % 2 == parity)
            .map(|i| format!("p{i}").into_bytes())
            .collect()
    };
    let mut most_in_use = 0;
    let mut count = 0;
    for chunk in client.fetch(vec![(addr_a, ids(0)), (addr_b, ids(1))]) {
        let chunk = chunk.expect("every block arrives");
        let seed = if chunk.block < 32 {
            chunk.block * 2
        } else {
            (chunk.block - 32) * 2 + 1
        };
        assert!(chunk.data.to_vec() == pattern(seed as u64, 64 << 10));
        most_in_use = most_in_use.max(client.pool_stats().in_use_bytes);
        count += 1;
    }
    assert_eq!(count, 64);
    // Two peers with two 64 KiB READs each in flight, as many received and
    // waiting for the consumer (one batch of completions), and the chunk in hand.
    assert!(
        most_in_use <= 9 * (64 << 10),
        "{most_in_use} bytes of buffers in use at once"
    );
}

#[test]
fn concurrent_fetches_share_one_connection_per_peer() {
    let (server, addr) = server(&[]);
    for i in 0..50 {
        put(&server, &format!("c{i}"), pattern(i, 70_000));
    }
    let client = std::sync::Arc::new(ferry_core::Node::new(config(&[])).unwrap());
    let threads: Vec<_> = (0..8)
        .map(|_| {
            let client = client.clone();
            std::thread::spawn(move || {
                let ids: Vec<String> = (0..50).map(|i| format!("c{i}")).collect();
                let got = fetch_all(
                    &client,
                    vec![(addr, ids.iter().map(String::as_str).collect())],
                );
                for (i, block) in got.iter().enumerate() {
                    assert_eq!(block.as_ref().unwrap(), &pattern(i as u64, 70_000));
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    assert_eq!(
        server.metrics().connections_accepted,
        1,
        "one connection, shared"
    );
    assert_eq!(server.metrics().connections_rejected, 0);
}

#[test]
fn lz4_and_plain_reads_agree() {
    // The server compresses only when its own setting says so, for peers that ask.
    let (server, addr) = server(&[("ferry.compression", "lz4")]);
    let compressible: Vec<u8> = (0..3_000_000u32).map(|i| (i / 1000) as u8).collect();
    put(&server, "squeezable", compressible.clone());
    put(&server, "noise", pattern(7, 2_000_000));
    for mode in ["none", "lz4"] {
        let client = ferry_core::Node::new(config(&[
            ("ferry.compression", mode),
            ("ferry.fetch.inline.bytes", "0"),
        ]))
        .unwrap();
        let got = fetch_all(&client, vec![(addr, vec!["squeezable", "noise"])]);
        assert_eq!(got[0].as_ref().unwrap(), &compressible, "{mode}");
        assert_eq!(got[1].as_ref().unwrap(), &pattern(7, 2_000_000), "{mode}");
    }
}

#[test]
fn inline_and_read_paths_agree() {
    let (server, addr) = server(&[("ferry.fetch.inline.bytes", "64k")]);
    for i in 0..20u64 {
        put(
            &server,
            &format!("s{i}"),
            pattern(i, 100 + i as usize * 3000),
        );
    }
    let ids: Vec<String> = (0..20).map(|i| format!("s{i}")).collect();
    let ids: Vec<&str> = ids.iter().map(String::as_str).collect();
    let inline_bytes: u64 = (0..20).map(|i| 100 + i * 3000).sum();
    // With 64k, every block fits and the lookup reply carries them all. With 32k, blocks
    // 0..=10 would fit but the rest need READs anyway: all of them come by READ.
    // ferry.rdma.inline.bytes governs connections with RDMA only: never these.
    for (inline, want_inlined, want_reads) in [("0", 0, 20), ("32k", 0, 20), ("64k", 20, 0)] {
        let client = ferry_core::Node::new(config(&[
            ("ferry.fetch.inline.bytes", inline),
            ("ferry.rdma.inline.bytes", "64k"),
        ]))
        .unwrap();
        let before = server.metrics();
        let got = fetch_all(&client, vec![(addr, ids.clone())]);
        for (i, block) in got.iter().enumerate() {
            assert_eq!(block.as_ref().unwrap(), &pattern(i as u64, 100 + i * 3000));
        }
        let after = server.metrics();
        assert_eq!(
            after.blocks_inlined - before.blocks_inlined,
            want_inlined,
            "inline {inline}"
        );
        assert_eq!(
            after.reads_served - before.reads_served,
            want_reads,
            "inline {inline}"
        );
        let fetched = client.metrics();
        let want_inline_bytes = if want_inlined == 0 { 0 } else { inline_bytes };
        assert_eq!(
            fetched.bytes_fetched_inline, want_inline_bytes,
            "inline {inline}"
        );
        assert_eq!(
            fetched.bytes_fetched,
            (0..20).map(|i| 100 + i * 3000).sum::<u64>()
        );
    }
}

/// The distinct pool buffers the chunks of one fetch landed in; block `<prefix><seed>` is checked
/// against `pattern(seed, ..)`.
fn buffers_used(
    client: &ferry_core::Node,
    addr: std::net::SocketAddr,
    prefix: &str,
    seeds: &[u64],
) -> usize {
    let ids: Vec<String> = seeds.iter().map(|s| format!("{prefix}{s}")).collect();
    let requests = vec![(addr, ids.iter().map(|id| id.as_bytes().to_vec()).collect())];
    let mut chunks = Vec::new();
    for item in client.fetch(requests) {
        let chunk = item.expect("every block arrives");
        assert_eq!(chunk.offset, 0, "whole blocks");
        assert!(chunk.is_last());
        chunks.push(chunk);
    }
    assert_eq!(chunks.len(), ids.len());
    let buffers: std::collections::HashSet<_> =
        chunks.iter().map(|c| c.data.pool_buffer().base).collect();
    for chunk in &chunks {
        assert_eq!(chunk.data.len() as u64, chunk.block_len);
    }
    let held = client.pool_stats().in_use_bytes;
    assert_eq!(held, buffers.len() * client.buffer_pool().buffer_size());
    let (count, data): (Vec<usize>, Vec<Vec<u8>>) =
        chunks.iter().map(|c| (c.block, c.data.to_vec())).unzip();
    drop(chunks);
    assert_eq!(
        client.pool_stats().in_use_bytes,
        0,
        "the last part returns the buffer"
    );
    for (block, bytes) in count.into_iter().zip(data) {
        assert!(
            bytes == pattern(seeds[block], bytes.len()),
            "block {}",
            ids[block]
        );
    }
    buffers.len()
}

/// Above the inline limit: every block of [`region_blocks`] needs a READ.
const SIZE: usize = 40 << 10;

/// Blocks `r0`.. of [`SIZE`] bytes, end to end in one region, `r<i>` holding `pattern(i, ..)`.
fn region_blocks(server: &ferry_core::Node, count: usize) {
    let data: Vec<u8> = (0..count as u64).flat_map(|i| pattern(i, SIZE)).collect();
    let region = server.regions().register_bytes(data);
    for i in 0..count {
        let offset = (i * SIZE) as u64;
        server
            .register_region_block(format!("r{i}").into_bytes(), region, offset, SIZE as u64)
            .unwrap();
    }
}

#[test]
fn adjacent_blocks_of_one_region_come_in_one_read() {
    let (server, addr) = server(&[]);
    region_blocks(&server, 64);
    let all: Vec<u64> = (0..64).collect();
    let client = ferry_core::Node::new(config(&[])).unwrap();
    // 25 blocks fill a 1 MiB buffer: 64 blocks take 3 READs, not 64.
    let before = server.metrics().reads_served;
    assert_eq!(buffers_used(&client, addr, "r", &all), 3);
    assert_eq!(server.metrics().reads_served - before, 3);
    // Out of order, no two listed blocks are adjacent: one READ each, into
    // parts of one shared buffer rather than a buffer each.
    let shuffled: Vec<u64> = (0..16).map(|i| (i * 7) % 16 * 2).collect();
    let before = server.metrics().reads_served;
    assert_eq!(buffers_used(&client, addr, "r", &shuffled), 1);
    assert_eq!(server.metrics().reads_served - before, 16);
    // The in-flight budget bounds a joined READ as it bounds separate ones.
    let small = ferry_core::Node::new(config(&[
        ("ferry.fetch.inflight.bytes", "128k"),
        ("ferry.pool.buffer.size", "128k"),
    ]))
    .unwrap();
    let before = server.metrics().reads_served;
    assert_eq!(buffers_used(&small, addr, "r", &all[..8]), 3);
    assert_eq!(server.metrics().reads_served - before, 3);
}

#[test]
fn a_pool_of_one_buffer_serves_reads_past_its_shared_remainder() {
    let (server, addr) = server(&[]);
    region_blocks(&server, 8);
    // One 128 KiB buffer in all: three blocks share it, and the 8 KiB left
    // cannot take a fourth, which must not wait for the buffer that remainder holds.
    let client = ferry_core::Node::new(config(&[
        ("ferry.pool.buffer.size", "128k"),
        ("ferry.pool.bytes", "128k"),
        ("ferry.pool.wait.ms", "2000"),
    ]))
    .unwrap();
    let order = [0u64, 2, 4, 6, 1, 3, 5, 7];
    let ids: Vec<String> = order.iter().map(|i| format!("r{i}")).collect();
    let got = fetch_all(
        &client,
        vec![(addr, ids.iter().map(String::as_str).collect())],
    );
    for (block, &seed) in got.iter().zip(&order) {
        assert!(block.as_ref().unwrap() == &pattern(seed, SIZE), "r{seed}");
    }
    assert_eq!(client.pool_stats().in_use_bytes, 0, "every buffer returned");
}

#[test]
fn inline_blocks_of_one_reply_share_buffers() {
    let (server, addr) = server(&[]);
    let seeds: Vec<u64> = (0..100).collect();
    for &i in &seeds {
        put(&server, &format!("i{i}"), pattern(i, 4096));
    }
    let client = ferry_core::Node::new(config(&[("ferry.pool.buffer.size", "64k")])).unwrap();
    let before = server.metrics();
    // 400 KiB inline: 7 buffers of 64 KiB (16 blocks each), not 100.
    assert_eq!(buffers_used(&client, addr, "i", &seeds), 7);
    let after = server.metrics();
    assert_eq!(after.blocks_inlined - before.blocks_inlined, 100);
    assert_eq!(after.reads_served, before.reads_served);
}
