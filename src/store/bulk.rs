//! Bulk loading for `courserec import`: COPY into a staging table on Postgres,
//! then one idempotent merge; plain batched inserts on SQLite.

use super::{now_ms, Store};
use crate::domain::Event;

impl Store {
    /// Stores `events` in one transaction; returns how many were new.
    pub async fn bulk_insert_events(&self, events: &[Event]) -> anyhow::Result<usize> {
        if events.is_empty() {
            return Ok(0);
        }
        let Store::Postgres(pool) = self else {
            return Ok(self.insert_events(events).await?.inserted);
        };
        let received = now_ms();
        let mut buf = csv::Writer::from_writer(Vec::with_capacity(events.len() * 80));
        for e in events {
            buf.write_record([
                e.event_id.as_deref().unwrap_or("\\N"),
                &e.user_id,
                &e.course_id,
                e.kind.as_str(),
                &e.value.map(|v| v.to_string()).unwrap_or_else(|| "\\N".into()),
                &e.ts_ms.to_string(),
                e.rec_id.as_deref().unwrap_or("\\N"),
            ])?;
        }
        let data = buf.into_inner().map_err(|e| anyhow::anyhow!("csv buffer: {e}"))?;
        // As in `guarded_tx`: a connection that failed mid-write is closed.
        let mut conn = pool.acquire().await?;
        let merged = async {
        let mut tx = sqlx::Connection::begin(&mut *conn).await?;
        sqlx::query("SELECT pg_advisory_xact_lock_shared($1)")
            .bind(super::rollup::INGEST_LOCK)
            .execute(&mut *tx)
            .await?;
        sqlx::query(
            "CREATE TEMP TABLE IF NOT EXISTS events_stage \
             (event_id TEXT, user_id TEXT, course_id TEXT, type TEXT, value DOUBLE PRECISION, ts_ms BIGINT, rec_id TEXT) \
             ON COMMIT DELETE ROWS",
        )
        .execute(&mut *tx)
        .await?;
        let mut copy = tx
            .copy_in_raw("COPY events_stage FROM STDIN WITH (FORMAT csv, NULL '\\N')")
            .await?;
        copy.send(data).await?;
        copy.finish().await?;
        // DISTINCT ON keeps one row per event_id inside the chunk itself;
        // ids are claimed in `event_ids`, as in `insert_events`, in id order:
        // imports merge chunks on two connections, and two merges that claim
        // the same ids in one order cannot deadlock.
        let merged = sqlx::query(
            "WITH claimed AS (INSERT INTO event_ids (event_id, ts_ms) \
             SELECT DISTINCT ON (event_id) event_id, ts_ms FROM events_stage WHERE event_id IS NOT NULL \
             ORDER BY event_id ON CONFLICT (event_id) DO NOTHING RETURNING event_id, ts_ms) \
             INSERT INTO events (event_id, user_id, course_id, type, value, ts_ms, rec_id, received_ms) \
             SELECT event_id, user_id, course_id, type, value, ts_ms, rec_id, $1 FROM events_stage \
             WHERE event_id IS NULL \
             UNION ALL \
             SELECT * FROM (SELECT DISTINCT ON (s.event_id) s.event_id, s.user_id, s.course_id, s.type, s.value, \
             s.ts_ms, s.rec_id, $1::BIGINT FROM events_stage s JOIN claimed c \
             ON c.event_id = s.event_id AND c.ts_ms = s.ts_ms) d",
        )
        .bind(received)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok::<_, sqlx::Error>(merged.rows_affected() as usize)
        }
        .await;
        if merged.is_err() {
            conn.close_on_drop();
        }
        Ok(merged?)
    }
}
