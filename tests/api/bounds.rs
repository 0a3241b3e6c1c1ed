//! Memory stays bounded whatever ids clients send: unknown users are not
//! cached, the fold-in cache stays under its byte bound, and the map of
//! users changed since the model stays capped while no model publishes.

use serde_json::json;

use crate::helpers::{spawn_app_with, Backend};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn caches_stay_under_their_bounds_with_many_distinct_users() {
    const BYTES: u64 = 64 * 1024;
    let app = spawn_app_with(Backend::Sqlite, |s| {
        s.serve.cache_bytes = BYTES;
        s.serve.max_dirty_users = 100;
    })
    .await
    .unwrap();
    let data = crate::recommend::trained(&app).await;
    // Unknown users of the longest id: served, never cached.
    for i in 0..300 {
        let id = format!("{i:0>128}");
        let r = app.get_ok(&format!("/recommend/{id}")).await;
        assert_eq!(r["strategy"], "popular");
    }
    assert_eq!(app.state.live.cache_usage().1, 0, "unknown users are not cached");
    // New users with events: folded in and cached, within the byte bound.
    let courses: Vec<&str> = data.courses.iter().map(|c| c.id.as_str()).take(3).collect();
    for i in 0..400 {
        let user = format!("new-{i:0>120}");
        let events: Vec<_> = courses
            .iter()
            .map(|c| json!({"user_id": user, "course_id": c, "type": "purchase"}))
            .collect();
        assert_eq!(
            app.post_json("/events", &json!({"events": events}))
                .await
                .status(),
            202
        );
        let r = app.get_ok(&format!("/recommend/{user}")).await;
        assert_eq!(r["strategy"], "fold_in", "{r}");
        let (bytes, _) = app.state.live.cache_usage();
        assert!(bytes <= BYTES, "cache holds {bytes} bytes, bound {BYTES}");
    }
    assert!(
        app.state.live.dirty_len() <= 100,
        "dirty map capped: {}",
        app.state.live.dirty_len()
    );
    // Past the cap, every user's newest events still count.
    let last = format!("new-{:0>120}", 399);
    let r = app.get_ok(&format!("/recommend/{last}")).await;
    assert_eq!(r["strategy"], "fold_in");
    let ids: Vec<&str> = r["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["course_id"].as_str().unwrap())
        .collect();
    assert!(
        courses.iter().all(|c| !ids.contains(c)),
        "purchased courses excluded"
    );
    app.stop().await;
}
