//! Streams whose payload moves by one-sided READ (`stream::remote`) on the tcp
//! provider over loopback; `tests/verbs.rs` runs the same on real RDMA.

mod common;

#[test]
fn messages_by_one_sided_read_arrive_in_order_and_are_freed() {
    let (streamed, served) = common::remote_stream_roundtrip(
        &[("ferry.provider", "tcp"), ("ferry.fetch.inline.bytes", "0")],
        "127.0.0.1",
        60,
    );
    assert!(
        served >= streamed,
        "the tcp provider serves every READ itself"
    );
}

#[test]
fn small_messages_ride_in_lookup_replies() {
    common::remote_stream_roundtrip(&[("ferry.provider", "tcp")], "127.0.0.1", 40);
}
