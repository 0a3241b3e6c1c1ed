//! Store faults: a full SQLite file, a Postgres outage (a cut TCP proxy),
//! a service started while Postgres is down. Nothing is acknowledged that
//! is not stored, requests stop waiting on a dead store, and everything
//! recovers without a restart.

use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::helpers::{fresh_database, spawn_app_on, spawn_app_with, Backend, TestApp};
use crate::proxy::{pg_target, Proxy};

fn batch(tag: &str, n: usize) -> Value {
    let events: Vec<Value> = (0..n)
        .map(|i| {
            json!({"user_id": format!("u{}", i % 50), "course_id": format!("c{}", i % 20),
                   "type": "view", "event_id": format!("{tag}-{i}")})
        })
        .collect();
    json!({ "events": events })
}

/// Posts a batch; returns the accepted count on 202, None on 503 (and
/// checks the 503 has the error shape and Retry-After).
async fn post_batch(app: &TestApp, tag: &str, n: usize) -> Option<u64> {
    let r = app.post_json("/events", &batch(tag, n)).await;
    let status = r.status().as_u16();
    let retry = r.headers().get("retry-after").is_some();
    let body: Value = r.json().await.unwrap();
    match status {
        202 => Some(body["accepted"].as_u64().unwrap()),
        503 => {
            assert_eq!(body["error"]["code"], "store_unavailable", "{body}");
            assert!(retry, "a 503 carries Retry-After");
            None
        }
        s => panic!("unexpected {s}: {body}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_sqlite_file_acknowledges_nothing_it_did_not_store_and_recovers() {
    const CAP: u64 = 400;
    let app = spawn_app_with(Backend::Sqlite, |s| {
        s.database.sqlite_max_page_count = CAP;
        s.database.probe_backoff_min_ms = 50;
        s.database.probe_backoff_max_ms = 200;
    })
    .await
    .unwrap();
    // Another connection, without the cap, fills the file up to it.
    use sqlx::{Connection, Executor};
    let mut filler = sqlx::SqliteConnection::connect(&app.db_url).await.unwrap();
    filler.execute("CREATE TABLE filler (b BLOB)").await.unwrap();
    loop {
        let pages: i64 = sqlx::query_scalar("PRAGMA page_count")
            .fetch_one(&mut filler)
            .await
            .unwrap();
        if pages as u64 >= CAP {
            break;
        }
        sqlx::query("INSERT INTO filler VALUES (randomblob(16000))")
            .execute(&mut filler)
            .await
            .unwrap();
    }
    let mut acknowledged = 0;
    let mut refused = 0;
    let mut after_first_refusal = 0;
    for round in 0..60 {
        match post_batch(&app, &format!("r{round}"), 300).await {
            Some(n) => {
                acknowledged += n;
                if refused > 0 {
                    after_first_refusal += 1;
                }
            }
            None => refused += 1,
        }
    }
    assert!(refused > 0, "the cap was reached");
    assert_eq!(
        app.event_count().await as u64,
        acknowledged,
        "every 202 is stored, nothing else"
    );
    // Space is freed: ingest works again, by itself, within seconds.
    filler.execute("DELETE FROM filler").await.unwrap();
    let freed = Instant::now();
    let mut back = false;
    let mut round = 0;
    while freed.elapsed() < Duration::from_secs(5) {
        round += 1;
        if let Some(n) = post_batch(&app, &format!("after{round}"), 300).await {
            acknowledged += n;
            back = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(back, "ingest recovered within 5 s of space being freed");
    // And keeps working: the failed connections were not put back.
    for i in 0..5 {
        acknowledged += post_batch(&app, &format!("later{i}"), 300)
            .await
            .expect("202 after recovery");
    }
    assert_eq!(app.event_count().await as u64, acknowledged);
    eprintln!("disk full: {refused} refused, {after_first_refusal} accepted after the first refusal");
    app.stop().await;
}

/// Starts an app on a fresh Postgres database reached through a proxy.
async fn app_behind_proxy(tweak: impl FnOnce(&mut courserec::config::Settings)) -> Option<(TestApp, Proxy)> {
    let dir = tempfile::tempdir().unwrap();
    let url = fresh_database(Backend::Postgres, &dir).await?;
    let proxy = Proxy::start(&pg_target()).await;
    let routed = proxy.route(&url);
    let app = spawn_app_on(routed, dir, |s| {
        s.database.probe_interval_ms = 200;
        s.database.probe_backoff_min_ms = 50;
        s.database.probe_backoff_max_ms = 500;
        tweak(s)
    })
    .await;
    Some((app, proxy))
}

async fn timed_get(app: &TestApp, path: &str) -> (u16, Duration) {
    let t = Instant::now();
    let r = app.get(path).await;
    let status = r.status().as_u16();
    let _ = r.bytes().await;
    (status, t.elapsed())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_postgres_outage_is_served_from_memory_and_recovers_without_restart() {
    let Some((app, proxy)) = app_behind_proxy(|_| {}).await else {
        return;
    };
    let data = crate::recommend::trained(&app).await;
    let known = data.users[0].0.clone();
    // A recently active user (events after the training), folded in once.
    assert_eq!(post_batch(&app, "warm", 10).await, Some(10));
    app.get_ok("/recommend/u1").await;
    // An erased user must stay erased when the store cannot be read.
    assert_eq!(app.delete(&format!("/users/{known}")).await.status(), 204);

    proxy.cut();
    // The first request may meet the dead connection; after it, nothing waits.
    let _ = app.post_json("/events", &batch("probe", 1)).await;
    let (status, _) = timed_get(&app, "/readyz").await;
    assert_eq!(status, 503, "readiness follows the last known state");
    let mut worst = Duration::ZERO;
    for i in 0..50 {
        let (status, took) = timed_get(&app, &format!("/recommend/new-user-{i}")).await;
        assert_eq!(status, 200);
        worst = worst.max(took);
    }
    let (status, took_active) = timed_get(&app, "/recommend/u1").await;
    assert_eq!(status, 200);
    // Generous bounds: the figures are measured by scripts/faults.sh; these
    // only tell "answered from memory" from "waited on the pool" (5 s before).
    assert!(
        worst < Duration::from_millis(500),
        "new users answered from memory: {worst:?}"
    );
    assert!(
        took_active < Duration::from_millis(500),
        "recently active user: {took_active:?}"
    );
    let erased = app.get_ok(&format!("/recommend/{known}")).await;
    assert_ne!(
        erased["strategy"], "personalized",
        "an erased user's factor is never used: {erased}"
    );
    let t = Instant::now();
    let r = app.post_json("/events", &batch("down", 5)).await;
    assert_eq!(r.status(), 503);
    assert!(r.headers().get("retry-after").is_some());
    assert!(
        t.elapsed() < Duration::from_millis(1000),
        "ingest fails fast: {:?}",
        t.elapsed()
    );
    let (_, ready_took) = timed_get(&app, "/readyz").await;
    assert!(
        ready_took < Duration::from_millis(300),
        "/readyz from memory: {ready_took:?}"
    );

    proxy.restore();
    let back = Instant::now();
    loop {
        if post_batch(&app, &format!("back{}", back.elapsed().as_millis()), 5)
            .await
            .is_some()
        {
            break;
        }
        assert!(back.elapsed() < Duration::from_secs(5), "recovered within 5 s");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(timed_get(&app, "/readyz").await.0, 200);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_service_started_while_postgres_is_down_becomes_ready_when_it_returns() {
    let dir = tempfile::tempdir().unwrap();
    let Some(url) = fresh_database(Backend::Postgres, &dir).await else {
        return;
    };
    let proxy = Proxy::start(&pg_target()).await;
    proxy.cut();
    let app = spawn_app_on(proxy.route(&url), dir, |s| {
        s.database.probe_backoff_min_ms = 50;
        s.database.probe_backoff_max_ms = 300;
    })
    .await;
    assert_eq!(
        app.get("/healthz").await.status(),
        200,
        "alive while the store is down"
    );
    let r = app.get("/readyz").await;
    assert_eq!(r.status(), 503);
    assert!(r.headers().get("retry-after").is_some());
    assert_eq!(app.post_json("/events", &batch("early", 1)).await.status(), 503);
    proxy.restore();
    let t = Instant::now();
    while app.get("/readyz").await.status() != 200 {
        assert!(
            t.elapsed() < Duration::from_secs(5),
            "ready within 5 s of the database returning"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // Migrations ran: events are stored.
    assert_eq!(post_batch(&app, "late", 3).await, Some(3));
    assert_eq!(app.event_count().await, 3);
    app.stop().await;
}
