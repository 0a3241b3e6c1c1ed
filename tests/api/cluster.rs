//! Several replicas on one Postgres database: one trains at a time, all
//! serve its model, and catalog, user, experiment and event changes made
//! through one replica reach the others.

use std::time::Duration;

use courserec::cluster::TRAIN_LOCK;
use courserec::config::Settings;
use courserec::retrain::Outcome;
use serde_json::{json, Value};
use sqlx::Connection;

use crate::helpers::{course_ids, spawn_app_with, spawn_replica, Backend, TestApp};
use crate::recommend::trained;

fn cluster_on(s: &mut Settings) {
    s.cluster.enabled = true;
    s.cluster.poll_ms = 200;
}

/// Polls `path` on `app` until `ok` holds (10 s at most).
async fn eventually(app: &TestApp, path: &str, ok: impl Fn(&Value) -> bool) -> Value {
    for _ in 0..100 {
        let body = app.get_ok(path).await;
        if ok(&body) {
            return body;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!(
        "{path} never reached the expected state: {}",
        app.get_ok(path).await
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replicas_share_the_model_and_every_change() {
    let Some(a) = spawn_app_with(Backend::Postgres, cluster_on).await else {
        return;
    };
    let b = spawn_replica(&a, cluster_on).await;
    assert_eq!(b.get_ok("/model").await["status"], "no_model");

    // A trains; B loads the model it persisted.
    let data = trained(&a).await;
    let version = a.get_ok("/model").await["version"].clone();
    eventually(&b, "/model", |m| m["version"] == version).await;
    let user = data.users[3].0.clone();
    let path = format!("/recommend/{user}");
    let list = a.get_ok(&path).await;
    assert_eq!(b.get_ok(&path).await["items"], list["items"]);

    // A course deleted through A leaves B's lists.
    let top = course_ids(&list)[0].clone();
    assert_eq!(a.delete(&format!("/courses/{top}")).await.status(), 204);
    eventually(&b, &path, |r| !course_ids(r).contains(&top)).await;

    // A rule put through A shapes B's lists.
    let second = course_ids(&b.get_ok(&path).await)[0].clone();
    let block = json!({"action": "block", "course_ids": [second]});
    assert_eq!(a.put_json("/rules/no-second", &block).await.status(), 201);
    eventually(&b, &path, |r| !course_ids(r).contains(&second)).await;

    // B caches a newcomer as "popular"; purchases stored through A make B
    // fold them in.
    let newbie = "newbie-1";
    assert_eq!(
        b.get_ok(&format!("/recommend/{newbie}")).await["strategy"],
        "popular"
    );
    let rust: Vec<&str> = data
        .courses
        .iter()
        .filter(|c| c.category == "rust" && c.id != top)
        .take(3)
        .map(|c| c.id.as_str())
        .collect();
    let events: Vec<Value> = rust
        .iter()
        .map(|c| json!({"user_id": newbie, "course_id": c, "type": "purchase"}))
        .collect();
    assert_eq!(
        a.post_json("/events", &json!({ "events": events }))
            .await
            .status(),
        202
    );
    eventually(&b, &format!("/recommend/{newbie}"), |r| {
        r["strategy"] == "fold_in"
    })
    .await;

    // An experiment started through A splits B's traffic too.
    let exp = json!({"variants": [{"name": "m", "weight": 1}, {"name": "p", "weight": 1, "arm": "popular"}]});
    assert_eq!(a.put_json("/experiments/shared", &exp).await.status(), 201);
    eventually(&b, &path, |r| r["experiment"] == "shared").await;

    // Erasure through A: B stops using the user's trained factor.
    assert_eq!(b.get_ok(&path).await["strategy"], "personalized");
    let mut stop = exp.clone();
    stop["status"] = json!("stopped");
    assert_eq!(a.put_json("/experiments/shared", &stop).await.status(), 200);
    assert_eq!(a.delete(&format!("/users/{user}")).await.status(), 204);
    eventually(&b, &path, |r| {
        r["strategy"] != "personalized" && r.get("experiment").is_none()
    })
    .await;

    b.stop().await;
    a.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_poll_catches_what_a_lost_notification_carried() {
    let Some(a) = spawn_app_with(Backend::Postgres, cluster_on).await else {
        return;
    };
    let b = spawn_replica(&a, cluster_on).await;
    let data = trained(&a).await;
    let version = a.get_ok("/model").await["version"].clone();
    eventually(&b, "/model", |m| m["version"] == version).await;
    let user = data.users[8].0.clone();
    let path = format!("/recommend/{user}");
    let top = course_ids(&b.get_ok(&path).await)[0].clone();
    // Straight to the store: no notification is sent.
    assert!(a.store.delete_course(&top).await.unwrap());
    eventually(&b, &path, |r| !course_ids(r).contains(&top)).await;
    // A rule written straight to the store reaches B by its poll.
    let next = course_ids(&b.get_ok(&path).await)[0].clone();
    let rule: courserec::rules::RuleDraft =
        serde_json::from_value(json!({"action": "block", "course_ids": [next]})).unwrap();
    let rule = rule.validate("quiet").unwrap();
    a.store
        .put_rule(&rule, courserec::domain::now_ms(), 1000)
        .await
        .unwrap();
    eventually(&b, &path, |r| !course_ids(r).contains(&next)).await;
    let key = a.state.live.erasure_key().unwrap().clone();
    assert!(a.store.delete_user(&user, &key).await.unwrap());
    eventually(&b, &path, |r| r["strategy"] != "personalized").await;
    b.stop().await;
    a.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_the_lock_holder_trains() {
    let Some(a) = spawn_app_with(Backend::Postgres, cluster_on).await else {
        return;
    };
    let data = courserec::demo::generate(
        7,
        &courserec::demo::DemoSize::small(),
        courserec::domain::now_ms(),
    );
    a.load(&data).await;
    // Another replica (this connection) is training.
    let mut other = sqlx::PgConnection::connect(&a.db_url).await.unwrap();
    sqlx::query("SELECT pg_advisory_lock($1)")
        .bind(TRAIN_LOCK)
        .execute(&mut other)
        .await
        .unwrap();
    match a.state.trainer.run_now().await {
        Some(Outcome::Skipped(_)) => {}
        other => panic!("trained while another replica held the lock: {other:?}"),
    }
    assert!(a.get_ok("/model").await["version"].is_null());
    // Its connection dies mid-training: the lock goes with it (once the
    // server has noticed).
    other.close().await.unwrap();
    let mut probe = sqlx::PgConnection::connect(&a.db_url).await.unwrap();
    for _ in 0..100 {
        let held: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM pg_locks WHERE locktype = 'advisory' \
             AND database = (SELECT oid FROM pg_database WHERE datname = current_database())",
        )
        .fetch_one(&mut probe)
        .await
        .unwrap();
        if held == 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    probe.close().await.unwrap();
    match a.state.trainer.run_now().await {
        Some(Outcome::Published(v)) => assert!(v >= 1),
        other => panic!("did not train once the lock was free: {other:?}"),
    }
    a.stop().await;
}

#[tokio::test]
async fn a_cluster_needs_postgres() {
    let mut s = Settings::defaults();
    s.server.listen = "127.0.0.1:0".into();
    let dir = tempfile::tempdir().unwrap();
    s.database.url = format!("sqlite://{}", dir.path().join("c.db").display());
    s.cluster.enabled = true;
    let err = courserec::startup::Application::build(s)
        .await
        .err()
        .expect("refused");
    assert!(err.to_string().contains("cluster.enabled"), "{err}");
}
