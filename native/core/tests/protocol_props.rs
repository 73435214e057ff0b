//! Property tests of every decoder that reads a peer's bytes, run with the
//! normal test suite: the frame codec, the handshake and stream ends. The
//! libFuzzer targets in native/fuzz run the same harnesses
//! (`ferry_core::fuzzing`) far longer.

use ferry_core::block::MAX_BLOCK_ID;
use ferry_core::fuzzing;
use ferry_core::protocol::{
    decode, encode, Frame, Located, MAX_HELLO_BODY, MAX_IDS, MAX_REQUEST_BODY,
};
use ferry_core::stream::Stream;
use ferry_core::{ErrorCode, RemoteSlice};
use proptest::collection::vec;
use proptest::prelude::*;

fn code() -> impl Strategy<Value = ErrorCode> {
    (1u16..=10).prop_map(|c| ErrorCode::from_u16(c).unwrap())
}

fn slice() -> impl Strategy<Value = RemoteSlice> {
    (any::<u64>(), any::<u64>(), 0u64..100).prop_map(|(key, addr, len)| RemoteSlice {
        key,
        addr,
        len,
    })
}

fn located() -> impl Strategy<Value = Result<Located, ErrorCode>> {
    prop_oneof![
        code().prop_map(Err),
        (slice(), any::<bool>()).prop_map(|(slice, with_data)| Ok(Located {
            inline: with_data.then(|| vec![0xab; slice.len as usize]),
            slice,
        })),
    ]
}

fn frame() -> impl Strategy<Value = Frame> {
    prop_oneof![
        (any::<u16>(), any::<u16>(), any::<u32>(), any::<[u8; 32]>()).prop_map(
            |(a, b, caps, nonce)| {
                Frame::ServerHello {
                    min_version: a,
                    max_version: b,
                    caps,
                    nonce,
                }
            }
        ),
        (
            any::<u16>(),
            any::<u32>(),
            any::<[u8; 32]>(),
            proptest::option::of(any::<[u8; 32]>())
        )
            .prop_map(|(version, caps, nonce, proof)| Frame::ClientHello {
                version,
                caps,
                nonce,
                proof
            }),
        (any::<u32>(), proptest::option::of(any::<[u8; 32]>()))
            .prop_map(|(caps, proof)| Frame::Welcome { caps, proof }),
        (
            any::<u64>(),
            any::<u32>(),
            vec(vec(any::<u8>(), 0..40), 0..20)
        )
            .prop_map(|(request, inline_max, ids)| Frame::Lookup {
                request,
                inline_max,
                ids
            }),
        (any::<u64>(), vec(located(), 0..20))
            .prop_map(|(request, results)| Frame::LookupReply { request, results }),
        (
            any::<u64>(),
            any::<u64>(),
            any::<u64>(),
            any::<u64>(),
            any::<bool>()
        )
            .prop_map(|(tag, key, addr, len, compress)| Frame::Read {
                tag,
                key,
                addr,
                len,
                compress
            }),
        (any::<u64>(), any::<u64>(), any::<bool>(), any::<u64>()).prop_map(
            |(tag, len, compressed, raw_len)| Frame::ReadData {
                tag,
                len,
                compressed,
                raw_len
            }
        ),
        (any::<u64>(), code(), "[a-z ]{0,40}").prop_map(|(tag, code, message)| Frame::ReadFailed {
            tag,
            code,
            message
        }),
        (code(), "[a-z ]{0,40}").prop_map(|(code, message)| Frame::Error { code, message }),
        Just(Frame::VerbsConnect),
        (any::<u16>(), any::<u64>()).prop_map(|(port, token)| Frame::VerbsAccept { port, token }),
    ]
}

proptest! {
    #[test]
    fn frames_round_trip(frames in vec(frame(), 1..5)) {
        let mut bytes = Vec::new();
        for f in &frames {
            encode(f, &mut bytes);
        }
        let mut at = 0;
        for f in &frames {
            let (decoded, used) = decode(&bytes[at..]).unwrap().unwrap();
            prop_assert_eq!(&decoded, f);
            at += used;
        }
        prop_assert_eq!(at, bytes.len());
    }

    #[test]
    fn every_prefix_asks_for_more_or_decodes(f in frame()) {
        let mut bytes = Vec::new();
        encode(&f, &mut bytes);
        for cut in 0..bytes.len() {
            prop_assert!(decode(&bytes[..cut]).unwrap().is_none(), "prefix of {} bytes", cut);
        }
    }

    #[test]
    fn arbitrary_bytes_never_panic(bytes in vec(any::<u8>(), 0..512)) {
        let _ = decode(&bytes);
    }

    #[test]
    fn corrupted_frames_never_panic(f in frame(), flips in vec((any::<usize>(), any::<u8>()), 1..6)) {
        let mut bytes = Vec::new();
        encode(&f, &mut bytes);
        for (at, value) in flips {
            let i = at % bytes.len();
            bytes[i] = value;
        }
        if let Ok(Some((_, used))) = decode(&bytes) {
            prop_assert!(used <= bytes.len());
        }
    }

    #[test]
    fn frame_harness_holds(bytes in vec(any::<u8>(), 0..512)) {
        fuzzing::frames(&bytes);
    }

    #[test]
    fn handshake_harness_holds_for_frames(mode in any::<u8>(), frames in vec(frame(), 0..4)) {
        let mut bytes = vec![mode];
        for f in &frames {
            encode(f, &mut bytes);
        }
        fuzzing::handshake(&bytes);
    }

    #[test]
    fn handshake_harness_holds_for_bytes(bytes in vec(any::<u8>(), 0..256)) {
        fuzzing::handshake(&bytes);
    }

    #[test]
    fn stream_ends_take_arbitrary_bytes(bytes in vec(any::<u8>(), 0..512)) {
        fuzzing::stream(&bytes);
    }

    /// A real hello with arbitrary bytes after it, and arbitrary frame headers
    /// and bodies for ends already open: the paths random bytes rarely reach.
    #[test]
    fn stream_ends_take_plausible_bytes(
        mode in any::<u8>(),
        kinds in vec((0u8..7, 0u32..200, vec(any::<u8>(), 0..100)), 0..6),
    ) {
        let mut bytes = vec![mode];
        if mode & 7 < 2 {
            let client = Stream::client(b"s", 4096, mode & 8 != 0).unwrap();
            bytes.extend_from_slice(client.output());
        }
        for (kind, len, body) in kinds {
            bytes.push(kind);
            bytes.extend_from_slice(&[0, 0, 0]);
            bytes.extend_from_slice(&len.to_be_bytes());
            bytes.extend_from_slice(&body);
        }
        fuzzing::stream(&bytes);
    }
}

#[test]
fn the_server_limits_fit_the_largest_hello_and_lookup() {
    let mut hello = Vec::new();
    encode(
        &Frame::ClientHello {
            version: 1,
            caps: u32::MAX,
            nonce: [7; 32],
            proof: Some([9; 32]),
        },
        &mut hello,
    );
    assert_eq!(hello.len(), 5 + MAX_HELLO_BODY);
    let mut lookup = Vec::new();
    encode(
        &Frame::Lookup {
            request: 1,
            inline_max: 0,
            ids: vec![vec![1; MAX_BLOCK_ID]; MAX_IDS],
        },
        &mut lookup,
    );
    assert_eq!(lookup.len(), 5 + MAX_REQUEST_BODY);
}
