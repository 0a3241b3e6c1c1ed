//! Erasure holds everywhere: the live model, a failed store read, a
//! restart, every persisted snapshot, and the erasures table (keyed hash).

use std::time::Duration;

use courserec::serve::snapshot::ModelSnapshot;

use crate::both_backends;
use crate::helpers::{spawn_replica, TestApp};

async fn stored_snapshots(app: &TestApp) -> Vec<ModelSnapshot> {
    let rows = app.store.all_snapshots().await.unwrap();
    rows.iter().map(|b| ModelSnapshot::decode(b).unwrap()).collect()
}

async fn an_erased_user_is_gone_from_persisted_snapshots_and_stays_gone_after_restart(app: TestApp) {
    let data = crate::recommend::trained(&app).await;
    // Two more trainings: three snapshots hold the user.
    for _ in 0..2 {
        app.state.trainer.run_now().await;
    }
    let user = data.users[3].0.clone();
    assert!(stored_snapshots(&app)
        .await
        .iter()
        .any(|s| s.users.index.contains_key(&user)));
    assert_eq!(app.delete(&format!("/users/{user}")).await.status(), 204);
    // The rewrite runs off the request path.
    let mut clean = false;
    for _ in 0..100 {
        let snaps = stored_snapshots(&app).await;
        if snaps.len() == 1 && !snaps[0].users.index.contains_key(&user) {
            clean = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(clean, "one snapshot left, without the erased user");
    // The erasures table holds neither the id nor its plain hash.
    let hashes = app.store.erasures_after_ms(0).await.unwrap();
    assert_eq!(hashes.len(), 1);
    assert_ne!(hashes[0], courserec::domain::id_hash::legacy_user_hash(&user));
    let key = app.state.live.erasure_key().unwrap().clone();
    assert_eq!(hashes[0], key.hash(&user));
    // Another process on the same database (a restart) never serves them.
    let b = spawn_replica(&app, |s| s.train.enabled = false).await;
    let r = b.get_ok(&format!("/recommend/{user}")).await;
    assert_ne!(r["strategy"], "personalized", "{r}");
    assert_eq!(
        b.state.live.erasure_key().unwrap().hash("x"),
        key.hash("x"),
        "one key per installation"
    );
    b.stop().await;
    app.stop().await;
}
both_backends!(
    erasure_persisted,
    an_erased_user_is_gone_from_persisted_snapshots_and_stays_gone_after_restart
);

/// Erasures racing a training: a learner erased after the training read the
/// data is not served by the model it publishes, nor kept in its persisted
/// copy; impressions queued for them are gone with them.
async fn an_erasure_during_a_training_is_honoured_by_its_snapshot(app: TestApp) {
    let data = crate::recommend::trained(&app).await;
    // A learner the serving model does not know yet (so erasing them finds
    // nothing in it), whom the next training will learn.
    let user = "newbie".to_string();
    let events: Vec<serde_json::Value> = data
        .courses
        .iter()
        .take(8)
        .map(|c| serde_json::json!({"user_id": user, "course_id": c.id, "type": "purchase"}))
        .collect();
    let r = app
        .post_json("/events", &serde_json::json!({ "events": events }))
        .await;
    assert_eq!(r.status(), 202);
    // A running experiment, so the learner's lists are logged as impressions.
    let arms = serde_json::json!({"variants": [{"name": "model", "weight": 1}, {"name": "popular", "weight": 1, "arm": "popular"}]});
    assert_eq!(app.put_json("/experiments/race", &arms).await.status(), 201);
    app.get_ok(&format!("/recommend/{user}")).await;
    let held = app.hold_training().await;
    // The training has read the learner's events; now they are erased.
    app.get_ok(&format!("/recommend/{user}")).await;
    assert_eq!(app.delete(&format!("/users/{user}")).await.status(), 204);
    // Impressions of lists served before the erasure are gone.
    app.state.impressions.flush().await;
    let pool = match &app.store {
        courserec::store::Store::Sqlite(p) => {
            let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM impressions WHERE user_id = $1")
                .bind(&user)
                .fetch_one(p)
                .await
                .unwrap();
            n
        }
        courserec::store::Store::Postgres(p) => {
            let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM impressions WHERE user_id = $1")
                .bind(&user)
                .fetch_one(p)
                .await
                .unwrap();
            n
        }
    };
    assert_eq!(pool, 0, "no impression of an erased learner");

    assert!(matches!(
        held.release().await,
        Some(courserec::retrain::Outcome::Published(_))
    ));
    let list = app.get_ok(&format!("/recommend/{user}")).await;
    assert_ne!(
        list["strategy"], "personalized",
        "the new model does not serve them: {list}"
    );
    let newest = stored_snapshots(&app).await.pop().unwrap();
    assert!(
        !newest.users.index.contains_key(&user),
        "not in the persisted copy"
    );
    let serving = app.state.live.snapshot().unwrap();
    assert!(
        !serving.users.index.contains_key(&user) || app.state.live.is_erased(&user),
        "the serving model forgets them"
    );
    app.stop().await;
}
both_backends!(
    erasure_races_training,
    an_erasure_during_a_training_is_honoured_by_its_snapshot
);

/// The erasure key can live outside the database it protects; a start with
/// another key, or with none once erasures were hashed with one the store
/// does not hold, ends at once instead of silently forgetting them.
async fn the_erasure_key_can_come_from_a_file(app: TestApp) {
    let dir = tempfile::tempdir().unwrap();
    let key_file = dir.path().join("erasure.key");
    let stored = app.store.erasure_key().await.unwrap().to_hex();
    std::fs::write(&key_file, format!("{stored}\n")).unwrap();
    let path = key_file.display().to_string();
    // The same key from a file: accepted, and moved out of the store.
    let app = app.restart(|s| s.database.erasure_key_file = path.clone()).await;
    assert_eq!(
        app.put_json("/users/gone", &serde_json::json!({})).await.status(),
        200
    );
    assert_eq!(app.delete("/users/gone").await.status(), 204);
    let url = app.db_url.clone();
    let base = |file: &str| {
        let mut s = courserec::config::Settings::defaults();
        s.server.listen = "127.0.0.1:0".into();
        s.database.url = url.clone();
        s.database.erasure_key_file = file.to_string();
        s.train.enabled = false;
        s
    };
    // Another key: refused at start, with the reason.
    let other = dir.path().join("other.key");
    std::fs::write(&other, "ab".repeat(32)).unwrap();
    let err = courserec::startup::Application::build(base(&other.display().to_string()))
        .await
        .err()
        .expect("a start with another key fails");
    assert!(format!("{err:#}").contains("differs"), "{err:#}");
    // No key at all: the store no longer holds one, and erasures exist.
    let err = courserec::startup::Application::build(base(""))
        .await
        .err()
        .expect("a start without the key fails");
    assert!(format!("{err:#}").contains("COURSEREC_ERASURE_KEY"), "{err:#}");
    app.stop().await;
}
both_backends!(erasure_key_file, the_erasure_key_can_come_from_a_file);
