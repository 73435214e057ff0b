//! Version agreement and mutual proof of a shared secret.
//!
//! The server opens with a fresh nonce; the client answers with its own nonce
//! and HMAC-SHA256(secret, "ferry client" | server nonce | client nonce); the
//! server checks it and proves itself with the roles swapped. Fresh nonces on
//! both sides mean a recorded exchange cannot be replayed. With no secret on
//! either side, no proofs are sent; a secret on one side only fails.
//!
//! Encryption ([`CAP_AES_GCM`], `ferry.encryption=aes-gcm`) is not negotiated
//! down: a side that encrypts refuses a peer that does not, and a side that
//! does not refuses a peer that does, each naming the key, so the two never
//! settle on clear. When both encrypt, each derives its record keys
//! ([`Channel`]) from the secret and both nonces.

use hmac::{Hmac, Mac};
use sha2::Sha256;

use super::frame::{Frame, CAP_AES_GCM};
use super::record::Channel;
use crate::error::{Error, ErrorCode, Result};

pub const MIN_VERSION: u16 = 1;
pub const MAX_VERSION: u16 = 1;

const CLIENT_LABEL: &[u8] = b"ferry client v1";
const SERVER_LABEL: &[u8] = b"ferry server v1";

/// What both ends agreed on.
#[derive(Debug)]
pub struct Agreed {
    pub version: u16,
    pub caps: u32,
    /// This side's record keys, when both sides encrypt.
    pub channel: Option<Channel>,
}

/// Whether caps ask for encryption.
fn encrypts(caps: u32) -> bool {
    caps & CAP_AES_GCM != 0
}

/// The record keys of an encrypting side; encryption without a secret is a configuration error.
fn channel(
    secret: Option<&[u8]>,
    server_nonce: &[u8; 32],
    client_nonce: &[u8; 32],
    server: bool,
) -> Result<Channel> {
    let secret = secret.ok_or_else(|| {
        Error::config(
            "ferry.auth.secret",
            "ferry.encryption=aes-gcm derives its keys from the secret: set both",
        )
    })?;
    Ok(Channel::new(secret, server_nonce, client_nonce, server))
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
        let channel = match (encrypts(self.caps), encrypts(caps)) {
            (true, true) => Some(channel(secret, &self.nonce, &nonce, true)?),
            (false, false) => None,
            (true, false) => {
                return Err(Error::AuthFailed(
                    "this server encrypts its transfers (ferry.encryption=aes-gcm) and the client \
                     does not: set ferry.encryption=aes-gcm on both sides"
                        .into(),
                ))
            }
            (false, true) => {
                return Err(Error::AuthFailed(
                    "the client requires encryption (ferry.encryption=aes-gcm) and this server \
                     does not encrypt (ferry.encryption=none): set ferry.encryption alike on both sides"
                        .into(),
                ))
            }
        };
        let welcome = Frame::Welcome {
            caps: caps & self.caps,
            proof: secret.map(|s| prove(s, SERVER_LABEL, &nonce, &self.nonce)),
        };
        Ok((
            welcome,
            Agreed {
                version,
                caps: caps & self.caps,
                channel,
            },
        ))
    }
}

pub struct ClientHandshake {
    nonce: [u8; 32],
    server_nonce: [u8; 32],
    version: u16,
    secret: Option<Vec<u8>>,
    encrypt: bool,
}

impl ClientHandshake {
    /// Answers the server's hello: picks the highest common version and proves
    /// the secret. With [`CAP_AES_GCM`] in `caps`, a server that does not
    /// encrypt is refused before anything is sent (and the other way round).
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
                caps: server_caps,
            } => {
                match (encrypts(caps), encrypts(server_caps)) {
                    (true, false) => {
                        return Err(Error::AuthFailed(
                            "this node encrypts its transfers (ferry.encryption=aes-gcm) and the \
                             server does not (ferry.encryption=none there): nothing is sent in clear"
                                .into(),
                        ))
                    }
                    (false, true) => {
                        return Err(Error::AuthFailed(
                            "the server encrypts its transfers (ferry.encryption=aes-gcm) and this \
                             node does not: set ferry.encryption=aes-gcm on both sides"
                                .into(),
                        ))
                    }
                    _ => {}
                }
                (min_version, max_version, nonce)
            }
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
            encrypt: encrypts(caps),
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
                let secret = self.secret.as_deref();
                check(
                    secret,
                    proof.as_ref(),
                    SERVER_LABEL,
                    &self.nonce,
                    &self.server_nonce,
                )?;
                if encrypts(caps) != self.encrypt {
                    return Err(Error::AuthFailed(
                        "the server's welcome does not agree on encryption (ferry.encryption)"
                            .into(),
                    ));
                }
                let channel = self
                    .encrypt
                    .then(|| channel(secret, &self.server_nonce, &self.nonce, false))
                    .transpose()?;
                Ok(Agreed {
                    version: self.version,
                    caps,
                    channel,
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
        let finished = client.finish(welcome)?;
        assert_eq!(
            (finished.version, finished.caps),
            (agreed.version, agreed.caps)
        );
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

    /// Both sides encrypt or neither does: a mismatch is refused on either
    /// side, naming the key, and never settles on clear.
    #[test]
    fn encryption_is_agreed_or_refused() {
        let secret = || Some(b"k".to_vec());
        let run = |server_caps: u32, client_caps: u32| -> Result<(Agreed, Agreed)> {
            let server = ServerHandshake::new(server_caps, secret());
            let (client, hello) = ClientHandshake::answer(server.hello(), client_caps, secret())?;
            let (welcome, agreed) = server.accept(hello)?;
            Ok((agreed, client.finish(welcome)?))
        };
        let (server, client) = run(CAP_AES_GCM, CAP_AES_GCM).unwrap();
        let (mut server, mut client) = (server.channel.unwrap(), client.channel.unwrap());
        let mut wire = Vec::new();
        client.seal.seal(b"request", &mut wire).unwrap();
        let (header, rest) = wire.split_at_mut(4);
        let (body, tag) = rest.split_at_mut(7);
        server
            .open
            .open("client", header.try_into().unwrap(), body, tag)
            .unwrap();
        assert_eq!(body, b"request");
        assert!(server.seal.seal(b"x", &mut Vec::new()).is_ok());
        assert!(run(0, 0).unwrap().0.channel.is_none());
        for (server_caps, client_caps) in [(CAP_AES_GCM, 0), (0, CAP_AES_GCM)] {
            let err = run(server_caps, client_caps).unwrap_err();
            assert!(matches!(err, Error::AuthFailed(_)), "{err}");
            assert!(err.to_string().contains("ferry.encryption"), "{err}");
        }
        // A client that skipped its own check is refused by the server, either way.
        for (server_caps, client_caps) in [(CAP_AES_GCM, 0), (0, CAP_AES_GCM)] {
            let server = ServerHandshake::new(server_caps, secret());
            let hello = Frame::ClientHello {
                version: 1,
                caps: client_caps,
                nonce: [7; 32],
                proof: Some(prove(b"k", CLIENT_LABEL, &server.nonce, &[7; 32])),
            };
            let err = server.accept(hello).unwrap_err().to_string();
            assert!(err.contains("ferry.encryption"), "{err}");
        }
        // Encryption without a secret is refused naming both keys.
        let server = ServerHandshake::new(CAP_AES_GCM, None);
        let (_, hello) = ClientHandshake::answer(server.hello(), CAP_AES_GCM, None).unwrap();
        let err = server.accept(hello).unwrap_err().to_string();
        assert!(
            err.contains("ferry.auth.secret") && err.contains("ferry.encryption"),
            "{err}"
        );
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
