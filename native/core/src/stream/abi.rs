//! Constants shared with `io.ferry.FerryStream` across JNI, by name: the bits of
//! a stream's status and the positions of its counters. `tests/abi.rs` checks
//! that the Java class declares each with the same value.

/// Status bit: both ends proved the secret (payload flows, or flowed until CLOSE).
pub const STATUS_ESTABLISHED: i32 = 1;
/// Status bit: the peer is not a Ferry end; the socket passes through unchanged.
pub const STATUS_PLAIN: i32 = 2;
/// Status bit: open with payload inline (unframed).
pub const STATUS_INLINE: i32 = 4;
/// Status bit: payload moves by one-sided READ.
pub const STATUS_REMOTE: i32 = 8;
/// Status bit: the handshake failed (fall back to plain TCP on a new connection).
pub const STATUS_HANDSHAKE_FAILED: i32 = 16;
/// Status bit: bytes a plain peer sent before it was known plain wait for `read`.
pub const STATUS_BUFFERED_INPUT: i32 = 32;

/// Counter: streams whose handshake completed.
pub const STAT_OPENED: usize = 0;
/// Counter: accepted connections whose peer turned out plain.
pub const STAT_PLAIN: usize = 1;
/// Counter: handshakes that failed.
pub const STAT_FAILED: usize = 2;
/// Counter: payload bytes sent.
pub const STAT_BYTES_SENT: usize = 3;
/// Counter: payload bytes received.
pub const STAT_BYTES_RECEIVED: usize = 4;
/// Counter: DATA frames sent.
pub const STAT_FRAMES_SENT: usize = 5;
/// Counter: payload bytes sent by NOTIFY (the peer READ them).
pub const STAT_NOTIFIED_BYTES: usize = 6;
/// Counter: payload bytes received by READ.
pub const STAT_READ_BYTES: usize = 7;
/// Gauge: bytes of registered slabs held now.
pub const STAT_SLAB_BYTES: usize = 8;
/// How many counters there are.
pub const STATS: usize = 9;

/// Every constant by name, for the check against the Java side.
pub const ALL: &[(&str, i64)] = &[
    ("STATUS_ESTABLISHED", STATUS_ESTABLISHED as i64),
    ("STATUS_PLAIN", STATUS_PLAIN as i64),
    ("STATUS_INLINE", STATUS_INLINE as i64),
    ("STATUS_REMOTE", STATUS_REMOTE as i64),
    ("STATUS_HANDSHAKE_FAILED", STATUS_HANDSHAKE_FAILED as i64),
    ("STATUS_BUFFERED_INPUT", STATUS_BUFFERED_INPUT as i64),
    ("STAT_OPENED", STAT_OPENED as i64),
    ("STAT_PLAIN", STAT_PLAIN as i64),
    ("STAT_FAILED", STAT_FAILED as i64),
    ("STAT_BYTES_SENT", STAT_BYTES_SENT as i64),
    ("STAT_BYTES_RECEIVED", STAT_BYTES_RECEIVED as i64),
    ("STAT_FRAMES_SENT", STAT_FRAMES_SENT as i64),
    ("STAT_NOTIFIED_BYTES", STAT_NOTIFIED_BYTES as i64),
    ("STAT_READ_BYTES", STAT_READ_BYTES as i64),
    ("STAT_SLAB_BYTES", STAT_SLAB_BYTES as i64),
    ("STATS", STATS as i64),
];
