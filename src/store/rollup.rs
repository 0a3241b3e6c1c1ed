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

use futures::{StreamExt, TryStreamExt};

use super::copy_cells::{copy_cells, CellDecoder};
use super::{guarded_tx, on_pool, Store};
use crate::domain::EventType;

/// Advisory lock key shared by event inserts and taken exclusively by
/// compaction to read a settled sequence number (Postgres only).
pub(super) const INGEST_LOCK: i64 = 0x636f_7572_7365; // "course"

/// Gives a key to every learner and course of the events in `($1, $2]`
/// that has none. `NOT EXISTS` first so no sequence value is spent on ids
/// already keyed (keys stay dense); compaction is their only writer.
/// `collate` is [`PG_COLLATE`] on Postgres, empty on SQLite.
fn key_sql(collate: &str) -> [String; 2] {
    [
        format!(
            "INSERT INTO learner_keys (id) SELECT DISTINCT user_id FROM events e \
             WHERE seq > $1 AND seq <= $2 AND NOT EXISTS (SELECT 1 FROM learner_keys k WHERE k.id = e.user_id{collate}) \
             ON CONFLICT (id) DO NOTHING"
        ),
        format!(
            "INSERT INTO course_keys (id) SELECT DISTINCT course_id FROM events e \
             WHERE seq > $1 AND seq <= $2 AND NOT EXISTS (SELECT 1 FROM course_keys k WHERE k.id = e.course_id{collate}) \
             ON CONFLICT (id) DO NOTHING"
        ),
    ]
}

/// The log's ids compare in byte order (migration 0012) and the key
/// tables' in the database's: compared as they are, the key tables' indexes
/// could not serve the lookup and every compaction would scan them. Both
/// collations are deterministic, so equality is the same either way.
const PG_COLLATE: &str = " COLLATE \"default\"";

/// The rollup's cells plus the cells of the events after its watermark. The
/// reader runs all four in one snapshot; a cell can come twice, once from
/// each side, and readers add them up.
const READ_LEARNERS: &str = "SELECT key, id FROM learner_keys";
const READ_COURSES: &str = "SELECT key, id FROM course_keys";
const READ_CELLS: &str = "SELECT learner_key, course_key, type, day, n, value_sum, value_max, \
     first_ts_ms, last_ts_ms FROM event_days";
const READ_TAIL: &str =
    "SELECT user_id, course_id, type, ts_ms / 86400000 AS day, COUNT(*) AS n, COALESCE(SUM(value), 0.0) AS value_sum, \
     COALESCE(MAX(value), 0.0) AS value_max, MIN(ts_ms) AS first_ts_ms, MAX(ts_ms) AS last_ts_ms FROM events \
     WHERE seq > (SELECT seq FROM rollup_state WHERE id = 1) \
     GROUP BY user_id, course_id, type, ts_ms / 86400000";

/// One cell of the rollup, keyed by the store's integer keys.
#[derive(Debug, Clone, Copy, PartialEq, sqlx::FromRow)]
pub struct KeyedCell {
    pub learner_key: i32,
    pub course_key: i32,
    /// Index in [`crate::domain::EventType::ALL`].
    #[sqlx(rename = "type")]
    pub kind: i16,
    /// Days since the Unix epoch (`ts_ms / 86_400_000`).
    pub day: i32,
    pub n: i64,
    pub value_sum: f64,
    pub value_max: f64,
    pub first_ts_ms: i64,
    pub last_ts_ms: i64,
}

/// One cell of the events after the watermark, with text ids.
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

/// What [`Store::read_event_days`] feeds, in this order: every learner key,
/// every course key, the rollup's cells, then the tail's cells.
pub trait DaySink {
    fn learner(&mut self, key: i32, id: String);
    fn course(&mut self, key: i32, id: String);
    fn cell(&mut self, cell: KeyedCell);
    fn tail(&mut self, cell: DayCell);
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
                        for sql in key_sql(PG_COLLATE) {
                            sqlx::query(&sql).bind(low).bind(high).execute(&mut *tx).await?;
                        }
                        let cells = sqlx::query(&merge_sql("GREATEST", "LEAST", PG_COLLATE))
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
                    for sql in key_sql("") {
                        sqlx::query(&sql).bind(low).bind(high).execute(&mut *tx).await?;
                    }
                    sqlx::query(&merge_sql("MAX", "MIN", ""))
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

    /// Streams the log to `sink` (the key tables, the rollup, then the
    /// events after its watermark), all read in one snapshot: a repeatable-
    /// read transaction on Postgres, a read transaction on SQLite's WAL.
    pub async fn read_event_days(&self, sink: &mut impl DaySink) -> sqlx::Result<()> {
        self.read_event_days_split_from(sink, SPLIT_FROM_PAGES).await
    }

    /// [`Store::read_event_days`], reading the rollup on two Postgres
    /// connections once it has `pages` heap pages (tests force a split of
    /// a small rollup with 0).
    #[doc(hidden)]
    pub async fn read_event_days_split_from(&self, sink: &mut impl DaySink, pages: i64) -> sqlx::Result<()> {
        // Postgres: the log is held shared for the whole read, so retention
        // cannot drop a partition between the rollup and the tail.
        let snapshot: &[&str] = match self {
            Store::Postgres(_) => &[
                "SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY",
                "LOCK TABLE events IN ACCESS SHARE MODE",
            ],
            Store::Sqlite(_) => &[],
        };
        // Key tables and the tail are small; both stores read them alike.
        macro_rules! stream {
            ($tx:ident, $ty:ty, $sql:expr, |$row:pat_param| $body:expr) => {{
                let mut rows = sqlx::query_as::<_, $ty>($sql).fetch(&mut *$tx);
                while let Some($row) = rows.try_next().await? {
                    $body;
                }
            }};
        }
        match self {
            Store::Postgres(p) => {
                let mut tx = p.begin().await?;
                for sql in snapshot {
                    sqlx::query(sql).execute(&mut *tx).await?;
                }
                stream!(tx, (i32, String), READ_LEARNERS, |(key, id)| sink
                    .learner(key, id));
                stream!(tx, (i32, String), READ_COURSES, |(key, id)| sink.course(key, id));
                match second_reader(p, &mut tx, pages).await? {
                    Some((mut other, mid)) => {
                        let low = tx.copy_out_raw(&copy_cells(None..Some(mid))).await?;
                        let high = other.copy_out_raw(&copy_cells(Some(mid)..None)).await?;
                        decode_both(low, Some(high), sink).await?;
                        other.commit().await?;
                    }
                    None => {
                        let all = tx.copy_out_raw(&copy_cells(None..None)).await?;
                        decode_both(all, None::<futures::stream::Empty<_>>, sink).await?;
                    }
                }
                stream!(tx, DayCell, READ_TAIL, |c| sink.tail(c));
                tx.commit().await
            }
            Store::Sqlite(p) => {
                let mut tx = p.begin().await?;
                stream!(tx, (i32, String), READ_LEARNERS, |(key, id)| sink
                    .learner(key, id));
                stream!(tx, (i32, String), READ_COURSES, |(key, id)| sink.course(key, id));
                stream!(tx, KeyedCell, READ_CELLS, |c| sink.cell(c));
                stream!(tx, DayCell, READ_TAIL, |c| sink.tail(c));
                tx.commit().await
            }
        }
    }

    /// The rollup's watermark (0 before the first compaction).
    pub async fn rollup_seq(&self) -> sqlx::Result<i64> {
        on_pool!(self, p => sqlx::query_scalar("SELECT seq FROM rollup_state WHERE id = 1").fetch_one(p).await)
    }
}

/// The merge of `($1, $2]` in a dialect whose two-argument max and min
/// are `max` and `min`.
fn merge_sql(max: &str, min: &str, collate: &str) -> String {
    let code = type_code_sql("e.type");
    // A type this build does not know (written by a newer one) is left in
    // the raw log rather than stopping every compaction on a NULL code.
    let known = EventType::ALL
        .iter()
        .map(|t| format!("'{}'", t.as_str()))
        .collect::<Vec<_>>()
        .join(", ");
    format!(
        "INSERT INTO event_days \
         (learner_key, course_key, type, day, n, value_sum, value_max, first_ts_ms, last_ts_ms) \
         SELECT l.key, c.key, {code}, e.ts_ms / 86400000, COUNT(*), \
         COALESCE(SUM(e.value), 0.0), COALESCE(MAX(e.value), 0.0), MIN(e.ts_ms), MAX(e.ts_ms) \
         FROM events e JOIN learner_keys l ON l.id = e.user_id{collate} JOIN course_keys c ON c.id = e.course_id{collate} \
         WHERE e.seq > $1 AND e.seq <= $2 AND e.type IN ({known}) \
         GROUP BY l.key, c.key, e.type, e.ts_ms / 86400000 \
         ON CONFLICT (learner_key, course_key, type, day) DO UPDATE SET \
         n = event_days.n + excluded.n, value_sum = event_days.value_sum + excluded.value_sum, \
         value_max = {max}(event_days.value_max, excluded.value_max), \
         first_ts_ms = {min}(event_days.first_ts_ms, excluded.first_ts_ms), \
         last_ts_ms = {max}(event_days.last_ts_ms, excluded.last_ts_ms)"
    )
}

/// `CASE <col> WHEN '<name>' THEN <code> ... END`: an event type's name
/// (the log's `type`) as the rollup's code, its index in [`EventType::ALL`].
pub(super) fn type_code_sql(col: &str) -> String {
    let arms: String = EventType::ALL
        .iter()
        .map(|t| format!(" WHEN '{}' THEN {}", t.as_str(), t.index()))
        .collect();
    format!("CASE {col}{arms} END")
}

/// `CASE <col> WHEN <code> THEN '<name>' ... END`: the inverse of [`type_code_sql`].
pub(super) fn type_name_sql(col: &str) -> String {
    let arms: String = EventType::ALL
        .iter()
        .map(|t| format!(" WHEN {} THEN '{}'", t.index(), t.as_str()))
        .collect();
    format!("CASE {col}{arms} END")
}

/// Below this many heap pages (8 MiB) the rollup is read on one connection.
const SPLIT_FROM_PAGES: i64 = 1024;

/// A second read-only transaction on `tx`'s snapshot, and the heap page
/// where its half of the rollup begins; `None` when the rollup has fewer
/// than `split_from_pages` pages or the pool cannot lend a second
/// connection. One backend runs one COPY,
/// and COPY is most of a training's read, so two halves take about half
/// as long (the `pg_dump --jobs` pattern: an exported snapshot).
async fn second_reader(
    p: &sqlx::PgPool,
    tx: &mut sqlx::Transaction<'_, sqlx::Postgres>,
    split_from_pages: i64,
) -> sqlx::Result<Option<(sqlx::Transaction<'static, sqlx::Postgres>, i64)>> {
    if p.options().get_max_connections() < 2 {
        return Ok(None);
    }
    let pages: i64 =
        sqlx::query_scalar("SELECT pg_relation_size('event_days') / current_setting('block_size')::bigint")
            .fetch_one(&mut **tx)
            .await?;
    if pages < split_from_pages.max(2) {
        return Ok(None);
    }
    let id: String = sqlx::query_scalar("SELECT pg_export_snapshot()")
        .fetch_one(&mut **tx)
        .await?;
    if !id.chars().all(|c| c.is_ascii_hexdigit() || c == '-') {
        return Ok(None);
    }
    // The pool's acquire timeout bounds the wait; without a second
    // connection the read is only slower.
    let Ok(mut other) = p.begin().await else {
        return Ok(None);
    };
    sqlx::query("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
        .execute(&mut *other)
        .await?;
    sqlx::query(&format!("SET TRANSACTION SNAPSHOT '{id}'"))
        .execute(&mut *other)
        .await?;
    Ok(Some((other, pages / 2)))
}

/// Feeds the cells of one or two COPY streams to `sink` as their chunks
/// arrive, so both backends keep sending.
async fn decode_both<B: AsRef<[u8]>>(
    a: impl futures::Stream<Item = sqlx::Result<B>>,
    b: Option<impl futures::Stream<Item = sqlx::Result<B>>>,
    sink: &mut impl DaySink,
) -> sqlx::Result<()> {
    let streams = 1 + usize::from(b.is_some());
    let b = futures::stream::iter(b).flatten();
    let mut decoders = [CellDecoder::default(), CellDecoder::default()];
    let tagged = futures::stream::select(a.map_ok(|c| (0, c)), b.map_ok(|c| (1, c)));
    futures::pin_mut!(tagged);
    while let Some((i, chunk)) = tagged.try_next().await? {
        decoders[i]
            .feed(chunk.as_ref(), |c| sink.cell(c))
            .map_err(sqlx::Error::Protocol)?;
    }
    for d in &decoders[..streams] {
        d.finish().map_err(sqlx::Error::Protocol)?;
    }
    Ok(())
}
