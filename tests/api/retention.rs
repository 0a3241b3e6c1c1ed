//! Retention: raw events older than the cutoff are dropped (whole monthly
//! partitions on Postgres) only once the rollup holds them, so training,
//! fold-in and profiles keep their history; ingest refuses expired events.

use courserec::domain::{now_ms, retention_cutoff_ms};
use courserec::housekeeping;
use courserec::metrics::Metrics;
use courserec::retrain::days::DayData;
use serde_json::{json, Value};

use crate::both_backends;
use crate::helpers::{spawn_app_with, Backend, TestApp};

const DAY_MS: i64 = 86_400_000;

fn rfc3339(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .unwrap()
        .to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

fn event(id: &str, user: &str, course: &str, kind: &str, ts_ms: i64) -> Value {
    json!({"event_id": id, "user_id": user, "course_id": course, "type": kind, "ts": rfc3339(ts_ms)})
}

async fn post(app: &TestApp, events: &[Value]) {
    let r = app.post_json("/events", &json!({ "events": events })).await;
    assert_eq!(r.status(), 202, "{}", r.text().await.unwrap());
}

/// Every cell training would read, as sorted text rows.
async fn cells(app: &TestApp) -> Vec<String> {
    let mut d = DayData::default();
    app.store.read_event_days(&mut d).await.unwrap();
    d.finish();
    let mut out: Vec<String> = d
        .rows
        .iter()
        .map(|c| {
            format!(
                "{} {} {} {} {} {} {}",
                d.user_ids[c.user as usize],
                d.course_ids[c.course as usize],
                c.kind.as_str(),
                c.day,
                c.count,
                c.first_ts_ms(),
                c.last_ts_ms()
            )
        })
        .collect();
    out.sort();
    out
}

async fn history(app: &TestApp, user: &str) -> Vec<String> {
    let mut out: Vec<String> = app
        .store
        .user_aggregates(user)
        .await
        .unwrap()
        .iter()
        .map(|a| {
            format!(
                "{} {} {} {} {}",
                a.course_id,
                a.kind.as_str(),
                a.count,
                a.first_ts_ms,
                a.last_ts_ms
            )
        })
        .collect();
    out.sort();
    out
}

async fn expired_events_leave_the_rollup_whole(app: TestApp) {
    let now = now_ms();
    let cutoff = retention_cutoff_ms(now, 1).unwrap();
    // Before any monthly partition (the default one on Postgres), in a
    // month with its own partition, and recent.
    let ancient = 1_710_072_000_000; // 2024-03-10T12:00:00Z
    let old = cutoff - 150 * DAY_MS;
    let recent = now - 60_000;
    let sent = [
        event("a1", "ann", "rust", "view", ancient),
        event("a2", "ann", "rust", "purchase", old),
        event("a3", "ann", "go", "view", recent),
        event("o1", "olga", "rust", "view", old),
        {
            let mut e = event("o2", "olga", "rust", "rating", old + 1_000);
            e["value"] = json!(4);
            e
        },
        event("b1", "ben", "go", "view", recent),
    ];
    post(&app, &sent).await;
    let before = cells(&app).await;
    let ann_before = history(&app, "ann").await;
    assert_eq!(ann_before.len(), 3, "{ann_before:?}");
    // Not compacted yet: no event may go (empty old months may).
    assert_eq!(app.store.expire_events_before(cutoff).await.unwrap().rows, 0);
    assert_eq!(app.event_count().await, 6);
    let months_before = app.store.event_months().await.unwrap();

    let metrics = Metrics::new();
    let expired = housekeeping::run_once(&app.store, now, 1, &metrics)
        .await
        .unwrap();
    assert_eq!(app.event_count().await, 2, "only the recent events stay raw");
    if app.store.backend() == "postgres" {
        // `old`'s month went whole; `ancient` was a row in the default partition.
        assert_eq!((expired.partitions, expired.rows), (1, 1));
        let months = app.store.event_months().await.unwrap();
        let gone: Vec<_> = months_before.iter().filter(|m| !months.contains(m)).collect();
        assert_eq!(gone.len(), 1, "{months_before:?} → {months:?}");
        // The current month and two ahead exist.
        assert!(months.len() >= 3);
    } else {
        assert_eq!((expired.partitions, expired.rows), (0, 4));
    }
    assert!(metrics.render().contains("courserec_events_expired_total"));
    assert_eq!(cells(&app).await, before, "the rollup keeps what expired");
    assert_eq!(
        history(&app, "ann").await,
        ann_before,
        "fold-in keeps the history"
    );
    // The newest sequence number does not go back with the raw events.
    assert!(app.store.max_event_seq().await.unwrap() >= app.store.rollup_seq().await.unwrap());
    // A second pass finds nothing more.
    let again = housekeeping::run_once(&app.store, now, 1, &metrics)
        .await
        .unwrap();
    assert_eq!(again, Default::default());

    // A recent duplicate is still recognised after its neighbours expired.
    post(&app, &[event("a3", "ann", "go", "view", recent)]).await;
    assert_eq!(app.event_count().await, 2);

    // Olga has only expired events; erasing her still erases her cells.
    assert_eq!(app.delete("/users/olga").await.status(), 204);
    assert!(history(&app, "olga").await.is_empty());
    assert!(cells(&app).await.iter().all(|c| !c.starts_with("olga ")));
}
both_backends!(expire_after_compaction, expired_events_leave_the_rollup_whole);

async fn ingest_refuses_events_older_than_the_cutoff(backend: Backend) {
    let Some(app) = spawn_app_with(backend, |s| s.database.retention_months = 1).await else {
        return;
    };
    let cutoff = retention_cutoff_ms(now_ms(), 1).unwrap();
    let r = app
        .post_json(
            "/events",
            &json!({"events": [event("x1", "ann", "rust", "view", cutoff - 1)]}),
        )
        .await;
    assert_eq!(r.status(), 422);
    let body: Value = r.json().await.unwrap();
    assert!(body.to_string().contains("retention cutoff"), "{body}");
    assert_eq!(app.event_count().await, 0, "nothing of the batch is stored");
    post(&app, &[event("x2", "ann", "rust", "view", cutoff)]).await;
    assert_eq!(app.event_count().await, 1);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn expired_ingest_on_sqlite() {
    ingest_refuses_events_older_than_the_cutoff(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn expired_ingest_on_postgres() {
    ingest_refuses_events_older_than_the_cutoff(Backend::Postgres).await;
}
