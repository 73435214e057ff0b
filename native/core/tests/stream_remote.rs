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

#[test]
fn a_forged_notify_fails_that_stream_and_the_node_keeps_serving() {
    use ferry_core::stream::remote::{RemoteReceiver, RemoteSender};
    use ferry_core::stream::socket::{Fd, RemoteIo};
    use ferry_core::stream::{State, Stream};
    use ferry_core::Node;
    use std::io::Write;
    use std::os::fd::AsRawFd;
    use std::sync::Arc;

    let pairs = [("ferry.provider", "tcp")];
    let sender = Arc::new(Node::new(common::config(&pairs)).unwrap());
    let serving = sender.serve("127.0.0.1:0".parse().unwrap()).unwrap();
    let receiver = Arc::new(Node::new(common::config(&pairs)).unwrap());
    // A peer that names a slab its node never registered, and one outside any slab.
    for forged in [&b"ferry-stream/forged/0"[..], b"x"] {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = serving.port();
        let address = listener.local_addr().unwrap();
        let their_end = std::thread::spawn(move || {
            let mut peer = std::net::TcpStream::connect(address).unwrap();
            let mut theirs = Stream::client_remote(b"", 1 << 20, port).unwrap();
            common::handshake(&mut theirs, &mut peer);
            (theirs, peer)
        });
        let (mut sock, _) = listener.accept().unwrap();
        let mut ours = Stream::server_remote(b"", 1 << 20, 1).unwrap();
        common::handshake(&mut ours, &mut sock);
        let (mut theirs, mut peer) = their_end.join().unwrap();
        assert_eq!(ours.state(), State::Open);
        theirs.send_notify(0, 4096, 1 << 40, forged).unwrap();
        peer.write_all(theirs.output()).unwrap();
        let n = theirs.output().len();
        theirs.sent(n);
        sock.set_nonblocking(true).unwrap();
        let mut io = RemoteIo::new(
            Fd(sock.as_raw_fd()),
            RemoteSender::new(receiver.clone(), 1 << 20, 256 << 10).unwrap(),
            RemoteReceiver::new(receiver.clone(), serving, 8),
            4096,
        );
        let mut result = Ok(Some(0));
        for _ in 0..200 {
            result = io.read(&mut ours, 4096, &mut |_| Ok(()));
            if !matches!(result, Ok(Some(0))) {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
        let error = result.expect_err("a forged NOTIFY is an error").to_string();
        assert!(
            error.contains("refused") || error.contains("outside"),
            "{error}"
        );
    }
    // The sender's node still serves a well-behaved stream.
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
