//! The receiving half of an encrypted connection: records as they arrive,
//! opened into the clear bytes the frame parser reads (see `protocol::record`).

use super::inbox::Inbox;
use crate::error::Result;
use crate::protocol::record::{record_len, RecordKey, HEADER, TAG};

pub(crate) struct Records {
    /// Bytes as received: records not opened yet.
    pub raw: Inbox,
    key: RecordKey,
    peer: String,
    /// The header of the record being received, once taken from `raw`.
    header: Option<[u8; HEADER]>,
}

impl Records {
    /// Opens records with `key`; `received` are bytes that came after the handshake.
    pub fn new(key: RecordKey, peer: String, received: &[u8]) -> Records {
        let mut raw = Inbox::default();
        raw.push(received);
        Records {
            raw,
            key,
            peer,
            header: None,
        }
    }

    /// The length of the record being received, once its header is in (an
    /// oversized one is refused before its body is buffered).
    pub fn next_len(&mut self) -> Result<Option<usize>> {
        let header = match self.header {
            Some(header) => header,
            None => {
                let Some(header) = self.raw.data().get(..HEADER) else {
                    return Ok(None);
                };
                let header: [u8; HEADER] = header.try_into().expect("HEADER bytes");
                record_len(&self.peer, header)?;
                self.raw.consume(HEADER);
                *self.header.insert(header)
            }
        };
        Ok(Some(u32::from_le_bytes(header) as usize))
    }

    /// Opens every record that has fully arrived into `plain`.
    pub fn open_into(&mut self, plain: &mut Inbox) -> Result<()> {
        while self.open_one(plain)? {}
        Ok(())
    }

    /// Opens the next record into `plain` if it has fully arrived; false if not.
    pub fn open_one(&mut self, plain: &mut Inbox) -> Result<bool> {
        let Some(len) = self.next_len()? else {
            return Ok(false);
        };
        if self.raw.data().len() < len + TAG {
            return Ok(false);
        }
        let header = self.header.take().expect("next_len took it");
        let (body, tag) = self.raw.data_mut()[..len + TAG].split_at_mut(len);
        self.key.open(&self.peer, header, body, tag)?;
        plain.push(body);
        self.raw.consume(len + TAG);
        Ok(true)
    }

    /// Opens in place the record whose whole body the caller placed in `body`,
    /// once its tag has arrived; false while it has not.
    pub fn open_in_place(&mut self, body: &mut [u8]) -> Result<bool> {
        let Some(tag) = self.raw.data().get(..TAG) else {
            return Ok(false);
        };
        let tag: [u8; TAG] = tag.try_into().expect("TAG bytes");
        let header = self.header.take().expect("the record's header was taken");
        self.key.open(&self.peer, header, body, &tag)?;
        self.raw.consume(TAG);
        Ok(true)
    }
}
