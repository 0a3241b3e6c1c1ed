//! The interactions rollup (`event_days`): per (learner, course, event
//! type, UTC day) sums of the event log, kept up to date by compaction with
//! a watermark on the event sequence number.
//!
//! Exactness: on Postgres a sequence number is taken at insert but becomes
//! visible at commit, so a lower one can appear after a higher one. Every
//! write to `events` therefore holds [`INGEST_LOCK`] shared for its whole
//! transaction, and compaction reads the highest sequence number while
//! holding it exclusively: at that instant no insert is in flight, so every
//! event up to it is committed or never will be. On SQLite the single writer
//! makes sequence order commit order. Compaction and erasure both lock the
//! `rollup_state` row, so an erased learner's cells cannot be written back.

use futures::TryStreamExt;

use super::{guarded_tx, on_pool, Store};

/// Advisory lock key shared by event inserts and taken exclusively by
/// compaction to read a settled sequence number (Postgres only).
pub(super) const INGEST_LOCK: i64 = 0x636f_7572_7365; // "course"

/// Merges events with `seq` in `($1, $2]` into the rollup.
const MERGE_SQL: &str = "INSERT INTO event_days \
     (user_id, course_id, type, day, n, value_sum, value_max, first_ts_ms, last_ts_ms) \
     SELECT user_id, course_id, type, ts_ms / 86400000, COUNT(*), COALESCE(SUM(value), 0.0), \
     COALESCE(MAX(value), 0.0), MIN(ts_ms), MAX(ts_ms) \
     FROM events WHERE seq > $1 AND seq <= $2 GROUP BY user_id, course_id, type, ts_ms / 86400000 \
     ON CONFLICT (user_id, course_id, type, day) DO UPDATE SET \
     n = event_days.n + excluded.n, value_sum = event_days.value_sum + excluded.value_sum, ";

/// The rollup's cells plus the cells of the events after its watermark, read
/// in one statement (one snapshot). A cell can come twice, once from each
/// side; readers add them up.
const READ_SQL: &str =
    "SELECT user_id, course_id, type, day, n, value_sum, value_max, first_ts_ms, last_ts_ms \
     FROM event_days UNION ALL \
     SELECT user_id, course_id, type, ts_ms / 86400000, COUNT(*), COALESCE(SUM(value), 0.0), \
     COALESCE(MAX(value), 0.0), MIN(ts_ms), MAX(ts_ms) FROM events \
     WHERE seq > (SELECT seq FROM rollup_state WHERE id = 1) \
     GROUP BY user_id, course_id, type, ts_ms / 86400000";

/// One cell: events of one type by one learner on one course on one UTC day.
/// `value_sum` counts a missing value as 0; `value_max` is 0 when none has one.
#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct DayCell {
    pub user_id: String,
    pub course_id: String,
    #[sqlx(rename = "type")]
    pub kind: String,
    /// Days since the Unix epoch (`ts_ms / 86_400_000`).
    pub day: i64,
    pub n: i64,
    pub value_sum: f64,
    pub value_max: f64,
    pub first_ts_ms: i64,
    pub last_ts_ms: i64,
}

/// What one compaction merged.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Compaction {
    /// Cells inserted or updated (0 when the rollup was current).
    pub cells: u64,
    /// The watermark after it: every event with a lower or equal `seq` is in the rollup.
    pub seq: i64,
}

impl Store {
    /// Merges the events stored since the last compaction into the rollup
    /// and moves the watermark, in one transaction; safe to run from several
    /// replicas at once (they queue on the watermark row).
    pub async fn compact_events(&self) -> sqlx::Result<Compaction> {
        let tail = match self {
            Store::Postgres(p) => {
                let high: i64 = guarded_tx!(p, tx => {
                    sqlx::query("SELECT pg_advisory_xact_lock($1)").bind(INGEST_LOCK).execute(&mut *tx).await?;
                    sqlx::query_scalar("SELECT COALESCE(MAX(seq), 0) FROM events").fetch_one(&mut *tx).await?
                })?;
                guarded_tx!(p, tx => {
                    let low: i64 = sqlx::query_scalar("SELECT seq FROM rollup_state WHERE id = 1 FOR UPDATE")
                        .fetch_one(&mut *tx)
                        .await?;
                    // Another replica may have compacted past our mark meanwhile.
                    if high > low {
                        let cells = sqlx::query(&merge_sql("GREATEST", "LEAST"))
                            .bind(low)
                            .bind(high)
                            .execute(&mut *tx)
                            .await?
                            .rows_affected();
                        sqlx::query("UPDATE rollup_state SET seq = $1 WHERE id = 1").bind(high).execute(&mut *tx).await?;
                        Compaction { cells, seq: high }
                    } else {
                        Compaction { cells: 0, seq: low }
                    }
                })?
            }
            Store::Sqlite(p) => guarded_tx!(p, tx => {
                // Write first: the transaction then holds the single writer
                // lock, and nothing can commit below the high mark.
                sqlx::query("UPDATE rollup_state SET seq = seq WHERE id = 1").execute(&mut *tx).await?;
                let low: i64 = sqlx::query_scalar("SELECT seq FROM rollup_state WHERE id = 1")
                    .fetch_one(&mut *tx)
                    .await?;
                let high: i64 = sqlx::query_scalar("SELECT COALESCE(MAX(seq), 0) FROM events")
                    .fetch_one(&mut *tx)
                    .await?;
                let cells = if high > low {
                    sqlx::query(&merge_sql("MAX", "MIN"))
                        .bind(low)
                        .bind(high)
                        .execute(&mut *tx)
                        .await?
                        .rows_affected()
                } else {
                    0
                };
                sqlx::query("UPDATE rollup_state SET seq = $1 WHERE id = 1").bind(high.max(low)).execute(&mut *tx).await?;
                Compaction { cells, seq: high.max(low) }
            })?,
        };
        Ok(tail)
    }

    /// Streams every cell of the log (the rollup plus the events after its
    /// watermark, in one snapshot) to `each`. A cell may come twice.
    pub async fn read_event_days(&self, mut each: impl FnMut(DayCell)) -> sqlx::Result<()> {
        on_pool!(self, p => {
            let mut rows = sqlx::query_as::<_, DayCell>(READ_SQL).fetch(p);
            while let Some(r) = rows.try_next().await? {
                each(r);
            }
            Ok(())
        })
    }

    /// The rollup's watermark (0 before the first compaction).
    pub async fn rollup_seq(&self) -> sqlx::Result<i64> {
        on_pool!(self, p => sqlx::query_scalar("SELECT seq FROM rollup_state WHERE id = 1").fetch_one(p).await)
    }
}

/// The merge of `($1, $2]` in a dialect whose two-argument max and min
/// are `max` and `min`.
fn merge_sql(max: &str, min: &str) -> String {
    format!(
        "{MERGE_SQL}value_max = {max}(event_days.value_max, excluded.value_max), \
         first_ts_ms = {min}(event_days.first_ts_ms, excluded.first_ts_ms), \
         last_ts_ms = {max}(event_days.last_ts_ms, excluded.last_ts_ms)"
    )
}
