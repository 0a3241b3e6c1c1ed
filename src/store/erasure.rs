//! Erased users, stored as a keyed hash of their id: HMAC-SHA256 under a
//! per-installation key (generated on first start, kept in the store so every
//! replica shares it), truncated to 64 bits. Without the key the table cannot
//! be reversed by hashing candidate ids.

use hmac::{Hmac, Mac};
use rand::RngCore;
use sha2::Sha256;

use super::{guarded_tx, on_pool, Store};

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

    fn to_hex(&self) -> String {
        self.0.iter().map(|b| format!("{b:02x}")).collect()
    }

    fn from_hex(s: &str) -> Option<ErasureKey> {
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

impl Store {
    /// The installation's erasure key, generated (from the OS's random
    /// source) and stored on first call; every replica reads the same one.
    pub async fn erasure_key(&self) -> anyhow::Result<ErasureKey> {
        let mut fresh = [0u8; 32];
        // ThreadRng: ChaCha seeded from the OS, a cryptographic generator.
        rand::rng().fill_bytes(&mut fresh);
        let fresh = ErasureKey(fresh).to_hex();
        let stored: String = on_pool!(self, p => guarded_tx!(p, tx => {
            sqlx::query("INSERT INTO installation (name, value) VALUES ('erasure_key', $1) ON CONFLICT (name) DO NOTHING")
                .bind(&fresh)
                .execute(&mut *tx)
                .await?;
            sqlx::query_scalar("SELECT value FROM installation WHERE name = 'erasure_key'")
                .fetch_one(&mut *tx)
                .await?
        }))?;
        ErasureKey::from_hex(&stored)
            .ok_or_else(|| anyhow::anyhow!("installation.erasure_key is not 64 hex digits"))
    }

    /// Erasures written before keyed hashes: (unkeyed hash, erasure time).
    pub async fn legacy_erasures(&self) -> sqlx::Result<Vec<(i64, i64)>> {
        on_pool!(self, p => {
            sqlx::query_as("SELECT user_hash, erased_ms FROM erasures WHERE NOT keyed").fetch_all(p).await
        })
    }

    /// Replaces every unkeyed erasure by the keyed `rows` (hash, time).
    pub async fn rekey_erasures(&self, rows: &[(i64, i64)]) -> sqlx::Result<()> {
        on_pool!(self, p => guarded_tx!(p, tx => {
            for (hash, at) in rows {
                sqlx::query("INSERT INTO erasures (user_hash, erased_ms, keyed) VALUES ($1, $2, TRUE)")
                    .bind(hash)
                    .bind(at)
                    .execute(&mut *tx)
                    .await?;
            }
            sqlx::query("DELETE FROM erasures WHERE NOT keyed").execute(&mut *tx).await?;
        }))
    }
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
