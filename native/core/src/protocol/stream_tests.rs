use super::*;

/// One direction of a connection: bytes on the wire, consumed from the front.
#[derive(Default)]
struct Wire(Vec<u8>);

impl Wire {
    /// Sends everything `from` has to output.
    fn carry(&mut self, from: &mut Stream) {
        let n = from.output().len();
        self.0.extend_from_slice(from.output());
        from.sent(n);
    }

    /// Reads like a caller: control bytes (at most `wanted`, `chunk` at a time)
    /// into the stream, payload into the returned application bytes.
    fn deliver(&mut self, to: &mut Stream, chunk: usize) -> Result<Vec<u8>> {
        let mut app = Vec::new();
        loop {
            let pending = to.data_pending() as usize;
            if pending > 0 {
                let n = pending.min(self.0.len()).min(chunk);
                if n == 0 {
                    return Ok(app);
                }
                app.extend(self.0.drain(..n));
                to.data_read(n as u64)?;
                continue;
            }
            let want = to.wanted().min(self.0.len()).min(chunk);
            if want == 0 {
                return Ok(app);
            }
            let used = to.input(&self.0[..want])?;
            assert_eq!(used, want, "input takes what wanted asked for");
            self.0.drain(..used);
        }
    }
}

fn send(from: &mut Stream, wire: &mut Wire, payload: &[u8]) {
    for piece in payload.chunks(from.max_frame() as usize) {
        from.send_data(piece.len() as u32).unwrap();
        wire.carry(from);
        wire.0.extend_from_slice(piece);
    }
}

/// A client and a server with the handshake done.
fn open_pair(client_secret: &[u8], server_secret: &[u8]) -> Result<(Stream, Stream)> {
    let mut c = Stream::client(client_secret, 1000, true)?;
    let mut s = Stream::server(server_secret, 1000)?;
    let (mut up, mut down) = (Wire::default(), Wire::default());
    up.carry(&mut c);
    assert!(up.deliver(&mut s, 7)?.is_empty());
    down.carry(&mut s);
    assert!(down.deliver(&mut c, 7)?.is_empty());
    up.carry(&mut c);
    assert!(up.deliver(&mut s, 7)?.is_empty());
    Ok((c, s))
}

#[test]
fn handshake_then_data_both_ways_in_order() {
    let (mut c, mut s) = open_pair(b"k", b"k").unwrap();
    assert_eq!((c.state(), s.state()), (State::Open, State::Open));
    let payload: Vec<u8> = (0..10_000u32).map(|i| (i * 7 % 251) as u8).collect();
    for chunk in [1, 3, 8, 100, 4096] {
        let mut wire = Wire::default();
        send(&mut c, &mut wire, &payload);
        assert_eq!(wire.deliver(&mut s, chunk).unwrap(), payload);
        send(&mut s, &mut wire, &payload[..333]);
        assert_eq!(wire.deliver(&mut c, chunk).unwrap(), &payload[..333]);
    }
}

#[test]
fn no_secret_on_both_ends_opens() {
    let (c, s) = open_pair(b"", b"").unwrap();
    assert_eq!((c.state(), s.state()), (State::Open, State::Open));
}

#[test]
fn wrong_secret_fails_on_the_client_before_any_payload() {
    let err = open_pair(b"one", b"two").err().expect("mismatch fails");
    assert!(matches!(err, Error::AuthFailed(_)), "{err}");
}

#[test]
fn a_plain_peer_is_detected_from_four_bytes_and_they_are_kept() {
    let mut s = Stream::server(b"", 1000).unwrap();
    // A Kafka request: a non-negative big-endian size first.
    let request = [0, 0, 0, 20, 0, 18, 0, 3];
    assert_eq!(s.wanted(), 4);
    assert_eq!(s.input(&request).unwrap(), 4);
    assert_eq!(s.state(), State::Plain);
    assert_eq!(s.prefix(), &request[..4]);
    assert_eq!(s.wanted(), 0);
    assert!(s.output().is_empty(), "a plain peer sees nothing from us");
}

#[test]
fn the_magic_is_negative_as_a_kafka_size() {
    assert!(i32::from_be_bytes(MAGIC) < 0);
}

#[test]
fn a_partial_magic_waits_for_more() {
    let mut s = Stream::server(b"", 1000).unwrap();
    assert_eq!(s.input(&MAGIC[..2]).unwrap(), 2);
    assert_eq!(s.wanted(), 2);
    assert_eq!(s.state(), State::Handshaking);
}

#[test]
fn garbage_after_the_magic_fails_the_handshake() {
    let mut s = Stream::server(b"", 1000).unwrap();
    let mut hello = MAGIC.to_vec();
    hello.extend_from_slice(&[9, 0, 0, 0]); // version 9
    hello.resize(CLIENT_HELLO_LEN, 0);
    assert!(matches!(s.input(&hello), Err(Error::UnsupportedVersion(_))));
    assert_eq!(s.state(), State::Closed);
    assert_eq!(s.wanted(), 0);
}

#[test]
fn a_client_facing_a_non_ferry_answer_fails() {
    let mut c = Stream::client(b"", 1000, true).unwrap();
    let answer = vec![0u8; SERVER_HELLO_LEN];
    assert!(matches!(c.input(&answer), Err(Error::Malformed(_))));
}

#[test]
fn bad_frames_are_errors_not_panics() {
    for bad in [
        header(KIND_DATA, 0),
        header(KIND_DATA, MAX_FRAME_LIMIT + 1),
        header(9, 4),
        header(KIND_CLOSE, 1),
        header(KIND_PROOF, 32),
    ] {
        let (_, mut s) = open_pair(b"", b"").unwrap();
        assert!(s.input(&bad).is_err(), "{bad:?}");
    }
}

#[test]
fn close_ends_the_stream() {
    let (mut c, mut s) = open_pair(b"", b"").unwrap();
    let mut wire = Wire::default();
    send(&mut c, &mut wire, b"last");
    c.close();
    wire.carry(&mut c);
    assert!(c.send_data(1).is_err());
    assert_eq!(wire.deliver(&mut s, 64).unwrap(), b"last");
    assert_eq!(s.state(), State::Closed);
}

#[test]
fn frame_sizes_are_checked() {
    assert!(Stream::client(b"", 0, true).is_err());
    assert!(Stream::server(b"", MAX_FRAME_LIMIT + 1).is_err());
    let (mut c, _) = open_pair(b"", b"").unwrap();
    assert!(c.send_data(0).is_err());
    assert!(c.send_data(1001).is_err());
    assert!(c.data_read(1).is_err());
}

#[test]
fn unframed_streams_carry_payload_inline_after_the_handshake() {
    let mut c = Stream::client(b"k", 1000, false).unwrap();
    let mut s = Stream::server(b"k", 1000).unwrap();
    let (mut up, mut down) = (Wire::default(), Wire::default());
    up.carry(&mut c);
    up.deliver(&mut s, 64).unwrap();
    down.carry(&mut s);
    down.deliver(&mut c, 64).unwrap();
    // The client's proof, then its payload with no header.
    up.carry(&mut c);
    up.0.extend_from_slice(b"raw kafka bytes");
    assert_eq!(up.deliver(&mut s, 4).unwrap(), b"raw kafka bytes");
    assert!(!s.framed() && !c.framed());
    assert_eq!(s.data_pending(), u64::MAX);
    assert!(
        c.send_data(3).is_err(),
        "no DATA frames on an unframed stream"
    );
}

#[test]
fn a_server_that_changes_the_framing_is_refused() {
    let mut c = Stream::client(b"", 1000, false).unwrap();
    let mut s = Stream::server(b"", 1000).unwrap();
    let mut hello = c.output().to_vec();
    hello[5] = FLAG_FRAMED;
    s.input(&hello).unwrap();
    assert!(c.input(s.output()).is_err());
}

#[test]
fn notify_and_credit_frames_become_events_in_order() {
    let (mut c, mut s) = open_pair(b"", b"").unwrap();
    let mut wire = Wire::default();
    c.send_notify(7, 4096, 512, b"ferry-stream/ab/7").unwrap();
    c.send_notify(8, 1, 0, b"x").unwrap();
    wire.carry(&mut c);
    assert!(wire.deliver(&mut s, 5).unwrap().is_empty());
    assert_eq!(
        s.poll_event(),
        Some(Event::Notify {
            seq: 7,
            len: 4096,
            offset: 512,
            id: b"ferry-stream/ab/7".to_vec()
        })
    );
    assert_eq!(
        s.poll_event(),
        Some(Event::Notify {
            seq: 8,
            len: 1,
            offset: 0,
            id: b"x".to_vec()
        })
    );
    assert_eq!(s.poll_event(), None);
    s.send_credit(7).unwrap();
    wire.carry(&mut s);
    wire.deliver(&mut c, 64).unwrap();
    assert_eq!(c.poll_event(), Some(Event::Credit { seq: 7 }));
    assert!(c.send_notify(1, 1, 0, b"").is_err());
    assert!(c.send_notify(1, 1, 0, &[b'a'; MAX_NOTIFY_ID + 1]).is_err());
}

#[test]
fn malformed_notify_and_credit_frames_are_errors() {
    for bad in [
        header(KIND_NOTIFY, NOTIFY_FIXED as u32),
        header(KIND_NOTIFY, (NOTIFY_FIXED + MAX_NOTIFY_ID + 1) as u32),
        header(KIND_CREDIT, 9),
    ] {
        let (_, mut s) = open_pair(b"", b"").unwrap();
        assert!(s.input(&bad).is_err(), "{bad:?}");
    }
}

/// Runs a handshake between `c` and `s` over in-memory wires.
fn handshake(c: &mut Stream, s: &mut Stream) -> Result<()> {
    let (mut up, mut down) = (Wire::default(), Wire::default());
    up.carry(c);
    up.deliver(s, 64)?;
    down.carry(s);
    down.deliver(c, 64)?;
    up.carry(c);
    up.deliver(s, 64)?;
    Ok(())
}

#[test]
fn both_ends_with_a_node_agree_on_reads_and_learn_the_peer_port() {
    let mut c = Stream::client_remote(b"k", 1000, 4100).unwrap();
    let mut s = Stream::server_remote(b"k", 1000, 4200).unwrap();
    handshake(&mut c, &mut s).unwrap();
    assert_eq!((c.state(), s.state()), (State::Open, State::Open));
    assert_eq!(c.remote_peer_port(), Some(4200));
    assert_eq!(s.remote_peer_port(), Some(4100));
    assert!(c.framed() && s.framed());
}

#[test]
fn a_server_without_a_node_makes_a_remote_offer_framed() {
    let mut c = Stream::client_remote(b"k", 1000, 4100).unwrap();
    let mut s = Stream::server(b"k", 1000).unwrap();
    handshake(&mut c, &mut s).unwrap();
    assert_eq!((c.state(), s.state()), (State::Open, State::Open));
    assert_eq!((c.remote_peer_port(), s.remote_peer_port()), (None, None));
    assert!(c.framed() && s.framed());
    // A client that did not offer READs refuses a server that picks them.
    let mut c = Stream::client(b"", 1000, true).unwrap();
    let mut s = Stream::server_remote(b"", 1000, 1).unwrap();
    let mut hello = c.output().to_vec();
    hello[5] |= FLAG_REMOTE;
    s.input(&hello).unwrap();
    assert!(c.input(s.output()).is_err());
}

#[test]
fn the_proofs_cover_what_the_hellos_agreed() {
    // Someone in between strips the READ offer: the server's proof no longer matches.
    let mut c = Stream::client_remote(b"k", 1000, 4100).unwrap();
    let mut s = Stream::server_remote(b"k", 1000, 4200).unwrap();
    let mut hello = c.output().to_vec();
    hello[5] = FLAG_FRAMED;
    hello[6..8].copy_from_slice(&[0, 0]);
    s.input(&hello).unwrap();
    let mut answer = s.output().to_vec();
    answer[5] = FLAG_FRAMED | FLAG_REMOTE;
    assert!(matches!(c.input(&answer), Err(Error::AuthFailed(_))));
}
