//! Feeds arbitrary bytes to the frame decoder, as a peer's stream would: it must
//! never panic, never claim more bytes than it was given, and whatever it
//! decodes must encode back to the same bytes.
#![no_main]

use ferry_core::protocol::{decode, encode};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let mut at = 0;
    while let Ok(Some((frame, used))) = decode(&data[at..]) {
        assert!(used > 0 && at + used <= data.len());
        let mut again = Vec::new();
        encode(&frame, &mut again);
        assert_eq!(decode(&again).unwrap().unwrap().0, frame);
        at += used;
    }
});
