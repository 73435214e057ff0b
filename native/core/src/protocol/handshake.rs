//! Version agreement and mutual proof of a shared secret.
//!
//! The server opens with a fresh nonce; the client answers with its own nonce
//! and HMAC-SHA256(secret, "ferry client" | server nonce | client nonce); the
//! server checks it and proves itself with the roles swapped. Fresh nonces on
//! both sides mean a recorded exchange cannot be replayed. With no secret on
//! either side, no proofs are sent; a secret on one side only fails.

use hmac::{Hmac, Mac};
use sha2::Sha256;

use super::frame::Frame;
use crate::error::{Error, ErrorCode, Result};

pub const MIN_VERSION: u16 = 1;
pub const MAX_VERSION: u16 = 1;

const CLIENT_LABEL: &[u8] = b"ferry client v1";
const SERVER_LABEL: &[u8] = b"ferry server v1";

/// What both ends agreed on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Agreed {
    pub version: u16,
    pub caps: u32,
}

pub fn nonce() -> [u8; 32] {
    let mut n = [0u8; 32];
    getrandom::getrandom(&mut n).expect("the OS random source is available");
    n
}

pub(crate) fn mac(
    secret: &[u8],
    label: &[u8],
    first: &[u8; 32],
    second: &[u8; 32],
) -> Hmac<Sha256> {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret).expect("HMAC takes any key length");
    mac.update(label);
    mac.update(first);
    mac.update(second);
    mac
}

pub(crate) fn prove(secret: &[u8], label: &[u8], first: &[u8; 32], second: &[u8; 32]) -> [u8; 32] {
    mac(secret, label, first, second)
        .finalize()
        .into_bytes()
        .into()
}

fn check(
    secret: Option<&[u8]>,
    proof: Option<&[u8; 32]>,
    label: &[u8],
    first: &[u8; 32],
    second: &[u8; 32],
) -> Result<()> {
    match (secret, proof) {
        (None, None) => Ok(()),
        (Some(_), None) => Err(Error::AuthFailed("peer sent no proof of the secret".into())),
        (None, Some(_)) => Err(Error::AuthFailed(
            "peer requires a secret but none is configured (ferry.auth.secret)".into(),
        )),
        // verify_slice compares in constant time.
        (Some(secret), Some(proof)) => mac(secret, label, first, second)
            .verify_slice(proof)
            .map_err(|_| Error::AuthFailed("wrong secret".into())),
    }
}

/// The error a server's refusal during the handshake stands for.
fn refusal(code: ErrorCode, message: String) -> Error {
    match code {
        ErrorCode::AuthFailed => Error::AuthFailed(message),
        ErrorCode::UnsupportedVersion => Error::UnsupportedVersion(message),
        ErrorCode::Busy => Error::Busy(message),
        _ => Error::Malformed(message),
    }
}

pub struct ServerHandshake {
    nonce: [u8; 32],
    caps: u32,
    secret: Option<Vec<u8>>,
}

impl ServerHandshake {
    pub fn new(caps: u32, secret: Option<Vec<u8>>) -> Self {
        ServerHandshake {
            nonce: nonce(),
            caps,
            secret,
        }
    }

    pub fn hello(&self) -> Frame {
        Frame::ServerHello {
            min_version: MIN_VERSION,
            max_version: MAX_VERSION,
            caps: self.caps,
            nonce: self.nonce,
        }
    }

    /// Checks the client's hello; on success returns the welcome to send.
    pub fn accept(&self, frame: Frame) -> Result<(Frame, Agreed)> {
        let Frame::ClientHello {
            version,
            caps,
            nonce,
            proof,
        } = frame
        else {
            return Err(Error::Malformed(format!(
                "expected ClientHello, got {}",
                frame.name()
            )));
        };
        if !(MIN_VERSION..=MAX_VERSION).contains(&version) {
            return Err(Error::UnsupportedVersion(format!(
                "client chose version {version}, this server speaks {MIN_VERSION}..={MAX_VERSION}"
            )));
        }
        let secret = self.secret.as_deref();
        check(secret, proof.as_ref(), CLIENT_LABEL, &self.nonce, &nonce)?;
        let welcome = Frame::Welcome {
            caps: caps & self.caps,
            proof: secret.map(|s| prove(s, SERVER_LABEL, &nonce, &self.nonce)),
        };
        Ok((
            welcome,
            Agreed {
                version,
                caps: caps & self.caps,
            },
        ))
    }
}

pub struct ClientHandshake {
    nonce: [u8; 32],
    server_nonce: [u8; 32],
    version: u16,
    secret: Option<Vec<u8>>,
}

impl ClientHandshake {
    /// Answers the server's hello: picks the highest common version and proves the secret.
    pub fn answer(
        server_hello: Frame,
        caps: u32,
        secret: Option<Vec<u8>>,
    ) -> Result<(Self, Frame)> {
        let (min_version, max_version, server_nonce) = match server_hello {
            Frame::ServerHello {
                min_version,
                max_version,
                nonce,
                ..
            } => (min_version, max_version, nonce),
            Frame::Error { code, message } => return Err(refusal(code, message)),
            other => {
                return Err(Error::Malformed(format!(
                    "expected ServerHello, got {}",
                    other.name()
                )))
            }
        };
        let version = max_version.min(MAX_VERSION);
        if version < min_version.max(MIN_VERSION) {
            return Err(Error::UnsupportedVersion(format!(
                "server speaks {min_version}..={max_version}, this client {MIN_VERSION}..={MAX_VERSION}"
            )));
        }
        let client = ClientHandshake {
            nonce: nonce(),
            server_nonce,
            version,
            secret,
        };
        let hello = Frame::ClientHello {
            version,
            caps,
            nonce: client.nonce,
            proof: client
                .secret
                .as_deref()
                .map(|s| prove(s, CLIENT_LABEL, &server_nonce, &client.nonce)),
        };
        Ok((client, hello))
    }

    /// Checks the server's welcome (or its refusal).
    pub fn finish(self, frame: Frame) -> Result<Agreed> {
        match frame {
            Frame::Welcome { caps, proof } => {
                check(
                    self.secret.as_deref(),
                    proof.as_ref(),
                    SERVER_LABEL,
                    &self.nonce,
                    &self.server_nonce,
                )?;
                Ok(Agreed {
                    version: self.version,
                    caps,
                })
            }
            Frame::Error { code, message } => Err(refusal(code, message)),
            other => Err(Error::Malformed(format!(
                "expected Welcome, got {}",
                other.name()
            ))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(server_secret: Option<&str>, client_secret: Option<&str>) -> Result<Agreed> {
        let server = ServerHandshake::new(3, server_secret.map(|s| s.as_bytes().to_vec()));
        let (client, hello) = ClientHandshake::answer(
            server.hello(),
            1,
            client_secret.map(|s| s.as_bytes().to_vec()),
        )?;
        let (welcome, agreed) = server.accept(hello)?;
        assert_eq!(client.finish(welcome)?, agreed);
        Ok(agreed)
    }

    #[test]
    fn matching_secrets_agree() {
        assert_eq!(run(Some("s3cret"), Some("s3cret")).unwrap().caps, 1);
        assert_eq!(run(None, None).unwrap().version, 1);
    }

    #[test]
    fn mismatched_secrets_fail() {
        assert!(matches!(
            run(Some("a"), Some("b")),
            Err(Error::AuthFailed(_))
        ));
        assert!(matches!(run(Some("a"), None), Err(Error::AuthFailed(_))));
        assert!(matches!(run(None, Some("a")), Err(Error::AuthFailed(_))));
    }

    #[test]
    fn replayed_client_hello_fails() {
        let secret = Some(b"k".to_vec());
        let first = ServerHandshake::new(0, secret.clone());
        let (_, hello) = ClientHandshake::answer(first.hello(), 0, secret.clone()).unwrap();
        let second = ServerHandshake::new(0, secret);
        assert!(matches!(second.accept(hello), Err(Error::AuthFailed(_))));
    }

    #[test]
    fn version_outside_the_range_fails() {
        let server = ServerHandshake::new(0, None);
        let hello = Frame::ClientHello {
            version: 99,
            caps: 0,
            nonce: [0; 32],
            proof: None,
        };
        assert!(matches!(
            server.accept(hello),
            Err(Error::UnsupportedVersion(_))
        ));
        let future = Frame::ServerHello {
            min_version: 7,
            max_version: 9,
            caps: 0,
            nonce: [0; 32],
        };
        assert!(matches!(
            ClientHandshake::answer(future, 0, None),
            Err(Error::UnsupportedVersion(_))
        ));
    }
}
