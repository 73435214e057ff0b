//! Frame kinds and their bodies.

use super::codec::{Reader, Writer};
use crate::block::{RemoteSlice, MAX_BLOCK_ID};
use crate::error::{Error, ErrorCode, Result};

/// Opens both hellos, so a non-Ferry peer is told apart at once.
pub const MAGIC: [u8; 4] = *b"FRRY";
/// The largest frame body; READ payloads are not framed and not bound by it.
pub const MAX_FRAME_BODY: usize = 2 << 20;
/// The most block ids in one lookup frame.
pub const MAX_IDS: usize = 1024;
/// The largest frame a peer may send before it is authenticated: a ClientHello
/// with its proof (magic, version, caps, nonce, proof flag and proof).
pub const MAX_HELLO_BODY: usize = 4 + 2 + 4 + 32 + 1 + 32;
/// The largest request a client sends: a Lookup of [`MAX_IDS`] ids of the longest kind.
pub const MAX_REQUEST_BODY: usize = 8 + 4 + 4 + MAX_IDS * (2 + MAX_BLOCK_ID);

/// The requester may ask for lz4-compressed READ payloads.
pub const CAP_LZ4: u32 = 1;
/// The peer can serve RDMA verbs.
pub const CAP_VERBS: u32 = 2;
/// The peer encrypts: after the handshake every byte travels in AES-GCM records
/// (`protocol::record`). A side that sets it talks only to peers that set it too.
pub const CAP_AES_GCM: u32 = 4;

/// Where a looked-up block is; small blocks also carry their bytes, saving a round trip.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Located {
    pub slice: RemoteSlice,
    pub inline: Option<Vec<u8>>,
}

pub type LookupResult = std::result::Result<Located, ErrorCode>;

/// The most inline bytes one lookup reply carries, so it stays far below [`MAX_FRAME_BODY`].
pub const MAX_INLINE_REPLY: usize = 1 << 20;

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Frame {
    /// Server, first: the versions it speaks and a fresh challenge.
    ServerHello {
        min_version: u16,
        max_version: u16,
        caps: u32,
        nonce: [u8; 32],
    },
    /// Client: the chosen version, its challenge, and its proof of the secret.
    ClientHello {
        version: u16,
        caps: u32,
        nonce: [u8; 32],
        proof: Option<[u8; 32]>,
    },
    /// Server: accepted, with its own proof so the client knows whom it talks to.
    Welcome { caps: u32, proof: Option<[u8; 32]> },
    /// Resolves ids; blocks of at most `inline_max` bytes come back with their data.
    Lookup {
        request: u64,
        inline_max: u32,
        ids: Vec<Vec<u8>>,
    },
    LookupReply {
        request: u64,
        results: Vec<LookupResult>,
    },
    /// A one-sided READ of `len` bytes at `addr` in the region behind `key`.
    Read {
        tag: u64,
        key: u64,
        addr: u64,
        len: u64,
        compress: bool,
    },
    /// `len` payload bytes follow this frame: lz4 of `raw_len` bytes when `compressed`.
    ReadData {
        tag: u64,
        len: u64,
        compressed: bool,
        raw_len: u64,
    },
    ReadFailed {
        tag: u64,
        code: ErrorCode,
        message: String,
    },
    /// Ends the connection: the sender closes after it.
    Error { code: ErrorCode, message: String },
    /// Client, after a Welcome with CAP_VERBS: asks for an RDMA queue pair.
    VerbsConnect,
    /// Server: connect with rdma_cm to `port` on the control connection's
    /// address, with `token` as private data; READs then go over that queue pair.
    VerbsAccept { port: u16, token: u64 },
}

impl Frame {
    pub fn kind(&self) -> u8 {
        match self {
            Frame::ServerHello { .. } => 1,
            Frame::ClientHello { .. } => 2,
            Frame::Welcome { .. } => 3,
            Frame::Lookup { .. } => 4,
            Frame::LookupReply { .. } => 5,
            Frame::Read { .. } => 6,
            Frame::ReadData { .. } => 7,
            Frame::ReadFailed { .. } => 8,
            Frame::Error { .. } => 9,
            Frame::VerbsConnect => 10,
            Frame::VerbsAccept { .. } => 11,
        }
    }

    pub fn name(&self) -> &'static str {
        match self {
            Frame::ServerHello { .. } => "ServerHello",
            Frame::ClientHello { .. } => "ClientHello",
            Frame::Welcome { .. } => "Welcome",
            Frame::Lookup { .. } => "Lookup",
            Frame::LookupReply { .. } => "LookupReply",
            Frame::Read { .. } => "Read",
            Frame::ReadData { .. } => "ReadData",
            Frame::ReadFailed { .. } => "ReadFailed",
            Frame::Error { .. } => "Error",
            Frame::VerbsConnect => "VerbsConnect",
            Frame::VerbsAccept { .. } => "VerbsAccept",
        }
    }

    pub(super) fn encode_body(&self, w: &mut Writer) {
        match self {
            Frame::ServerHello {
                min_version,
                max_version,
                caps,
                nonce,
            } => {
                w.raw(&MAGIC);
                w.u16(*min_version);
                w.u16(*max_version);
                w.u32(*caps);
                w.raw(nonce);
            }
            Frame::ClientHello {
                version,
                caps,
                nonce,
                proof,
            } => {
                w.raw(&MAGIC);
                w.u16(*version);
                w.u32(*caps);
                w.raw(nonce);
                put_proof(w, proof);
            }
            Frame::Welcome { caps, proof } => {
                w.u32(*caps);
                put_proof(w, proof);
            }
            Frame::Lookup {
                request,
                inline_max,
                ids,
            } => {
                w.u64(*request);
                w.u32(*inline_max);
                w.u32(ids.len() as u32);
                for id in ids {
                    w.bytes16(id);
                }
            }
            Frame::LookupReply { request, results } => {
                w.u64(*request);
                w.u32(results.len() as u32);
                for result in results {
                    match result {
                        Ok(Located { slice, inline }) => {
                            w.u16(0);
                            w.u64(slice.key);
                            w.u64(slice.addr);
                            w.u64(slice.len);
                            match inline {
                                Some(data) => {
                                    w.u8(1);
                                    w.raw(data);
                                }
                                None => w.u8(0),
                            }
                        }
                        Err(code) => w.u16(*code as u16),
                    }
                }
            }
            Frame::Read {
                tag,
                key,
                addr,
                len,
                compress,
            } => {
                w.u64(*tag);
                w.u64(*key);
                w.u64(*addr);
                w.u64(*len);
                w.u8(*compress as u8);
            }
            Frame::ReadData {
                tag,
                len,
                compressed,
                raw_len,
            } => {
                w.u64(*tag);
                w.u64(*len);
                w.u8(*compressed as u8);
                w.u64(*raw_len);
            }
            Frame::ReadFailed { tag, code, message } => {
                w.u64(*tag);
                w.u16(*code as u16);
                w.bytes16(message.as_bytes());
            }
            Frame::Error { code, message } => {
                w.u16(*code as u16);
                w.bytes16(message.as_bytes());
            }
            Frame::VerbsConnect => {}
            Frame::VerbsAccept { port, token } => {
                w.u16(*port);
                w.u64(*token);
            }
        }
    }

    pub(super) fn decode_body(kind: u8, r: &mut Reader<'_>) -> Result<Frame> {
        Ok(match kind {
            1 => {
                magic(r)?;
                Frame::ServerHello {
                    min_version: r.u16()?,
                    max_version: r.u16()?,
                    caps: r.u32()?,
                    nonce: r.array()?,
                }
            }
            2 => {
                magic(r)?;
                Frame::ClientHello {
                    version: r.u16()?,
                    caps: r.u32()?,
                    nonce: r.array()?,
                    proof: get_proof(r)?,
                }
            }
            3 => Frame::Welcome {
                caps: r.u32()?,
                proof: get_proof(r)?,
            },
            4 => {
                let request = r.u64()?;
                let inline_max = r.u32()?;
                let count = count(r, MAX_IDS)?;
                let mut ids = Vec::with_capacity(count);
                for _ in 0..count {
                    let id = r.bytes16()?;
                    if id.len() > MAX_BLOCK_ID {
                        return Err(Error::Malformed(format!(
                            "block id of {} bytes exceeds {MAX_BLOCK_ID}",
                            id.len()
                        )));
                    }
                    ids.push(id.to_vec());
                }
                Frame::Lookup {
                    request,
                    inline_max,
                    ids,
                }
            }
            5 => {
                let request = r.u64()?;
                let count = count(r, MAX_IDS)?;
                let mut results = Vec::with_capacity(count);
                for _ in 0..count {
                    results.push(match r.u16()? {
                        0 => {
                            let slice = RemoteSlice {
                                key: r.u64()?,
                                addr: r.u64()?,
                                len: r.u64()?,
                            };
                            let inline = match flag(r)? {
                                true => Some(inline_bytes(r, slice.len)?),
                                false => None,
                            };
                            Ok(Located { slice, inline })
                        }
                        code => Err(error_code(code)?),
                    });
                }
                Frame::LookupReply { request, results }
            }
            6 => Frame::Read {
                tag: r.u64()?,
                key: r.u64()?,
                addr: r.u64()?,
                len: r.u64()?,
                compress: flag(r)?,
            },
            7 => Frame::ReadData {
                tag: r.u64()?,
                len: r.u64()?,
                compressed: flag(r)?,
                raw_len: r.u64()?,
            },
            8 => Frame::ReadFailed {
                tag: r.u64()?,
                code: error_code(r.u16()?)?,
                message: text(r)?,
            },
            9 => Frame::Error {
                code: error_code(r.u16()?)?,
                message: text(r)?,
            },
            10 => Frame::VerbsConnect,
            11 => Frame::VerbsAccept {
                port: r.u16()?,
                token: r.u64()?,
            },
            other => return Err(Error::Malformed(format!("unknown frame kind {other}"))),
        })
    }
}

fn magic(r: &mut Reader<'_>) -> Result<()> {
    if r.array::<4>()? != MAGIC {
        return Err(Error::Malformed("not a Ferry peer (bad magic)".into()));
    }
    Ok(())
}

fn put_proof(w: &mut Writer, proof: &Option<[u8; 32]>) {
    match proof {
        Some(p) => {
            w.u8(1);
            w.raw(p);
        }
        None => w.u8(0),
    }
}

fn get_proof(r: &mut Reader<'_>) -> Result<Option<[u8; 32]>> {
    Ok(if flag(r)? { Some(r.array()?) } else { None })
}

fn flag(r: &mut Reader<'_>) -> Result<bool> {
    match r.u8()? {
        0 => Ok(false),
        1 => Ok(true),
        v => Err(Error::Malformed(format!(
            "flag byte {v} is neither 0 nor 1"
        ))),
    }
}

fn count(r: &mut Reader<'_>, max: usize) -> Result<usize> {
    let n = r.u32()? as usize;
    if n > max {
        return Err(Error::Malformed(format!("count {n} exceeds {max}")));
    }
    Ok(n)
}

fn error_code(code: u16) -> Result<ErrorCode> {
    ErrorCode::from_u16(code).ok_or_else(|| Error::Malformed(format!("unknown error code {code}")))
}

fn inline_bytes(r: &mut Reader<'_>, len: u64) -> Result<Vec<u8>> {
    if len > MAX_INLINE_REPLY as u64 {
        return Err(Error::Malformed(format!("inline block of {len} bytes")));
    }
    Ok(r.take(len as usize)?.to_vec())
}

fn text(r: &mut Reader<'_>) -> Result<String> {
    Ok(String::from_utf8_lossy(r.bytes16()?).into_owned())
}
