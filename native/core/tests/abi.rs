//! The constants shared across JNI: each Java class declares those of its native
//! module with the same values, and no other of that kind.

/// The `static final int` constants named `prefix...` that a Java class of `io.ferry` declares,
/// in order.
fn java_constants(class: &str, prefix: &str) -> Vec<(String, i64)> {
    let path = format!(
        "{}/../../jvm/core/src/main/java/io/ferry/{class}.java",
        env!("CARGO_MANIFEST_DIR")
    );
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .filter_map(|line| line.trim().strip_prefix("static final int "))
        .filter(|rest| rest.starts_with(prefix))
        .map(|rest| {
            let (name, value) = rest.trim_end_matches(';').split_once(" = ").unwrap();
            (name.to_string(), value.parse().unwrap())
        })
        .collect()
}

fn by_name(native: &[(&str, i64)]) -> Vec<(String, i64)> {
    native.iter().map(|(n, v)| (n.to_string(), *v)).collect()
}

#[test]
fn java_declares_the_stream_constants_of_the_native_side() {
    assert_eq!(
        java_constants("FerryStream", "STAT"),
        by_name(ferry_core::stream::abi::ALL),
        "FerryStream's constants differ from stream::abi"
    );
}

#[test]
fn java_declares_the_node_counters_of_the_native_side() {
    assert_eq!(
        java_constants("NodeStats", "STAT"),
        by_name(ferry_core::metrics::abi::ALL),
        "NodeStats's constants differ from metrics::abi"
    );
}

#[test]
fn java_reads_fetched_chunks_at_the_native_positions() {
    assert_eq!(
        java_constants("FetchStream", "CHUNK_"),
        by_name(ferry_core::fetch::abi::ALL),
        "FetchStream's chunk layout differs from fetch::abi"
    );
}
