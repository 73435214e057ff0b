//! Errors, with the stable codes that travel in error frames.

use std::io;
use std::sync::Arc;

/// Wire codes for errors a peer reports. Stable: they travel in frames.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(u16)]
pub enum ErrorCode {
    Malformed = 1,
    UnsupportedVersion = 2,
    AuthFailed = 3,
    UnknownBlock = 4,
    InvalidKey = 5,
    StaleKey = 6,
    OutOfRange = 7,
    TooLarge = 8,
    Internal = 9,
    /// The server is at a connection limit; try later or elsewhere.
    Busy = 10,
    /// The block's file no longer holds it (truncated after registration, a disk error).
    Unreadable = 11,
}

impl ErrorCode {
    pub fn from_u16(code: u16) -> Option<Self> {
        use ErrorCode::*;
        Some(match code {
            1 => Malformed,
            2 => UnsupportedVersion,
            3 => AuthFailed,
            4 => UnknownBlock,
            5 => InvalidKey,
            6 => StaleKey,
            7 => OutOfRange,
            8 => TooLarge,
            9 => Internal,
            10 => Busy,
            11 => Unreadable,
            _ => return None,
        })
    }
}

/// Cloneable, so one failure can be reported for every block it affects.
#[derive(Clone, Debug, thiserror::Error)]
pub enum Error {
    #[error("config key `{key}`: {message}")]
    Config { key: String, message: String },
    #[error("malformed frame: {0}")]
    Malformed(String),
    #[error("unsupported protocol version: {0}")]
    UnsupportedVersion(String),
    #[error("authentication failed: {0}")]
    AuthFailed(String),
    #[error("peer {peer} refused: {code:?}: {message}")]
    Remote {
        peer: String,
        code: ErrorCode,
        message: String,
    },
    #[error("pinned buffer pool exhausted: {0}")]
    PoolExhausted(String),
    #[error("timed out: {0}")]
    Timeout(String),
    #[error("connection to {peer} lost: {reason}")]
    PeerClosed { peer: String, reason: String },
    #[error("provider unavailable: {0}")]
    ProviderUnavailable(String),
    #[error("internal error: {0}")]
    Internal(String),
    #[error("server busy: {0}")]
    Busy(String),
    #[error("invalid argument: {0}")]
    InvalidArgument(String),
    #[error("i/o error: {0}")]
    Io(Arc<io::Error>),
}

impl From<io::Error> for Error {
    fn from(e: io::Error) -> Self {
        Error::Io(Arc::new(e))
    }
}

impl Error {
    pub fn config(key: &str, message: impl Into<String>) -> Self {
        Error::Config {
            key: key.to_string(),
            message: message.into(),
        }
    }

    /// The text a server sends with the code: without the prefix the code already says.
    pub fn wire_message(&self) -> String {
        match self {
            Error::Malformed(m)
            | Error::UnsupportedVersion(m)
            | Error::AuthFailed(m)
            | Error::Busy(m) => m.clone(),
            other => other.to_string(),
        }
    }

    /// The code a server sends when this error ends a request.
    pub fn code(&self) -> ErrorCode {
        match self {
            Error::Malformed(_) => ErrorCode::Malformed,
            Error::UnsupportedVersion(_) => ErrorCode::UnsupportedVersion,
            Error::AuthFailed(_) => ErrorCode::AuthFailed,
            Error::Busy(_) => ErrorCode::Busy,
            Error::Remote { code, .. } => *code,
            _ => ErrorCode::Internal,
        }
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
