//! The append-only event log: batched idempotent inserts and the aggregates
//! training and profiles read.

use std::collections::{HashMap, HashSet};

use super::rollup::{type_code_sql, type_name_sql};
use super::{guarded_tx, now_ms, on_pool, Store};
use crate::domain::{Event, EventType, TypeAgg, DAY_MS};
use crate::model::ownership::ownership_from_latest;

/// What an insert stored.
#[derive(Debug, Default)]
pub struct InsertOutcome {
    /// Rows written (events whose `event_id` was new, or that had none).
    pub inserted: usize,
    /// The `event_id`s among them.
    pub inserted_ids: HashSet<String>,
    /// Ids stored earlier with another body; when any, nothing was written.
    pub conflicts: HashSet<String>,
}

/// What a replayed event must match: its body fingerprint, and its time
/// when the replay states one (a replay without `ts` is stamped anew).
pub struct Replay<'a> {
    pub event: &'a Event,
    pub ts_given: bool,
}

/// The ids among `replays` whose stored event says something else. `stored`
/// maps an id to its stored fingerprint (`None` for ids claimed before
/// fingerprints were kept) and time.
fn conflicting(replays: &[Replay<'_>], stored: &HashMap<String, (Option<i64>, i64)>) -> HashSet<String> {
    replays
        .iter()
        .filter_map(|r| {
            let id = r.event.event_id.as_ref()?;
            let (hash, ts) = stored.get(id)?;
            let differs =
                hash.is_some_and(|h| h != r.event.body_hash()) || (r.ts_given && *ts != r.event.ts_ms);
            differs.then(|| id.clone())
        })
        .collect()
}

/// SQLite allows 32,766 bound parameters per statement; 9 per row.
const SQLITE_ROWS_PER_STATEMENT: usize = 3_000;

type AggRow = (String, String, i64, f64, f64, i64, i64, i64, i64);

fn agg_from_row(user_id: &str, r: AggRow) -> Option<TypeAgg> {
    Some(TypeAgg {
        user_id: user_id.to_string(),
        course_id: r.0,
        kind: EventType::parse(&r.1)?,
        count: r.2 as u32,
        value_sum: r.3,
        value_max: r.4,
        first_ts_ms: r.5,
        last_ts_ms: r.6,
        count_30d: r.7 as u32,
        count_90d: r.8 as u32,
    })
}

impl Store {
    /// Inserts events in one transaction, one statement per batch (UNNEST on
    /// Postgres); an `event_id` already stored with the same body is skipped
    /// (a duplicate). One stored with another body, or another explicit time
    /// (`ts_given[i]`), is a conflict: then nothing is written and
    /// [`InsertOutcome::conflicts`] names the ids. `events` hold each id once.
    pub async fn insert_events(&self, events: &[Event], ts_given: &[bool]) -> sqlx::Result<InsertOutcome> {
        let received = now_ms();
        let mut out = InsertOutcome::default();
        if events.is_empty() {
            return Ok(out);
        }
        let replays = |claimed: &HashSet<String>| -> Vec<Replay<'_>> {
            events
                .iter()
                .zip(ts_given.iter().chain(std::iter::repeat(&false)))
                .filter(|(e, _)| e.event_id.as_ref().is_some_and(|id| !claimed.contains(id)))
                .map(|(event, &ts_given)| Replay { event, ts_given })
                .collect()
        };
        let (rows, conflicts): (Vec<(Option<String>,)>, HashSet<String>) = match self {
            Store::Postgres(p) => guarded_tx!(p, tx => {
                let col = |f: fn(&Event) -> Option<String>| events.iter().map(f).collect::<Vec<_>>();
                // The shared ingest lock (see `rollup`) is taken before any
                // row, so before any sequence number: no row can be joined
                // without the CTE's one row, and a volatile CTE runs once.
                // Ids are claimed in `event_ids` (the log is partitioned, so
                // it cannot hold a unique index on them).
                let rows: Vec<(Option<String>,)> = sqlx::query_as(
                    "WITH ingest_lock AS (SELECT pg_advisory_xact_lock_shared($9)), \
                     input AS (SELECT DISTINCT ON (e.event_id, CASE WHEN e.event_id IS NULL THEN e.ord END) e.* \
                       FROM ingest_lock, UNNEST($1::text[], $2::text[], $3::text[], $4::text[], $5::float8[], \
                       $6::int8[], $7::text[], $10::int8[]) WITH ORDINALITY \
                       AS e(event_id, user_id, course_id, type, value, ts_ms, rec_id, body_hash, ord) \
                       ORDER BY e.event_id, CASE WHEN e.event_id IS NULL THEN e.ord END, e.ord), \
                     claimed AS (INSERT INTO event_ids (event_id, ts_ms, body_hash) \
                       SELECT event_id, ts_ms, body_hash FROM input WHERE event_id IS NOT NULL \
                       ON CONFLICT (event_id) DO NOTHING RETURNING event_id) \
                     INSERT INTO events (event_id, user_id, course_id, type, value, ts_ms, rec_id, received_ms) \
                     SELECT event_id, user_id, course_id, type, value, ts_ms, rec_id, $8 FROM input \
                     WHERE event_id IS NULL OR event_id IN (SELECT event_id FROM claimed) \
                     ORDER BY ord RETURNING event_id",
                )
                .bind(col(|e| e.event_id.clone()))
                .bind(events.iter().map(|e| e.user_id.clone()).collect::<Vec<_>>())
                .bind(events.iter().map(|e| e.course_id.clone()).collect::<Vec<_>>())
                .bind(events.iter().map(|e| e.kind.as_str()).collect::<Vec<_>>())
                .bind(events.iter().map(|e| e.value).collect::<Vec<_>>())
                .bind(events.iter().map(|e| e.ts_ms).collect::<Vec<_>>())
                .bind(col(|e| e.rec_id.clone()))
                .bind(received)
                .bind(super::rollup::INGEST_LOCK)
                .bind(events.iter().map(Event::body_hash).collect::<Vec<_>>())
                .fetch_all(&mut *tx)
                .await?;
                let claimed: HashSet<String> = rows.iter().filter_map(|(id,)| id.clone()).collect();
                let replays = replays(&claimed);
                let mut conflicts = HashSet::new();
                if !replays.is_empty() {
                    // A statement of its own: under READ COMMITTED it sees an
                    // id a concurrent transaction claimed and committed while
                    // the insert above waited on it.
                    let ids: Vec<&str> = replays.iter().filter_map(|r| r.event.event_id.as_deref()).collect();
                    let stored: Vec<(String, Option<i64>, i64)> = sqlx::query_as(
                        "SELECT event_id, body_hash, ts_ms FROM event_ids WHERE event_id = ANY($1)",
                    )
                    .bind(&ids)
                    .fetch_all(&mut *tx)
                    .await?;
                    let stored = stored.into_iter().map(|(id, h, ts)| (id, (h, ts))).collect();
                    conflicts = conflicting(&replays, &stored);
                }
                if !conflicts.is_empty() {
                    // Leaves without committing: the transaction rolls back.
                    return Ok((Vec::new(), conflicts));
                }
                (rows, conflicts)
            })?,
            Store::Sqlite(p) => guarded_tx!(p, tx => {
                let mut rows = Vec::with_capacity(events.len());
                for chunk in events.chunks(SQLITE_ROWS_PER_STATEMENT) {
                    let mut qb = sqlx::QueryBuilder::<sqlx::Sqlite>::new(
                        "INSERT INTO events (event_id, user_id, course_id, type, value, ts_ms, rec_id, received_ms) ",
                    );
                    qb.push_values(chunk, |mut b, e| {
                        b.push_bind(&e.event_id)
                            .push_bind(&e.user_id)
                            .push_bind(&e.course_id)
                            .push_bind(e.kind.as_str())
                            .push_bind(e.value)
                            .push_bind(e.ts_ms)
                            .push_bind(&e.rec_id)
                            .push_bind(received);
                    });
                    qb.push(" ON CONFLICT (event_id) DO NOTHING RETURNING event_id");
                    let mut got: Vec<(Option<String>,)> = qb.build_query_as().fetch_all(&mut *tx).await?;
                    rows.append(&mut got);
                }
                let claimed: HashSet<String> = rows.iter().filter_map(|(id,)| id.clone()).collect();
                let replays = replays(&claimed);
                let mut stored = HashMap::new();
                for chunk in replays.chunks(SQLITE_ROWS_PER_STATEMENT) {
                    let mut qb = sqlx::QueryBuilder::<sqlx::Sqlite>::new(
                        "SELECT event_id, user_id, course_id, type, value, ts_ms FROM events WHERE event_id IN (",
                    );
                    let mut list = qb.separated(", ");
                    for r in chunk {
                        list.push_bind(r.event.event_id.as_deref());
                    }
                    qb.push(")");
                    type Row = (String, String, String, String, Option<f64>, i64);
                    let got: Vec<Row> = qb.build_query_as().fetch_all(&mut *tx).await?;
                    for (id, user_id, course_id, kind, value, ts_ms) in got {
                        let Some(kind) = EventType::parse(&kind) else { continue };
                        let e = Event { event_id: None, user_id, course_id, kind, value, ts_ms, rec_id: None };
                        stored.insert(id, (Some(e.body_hash()), ts_ms));
                    }
                }
                let conflicts = conflicting(&replays, &stored);
                if !conflicts.is_empty() {
                    // Leaves without committing: the transaction rolls back.
                    return Ok((Vec::new(), conflicts));
                }
                (rows, conflicts)
            })?,
        };
        if !conflicts.is_empty() {
            out.conflicts = conflicts;
            return Ok(out);
        }
        out.inserted = rows.len();
        out.inserted_ids = rows.into_iter().filter_map(|(id,)| id).collect();
        Ok(out)
    }

    pub async fn count_events(&self) -> sqlx::Result<i64> {
        on_pool!(self, p => sqlx::query_scalar("SELECT COUNT(*) FROM events").fetch_one(p).await)
    }

    /// Largest event sequence number stored (0 when none ever was): a cheap
    /// "anything new?" probe. Never below the rollup's watermark, so it does
    /// not go back when retention has dropped the newest raw events.
    pub async fn max_event_seq(&self) -> sqlx::Result<i64> {
        on_pool!(self, p => sqlx::query_scalar(
            "SELECT CASE WHEN a > b THEN a ELSE b END FROM \
             (SELECT COALESCE(MAX(seq), 0) AS a FROM events) x, \
             (SELECT seq AS b FROM rollup_state WHERE id = 1) y",
        )
        .fetch_one(p)
        .await)
    }

    /// Per (course, type) sums of one user's whole history (fold-in and
    /// profiles): the rollup's cells plus the events after its watermark,
    /// in one statement, so it holds after retention drops raw events. As in
    /// training, the 30- and 90-day counts take a rolled-up day whole when
    /// its last event is inside the window.
    pub async fn user_aggregates(&self, user_id: &str) -> sqlx::Result<Vec<TypeAgg>> {
        let now = now_ms();
        let sql = format!(
            "WITH cells AS (\
             SELECT c.id AS course_id, {} AS type, d.n, d.value_sum, d.value_max, d.first_ts_ms, d.last_ts_ms \
             FROM event_days d JOIN course_keys c ON c.key = d.course_key \
             WHERE d.learner_key = (SELECT key FROM learner_keys WHERE id = $3) \
             UNION ALL \
             SELECT course_id, type, 1, COALESCE(value, 0.0), COALESCE(value, 0.0), ts_ms, ts_ms FROM events \
             WHERE user_id = $3 AND seq > (SELECT seq FROM rollup_state WHERE id = 1)) \
             SELECT course_id, type, CAST(SUM(n) AS BIGINT), SUM(value_sum), MAX(value_max), \
             MIN(first_ts_ms), MAX(last_ts_ms), \
             CAST(SUM(CASE WHEN last_ts_ms > $1 THEN n ELSE 0 END) AS BIGINT), \
             CAST(SUM(CASE WHEN last_ts_ms > $2 THEN n ELSE 0 END) AS BIGINT) \
             FROM cells GROUP BY course_id, type",
            type_name_sql("d.type")
        );
        on_pool!(self, p => {
            let rows: Vec<AggRow> = sqlx::query_as(&sql)
                .bind(now - 30 * DAY_MS)
                .bind(now - 90 * DAY_MS)
                .bind(user_id)
                .fetch_all(p)
                .await?;
            Ok(rows.into_iter().filter_map(|r| agg_from_row(user_id, r)).collect())
        })
    }

    /// Users with events after sequence number `seq` (newer than a snapshot).
    pub async fn users_with_events_after(&self, seq: i64) -> sqlx::Result<Vec<String>> {
        on_pool!(self, p => {
            sqlx::query_scalar("SELECT DISTINCT user_id FROM events WHERE seq > $1").bind(seq).fetch_all(p).await
        })
    }

    /// Users with events after `seq`, and the new high-water mark: the
    /// highest `seq` among those received before `settled_ms`. Sequence
    /// numbers are taken at insert but become visible at commit, so a
    /// lower one can appear after a higher one; the mark trails by the
    /// settle time so such late rows are still seen.
    /// Each user comes with the receipt time of their newest such event.
    pub async fn users_with_events_since(
        &self,
        seq: i64,
        settled_ms: i64,
    ) -> sqlx::Result<(Vec<(String, i64)>, i64)> {
        let (users, high): (Vec<(String, i64)>, Option<i64>) = on_pool!(self, p => {
            let users = sqlx::query_as("SELECT user_id, MAX(received_ms) FROM events WHERE seq > $1 GROUP BY user_id")
                .bind(seq)
                .fetch_all(p)
                .await?;
            let high = sqlx::query_scalar("SELECT MAX(seq) FROM events WHERE seq > $1 AND received_ms < $2")
                .bind(seq)
                .bind(settled_ms)
                .fetch_one(p)
                .await?;
            (users, high)
        });
        Ok((users, high.unwrap_or(seq)))
    }

    /// Whether `course` counts as taken now (owned by
    /// [`crate::model::ownership`], or rated) for every user with a
    /// purchase, refund or rating of it after sequence number `seq`, from
    /// their whole history of that course: a refund newer than a snapshot
    /// un-takes what the snapshot says was taken.
    pub async fn taken_changes_after(&self, course: &str, seq: i64) -> sqlx::Result<HashMap<String, bool>> {
        type Row = (String, Option<i64>, Option<i64>, i64);
        let (purchase, refund, rating) = (
            EventType::Purchase.index(),
            EventType::Refund.index(),
            EventType::Rating.index(),
        );
        let code = type_code_sql("type");
        // The history comes from the rollup plus the events after its
        // watermark, so it holds after retention drops raw events.
        let sql = format!(
            "WITH changed AS (SELECT DISTINCT user_id FROM events WHERE course_id = $1 AND seq > $2 \
               AND type IN ('purchase', 'refund', 'rating')), \
             cells AS (\
               SELECT l.id AS user_id, d.type AS code, d.last_ts_ms, d.n \
               FROM event_days d JOIN learner_keys l ON l.key = d.learner_key \
               WHERE d.course_key = (SELECT key FROM course_keys WHERE id = $1) \
               AND d.type IN ({purchase}, {refund}, {rating}) AND l.id IN (SELECT user_id FROM changed) \
               UNION ALL \
               SELECT user_id, {code}, ts_ms, 1 FROM events \
               WHERE course_id = $1 AND seq > (SELECT seq FROM rollup_state WHERE id = 1) \
               AND type IN ('purchase', 'refund', 'rating') AND user_id IN (SELECT user_id FROM changed)) \
             SELECT user_id, MAX(CASE WHEN code = {purchase} THEN last_ts_ms END), \
             MAX(CASE WHEN code = {refund} THEN last_ts_ms END), \
             CAST(SUM(CASE WHEN code = {rating} THEN n ELSE 0 END) AS BIGINT) \
             FROM cells GROUP BY user_id"
        );
        let rows: Vec<Row> = on_pool!(self, p => {
            sqlx::query_as(&sql).bind(course).bind(seq).fetch_all(p).await
        })?;
        Ok(rows
            .into_iter()
            .map(|(u, bought, refunded, rated)| {
                (u, rated > 0 || ownership_from_latest(bought, refunded, 0).owned)
            })
            .collect())
    }
}
