//! Feeds arbitrary bytes to the frame decoder, as a peer's connection would:
//! see `ferry_core::fuzzing::frames` for what must hold.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| ferry_core::fuzzing::frames(data));
