//! `courserec import` of an events CSV: chunks (merged two at a time on
//! Postgres) stay idempotent by `event_id` (duplicates inside the file and
//! across reruns), land exactly in the rollup, and an invalid row stops the
//! import with every chunk before it stored and nothing after it. On
//! Postgres a large import drops the log's randomly inserted indexes and
//! rebuilds them exactly, also after a failure and after an import that died.

use std::path::{Path, PathBuf};

use courserec::import::{run, DeferIndexes, EventCounts, ImportArgs, EVENT_COLUMNS};
use serde_json::Value;

use crate::both_backends;
use crate::helpers::{spawn_app, Backend, TestApp};
use crate::rollup::{event, expected_cells, rollup_cells};

fn write_csv(dir: &Path, name: &str, events: &[Value]) -> PathBuf {
    let path = dir.join(name);
    let mut w = csv::Writer::from_path(&path).unwrap();
    w.write_record(EVENT_COLUMNS).unwrap();
    for e in events {
        let s = |k: &str| e[k].as_str().unwrap_or("").to_string();
        let value = e["value"].as_f64().map(|v| v.to_string()).unwrap_or_default();
        w.write_record([
            s("user_id"),
            s("course_id"),
            s("type"),
            value,
            s("ts"),
            s("event_id"),
            String::new(),
        ])
        .unwrap();
    }
    w.flush().unwrap();
    path
}

fn args(events: PathBuf, skip_invalid: bool) -> ImportArgs {
    ImportArgs {
        events: Some(events),
        courses: None,
        skip_invalid,
        // Small chunks: many merges, two in flight, duplicates across them.
        chunk_rows: 16,
        defer_indexes: DeferIndexes::Auto,
    }
}

/// 200 rows over 10 learners × 5 courses: every 20th row has no event_id,
/// and rows 150..170 repeat rows 10..30 (19 of them with an id, 159 = 19
/// without one, so it is stored twice).
fn file_events() -> Vec<Value> {
    let kinds = ["view", "click", "watch", "purchase", "rating"];
    let mut out: Vec<Value> = (0..200)
        .map(|i| {
            let kind = kinds[i % 5];
            let value = match kind {
                "watch" => Some(0.25 * (i % 4 + 1) as f64),
                "rating" => Some((i % 5 + 1) as f64),
                _ => None,
            };
            let mut e = event(
                i,
                &format!("u{}", i % 10),
                &format!("c{}", i % 7 % 5),
                kind,
                (i / 40) as i64,
                value,
            );
            if i % 20 == 19 {
                e.as_object_mut().unwrap().remove("event_id");
            }
            e
        })
        .collect();
    for i in 150..170 {
        out[i] = out[i - 140].clone();
    }
    out
}

both_backends!(import_is_idempotent_and_exact, import_is_idempotent_and_exact);
async fn import_is_idempotent_and_exact(app: TestApp) {
    let dir = tempfile::tempdir().unwrap();
    let events = file_events();
    let no_id = events.iter().filter(|e| e.get("event_id").is_none()).count();
    let path = write_csv(dir.path(), "events.csv", &events);

    let counts = run(&app.store, &args(path.clone(), false), 0).await.unwrap();
    let expected = EventCounts {
        read: 200,
        stored: 181,
        duplicates: 19,
        invalid: 0,
    };
    assert_eq!(no_id, 10);
    assert_eq!(counts, Some(expected));
    assert_eq!(app.store.count_events().await.unwrap(), 181);
    app.store.compact_events().await.unwrap();
    assert_eq!(
        rollup_cells(&app).await,
        expected_cells(&events),
        "rollup of the import"
    );

    // A rerun stores only the rows that cannot be recognised (no event_id).
    let again = run(&app.store, &args(path, false), 0).await.unwrap().unwrap();
    assert_eq!((again.stored, again.duplicates), (no_id, 200 - no_id));
    assert_eq!(app.store.count_events().await.unwrap(), (181 + no_id) as i64);
}

both_backends!(invalid_row_stops_after_the_rows_before_it, invalid_row_stops);
async fn invalid_row_stops(app: TestApp) {
    let dir = tempfile::tempdir().unwrap();
    let mut events: Vec<Value> = (1000..1060)
        .map(|i| event(i, &format!("u{}", i % 3), "c1", "view", 1, None))
        .collect();
    events[44]["type"] = "bogus".into();
    let path = write_csv(dir.path(), "events.csv", &events);

    let err = run(&app.store, &args(path.clone(), false), 0)
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("row 45"), "{err}");
    assert!(err.contains("44 events were stored before it"), "{err}");
    assert_eq!(
        app.store.count_events().await.unwrap(),
        44,
        "nothing after the invalid row"
    );

    let counts = run(&app.store, &args(path, true), 0).await.unwrap().unwrap();
    let expected = EventCounts {
        read: 60,
        stored: 15,
        duplicates: 44,
        invalid: 1,
    };
    assert_eq!(counts, expected);
    assert_eq!(app.store.count_events().await.unwrap(), 59);
}

/// Every index on the event log, `event_ids` and their partitions: (name,
/// definition), sorted.
async fn event_indexes(app: &TestApp) -> Vec<(String, String)> {
    let courserec::store::Store::Postgres(pool) = &app.store else {
        unreachable!("Postgres only")
    };
    sqlx::query_as(
        "SELECT c.relname::text, pg_get_indexdef(i.indexrelid) FROM pg_index i \
         JOIN pg_class c ON c.oid = i.indexrelid JOIN pg_class t ON t.oid = i.indrelid \
         WHERE t.relname = 'event_ids' OR t.relname LIKE 'events%' ORDER BY 1",
    )
    .fetch_all(pool)
    .await
    .unwrap()
}

async fn pending_rebuilds(app: &TestApp) -> i64 {
    let courserec::store::Store::Postgres(pool) = &app.store else {
        unreachable!("Postgres only")
    };
    sqlx::query_scalar("SELECT count(*) FROM deferred_indexes")
        .fetch_one(pool)
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deferred_import_rebuilds_every_index_even_after_a_failure() {
    let Some(app) = spawn_app(Backend::Postgres).await else {
        return;
    };
    let before = event_indexes(&app).await;
    assert!(before.len() > 6, "partitions carry the indexes: {before:?}");
    let dir = tempfile::tempdir().unwrap();
    let events = file_events();
    let path = write_csv(dir.path(), "events.csv", &events);
    let always = ImportArgs {
        defer_indexes: DeferIndexes::Always,
        ..args(path, false)
    };
    let counts = run(&app.store, &always, 0).await.unwrap().unwrap();
    assert_eq!((counts.stored, counts.duplicates), (181, 19));
    assert_eq!(event_indexes(&app).await, before, "the same indexes, rebuilt");
    assert_eq!(pending_rebuilds(&app).await, 0);
    app.store.compact_events().await.unwrap();
    assert_eq!(rollup_cells(&app).await, expected_cells(&events));

    // An invalid row stops the load; the indexes come back all the same.
    let mut bad: Vec<Value> = (5000..5040)
        .map(|i| event(i, "u1", "c1", "view", 1, None))
        .collect();
    bad[30]["type"] = "bogus".into();
    let failing = ImportArgs {
        defer_indexes: DeferIndexes::Always,
        ..args(write_csv(dir.path(), "bad.csv", &bad), false)
    };
    let err = run(&app.store, &failing, 0).await.unwrap_err().to_string();
    assert!(err.contains("row 31"), "{err}");
    assert_eq!(app.store.count_events().await.unwrap(), 181 + 30);
    assert_eq!(event_indexes(&app).await, before);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn indexes_an_unfinished_import_dropped_are_rebuilt_by_the_next_one() {
    let Some(app) = spawn_app(Backend::Postgres).await else {
        return;
    };
    let before = event_indexes(&app).await;
    // An import that dies after dropping the indexes: its session ends.
    let deferred = app.store.defer_event_indexes().await.unwrap().unwrap();
    assert!(
        deferred.names.contains(&"events_user_ts".to_string()),
        "{:?}",
        deferred.names
    );
    assert!(
        deferred.names.contains(&"event_ids_ts".to_string()),
        "{:?}",
        deferred.names
    );
    assert!(
        !deferred.names.contains(&"event_ids_pkey".to_string()),
        "idempotency keeps its key"
    );
    // While it holds them dropped, nobody else rebuilds or drops them.
    assert!(app.store.defer_event_indexes().await.unwrap().is_none());
    assert_eq!(app.store.heal_deferred_indexes().await.unwrap(), 0);
    let n = deferred.names.len() as i64;
    drop(deferred);
    let during = event_indexes(&app).await;
    assert!(
        during.iter().all(|(name, _)| !name.contains("user_ts")),
        "{during:?}"
    );
    assert_eq!(pending_rebuilds(&app).await, n);

    // The next import (one that does not defer) rebuilds them first.
    let dir = tempfile::tempdir().unwrap();
    let path = write_csv(dir.path(), "events.csv", &file_events());
    let never = ImportArgs {
        defer_indexes: DeferIndexes::Never,
        ..args(path, false)
    };
    // The closed session's lock may take a moment to go.
    for _ in 0..50 {
        if pending_rebuilds(&app).await == 0 {
            break;
        }
        run(&app.store, &never, 0).await.unwrap();
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert_eq!(pending_rebuilds(&app).await, 0);
    assert_eq!(event_indexes(&app).await, before);
}
