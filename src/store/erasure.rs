//! Erased users, stored as a keyed hash of their id (see
//! [`ErasureKey`]): the installation's key, generated on first start and kept
//! in the store so every replica shares it.

use rand::RngCore;

use super::{guarded_tx, on_pool, Store};
use crate::domain::id_hash::ErasureKey;

/// What the store keeps of a key given from outside: its keyed hash of this
/// text, enough to tell another key apart, useless to recover it.
const KEY_CHECK: &str = "courserec.erasure-key.check";

/// The environment variable that may hold the erasure key.
pub const ERASURE_KEY_ENV: &str = "COURSEREC_ERASURE_KEY";

/// The erasure key given from outside the store: `COURSEREC_ERASURE_KEY`,
/// else the file `key_file` (64 hex digits, surrounding whitespace ignored);
/// `None` when neither is set. A malformed key is an error, never ignored.
pub fn configured_erasure_key(key_file: &str) -> anyhow::Result<Option<ErasureKey>> {
    let (text, from) = match std::env::var(ERASURE_KEY_ENV) {
        Ok(v) if !v.trim().is_empty() => (v, ERASURE_KEY_ENV.to_string()),
        _ if key_file.is_empty() => return Ok(None),
        _ => (
            std::fs::read_to_string(key_file).map_err(|e| {
                super::Unfit(format!("cannot read database.erasure_key_file {key_file}: {e}"))
            })?,
            key_file.to_string(),
        ),
    };
    ErasureKey::from_hex(text.trim())
        .map(Some)
        .ok_or_else(|| super::Unfit(format!("the erasure key in {from} is not 64 hex digits")).into())
}

impl Store {
    /// The key to hash erased ids with: `given` (from the environment or a
    /// file), else the one kept in the store. A given key must equal the
    /// stored one if there is one, which is then removed from the store
    /// (moved out). Without a given key, one is generated and stored unless
    /// erasures hashed with a key the store no longer holds exist: then
    /// starting would silently stop honouring them, so it is an error.
    pub async fn resolve_erasure_key(&self, given: Option<ErasureKey>) -> anyhow::Result<ErasureKey> {
        let stored: Option<String> = on_pool!(self, p => {
            sqlx::query_scalar("SELECT value FROM installation WHERE name = 'erasure_key'").fetch_optional(p).await
        })?;
        match (given, stored) {
            (Some(key), Some(s)) if s != key.to_hex() => Err(super::Unfit(
                "the configured erasure key differs from the one this store's erasures were hashed with"
                    .into(),
            )
            .into()),
            (Some(key), _) => {
                // The store keeps a check value of the key (never the key),
                // so a later start with another key is refused.
                let check = key.hash(KEY_CHECK).to_string();
                let kept: String = on_pool!(self, p => guarded_tx!(p, tx => {
                    sqlx::query("INSERT INTO installation (name, value) VALUES ('erasure_key_check', $1) ON CONFLICT (name) DO NOTHING")
                        .bind(&check)
                        .execute(&mut *tx)
                        .await?;
                    let moved = sqlx::query("DELETE FROM installation WHERE name = 'erasure_key'")
                        .execute(&mut *tx)
                        .await?
                        .rows_affected();
                    if moved > 0 {
                        tracing::info!("erasure key moved out of the store; it now comes from the configuration");
                    }
                    sqlx::query_scalar("SELECT value FROM installation WHERE name = 'erasure_key_check'")
                        .fetch_one(&mut *tx)
                        .await?
                }))?;
                if kept != check {
                    return Err(super::Unfit(
                        "the configured erasure key differs from the one this store's erasures were hashed with".into(),
                    )
                    .into());
                }
                Ok(key)
            }
            (None, Some(_)) => self.erasure_key().await,
            (None, None) => {
                let keyed: i64 = on_pool!(self, p => {
                    sqlx::query_scalar(
                        "SELECT (SELECT COUNT(*) FROM erasures WHERE keyed) \
                         + (SELECT COUNT(*) FROM installation WHERE name = 'erasure_key_check')",
                    )
                    .fetch_one(p)
                    .await
                })?;
                if keyed > 0 {
                    return Err(super::Unfit(format!(
                        "the erasure key was moved out of this store (or erasures were hashed with one it \
                         does not hold): set {ERASURE_KEY_ENV} or database.erasure_key_file"
                    ))
                    .into());
                }
                self.erasure_key().await
            }
        }
    }

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
