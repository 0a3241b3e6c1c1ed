//! Raw-log housekeeping: monthly partitions created ahead of time on
//! Postgres, and retention, which drops raw events older than a cutoff once
//! the rollup holds them. SQLite keeps one table and deletes rows.

use chrono::NaiveDate;

use super::{guarded_tx, on_pool, Store};
use crate::domain::{day_start_ms, month_start, DAY_MS};

/// Advisory lock key serialising partition DDL across replicas.
const PARTITION_LOCK: i64 = 0x636f_7572_7370; // "coursp"

/// What one retention pass removed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Expired {
    /// Monthly partitions dropped whole (Postgres).
    pub partitions: u64,
    /// Rows deleted one by one (SQLite, and Postgres's default partition).
    pub rows: u64,
}

/// Unix ms at the start of the month after `m`.
fn month_end_ms(m: NaiveDate) -> i64 {
    day_start_ms(m.checked_add_months(chrono::Months::new(1)).expect("in range"))
}

/// The month of a partition named `events_YYYY_MM`.
fn partition_month(name: &str) -> Option<NaiveDate> {
    let rest = name.strip_prefix("events_")?;
    let (y, m) = rest.split_once('_')?;
    NaiveDate::from_ymd_opt(y.parse().ok()?, m.parse().ok()?, 1)
}

/// Rows deleted per transaction by retention.
const BATCH: i64 = 20_000;

/// Event ids are kept this much longer than their events (31 days, ms).
const ID_GRACE_MS: i64 = 31 * DAY_MS;

/// Longest wait for a lock on the event log in partition upkeep: past it
/// the pass gives up (and retries next time) instead of queueing ingest
/// behind itself for long.
const LOCK_TIMEOUT: &str = "SET LOCAL lock_timeout = '5s'";

/// The names of the log's monthly partitions (`events_YYYY_MM`), oldest
/// first; the default partition is not among them.
async fn monthly_partitions(p: &sqlx::PgPool) -> sqlx::Result<Vec<String>> {
    let mut names: Vec<String> = sqlx::query_scalar(
        "SELECT c.relname::text FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid \
         WHERE i.inhparent = 'events'::regclass",
    )
    .fetch_all(p)
    .await?;
    names.retain(|n| partition_month(n).is_some());
    names.sort();
    Ok(names)
}

/// Drops the monthly partitions wholly before `cutoff_ms` that hold no
/// event above the watermark. The parent is locked first (ingest locks the
/// parent, then a partition, so this order cannot deadlock with it): an
/// insert in flight finishes before the check, so its rows are seen as
/// pending, and a training's read, which holds the parent shared for its
/// whole snapshot, never loses a partition midway.
async fn drop_expired_months(p: &sqlx::PgPool, cutoff_ms: i64) -> sqlx::Result<u64> {
    let expired: Vec<String> = monthly_partitions(p)
        .await?
        .into_iter()
        .filter(|n| partition_month(n).is_some_and(|m| month_end_ms(m) <= cutoff_ms))
        .collect();
    if expired.is_empty() {
        return Ok(0);
    }
    guarded_tx!(p, tx => {
        sqlx::query("SELECT pg_advisory_xact_lock($1)").bind(PARTITION_LOCK).execute(&mut *tx).await?;
        sqlx::query(LOCK_TIMEOUT).execute(&mut *tx).await?;
        sqlx::query("LOCK TABLE events IN ACCESS EXCLUSIVE MODE").execute(&mut *tx).await?;
        // Not FOR UPDATE: a compaction holding that row waits for this lock.
        let mark: i64 = sqlx::query_scalar("SELECT seq FROM rollup_state WHERE id = 1").fetch_one(&mut *tx).await?;
        let mut dropped = 0;
        for name in expired {
            // Names matched events_YYYY_MM, so they need no quoting; one
            // dropped by another replica meanwhile is skipped.
            let exists: bool = sqlx::query_scalar("SELECT to_regclass($1) IS NOT NULL")
                .bind(&name)
                .fetch_one(&mut *tx)
                .await?;
            if !exists {
                continue;
            }
            let pending: bool = sqlx::query_scalar(&format!("SELECT EXISTS (SELECT 1 FROM {name} WHERE seq > $1)"))
                .bind(mark)
                .fetch_one(&mut *tx)
                .await?;
            if !pending {
                sqlx::query(&format!("DROP TABLE {name}")).execute(&mut *tx).await?;
                dropped += 1;
            }
        }
        dropped
    })
}

impl Store {
    /// Creates the monthly partitions from `from_ms`'s month to `to_ms`'s,
    /// moving rows of those months out of the default partition; returns how
    /// many it created. A no-op on SQLite.
    pub async fn ensure_event_months(&self, from_ms: i64, to_ms: i64) -> sqlx::Result<u64> {
        let Store::Postgres(p) = self else {
            return Ok(0);
        };
        let mut months = Vec::new();
        let mut m = month_start(from_ms);
        while m <= month_start(to_ms) {
            months.push(m);
            m = m.checked_add_months(chrono::Months::new(1)).expect("in range");
        }
        guarded_tx!(p, tx => {
            sqlx::query("SELECT pg_advisory_xact_lock($1)").bind(PARTITION_LOCK).execute(&mut *tx).await?;
            sqlx::query(LOCK_TIMEOUT).execute(&mut *tx).await?;
            let mut created = 0;
            for m in &months {
                let new: bool = sqlx::query_scalar("SELECT courserec_add_event_month($1::date)")
                    .bind(m.to_string())
                    .fetch_one(&mut *tx)
                    .await?;
                created += u64::from(new);
            }
            created
        })
    }

    /// Drops raw events with `ts_ms < cutoff_ms` whose sequence number is at
    /// or below the rollup's watermark, so their contribution stays in
    /// `event_days`. On Postgres a month is dropped whole when all of it is
    /// older than the cutoff and compacted; a month with uncompacted rows
    /// waits for the next pass. Other rows go in batches of [`BATCH`], each
    /// its own transaction, so no writer waits behind a long delete. Also
    /// forgets the ids of events a month older than the cutoff: ingest
    /// refuses events older than the cutoff, so none can come back (the
    /// month covers replicas whose clocks or cutoffs lag).
    pub async fn expire_events_before(&self, cutoff_ms: i64) -> sqlx::Result<Expired> {
        let mut out = Expired::default();
        if let Store::Postgres(p) = self {
            out.partitions = drop_expired_months(p, cutoff_ms).await?;
        }
        let (rows_sql, ids_sql) = match self {
            Store::Postgres(_) => (
                "DELETE FROM events_default WHERE ctid IN (SELECT ctid FROM events_default \
                 WHERE ts_ms < $1 AND seq <= (SELECT seq FROM rollup_state WHERE id = 1) LIMIT $2)",
                Some(
                    "DELETE FROM event_ids WHERE event_id IN \
                      (SELECT event_id FROM event_ids WHERE ts_ms < $1 LIMIT $2)",
                ),
            ),
            Store::Sqlite(_) => (
                "DELETE FROM events WHERE seq IN (SELECT seq FROM events \
                 WHERE ts_ms < $1 AND seq <= (SELECT seq FROM rollup_state WHERE id = 1) LIMIT $2)",
                None,
            ),
        };
        loop {
            let n = on_pool!(self, p => sqlx::query(rows_sql).bind(cutoff_ms).bind(BATCH).execute(p).await?.rows_affected());
            out.rows += n;
            if n < BATCH as u64 {
                break;
            }
        }
        if let Some(sql) = ids_sql {
            let ids_cutoff = cutoff_ms - ID_GRACE_MS;
            while on_pool!(self, p => sqlx::query(sql).bind(ids_cutoff).bind(BATCH).execute(p).await?.rows_affected())
                == BATCH as u64
            {}
        }
        Ok(out)
    }

    /// The event log's monthly partitions, oldest first (empty on SQLite).
    pub async fn event_months(&self) -> sqlx::Result<Vec<String>> {
        let Store::Postgres(p) = self else {
            return Ok(Vec::new());
        };
        monthly_partitions(p).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn months_and_partition_names() {
        // 2026-02-15T00:00:00Z
        let m = month_start(1_771_113_600_000);
        assert_eq!(m, NaiveDate::from_ymd_opt(2026, 2, 1).unwrap());
        // 2026-03-01T00:00:00Z
        assert_eq!(month_end_ms(m), 1_772_323_200_000);
        assert_eq!(partition_month("events_2026_02"), Some(m));
        assert_eq!(partition_month("events_default"), None);
        assert_eq!(month_start(-1), NaiveDate::from_ymd_opt(1969, 12, 1).unwrap());
    }
}
