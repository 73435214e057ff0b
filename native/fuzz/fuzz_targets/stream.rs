//! Feeds arbitrary bytes to stream ends, fresh and open: see
//! `ferry_core::fuzzing::stream` for what must hold.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| ferry_core::fuzzing::stream(data));
