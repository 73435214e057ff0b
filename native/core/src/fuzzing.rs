//! Harnesses that feed a peer's bytes to every decoder that reads them, and
//! assert what must hold whatever the bytes: no panic, no byte claimed beyond
//! the input, limits kept, errors that end the exchange cleanly. The libFuzzer
//! targets in `native/fuzz` run them for long; the property tests in
//! `tests/protocol_props.rs` run them on every `cargo test`.

use crate::protocol::handshake::{ClientHandshake, ServerHandshake};
use crate::protocol::{
    decode, decode_within, encode, Frame, CAP_LZ4, CAP_VERBS, MAX_HELLO_BODY, MAX_REQUEST_BODY,
};
use crate::stream::{State, Stream, MAGIC};

/// Frames, back to back, as a tcp connection carries them; each decoded frame
/// encodes back to a frame that decodes to itself. The server's limits (a
/// hello before authentication, a Lookup after) refuse what is longer.
pub fn frames(data: &[u8]) {
    let mut at = 0;
    while let Ok(Some((frame, used))) = decode(&data[at..]) {
        assert!(used > 0 && at + used <= data.len());
        let mut again = Vec::new();
        encode(&frame, &mut again);
        assert_eq!(decode(&again).unwrap().unwrap().0, frame);
        at += used;
    }
    for limit in [MAX_HELLO_BODY, MAX_REQUEST_BODY] {
        if let Ok(Some((_, used))) = decode_within(data, limit) {
            assert!(used <= 5 + limit, "{used} bytes within a limit of {limit}");
        }
    }
}

/// The handshake from both sides: the first byte picks which side holds a
/// secret, the frames after it are what the peer sends. The server takes each
/// frame until one is accepted and never agrees on capabilities it lacks; the
/// client takes the first frame as the server's hello and the next as its welcome.
pub fn handshake(data: &[u8]) {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    let secret = |bit: u8| (mode & bit != 0).then(|| b"secret".to_vec());
    let mut frames = Vec::new();
    let mut at = 0;
    while let Ok(Some((frame, used))) = decode(&rest[at..]) {
        frames.push(frame);
        at += used;
    }
    let server = ServerHandshake::new(CAP_LZ4, secret(1));
    for frame in frames.iter().cloned() {
        if let Ok((welcome, agreed)) = server.accept(frame) {
            assert_eq!(
                agreed.caps & !CAP_LZ4,
                0,
                "agreed on a capability not offered"
            );
            assert!(matches!(welcome, Frame::Welcome { .. }));
            break;
        }
    }
    let mut from_server = frames.into_iter();
    let Some(hello) = from_server.next() else {
        return;
    };
    if let Ok((client, reply)) = ClientHandshake::answer(hello, CAP_LZ4 | CAP_VERBS, secret(2)) {
        assert!(matches!(reply, Frame::ClientHello { .. }));
        if let Some(welcome) = from_server.next() {
            let _ = client.finish(welcome);
        }
    }
}

/// The most control bytes a stream asks for at once: its hellos and frame
/// headers and bodies are small; payload is read apart, never buffered by it.
const MAX_CONTROL_UNIT: usize = 128;

/// A stream end fed the peer's bytes. The first byte picks the end: a fresh
/// client or server (hellos and proofs), or one already open after a real
/// handshake (framed client or server, or an inline server), and the size of
/// the pieces the bytes arrive in. Payload is taken as an application would;
/// events and output are drained.
pub fn stream(data: &[u8]) {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    let mut end = match mode & 7 {
        0 => Stream::server(b"s", 4096),
        1 => Stream::server_remote(b"s", 4096, 7070),
        2 => Stream::client(b"s", 4096, true),
        3 => Stream::client_remote(b"s", 4096, 7070),
        4 => Stream::client(b"s", 4096, false),
        open => opened(open != 5, open != 6),
    }
    .expect("valid stream settings");
    let piece = 1 + (mode >> 3) as usize;
    let mut at = 0;
    while at < rest.len() {
        let pending = end.data_pending();
        if pending > 0 {
            let n = pending.min((rest.len() - at) as u64);
            end.data_read(n).expect("payload the stream announced");
            at += n as usize;
            continue;
        }
        assert!(end.wanted() <= MAX_CONTROL_UNIT);
        if end.wanted() == 0 {
            break;
        }
        let bytes = &rest[at..(at + piece).min(rest.len())];
        match end.input(bytes) {
            Ok(used) => {
                assert!(used <= bytes.len());
                assert!(used == bytes.len() || end.wanted() == 0 || end.data_pending() > 0);
                at += used;
            }
            Err(_) => {
                assert_eq!(end.state(), State::Closed, "an error ends the stream");
                assert_eq!(end.wanted(), 0);
                return;
            }
        }
        while end.poll_event().is_some() {}
        let out = end.output().len();
        end.sent(out);
    }
    assert!(end.prefix().len() <= MAGIC.len());
}

/// One end (the server when `server`) of a stream opened by a real handshake.
fn opened(framed: bool, server: bool) -> crate::Result<Stream> {
    let mut client = Stream::client(b"s", 4096, framed)?;
    let mut accepting = Stream::server(b"s", 4096)?;
    for _ in 0..2 {
        pass(&mut client, &mut accepting)?;
        pass(&mut accepting, &mut client)?;
    }
    assert_eq!(
        (client.state(), accepting.state()),
        (State::Open, State::Open)
    );
    Ok(if server { accepting } else { client })
}

/// Hands what `from` has to send to `to`.
fn pass(from: &mut Stream, to: &mut Stream) -> crate::Result<()> {
    let out = from.output().to_vec();
    from.sent(out.len());
    let used = to.input(&out)?;
    assert_eq!(used, out.len());
    Ok(())
}
