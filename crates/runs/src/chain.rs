//! The receipt chain: `d_0 = SHA-256(run_id as UTF-8)`, `d_n = SHA-256(d_{n-1} || c_n)` where
//! `d_{n-1}` enters as its 32 raw bytes (not its hex) and `c_n` is the canonical JSON of record
//! `n - 1` (0-based indices) exactly as stored. Digests go on the wire and into the file as 64
//! lowercase hex digits.

use sha2::{Digest as _, Sha256};

/// One link of the chain: 32 raw bytes.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct ChainDigest([u8; 32]);

impl std::fmt::Debug for ChainDigest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "ChainDigest({})", self.to_hex())
    }
}

impl ChainDigest {
    /// `d_0`: the SHA-256 of the run id's UTF-8 bytes.
    pub fn genesis(run_id: &str) -> Self {
        ChainDigest(Sha256::digest(run_id.as_bytes()).into())
    }

    /// The digest after one more record whose canonical JSON is `record`.
    pub fn next(&self, record: &[u8]) -> Self {
        let mut h = Sha256::new();
        h.update(self.0);
        h.update(record);
        ChainDigest(h.finalize().into())
    }

    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// 64 lowercase hex digits.
    pub fn to_hex(&self) -> String {
        const HEX: &[u8; 16] = b"0123456789abcdef";
        let mut s = String::with_capacity(64);
        for b in self.0 {
            s.push(char::from(HEX[usize::from(b >> 4)]));
            s.push(char::from(HEX[usize::from(b & 0xF)]));
        }
        s
    }

    /// Parses 64 hex digits (either case).
    pub fn from_hex(hex: &str) -> Option<Self> {
        let bytes = hex.as_bytes();
        if bytes.len() != 64 {
            return None;
        }
        let nibble = |c: u8| char::from(c).to_digit(16).map(|d| d as u8);
        let mut out = [0u8; 32];
        for (i, pair) in bytes.chunks_exact(2).enumerate() {
            out[i] = nibble(pair[0])? << 4 | nibble(pair[1])?;
        }
        Some(ChainDigest(out))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn genesis_is_sha256_of_the_id() {
        // SHA-256("abc"), FIPS 180-2 appendix B.1.
        assert_eq!(
            ChainDigest::genesis("abc").to_hex(),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }

    #[test]
    fn next_hashes_raw_previous_bytes() {
        let d0 = ChainDigest::genesis("run-x");
        let mut input = d0.as_bytes().to_vec();
        input.extend_from_slice(b"{\"a\":1}");
        let expected: [u8; 32] = Sha256::digest(&input).into();
        assert_eq!(d0.next(b"{\"a\":1}").as_bytes(), &expected);
    }

    #[test]
    fn hex_round_trips() {
        let d = ChainDigest::genesis("x");
        assert_eq!(ChainDigest::from_hex(&d.to_hex()), Some(d));
        assert_eq!(ChainDigest::from_hex(&d.to_hex().to_uppercase()), Some(d));
        assert_eq!(ChainDigest::from_hex("zz"), None);
        assert_eq!(ChainDigest::from_hex(&"g".repeat(64)), None);
    }
}
