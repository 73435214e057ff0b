//! The wire protocol, kept apart from I/O so it can be tested and fuzzed alone.
//!
//! Every frame is `u32 body length (LE) | u8 kind | body`. Bodies are at most
//! [`MAX_FRAME_BODY`] bytes; READ payloads follow their `ReadData` header
//! unframed and are bounded by the buffer size, so no block size is limited
//! by a 32-bit length: large blocks travel as several READs. With
//! `ferry.encryption=aes-gcm` the same bytes travel inside AES-GCM records
//! after the handshake ([`record`]).

mod codec;
mod frame;
pub mod handshake;
mod keys;
pub mod record;

pub use codec::{decode, decode_within, encode, Reader, Writer};
pub use frame::{
    Frame, Located, LookupResult, CAP_AES_GCM, CAP_LZ4, CAP_VERBS, MAGIC, MAX_FRAME_BODY,
    MAX_HELLO_BODY, MAX_IDS, MAX_INLINE_REPLY, MAX_REQUEST_BODY,
};
pub use keys::{served_by_cpu, KeyTable};
pub mod stream;
