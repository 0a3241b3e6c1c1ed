//! Hashes of user ids: the keyed hash erased users are stored under
//! (HMAC-SHA256 with the installation's key, truncated to 64 bits, so the
//! table cannot be reversed by hashing candidate ids) and the unkeyed hash it
//! replaced.

use hmac::{Hmac, Mac};
use sha2::Sha256;

/// The per-installation erasure key. Never printed.
#[derive(Clone)]
pub struct ErasureKey([u8; 32]);

impl std::fmt::Debug for ErasureKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ErasureKey(***)")
    }
}

impl ErasureKey {
    pub fn from_bytes(bytes: [u8; 32]) -> ErasureKey {
        ErasureKey(bytes)
    }

    /// The stored form of an erased user's id: the first 8 bytes of
    /// HMAC-SHA256(key, id), big-endian, as a signed 64-bit integer.
    pub fn hash(&self, id: &str) -> i64 {
        let mut mac = Hmac::<Sha256>::new_from_slice(&self.0).expect("HMAC takes any key length");
        mac.update(id.as_bytes());
        let out = mac.finalize().into_bytes();
        i64::from_be_bytes(out[..8].try_into().expect("32 bytes"))
    }

    /// The key as 64 lowercase hex digits (its stored form).
    pub fn to_hex(&self) -> String {
        self.0.iter().map(|b| format!("{b:02x}")).collect()
    }

    /// Reads [`ErasureKey::to_hex`]; `None` unless exactly 64 hex digits.
    pub fn from_hex(s: &str) -> Option<ErasureKey> {
        let mut out = [0u8; 32];
        if s.len() != 64 {
            return None;
        }
        for (i, byte) in out.iter_mut().enumerate() {
            *byte = u8::from_str_radix(s.get(2 * i..2 * i + 2)?, 16).ok()?;
        }
        Some(ErasureKey(out))
    }
}

/// The unkeyed XXH3 hash that erasures stored before migration 0004; only
/// read to re-key those rows once.
pub fn legacy_user_hash(id: &str) -> i64 {
    xxhash_rust::xxh3::xxh3_64(id.as_bytes()) as i64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keyed_hashes_depend_on_the_key_and_round_trip_through_hex() {
        let a = ErasureKey([1; 32]);
        let b = ErasureKey([2; 32]);
        assert_eq!(a.hash("ana"), a.hash("ana"));
        assert_ne!(a.hash("ana"), b.hash("ana"));
        assert_ne!(a.hash("ana"), legacy_user_hash("ana"));
        assert_eq!(ErasureKey::from_hex(&a.to_hex()).unwrap().hash("x"), a.hash("x"));
        assert!(ErasureKey::from_hex("zz").is_none());
        assert_eq!(format!("{a:?}"), "ErasureKey(***)");
    }
}
