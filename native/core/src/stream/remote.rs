//! Stream payload by one-sided READ: the sender copies each message into memory
//! registered with its [`Node`] and sends a NOTIFY naming it on the stream; the
//! receiver READs the message with its own node into a pinned buffer (an RDMA
//! READ on the verbs provider, served by the sender's NIC without its CPU; a
//! READ over the tcp provider otherwise) and answers with a CREDIT, which frees
//! the memory. A window bounds the bytes registered and not yet credited, so a
//! slow receiver slows the sender instead of growing its memory.
//!
//! Both ends speak through a framed [`Stream`] whose socket stays the control
//! path; the data moves on the nodes' own connections (one per peer process,
//! shared by every stream to that peer: several logical streams per queue pair).
//!
//! Each message is its own registered region for now; a ring registered once
//! and reused (growing by `ferry.pool.grow.bytes`) would save the per-message
//! registration the verbs provider makes on first lookup.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;

use super::{Event, Stream};
use crate::error::{Error, Result};
use crate::{Node, RegionId};

/// The sending half: registers messages, sends NOTIFY, frees on CREDIT.
pub struct RemoteSender {
    node: Arc<Node>,
    prefix: Vec<u8>,
    next_seq: u64,
    window: u64,
    in_flight: u64,
    /// seq -> (region, block id, length) of messages not yet credited.
    outstanding: BTreeMap<u64, (RegionId, Vec<u8>, u64)>,
}

impl RemoteSender {
    /// `node` serves the messages (it must [`serve`](Node::serve) at an address the
    /// receiver knows); at most `window` bytes are registered and not yet credited.
    pub fn new(node: Arc<Node>, window: u64) -> Result<RemoteSender> {
        if window == 0 {
            return Err(Error::InvalidArgument("a stream window of 0 bytes".into()));
        }
        let mut tag = [0u8; 8];
        getrandom::getrandom(&mut tag).expect("the OS random source is available");
        let mut prefix = b"ferry-stream/".to_vec();
        prefix.extend(
            tag.iter()
                .map(|b| format!("{b:02x}"))
                .collect::<String>()
                .bytes(),
        );
        Ok(RemoteSender {
            node,
            prefix,
            next_seq: 0,
            window,
            in_flight: 0,
            outstanding: BTreeMap::new(),
        })
    }

    /// Bytes registered and not yet credited.
    pub fn in_flight(&self) -> u64 {
        self.in_flight
    }

    /// Copies `message` into registered memory and queues its NOTIFY on `stream`.
    /// Returns false (and does nothing) while the window has no room for it:
    /// handle the peer's credits first ([`on_event`](Self::on_event)). A message
    /// larger than the window is sent once nothing else is in flight.
    pub fn offer(&mut self, stream: &mut Stream, message: &[u8]) -> Result<bool> {
        if message.is_empty() {
            return Err(Error::InvalidArgument("an empty stream message".into()));
        }
        let len = message.len() as u64;
        if self.in_flight > 0 && self.in_flight + len > self.window {
            return Ok(false);
        }
        let seq = self.next_seq;
        let mut id = self.prefix.clone();
        id.extend_from_slice(format!("/{seq}").as_bytes());
        let region = self.node.regions().register_bytes(message.to_vec());
        let registered = self
            .node
            .register_region_block(id.clone(), region, 0, len)
            .and_then(|()| stream.send_notify(seq, len, &id));
        if let Err(e) = registered {
            self.node.blocks().remove(&id);
            self.node.regions().deregister(region);
            return Err(e);
        }
        self.next_seq += 1;
        self.in_flight += len;
        self.outstanding.insert(seq, (region, id, len));
        Ok(true)
    }

    /// Handles an event from the peer: a CREDIT frees its message. A NOTIFY is
    /// not for a sending half and is an error.
    pub fn on_event(&mut self, event: Event) -> Result<()> {
        let Event::Credit { seq } = event else {
            return Err(Error::Malformed("a NOTIFY sent to the sending half".into()));
        };
        let (region, id, len) = self
            .outstanding
            .remove(&seq)
            .ok_or_else(|| Error::Malformed(format!("CREDIT for unknown message {seq}")))?;
        self.node.blocks().remove(&id);
        self.node.regions().deregister(region);
        self.in_flight -= len;
        Ok(())
    }
}

impl Drop for RemoteSender {
    fn drop(&mut self) {
        for (region, id, _) in self.outstanding.values() {
            self.node.blocks().remove(id);
            self.node.regions().deregister(*region);
        }
    }
}

/// The receiving half: READs notified messages and credits them.
pub struct RemoteReceiver {
    node: Arc<Node>,
    peer: SocketAddr,
}

impl RemoteReceiver {
    /// `peer` is the address the sender's node serves on.
    pub fn new(node: Arc<Node>, peer: SocketAddr) -> RemoteReceiver {
        RemoteReceiver { node, peer }
    }

    /// For a NOTIFY: READs the message into pinned buffers, appends it to `out`
    /// and queues the CREDIT on `stream`. Returns the message's sequence number.
    pub fn on_event(&self, stream: &mut Stream, event: Event, out: &mut Vec<u8>) -> Result<u64> {
        let Event::Notify { seq, len, id } = event else {
            return Err(Error::Malformed(
                "a CREDIT sent to the receiving half".into(),
            ));
        };
        let start = out.len();
        for item in self.node.fetch(vec![(self.peer, vec![id])]) {
            let chunk = item.map_err(|failure| failure.error)?;
            out.extend_from_slice(&chunk.data);
        }
        if (out.len() - start) as u64 != len {
            return Err(Error::Malformed(format!(
                "message {seq}: notified {len} bytes, read {}",
                out.len() - start
            )));
        }
        stream.send_credit(seq)?;
        Ok(seq)
    }
}
