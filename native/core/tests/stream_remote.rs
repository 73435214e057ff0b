//! Streams whose payload moves by one-sided READ (`stream::remote`) on the tcp
//! provider over loopback; `tests/verbs.rs` runs the same on real RDMA.

mod common;

#[test]
fn messages_by_one_sided_read_arrive_in_order_both_ways_and_are_freed() {
    let (read, served) = common::remote_stream_roundtrip(
        &[("ferry.provider", "tcp"), ("ferry.fetch.inline.bytes", "0")],
        "127.0.0.1",
        60,
        8 << 20,
    );
    assert!(
        served >= read,
        "the tcp provider serves every READ itself: {served} < {read}"
    );
}

#[test]
fn a_full_window_sends_the_rest_in_data_frames() {
    let (read, _) =
        common::remote_stream_roundtrip(&[("ferry.provider", "tcp")], "127.0.0.1", 60, 256 << 10);
    assert!(read > 0);
}

/// A peer that proved the secret forges NOTIFYs: each fails the stream with a clear
/// error at once, holds no pool buffer, and a fetch from the same node stays fast.
#[test]
fn forged_notifies_fail_that_stream_and_drain_nothing() {
    use ferry_core::stream::Stream;
    use ferry_core::Node;
    use std::io::Write;
    use std::sync::Arc;
    use std::time::{Duration, Instant};

    let pairs = [("ferry.provider", "tcp"), ("ferry.pool.bytes", "67108864")];
    // The node at the forger's address serves a 2 GiB block (a sparse file) and a small one.
    let serving_node = Arc::new(Node::new(common::config(&pairs)).unwrap());
    let serving = serving_node.serve("127.0.0.1:0".parse().unwrap()).unwrap();
    let dir = std::env::temp_dir().join(format!("ferry-forged-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let big = dir.join("big");
    std::fs::File::create(&big)
        .unwrap()
        .set_len(2 << 30)
        .unwrap();
    serving_node
        .register_file_block(b"big".to_vec(), &big, 0, 2 << 30)
        .unwrap();
    common::put(&serving_node, "small", common::pattern(7, 100_000));
    let ours_node = Arc::new(Node::new(common::config(&pairs)).unwrap());
    let window = 1 << 20;
    let forgeries: [(&[u8], u64, u64, &str); 4] = [
        (b"big", 2 << 30, 0, "not a stream slab"),
        (b"ferry-stream/00112233aabbccdd/0", 2 << 30, 0, "window"),
        (b"ferry-stream/00112233aabbccdd/0", 4096, 0, "refused"),
        (b"ferry-stream/../0", 4096, 0, "not a stream slab"),
    ];
    for (id, len, offset, expected) in forgeries {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let address = listener.local_addr().unwrap();
        let port = serving.port();
        let forger = std::thread::spawn(move || {
            let mut peer = std::net::TcpStream::connect(address).unwrap();
            let mut theirs = Stream::client_remote(b"s", 1 << 20, port).unwrap();
            common::handshake(&mut theirs, &mut peer);
            (theirs, peer)
        });
        let (sock, _) = listener.accept().unwrap();
        let mut ours = common::remote_driver(&sock, true, ours_node.clone(), 1, window);
        let mut buf = [0u8; 4096];
        while !forger.is_finished()
            || ours.status() & ferry_core::stream::abi::STATUS_ESTABLISHED == 0
        {
            assert_eq!(ours.read(&mut buf, Instant::now()).unwrap(), Some(0));
            std::thread::sleep(Duration::from_millis(1));
        }
        let (mut theirs, mut peer) = forger.join().unwrap();
        theirs.send_notify(0, len, offset, id).unwrap();
        peer.write_all(theirs.output()).unwrap();
        let n = theirs.output().len();
        theirs.sent(n);
        let started = Instant::now();
        let error = loop {
            match ours.read(&mut buf, Instant::now()) {
                Ok(Some(0)) => std::thread::sleep(Duration::from_millis(1)),
                other => break other.expect_err("a forged NOTIFY is an error").to_string(),
            }
            assert!(
                started.elapsed() < Duration::from_secs(10),
                "no error for {id:?}"
            );
        };
        assert!(error.contains(expected), "{id:?}: {error}");
        assert!(
            started.elapsed() < Duration::from_secs(2),
            "{id:?} took {:?}",
            started.elapsed()
        );
        assert_eq!(
            ours_node.pool_stats().in_use_bytes,
            0,
            "{id:?} holds no pool buffer"
        );
        let fetched = Instant::now();
        let blocks = common::fetch_all(&ours_node, vec![(serving, vec!["small"])]);
        assert_eq!(
            blocks[0].as_deref().unwrap(),
            &common::pattern(7, 100_000)[..]
        );
        assert!(
            fetched.elapsed() < Duration::from_secs(2),
            "a fetch took {:?}",
            fetched.elapsed()
        );
    }
    std::fs::remove_dir_all(&dir).unwrap();
    // Applications cannot register blocks in the streams' namespace.
    let region = serving_node.regions().register_bytes(vec![0u8; 16]);
    assert!(serving_node
        .register_region_block(b"ferry-stream/x/0".to_vec(), region, 0, 16)
        .is_err());
    // The nodes still carry a well-behaved stream.
    let (read, _) = common::remote_stream_roundtrip(&pairs, "127.0.0.1", 10, 4 << 20);
    assert!(read > 0);
}

#[test]
fn streams_share_a_peer_connection_up_to_the_configured_number() {
    use ferry_core::Node;
    use std::sync::Arc;

    let pairs = [("ferry.provider", "tcp")];
    let node = Node::new(common::config(&pairs)).unwrap();
    let server = Node::new(common::config(&pairs)).unwrap();
    let addr = server.serve("127.0.0.1:0".parse().unwrap()).unwrap();
    let lanes: Vec<u32> = (0..5).map(|_| node.join_lane(addr, 2)).collect();
    assert_eq!(
        lanes,
        [1, 1, 2, 2, 3],
        "two streams per connection, fetches keep lane 0"
    );
    node.leave_lane(addr, 1);
    assert_eq!(node.join_lane(addr, 2), 1, "a freed place is taken again");
    let one = node.lane_connection(addr, 1).unwrap();
    let two = node.lane_connection(addr, 2).unwrap();
    assert!(!Arc::ptr_eq(&one, &two), "each lane is its own connection");
    assert!(Arc::ptr_eq(&one, &node.lane_connection(addr, 1).unwrap()));
}

/// Closing never waits: CREDITs already on the socket free the slabs at once,
/// and slabs a peer may still READ stay registered only for a bounded time.
#[test]
fn closing_frees_credited_slabs_at_once_and_the_rest_after_a_linger() {
    use ferry_core::stream::abi::STAT_SLAB_BYTES;
    use ferry_core::stream::counters;
    use ferry_core::Node;
    use std::sync::Arc;
    use std::time::{Duration, Instant};

    let pairs = [("ferry.provider", "tcp")];
    let node_a = Arc::new(Node::new(common::config(&pairs)).unwrap());
    let port_a = node_a.serve("127.0.0.1:0".parse().unwrap()).unwrap().port();
    let node_b = Arc::new(Node::new(common::config(&pairs)).unwrap());
    let port_b = node_b.serve("127.0.0.1:0".parse().unwrap()).unwrap().port();
    let regions = node_a.regions().len();
    for credited in [true, false] {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let sock_a = std::net::TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        let (sock_b, _) = listener.accept().unwrap();
        let mut a = common::remote_driver(&sock_a, false, node_a.clone(), port_a, 4 << 20);
        let mut b = common::remote_driver(&sock_b, true, node_b.clone(), port_b, 4 << 20);
        let message = common::pattern(3, 1 << 20);
        let (mut sent, mut got) = (0, Vec::new());
        let mut buf = vec![0u8; 64 << 10];
        let deadline = Instant::now() + Duration::from_secs(30);
        let want = if credited { message.len() } else { 0 };
        while sent < message.len() || got.len() < want {
            assert!(Instant::now() < deadline, "stalled");
            sent += a.write(&[&message[sent..]], Instant::now()).unwrap();
            if credited || b.status() & ferry_core::stream::abi::STATUS_ESTABLISHED == 0 {
                let n = b.read(&mut buf, Instant::now()).unwrap().unwrap();
                got.extend_from_slice(&buf[..n]);
            }
            let _ = a.read(&mut buf[..0], Instant::now()).unwrap();
        }
        assert!(a.stats().get(STAT_SLAB_BYTES) > 0);
        b.close(); // as try-with-resources closes the later stream first
        std::thread::sleep(Duration::from_millis(50)); // the CREDITs reach A's socket
        let started = Instant::now();
        a.close();
        drop(a);
        assert!(
            started.elapsed() < Duration::from_millis(100),
            "close waited"
        );
        if credited {
            assert_eq!(
                node_a.regions().len(),
                regions,
                "credited slabs freed at close"
            );
        } else {
            assert!(
                node_a.regions().len() > regions,
                "slabs kept for the peer's READs"
            );
            while node_a.regions().len() > regions {
                assert!(
                    started.elapsed() < Duration::from_secs(10),
                    "slabs never freed"
                );
                std::thread::sleep(Duration::from_millis(50));
            }
        }
        drop(b);
    }
    assert!(counters().get(STAT_SLAB_BYTES) < 1 << 30);
}
