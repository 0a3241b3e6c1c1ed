//! Bulk loading for `courserec import`. On Postgres each chunk claims its
//! event ids in one statement, then COPYs the rows whose ids it claimed
//! (and those without an id) straight into the partitioned log, which
//! routes and inserts them in batches per partition. SQLite takes plain
//! batched inserts.

use std::collections::HashSet;
use std::fmt::Write as _;

use super::{now_ms, Store};
use crate::domain::Event;

/// The log's columns a COPY fills, in the order [`copy_row`] writes them.
const COPY_EVENTS: &str =
    "COPY events (event_id, user_id, course_id, type, value, ts_ms, rec_id, received_ms) FROM STDIN";

/// Appends `s` as a field of COPY's text format: a backslash is the only
/// character an id can hold that needs escaping (ids have no control
/// characters), so an id spelled `\N` stays an id rather than NULL.
fn copy_text(out: &mut String, s: &str) {
    for c in s.chars() {
        if c == '\\' {
            out.push('\\');
        }
        out.push(c);
    }
}

/// Appends one row of [`COPY_EVENTS`] in COPY's text format.
fn copy_row(out: &mut String, e: &Event, received_ms: i64) {
    let opt = |out: &mut String, s: Option<&str>| match s {
        Some(s) => copy_text(out, s),
        None => out.push_str("\\N"),
    };
    opt(out, e.event_id.as_deref());
    out.push('\t');
    copy_text(out, &e.user_id);
    out.push('\t');
    copy_text(out, &e.course_id);
    out.push('\t');
    out.push_str(e.kind.as_str());
    out.push('\t');
    match e.value {
        Some(v) => write!(out, "{v}").expect("writing to a String"),
        None => out.push_str("\\N"),
    }
    write!(out, "\t{}\t", e.ts_ms).expect("writing to a String");
    opt(out, e.rec_id.as_deref());
    writeln!(out, "\t{received_ms}").expect("writing to a String");
}

impl Store {
    /// Stores `events` in one transaction; returns how many were new. An
    /// id seen twice in `events` counts once (its first row). An id stored
    /// earlier with another body (user, course, type, value) fails the
    /// whole chunk, naming it: an import never drops such a row in silence.
    pub async fn bulk_insert_events(&self, events: &[Event]) -> anyhow::Result<usize> {
        if events.is_empty() {
            return Ok(0);
        }
        let Store::Postgres(pool) = self else {
            let out = self.insert_events(events, &[]).await?;
            return match conflict_error(&out.conflicts) {
                Some(e) => Err(e),
                None => Ok(out.inserted),
            };
        };
        let received = now_ms();
        // The first row of each id. Ids are claimed in byte order: imports
        // merge chunks on two connections, and two merges that claim the
        // same ids in one order cannot deadlock.
        let mut first: Vec<(&str, i64, i64)> = Vec::with_capacity(events.len());
        let mut seen = HashSet::with_capacity(events.len());
        for e in events {
            if let Some(id) = e.event_id.as_deref() {
                if seen.insert(id) {
                    first.push((id, e.ts_ms, e.body_hash()));
                }
            }
        }
        first.sort_unstable();
        let ids: Vec<&str> = first.iter().map(|f| f.0).collect();
        let times: Vec<i64> = first.iter().map(|f| f.1).collect();
        let hashes: Vec<i64> = first.iter().map(|f| f.2).collect();
        // As in `guarded_tx`: a connection that failed mid-write is closed.
        let mut conn = pool.acquire().await?;
        let merged = async {
            let mut tx = sqlx::Connection::begin(&mut *conn).await?;
            sqlx::query("SELECT pg_advisory_xact_lock_shared($1)")
                .bind(super::rollup::INGEST_LOCK)
                .execute(&mut *tx)
                .await?;
            let claimed: Vec<String> = if ids.is_empty() {
                Vec::new()
            } else {
                sqlx::query_scalar(
                    "INSERT INTO event_ids (event_id, ts_ms, body_hash) \
                     SELECT * FROM unnest($1::text[], $2::bigint[], $3::bigint[]) \
                     ON CONFLICT (event_id) DO NOTHING RETURNING event_id",
                )
                .bind(&ids)
                .bind(&times)
                .bind(&hashes)
                .fetch_all(&mut *tx)
                .await?
            };
            let mut claimed: HashSet<&str> = claimed.iter().map(String::as_str).collect();
            // Ids stored before: the same body is a duplicate, another one
            // a conflict that fails the chunk (rolled back on return).
            let taken: Vec<(&str, i64)> = first
                .iter()
                .filter(|f| !claimed.contains(f.0))
                .map(|f| (f.0, f.2))
                .collect();
            if !taken.is_empty() {
                let stored: Vec<(String, Option<i64>)> =
                    sqlx::query_as("SELECT event_id, body_hash FROM event_ids WHERE event_id = ANY($1)")
                        .bind(taken.iter().map(|t| t.0).collect::<Vec<_>>())
                        .fetch_all(&mut *tx)
                        .await?;
                let stored: std::collections::HashMap<String, Option<i64>> = stored.into_iter().collect();
                let conflicts: HashSet<String> = taken
                    .iter()
                    .filter(|(id, h)| stored.get(*id).is_some_and(|s| s.is_some_and(|s| s != *h)))
                    .map(|(id, _)| id.to_string())
                    .collect();
                if !conflicts.is_empty() {
                    return Ok::<_, sqlx::Error>(Err(conflicts));
                }
            }
            let mut data = String::with_capacity(events.len() * 96);
            let mut rows = 0usize;
            for e in events {
                // `remove`: a repeated id's later rows find it gone.
                if e.event_id.as_deref().is_none_or(|id| claimed.remove(id)) {
                    copy_row(&mut data, e, received);
                    rows += 1;
                }
            }
            if rows > 0 {
                let mut copy = tx.copy_in_raw(COPY_EVENTS).await?;
                copy.send(data.into_bytes()).await?;
                copy.finish().await?;
            }
            tx.commit().await?;
            Ok::<_, sqlx::Error>(Ok(rows))
        }
        .await;
        if merged.is_err() {
            conn.close_on_drop();
        }
        match merged? {
            Ok(rows) => Ok(rows),
            Err(conflicts) => Err(conflict_error(&conflicts).expect("not empty")),
        }
    }
}

/// The error for ids stored earlier with another body.
fn conflict_error(conflicts: &HashSet<String>) -> Option<anyhow::Error> {
    let mut ids: Vec<&String> = conflicts.iter().collect();
    ids.sort();
    let first = ids.first()?;
    Some(anyhow::anyhow!(
        "{} event_id(s) already stored with another event, e.g. {first:?}: nothing of this chunk was stored",
        ids.len()
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::EventType;

    #[test]
    fn copy_rows_escape_backslashes_and_mark_nulls() {
        let e = Event {
            event_id: Some("a\\N".into()),
            user_id: "\\N".into(),
            course_id: "c 1".into(),
            kind: EventType::Watch,
            value: Some(0.25),
            ts_ms: 1_700_000_000_000,
            rec_id: None,
        };
        let mut out = String::new();
        copy_row(&mut out, &e, 7);
        assert_eq!(out, "a\\\\N\t\\\\N\tc 1\twatch\t0.25\t1700000000000\t\\N\t7\n");
    }
}
