//! Feeds arbitrary frames to both sides of the handshake: see
//! `ferry_core::fuzzing::handshake` for what must hold.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| ferry_core::fuzzing::handshake(data));
