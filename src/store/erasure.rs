//! Erased users, stored as a keyed hash of their id (see
//! [`ErasureKey`]): the installation's key, generated on first start and kept
//! in the store so every replica shares it.

use rand::RngCore;

use super::{guarded_tx, on_pool, Store};
use crate::domain::id_hash::ErasureKey;

impl Store {
    /// The installation's erasure key, generated (from the OS's random
    /// source) and stored on first call; every replica reads the same one.
    pub async fn erasure_key(&self) -> anyhow::Result<ErasureKey> {
        let mut fresh = [0u8; 32];
        // ThreadRng: ChaCha seeded from the OS, a cryptographic generator.
        rand::rng().fill_bytes(&mut fresh);
        let fresh = ErasureKey::from_bytes(fresh).to_hex();
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
