//! Persisted model snapshots, so a restart serves the last model at once.

use sqlx::{Postgres, Transaction};

use super::{guarded_tx, now_ms, on_pool, Store};

/// Older snapshots kept for inspection and rollback.
const KEEP: i64 = 3;

impl Store {
    /// Stores an encoded snapshot (replacing one of the same version) and
    /// prunes all but the newest few.
    pub async fn save_snapshot(&self, version: i64, data: &[u8]) -> sqlx::Result<()> {
        self.put_snapshot(version, data, version - KEEP).await
    }

    /// Replaces every snapshot up to `version` by `data` as that version
    /// (a copy without erased users), in one transaction.
    pub async fn replace_snapshots(&self, version: i64, data: &[u8]) -> sqlx::Result<()> {
        self.put_snapshot(version, data, version).await
    }

    /// Deletes the snapshots up to `drop_upto`, then stores `data` as
    /// `version`, in one transaction.
    async fn put_snapshot(&self, version: i64, data: &[u8], drop_upto: i64) -> sqlx::Result<()> {
        const PRUNE: &str = "DELETE FROM model_snapshots WHERE version <= $1 OR version = $2";
        match self {
            Store::Postgres(p) => guarded_tx!(p, tx => {
                sqlx::query(PRUNE).bind(drop_upto).bind(version).execute(&mut *tx).await?;
                copy_snapshot(&mut tx, version, data).await?;
            }),
            Store::Sqlite(p) => guarded_tx!(p, tx => {
                sqlx::query(PRUNE).bind(drop_upto).bind(version).execute(&mut *tx).await?;
                sqlx::query("INSERT INTO model_snapshots (version, created_ms, data) VALUES ($1, $2, $3)")
                    .bind(version)
                    .bind(now_ms())
                    .bind(data)
                    .execute(&mut *tx)
                    .await?;
            }),
        }
    }

    /// Every stored snapshot's bytes, oldest first (inspection, tests).
    pub async fn all_snapshots(&self) -> sqlx::Result<Vec<Vec<u8>>> {
        on_pool!(self, p => {
            sqlx::query_scalar("SELECT data FROM model_snapshots ORDER BY version").fetch_all(p).await
        })
    }

    /// The newest snapshot's version and bytes.
    ///
    /// The connection that read it is closed, not pooled: a socket's read
    /// buffer keeps the capacity of the largest message it received, which
    /// would hold a second copy of the snapshot for the connection's life.
    pub async fn load_latest_snapshot(&self) -> sqlx::Result<Option<(i64, Vec<u8>)>> {
        on_pool!(self, p => {
            let mut conn = p.acquire().await?;
            let row = sqlx::query_as("SELECT version, data FROM model_snapshots ORDER BY version DESC LIMIT 1")
                .fetch_optional(&mut *conn)
                .await;
            conn.close_on_drop();
            row
        })
    }

    /// Highest version ever stored (0 when none), so versions keep growing.
    pub async fn max_snapshot_version(&self) -> sqlx::Result<i64> {
        on_pool!(self, p => {
            sqlx::query_scalar("SELECT COALESCE(MAX(version), 0) FROM model_snapshots").fetch_one(p).await
        })
    }
}

/// Bytes per COPY message: the connection's write buffer grows to this,
/// not to the snapshot's size.
const COPY_CHUNK: usize = 1 << 20;

/// Inserts one snapshot row through binary COPY, the bytes sent in chunks.
/// A bound parameter would be copied twice in memory (the argument buffer,
/// then the write buffer), about 170 MiB for a 200,000 × 20,000 model.
/// Format: PostgreSQL docs, "COPY", section "Binary Format".
async fn copy_snapshot(tx: &mut Transaction<'_, Postgres>, version: i64, data: &[u8]) -> sqlx::Result<()> {
    let len = i32::try_from(data.len()).map_err(|_| {
        sqlx::Error::Protocol(format!(
            "a snapshot of {} bytes exceeds a bytea field",
            data.len()
        ))
    })?;
    let mut head = Vec::with_capacity(64);
    head.extend_from_slice(b"PGCOPY\n\xff\r\n\0");
    head.extend_from_slice(&0i32.to_be_bytes()); // flags
    head.extend_from_slice(&0i32.to_be_bytes()); // header extension length
    head.extend_from_slice(&3i16.to_be_bytes()); // fields in the row
    for v in [version, now_ms()] {
        head.extend_from_slice(&8i32.to_be_bytes());
        head.extend_from_slice(&v.to_be_bytes());
    }
    head.extend_from_slice(&len.to_be_bytes());
    let mut copy = tx
        .copy_in_raw("COPY model_snapshots (version, created_ms, data) FROM STDIN (FORMAT binary)")
        .await?;
    let sent = async {
        copy.send(head).await?;
        for chunk in data.chunks(COPY_CHUNK) {
            copy.send(chunk).await?;
        }
        copy.send(&(-1i16).to_be_bytes()[..]).await?; // end of data
        Ok::<_, sqlx::Error>(())
    }
    .await;
    match sent {
        Ok(()) => copy.finish().await.map(|_| ()),
        Err(e) => {
            let _ = copy.abort("snapshot not sent").await;
            Err(e)
        }
    }
}
