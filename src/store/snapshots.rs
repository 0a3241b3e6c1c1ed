//! Persisted model snapshots, so a restart serves the last model at once.

use super::{guarded_tx, now_ms, on_pool, Store};

/// Older snapshots kept for inspection and rollback.
const KEEP: i64 = 3;

impl Store {
    /// Stores an encoded snapshot and prunes all but the newest few.
    pub async fn save_snapshot(&self, version: i64, data: &[u8]) -> sqlx::Result<()> {
        on_pool!(self, p => guarded_tx!(p, tx => {
            sqlx::query("INSERT INTO model_snapshots (version, created_ms, data) VALUES ($1, $2, $3)")
                .bind(version)
                .bind(now_ms())
                .bind(data)
                .execute(&mut *tx)
                .await?;
            sqlx::query("DELETE FROM model_snapshots WHERE version <= $1")
                .bind(version - KEEP)
                .execute(&mut *tx)
                .await?;
        }))
    }

    /// Replaces every snapshot up to `version` by `data` as that version
    /// (a copy without erased users), in one transaction.
    pub async fn replace_snapshots(&self, version: i64, data: &[u8]) -> sqlx::Result<()> {
        on_pool!(self, p => guarded_tx!(p, tx => {
            sqlx::query("DELETE FROM model_snapshots WHERE version <= $1")
                .bind(version)
                .execute(&mut *tx)
                .await?;
            sqlx::query("INSERT INTO model_snapshots (version, created_ms, data) VALUES ($1, $2, $3)")
                .bind(version)
                .bind(now_ms())
                .bind(data)
                .execute(&mut *tx)
                .await?;
        }))
    }

    /// Every stored snapshot's bytes, oldest first (inspection, tests).
    pub async fn all_snapshots(&self) -> sqlx::Result<Vec<Vec<u8>>> {
        on_pool!(self, p => {
            sqlx::query_scalar("SELECT data FROM model_snapshots ORDER BY version").fetch_all(p).await
        })
    }

    /// The newest snapshot's version and bytes.
    pub async fn load_latest_snapshot(&self) -> sqlx::Result<Option<(i64, Vec<u8>)>> {
        on_pool!(self, p => {
            sqlx::query_as("SELECT version, data FROM model_snapshots ORDER BY version DESC LIMIT 1")
                .fetch_optional(p)
                .await
        })
    }

    /// Highest version ever stored (0 when none), so versions keep growing.
    pub async fn max_snapshot_version(&self) -> sqlx::Result<i64> {
        on_pool!(self, p => {
            sqlx::query_scalar("SELECT COALESCE(MAX(version), 0) FROM model_snapshots").fetch_one(p).await
        })
    }
}
