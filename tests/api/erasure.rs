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
