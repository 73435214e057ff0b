//! Memory stays bounded over a long loop of fetches, including failing ones:
//! resident memory levels off and every pinned buffer returns to the pool.

mod common;

use common::*;
use ferry_core::Node;

fn resident_bytes() -> u64 {
    let statm = std::fs::read_to_string("/proc/self/statm").unwrap();
    let pages: u64 = statm.split_whitespace().nth(1).unwrap().parse().unwrap();
    pages * 4096
}

#[test]
fn long_fetch_loop_does_not_grow_memory() {
    let (server, addr) = server(&[("ferry.compression", "lz4")]);
    put(&server, "small", pattern(1, 3000));
    put(&server, "large", pattern(2, 3 << 20));
    let client = Node::new(config(&[("ferry.compression", "lz4")])).unwrap();
    let round = |i: usize| {
        let ids = if i % 3 == 0 {
            vec!["small", "missing"]
        } else {
            vec!["small", "large"]
        };
        let got = fetch_all(&client, vec![(addr, ids)]);
        assert_eq!(got[0].as_ref().unwrap().len(), 3000);
        // Every few rounds a peer that refuses us, to exercise the failure paths too.
        if i % 50 == 0 {
            let stranger = Node::new(config(&[("ferry.auth.secret", "x")])).unwrap();
            assert!(fetch_all(&stranger, vec![(addr, vec!["small"])])[0].is_err());
        }
    };
    for i in 0..200 {
        round(i);
    }
    let warm = resident_bytes();
    for i in 0..1500 {
        round(i);
    }
    let grown = resident_bytes().saturating_sub(warm);
    println!("resident growth over 1500 rounds: {} KiB", grown / 1024);
    assert!(grown < 8 << 20, "resident memory grew by {grown} bytes");
    assert_eq!(client.pool_stats().in_use_bytes, 0);
}
