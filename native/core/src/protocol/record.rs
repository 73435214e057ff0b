//! The record layer of an encrypted tcp connection (`ferry.encryption=aes-gcm`).
//!
//! After the handshake each direction's bytes travel in records:
//! `u32 length (LE) | ciphertext of that many bytes | 16-byte AES-GCM tag`, the
//! length header authenticated as associated data. Inside the records runs the
//! clear protocol unchanged: frames, and READ payloads after their headers.
//!
//! Keys: HKDF-SHA256 of the shared secret, salted with the server's and the
//! client's handshake nonces, expanded into one AES-256-GCM key per direction.
//! Both sides' fresh nonces make every connection's keys new. A record's nonce
//! is its direction and its number in that direction (a 96-bit counter), so no
//! nonce repeats under a key, and a record dropped, replayed, reordered or
//! altered fails its tag; a count that would wrap ends the connection.
//!
//! A record holds at most [`MAX_RECORD`] bytes, so a receiver buffers at most
//! one bounded record; a READ payload starts a record of its own, so the
//! requester decrypts it in place in the buffer it reads it into.

use ring::aead::{Aad, LessSafeKey, Nonce, Tag, UnboundKey, AES_256_GCM};
use ring::hkdf::{Prk, Salt, HKDF_SHA256};

use crate::error::{Error, Result};

/// The length header before each record's ciphertext.
pub const HEADER: usize = 4;
/// The AES-GCM tag after it.
pub const TAG: usize = 16;
/// The most bytes one record carries: small enough to stay in cache between
/// receiving and decrypting, large enough that the 20 bytes around it cost nothing.
pub const MAX_RECORD: usize = 256 << 10;

const CLIENT_TO_SERVER: &[u8] = b"ferry v1 aes-256-gcm client to server";
const SERVER_TO_CLIENT: &[u8] = b"ferry v1 aes-256-gcm server to client";

/// One direction of a connection: its key and the number of its next record.
pub struct RecordKey {
    key: LessSafeKey,
    direction: u32,
    next: u64,
}

impl std::fmt::Debug for RecordKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "RecordKey(direction {}, record {})",
            self.direction, self.next
        )
    }
}

impl RecordKey {
    fn derive(prk: &Prk, label: &[u8], direction: u32) -> RecordKey {
        let info = [label];
        let okm = prk
            .expand(&info, &AES_256_GCM)
            .expect("an AES-256 key is a valid HKDF-SHA256 output length");
        RecordKey {
            key: LessSafeKey::new(UnboundKey::from(okm)),
            direction,
            next: 0,
        }
    }

    /// The next record's nonce: direction, then the record's number.
    fn nonce(&mut self) -> Result<Nonce> {
        let number = self.next;
        self.next = number.checked_add(1).ok_or_else(|| {
            Error::AuthFailed("record counter exhausted: the connection must end".into())
        })?;
        let mut nonce = [0u8; 12];
        nonce[..4].copy_from_slice(&self.direction.to_be_bytes());
        nonce[4..].copy_from_slice(&number.to_be_bytes());
        Ok(Nonce::assume_unique_for_key(nonce))
    }

    /// Appends `plain` to `out` as one record.
    pub fn seal(&mut self, plain: &[u8], out: &mut Vec<u8>) -> Result<()> {
        debug_assert!(plain.len() <= MAX_RECORD);
        let nonce = self.nonce()?;
        let header = (plain.len() as u32).to_le_bytes();
        out.extend_from_slice(&header);
        let start = out.len();
        out.extend_from_slice(plain);
        let tag = self
            .key
            .seal_in_place_separate_tag(nonce, Aad::from(header), &mut out[start..])
            .map_err(|_| Error::Internal("AES-GCM refused to seal a record".into()))?;
        out.extend_from_slice(tag.as_ref());
        Ok(())
    }

    /// Decrypts one record's `body` in place, checking it against its header and `tag`.
    /// On failure `body` holds no plaintext and the connection must end.
    pub fn open(
        &mut self,
        peer: &str,
        header: [u8; HEADER],
        body: &mut [u8],
        tag: &[u8],
    ) -> Result<()> {
        let nonce = self.nonce()?;
        let number = self.next - 1;
        let tag: [u8; TAG] = tag.try_into().map_err(|_| {
            Error::Malformed(format!("from {peer}: a record tag of {} bytes", tag.len()))
        })?;
        self.key
            .open_in_place_separate_tag(nonce, Aad::from(header), Tag::from(tag), body, 0..)
            .map(|_| ())
            .map_err(|_| {
                Error::AuthFailed(format!(
                    "record {number} from {peer} failed its AES-GCM check (altered, forged or \
                     out of order); closing the connection"
                ))
            })
    }
}

/// The length a record header announces; more than [`MAX_RECORD`] is an error.
pub fn record_len(peer: &str, header: [u8; HEADER]) -> Result<usize> {
    let len = u32::from_le_bytes(header) as usize;
    if len > MAX_RECORD {
        return Err(Error::Malformed(format!(
            "from {peer}: a record of {len} bytes exceeds the limit of {MAX_RECORD}"
        )));
    }
    Ok(len)
}

/// One side's keys: what it seals with and what it opens with.
#[derive(Debug)]
pub struct Channel {
    pub seal: RecordKey,
    pub open: RecordKey,
}

impl Channel {
    /// The keys of one side of a connection whose handshake exchanged these nonces.
    pub fn new(
        secret: &[u8],
        server_nonce: &[u8; 32],
        client_nonce: &[u8; 32],
        server: bool,
    ) -> Channel {
        let mut salt = [0u8; 64];
        salt[..32].copy_from_slice(server_nonce);
        salt[32..].copy_from_slice(client_nonce);
        let prk = Salt::new(HKDF_SHA256, &salt).extract(secret);
        let to_server = RecordKey::derive(&prk, CLIENT_TO_SERVER, 0);
        let to_client = RecordKey::derive(&prk, SERVER_TO_CLIENT, 1);
        match server {
            true => Channel {
                seal: to_client,
                open: to_server,
            },
            false => Channel {
                seal: to_server,
                open: to_client,
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pair() -> (Channel, Channel) {
        let (s, c) = ([1u8; 32], [2u8; 32]);
        (
            Channel::new(b"secret", &s, &c, true),
            Channel::new(b"secret", &s, &c, false),
        )
    }

    /// Splits one record into its header, body and tag.
    fn parts(record: &mut [u8]) -> ([u8; HEADER], &mut [u8], [u8; TAG]) {
        let header: [u8; HEADER] = record[..HEADER].try_into().unwrap();
        let len = record_len("peer", header).unwrap();
        let (body, tag) = record[HEADER..].split_at_mut(len);
        (header, body, tag.try_into().unwrap())
    }

    #[test]
    fn records_open_on_the_other_side_in_order_only() {
        let (mut server, mut client) = pair();
        let mut wire = Vec::new();
        client.seal.seal(b"first", &mut wire).unwrap();
        let split = wire.len();
        client.seal.seal(b"second", &mut wire).unwrap();
        assert!(
            !wire.windows(5).any(|w| w == b"first"),
            "no plaintext on the wire"
        );
        let (mut first, mut second) = (wire[..split].to_vec(), wire[split..].to_vec());
        // Out of order: the second record under the first one's number fails.
        let mut misplaced = second.clone();
        let (header, body, tag) = parts(&mut misplaced);
        let err = server.open.open("peer", header, body, &tag).unwrap_err();
        assert!(err.to_string().contains("record 0 from peer"), "{err}");
        // A fresh pair (the failed attempt used up number 0) takes them in order.
        let (mut server, _) = pair();
        for (record, want) in [(&mut first, &b"first"[..]), (&mut second, b"second")] {
            let (header, body, tag) = parts(record);
            server.open.open("peer", header, body, &tag).unwrap();
            assert_eq!(body, want);
        }
        // The server's own direction has another key: its records do not open as the client's.
        let mut echo = Vec::new();
        server.seal.seal(b"first", &mut echo).unwrap();
        assert_ne!(echo, wire[..split]);
        let (header, body, tag) = parts(&mut echo);
        client.open.open("peer", header, body, &tag).unwrap();
        assert_eq!(body, b"first");
    }

    #[test]
    fn an_altered_byte_header_or_tag_fails() {
        for flip in [0, HEADER, HEADER + 3, HEADER + 10 + 5] {
            let (mut server, mut client) = pair();
            let mut wire = Vec::new();
            client.seal.seal(b"ten bytes!", &mut wire).unwrap();
            wire[flip] ^= 1;
            let header: [u8; HEADER] = wire[..HEADER].try_into().unwrap();
            // A changed length reads as another record: the body is then what the header says.
            let len = (u32::from_le_bytes(header) as usize).min(wire.len() - HEADER - TAG);
            let (body, tag) = wire[HEADER..].split_at_mut(len);
            let err = server.open.open("peer", header, body, &tag[..TAG]);
            assert!(matches!(err, Err(Error::AuthFailed(_))), "flip at {flip}");
        }
    }

    #[test]
    fn other_secret_or_nonces_give_other_keys() {
        let mut wire = Vec::new();
        let (s, c) = ([1u8; 32], [2u8; 32]);
        Channel::new(b"secret", &s, &c, false)
            .seal
            .seal(b"data", &mut wire)
            .unwrap();
        for mut other in [
            Channel::new(b"other", &s, &c, true),
            Channel::new(b"secret", &c, &s, true),
        ] {
            let mut copy = wire.clone();
            let (header, body, tag) = parts(&mut copy);
            assert!(other.open.open("peer", header, body, &tag).is_err());
        }
    }

    #[test]
    fn a_count_that_would_wrap_ends_the_connection() {
        let (_, mut client) = pair();
        client.seal.next = u64::MAX;
        let err = client.seal.seal(b"x", &mut Vec::new()).unwrap_err();
        assert!(err.to_string().contains("counter exhausted"), "{err}");
    }

    #[test]
    fn an_oversized_record_is_refused_from_its_header() {
        let header = ((MAX_RECORD + 1) as u32).to_le_bytes();
        let err = record_len("peer 1.2.3.4:5", header)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("1.2.3.4:5") && err.contains("exceeds"),
            "{err}"
        );
    }
}
