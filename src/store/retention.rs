//! Raw-log housekeeping: monthly partitions created ahead of time on
//! Postgres, and retention, which drops raw events older than a cutoff once
//! the rollup holds them. SQLite keeps one table and deletes rows.

use chrono::{Datelike, NaiveDate};

use super::{guarded_tx, Store};

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

/// First day of the UTC month holding `ms`.
fn month_of(ms: i64) -> NaiveDate {
    let d = chrono::DateTime::from_timestamp_millis(ms)
        .unwrap_or_default()
        .date_naive();
    NaiveDate::from_ymd_opt(d.year(), d.month(), 1).expect("day 1 exists")
}

/// Unix ms at the start of the month after `m`.
fn month_end_ms(m: NaiveDate) -> i64 {
    let next = m.checked_add_months(chrono::Months::new(1)).expect("in range");
    next.and_hms_opt(0, 0, 0)
        .expect("midnight")
        .and_utc()
        .timestamp_millis()
}

/// The month of a partition named `events_YYYY_MM`.
fn partition_month(name: &str) -> Option<NaiveDate> {
    let rest = name.strip_prefix("events_")?;
    let (y, m) = rest.split_once('_')?;
    NaiveDate::from_ymd_opt(y.parse().ok()?, m.parse().ok()?, 1)
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
        let mut m = month_of(from_ms);
        while m <= month_of(to_ms) {
            months.push(m);
            m = m.checked_add_months(chrono::Months::new(1)).expect("in range");
        }
        guarded_tx!(p, tx => {
            sqlx::query("SELECT pg_advisory_xact_lock($1)").bind(PARTITION_LOCK).execute(&mut *tx).await?;
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
    /// waits for the next pass. Holds the watermark row, so it runs after
    /// any compaction in flight. Also forgets the ids of expired events:
    /// ingest refuses events older than the cutoff, so none can come back.
    pub async fn expire_events_before(&self, cutoff_ms: i64) -> sqlx::Result<Expired> {
        match self {
            Store::Postgres(p) => guarded_tx!(p, tx => {
                sqlx::query("SELECT pg_advisory_xact_lock($1)").bind(PARTITION_LOCK).execute(&mut *tx).await?;
                let mark: i64 = sqlx::query_scalar("SELECT seq FROM rollup_state WHERE id = 1 FOR UPDATE")
                    .fetch_one(&mut *tx)
                    .await?;
                let parts: Vec<String> = sqlx::query_scalar(
                    "SELECT c.relname::text FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid \
                     WHERE i.inhparent = 'events'::regclass",
                )
                .fetch_all(&mut *tx)
                .await?;
                let mut out = Expired::default();
                for name in parts {
                    let Some(month) = partition_month(&name) else {
                        continue;
                    };
                    if month_end_ms(month) > cutoff_ms {
                        continue;
                    }
                    // `name` matched events_YYYY_MM, so quoting is not needed.
                    let pending: bool =
                        sqlx::query_scalar(&format!("SELECT EXISTS (SELECT 1 FROM {name} WHERE seq > $1)"))
                            .bind(mark)
                            .fetch_one(&mut *tx)
                            .await?;
                    if !pending {
                        sqlx::query(&format!("DROP TABLE {name}")).execute(&mut *tx).await?;
                        out.partitions += 1;
                    }
                }
                out.rows = sqlx::query("DELETE FROM events_default WHERE ts_ms < $1 AND seq <= $2")
                    .bind(cutoff_ms)
                    .bind(mark)
                    .execute(&mut *tx)
                    .await?
                    .rows_affected();
                sqlx::query("DELETE FROM event_ids WHERE ts_ms < $1").bind(cutoff_ms).execute(&mut *tx).await?;
                out
            }),
            Store::Sqlite(p) => guarded_tx!(p, tx => {
                sqlx::query("UPDATE rollup_state SET seq = seq WHERE id = 1").execute(&mut *tx).await?;
                let rows = sqlx::query(
                    "DELETE FROM events WHERE ts_ms < $1 AND seq <= (SELECT seq FROM rollup_state WHERE id = 1)",
                )
                .bind(cutoff_ms)
                .execute(&mut *tx)
                .await?
                .rows_affected();
                Expired { partitions: 0, rows }
            }),
        }
    }

    /// The event log's monthly partitions, oldest first (empty on SQLite).
    pub async fn event_months(&self) -> sqlx::Result<Vec<String>> {
        let Store::Postgres(p) = self else {
            return Ok(Vec::new());
        };
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
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn months_and_partition_names() {
        // 2026-02-15T00:00:00Z
        let m = month_of(1_771_113_600_000);
        assert_eq!(m, NaiveDate::from_ymd_opt(2026, 2, 1).unwrap());
        // 2026-03-01T00:00:00Z
        assert_eq!(month_end_ms(m), 1_772_323_200_000);
        assert_eq!(partition_month("events_2026_02"), Some(m));
        assert_eq!(partition_month("events_default"), None);
        assert_eq!(month_of(-1), NaiveDate::from_ymd_opt(1969, 12, 1).unwrap());
    }
}
