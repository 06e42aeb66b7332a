//! Order-independent checksums of rows.
//!
//! Each row is hashed with xxh3-128 and the hashes are added (wrapping), so the sum does not
//! depend on row order: a file, a stream and a table scan in any order give the same value.

use xxhash_rust::xxh3::xxh3_128;

/// A running order-independent checksum.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Checksum {
    sum: u128,
    count: u64,
}

impl Checksum {
    /// Adds one row's canonical bytes.
    pub fn add(&mut self, bytes: &[u8]) {
        self.add_hash(xxh3_128(bytes));
    }
    /// Adds a precomputed row hash.
    pub fn add_hash(&mut self, h: u128) {
        self.sum = self.sum.wrapping_add(h);
        self.count += 1;
    }
    /// Rows added.
    pub fn count(&self) -> u64 {
        self.count
    }
    /// The printable form, `xxh3-128-sum:<32 hex digits>`.
    pub fn hex(&self) -> String {
        format!("xxh3-128-sum:{:032x}", self.sum)
    }
    /// Restores a checksum saved in a checkpoint. A damaged value is an error: a reset sum
    /// would make the final checksum wrong without saying so.
    pub fn from_parts(hex: &str, count: u64) -> crate::Result<Self> {
        let sum = hex
            .strip_prefix("xxh3-128-sum:")
            .and_then(|h| u128::from_str_radix(h, 16).ok())
            .ok_or_else(|| {
                crate::FerryError::Checkpoint(format!(
                    "checkpoint checksum {hex:?} is not xxh3-128-sum:<hex>; delete the checkpoint to start over"
                ))
            })?;
        Ok(Checksum { sum, count })
    }
}

/// Hash of one row's canonical bytes.
pub fn row_hash(bytes: &[u8]) -> u128 {
    xxh3_128(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;
    #[test]
    fn order_independent() {
        let mut a = Checksum::default();
        a.add(b"one");
        a.add(b"two");
        let mut b = Checksum::default();
        b.add(b"two");
        b.add(b"one");
        assert_eq!(a, b);
        let c = Checksum::from_parts(&a.hex(), a.count()).expect("parse");
        assert_eq!(a, c);
    }
}
