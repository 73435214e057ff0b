//! The stream constants shared across JNI: `io.ferry.FerryStream` declares each
//! of `ferry_core::stream::abi` with the same value, and no other of that kind.

use ferry_core::stream::abi::ALL;

#[test]
fn java_declares_the_stream_constants_of_the_native_side() {
    let java = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../jvm/core/src/main/java/io/ferry/FerryStream.java"
    ))
    .unwrap();
    let declared: Vec<(String, i64)> = java
        .lines()
        .filter_map(|line| line.trim().strip_prefix("static final int "))
        .filter(|rest| rest.starts_with("STAT"))
        .map(|rest| {
            let (name, value) = rest.trim_end_matches(';').split_once(" = ").unwrap();
            (name.to_string(), value.parse().unwrap())
        })
        .collect();
    let native: Vec<(String, i64)> = ALL.iter().map(|(n, v)| (n.to_string(), *v)).collect();
    assert_eq!(
        declared, native,
        "FerryStream's constants differ from stream::abi"
    );
}
