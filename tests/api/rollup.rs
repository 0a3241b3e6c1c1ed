//! The interactions rollup is exact: compaction with a watermark on the
//! event sequence never misses or double-counts an event, under duplicate
//! event ids, refunds, erasure and ingest running beside it.

use std::collections::BTreeMap;

use courserec::domain::AggView;
use courserec::retrain::days::DayData;
use serde_json::{json, Value};

use crate::both_backends;
use crate::helpers::TestApp;

const DAY_MS: i64 = 86_400_000;

/// (user, course, type, day) → (count, value sum, first ts, last ts).
type Cells = BTreeMap<(String, String, String, i32), (u32, f64, i64, i64)>;

pub(crate) async fn rollup_cells(app: &TestApp) -> Cells {
    let mut d = DayData::default();
    app.store.read_event_days(&mut d).await.unwrap();
    d.finish();
    d.rows
        .iter()
        .map(|c| {
            let key = (
                d.user_ids[c.user as usize].clone(),
                d.course_ids[c.course as usize].clone(),
                c.kind.as_str().to_string(),
                c.day,
            );
            let sum = (f64::from(c.value_sum) * 1e4).round() / 1e4;
            (key, (c.count, sum, c.first_ts_ms(), c.last_ts_ms()))
        })
        .collect()
}

/// The cells computed here from the events as sent (first copy of an id wins).
pub(crate) fn expected_cells(events: &[Value]) -> Cells {
    let mut seen = std::collections::HashSet::new();
    let mut out = Cells::new();
    for e in events {
        if let Some(id) = e["event_id"].as_str() {
            if !seen.insert(id.to_string()) {
                continue;
            }
        }
        let ts = chrono::DateTime::parse_from_rfc3339(e["ts"].as_str().unwrap())
            .unwrap()
            .timestamp_millis();
        let key = (
            e["user_id"].as_str().unwrap().to_string(),
            e["course_id"].as_str().unwrap().to_string(),
            e["type"].as_str().unwrap().to_string(),
            (ts / DAY_MS) as i32,
        );
        let v = e["value"].as_f64().unwrap_or(0.0);
        let c = out.entry(key).or_insert((0, 0.0, i64::MAX, i64::MIN));
        c.0 += 1;
        c.1 = ((c.1 + v) * 1e4).round() / 1e4;
        c.2 = c.2.min(ts);
        c.3 = c.3.max(ts);
    }
    out
}

pub(crate) fn event(i: usize, user: &str, course: &str, kind: &str, day: i64, value: Option<f64>) -> Value {
    let ts = (20_000 + day) * DAY_MS + (i as i64 * 7_919) % DAY_MS;
    let ts = chrono::DateTime::from_timestamp_millis(ts)
        .unwrap()
        .to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
    let mut e =
        json!({"user_id": user, "course_id": course, "type": kind, "ts": ts, "event_id": format!("e{i}")});
    if let Some(v) = value {
        e["value"] = json!(v);
    }
    e
}

async fn post(app: &TestApp, events: &[Value]) {
    let r = app.post_json("/events", &json!({ "events": events })).await;
    assert_eq!(r.status(), 202, "{}", r.text().await.unwrap());
}

async fn compaction_is_exact_under_duplicates_refunds_and_erasure(app: TestApp) {
    let mut sent = Vec::new();
    for (i, (user, course, kind, day, value)) in [
        ("ann", "rust", "view", 0, None),
        ("ann", "rust", "view", 0, None),
        ("ann", "rust", "watch", 0, Some(0.25)),
        ("ann", "rust", "watch", 1, Some(0.5)),
        ("ann", "rust", "purchase", 1, None),
        ("bob", "go", "view", 0, None),
        ("bob", "go", "rating", 2, Some(4.0)),
    ]
    .into_iter()
    .enumerate()
    {
        sent.push(event(i, user, course, kind, day, value));
    }
    post(&app, &sent).await;
    // Sent again: idempotent ingest stores none of them twice.
    post(&app, &sent[..3]).await;
    assert_eq!(
        rollup_cells(&app).await,
        expected_cells(&sent),
        "before any compaction"
    );

    let first = app.store.compact_events().await.unwrap();
    assert!(first.cells > 0);
    assert_eq!(app.store.rollup_seq().await.unwrap(), first.seq);
    assert_eq!(rollup_cells(&app).await, expected_cells(&sent), "all compacted");
    // Nothing new: a second compaction is a no-op.
    assert_eq!(app.store.compact_events().await.unwrap().cells, 0);

    // The same cells again (a second watch on day 1), a refund, and a
    // duplicate of an already compacted event: the tail merges with the rollup.
    let more = vec![
        event(10, "ann", "rust", "watch", 1, Some(1.0)),
        event(11, "ann", "rust", "refund", 3, None),
        event(4, "ann", "rust", "purchase", 1, None), // e4 replayed as it was
        event(12, "cat", "rust", "view", 3, None),
    ];
    post(&app, &more).await;
    let all: Vec<Value> = sent.iter().chain(&more).cloned().collect();
    assert_eq!(rollup_cells(&app).await, expected_cells(&all), "rollup plus tail");
    app.store.compact_events().await.unwrap();
    let cells = rollup_cells(&app).await;
    assert_eq!(cells, expected_cells(&all), "compacted again");
    let watch = &cells[&("ann".into(), "rust".into(), "watch".into(), 20_001)];
    assert_eq!((watch.0, watch.1), (2, 1.5));

    // Training reads the same thing: the refund un-takes ann's purchase.
    let mut d = DayData::default();
    app.store.read_event_days(&mut d).await.unwrap();
    d.finish();
    assert_eq!(d.n_events(), app.event_count().await);
    let aggs = d.aggregates(courserec::domain::now_ms());
    let raw = app.store.user_aggregates("ann").await.unwrap();
    let mut ann: Vec<AggView> = aggs.filter(|a| a.user_id == "ann").collect();
    ann.sort_by_key(|a| (a.course_id, a.kind.index()));
    let mut raw: Vec<AggView> = raw.iter().map(AggView::from).collect();
    raw.sort_by_key(|a| (a.course_id, a.kind.index()));
    let strip = |v: &[AggView]| {
        v.iter()
            .map(|a| {
                (
                    a.kind,
                    a.count,
                    (a.value_sum * 1e4).round(),
                    a.first_ts_ms,
                    a.last_ts_ms,
                )
            })
            .collect::<Vec<_>>()
    };
    assert_eq!(
        strip(&ann),
        strip(&raw),
        "rolled-up aggregates equal the raw log's"
    );

    // Erasure removes the learner's cells, and compaction cannot bring them back.
    assert_eq!(app.delete("/users/ann").await.status(), 204);
    post(&app, &[event(20, "bob", "go", "view", 4, None)]).await;
    app.store.compact_events().await.unwrap();
    let left = rollup_cells(&app).await;
    assert!(left.keys().all(|k| k.0 != "ann"), "{left:?}");
    let survivors: Vec<Value> = all
        .iter()
        .chain(std::iter::once(&event(20, "bob", "go", "view", 4, None)))
        .filter(|e| e["user_id"] != "ann")
        .cloned()
        .collect();
    assert_eq!(left, expected_cells(&survivors));
}
both_backends!(
    compaction_is_exact,
    compaction_is_exact_under_duplicates_refunds_and_erasure
);

async fn compaction_beside_concurrent_ingest_misses_nothing(app: TestApp) {
    let app = std::sync::Arc::new(app);
    let writers: Vec<_> = (0..4)
        .map(|w| {
            let app = app.clone();
            tokio::spawn(async move {
                let mut sent = Vec::new();
                for b in 0..15 {
                    let batch: Vec<Value> = (0..20)
                        .map(|k| {
                            let i = w * 100_000 + b * 100 + k;
                            event(
                                i,
                                &format!("u{}", i % 13),
                                &format!("c{}", i % 5),
                                "view",
                                (i % 3) as i64,
                                None,
                            )
                        })
                        .collect();
                    post(&app, &batch).await;
                    sent.extend(batch);
                }
                sent
            })
        })
        .collect();
    let compactor = {
        let app = app.clone();
        tokio::spawn(async move {
            for _ in 0..30 {
                app.store.compact_events().await.unwrap();
                tokio::task::yield_now().await;
            }
        })
    };
    let mut sent = Vec::new();
    for w in writers {
        sent.extend(w.await.unwrap());
    }
    compactor.await.unwrap();
    app.store.compact_events().await.unwrap();
    assert_eq!(sent.len(), 4 * 15 * 20);
    assert_eq!(rollup_cells(&app).await, expected_cells(&sent));
    // Everything is in the rollup itself: the tail after the watermark is empty.
    assert_eq!(
        app.store.rollup_seq().await.unwrap(),
        app.store.max_event_seq().await.unwrap()
    );
}
both_backends!(
    compaction_beside_ingest,
    compaction_beside_concurrent_ingest_misses_nothing
);

/// A large rollup is read on two connections, half its heap pages each, on
/// one exported snapshot: the cells are exactly those of one connection,
/// with the tail after the watermark.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rollup_read_on_two_connections_is_exact() {
    let Some(app) = crate::helpers::spawn_app(crate::helpers::Backend::Postgres).await else {
        return;
    };
    let kinds = ["view", "click", "purchase", "watch", "rating"];
    let sent: Vec<Value> = (0..3_000)
        .map(|i| {
            let kind = kinds[i % kinds.len()];
            let value = match kind {
                "watch" => Some(0.25 * (i % 4) as f64),
                "rating" => Some((1 + i % 5) as f64),
                _ => None,
            };
            event(
                i,
                &format!("u{}", i % 97),
                &format!("c{}", i % 31),
                kind,
                (i % 40) as i64,
                value,
            )
        })
        .collect();
    for batch in sent.chunks(500) {
        post(&app, batch).await;
    }
    app.store.compact_events().await.unwrap();
    let tail = [
        event(9_001, "u1", "c1", "view", 41, None),
        event(9_002, "new", "c2", "click", 41, None),
    ];
    post(&app, &tail).await;
    let all: Vec<Value> = sent.iter().chain(&tail).cloned().collect();
    let mut conn = <sqlx::PgConnection as sqlx::Connection>::connect(&app.db_url)
        .await
        .unwrap();
    let pages: i64 = sqlx::query_scalar("SELECT (pg_relation_size('event_days') / 8192)::bigint")
        .fetch_one(&mut conn)
        .await
        .unwrap();
    assert!(pages >= 4, "the rollup spans {pages} pages");

    let mut split = DayData::default();
    app.store.read_event_days_split_from(&mut split, 2).await.unwrap();
    split.finish();
    let mut one = DayData::default();
    app.store
        .read_event_days_split_from(&mut one, i64::MAX)
        .await
        .unwrap();
    one.finish();
    assert_eq!(split.n_events(), all.len() as i64);
    assert_eq!(split.rows.len(), one.rows.len());
    assert_eq!(rollup_cells(&app).await, expected_cells(&all));
    let named = |d: &DayData| -> Vec<(String, String, i32, u32)> {
        let mut v: Vec<_> = d
            .rows
            .iter()
            .map(|c| {
                (
                    d.user_ids[c.user as usize].clone(),
                    d.course_ids[c.course as usize].clone(),
                    c.day,
                    c.count,
                )
            })
            .collect();
        v.sort();
        v
    };
    assert_eq!(named(&split), named(&one), "two connections read what one does");
}
