//! Remote keys: random 64-bit names for regions, scoped to one connection.
//!
//! A key is only good on the connection that looked the block up, so a key
//! seen on one connection cannot be used on another; it goes stale the moment
//! its region is deregistered, since every read resolves the region afresh.
//! Every key has [`CPU_KEY_BIT`] set, so on a connection with RDMA, where
//! lookups answer with the NIC's 32-bit keys, a client tells a region its
//! peer serves by the CPU (over the control connection) from one it READs.

use std::collections::HashMap;

use crate::error::ErrorCode;
use crate::memory::RegionId;

/// Set in every key a [`KeyTable`] issues; never in an RDMA key (32 bits).
pub const CPU_KEY_BIT: u64 = 1 << 63;

/// True for a key the peer's CPU serves, false for an RDMA key.
pub fn served_by_cpu(key: u64) -> bool {
    key & CPU_KEY_BIT != 0
}

#[derive(Default)]
pub struct KeyTable {
    by_key: HashMap<u64, RegionId>,
    by_region: HashMap<RegionId, u64>,
}

impl KeyTable {
    /// The key for `region` on this connection, issuing a fresh random one the first time.
    pub fn issue(&mut self, region: RegionId) -> u64 {
        if let Some(&key) = self.by_region.get(&region) {
            return key;
        }
        let key = loop {
            let mut bytes = [0u8; 8];
            getrandom::getrandom(&mut bytes).expect("the OS random source is available");
            let key = u64::from_le_bytes(bytes) | CPU_KEY_BIT;
            if !self.by_key.contains_key(&key) {
                break key;
            }
        };
        self.by_key.insert(key, region);
        self.by_region.insert(region, key);
        key
    }

    /// The region behind `key`, or `InvalidKey` for a key this connection was never given.
    pub fn region(&self, key: u64) -> Result<RegionId, ErrorCode> {
        self.by_key.get(&key).copied().ok_or(ErrorCode::InvalidKey)
    }

    /// Forgets a key whose region is gone, so the table does not grow with churn.
    pub fn revoke(&mut self, key: u64) {
        if let Some(region) = self.by_key.remove(&key) {
            self.by_region.remove(&region);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_stable_per_region_and_unknown_keys_fail() {
        let mut table = KeyTable::default();
        let a = table.issue(RegionId(1));
        assert_eq!(table.issue(RegionId(1)), a);
        let b = table.issue(RegionId(2));
        assert_ne!(a, b);
        assert!(served_by_cpu(a) && served_by_cpu(b));
        assert!(!served_by_cpu(u32::MAX as u64), "an RDMA key");
        assert_eq!(table.region(a), Ok(RegionId(1)));
        assert_eq!(table.region(a ^ 1), Err(ErrorCode::InvalidKey));
        table.revoke(a);
        assert_eq!(table.region(a), Err(ErrorCode::InvalidKey));
    }
}
