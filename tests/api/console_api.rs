//! The console's server side without a browser: embedded, self-contained
//! assets, and the read endpoints it added (training history, events per
//! hour, catalog search and batch read) against the store's contents.

use serde_json::{json, Value};

use crate::both_backends;
use crate::helpers::{spawn_app_with, Backend, TestApp};
use crate::recommend::trained;

/// The assets come from the binary, reference nothing outside it, and stay
/// small.
#[tokio::test]
async fn the_console_is_embedded_and_self_contained() {
    let app = spawn_app_with(Backend::Sqlite, |_| {}).await.unwrap();
    let mut total = 0;
    for &(path, kind, body) in courserec::http::CONSOLE_ASSETS {
        let r = app.client.get(app.url(path)).send().await.unwrap();
        assert_eq!(r.status(), 200, "{path}");
        assert_eq!(r.headers()["content-type"], kind);
        let csp = r.headers()["content-security-policy"]
            .to_str()
            .unwrap()
            .to_string();
        assert!(csp.contains("default-src 'none'") && csp.contains("connect-src 'self'"));
        let served = r.text().await.unwrap();
        assert_eq!(served, body);
        for external in ["src=\"http", "href=\"http", "url(http", "fetch('http", "import "] {
            assert!(
                !served.contains(external),
                "{path} loads something from outside: {external}"
            );
        }
        total += served.len();
    }
    // Uncompressed, so compressed is smaller still.
    assert!(total <= 250_000, "console assets are {total} bytes");
    let r = app.client.get(app.url("/ui/")).send().await.unwrap();
    assert_eq!(r.url().path(), "/ui");
    app.stop().await;
}

async fn history_and_event_counts_follow_the_store(app: TestApp) {
    let empty = app.get_ok("/model/history").await;
    assert_eq!(empty["items"], json!([]));
    let data = trained(&app).await;
    app.state.trainer.fail_next_run();
    app.state.trainer.run_now().await;
    let h = app.get_ok("/model/history?limit=5").await;
    let items = h["items"].as_array().unwrap();
    assert_eq!(items.len(), 2);
    assert_eq!(
        (items[0]["status"].as_str(), items[0]["reason"].as_str()),
        (Some("failed"), Some("injected"))
    );
    let model = app.get_ok("/model").await;
    assert_eq!(items[1]["version"], model["version"]);
    assert_eq!(items[1]["metrics"], model["metrics"]);
    assert_eq!(items[1]["baseline_metrics"], model["baseline_metrics"]);
    assert_eq!(items[1]["n_events"], model["n_events"]);
    assert_eq!(
        app.get_ok("/model/history?limit=1").await["items"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
    let bad = app.get("/model/history?limit=0").await;
    assert_eq!(bad.status(), 400);

    let stats = app.get_ok("/events/stats?hours=3").await;
    assert_eq!(stats["buckets"].as_array().unwrap().len(), 3);
    for t in ["view", "purchase", "refund"] {
        let want = data.events.iter().filter(|e| e.kind.as_str() == t).count();
        assert_eq!(stats["totals"][t], want, "{t}");
    }
    assert_eq!(stats["total"], data.events.len());
    let last = &stats["buckets"][2];
    assert_eq!(last["total"], data.events.len(), "all were stored this hour");
    assert_eq!(app.get("/events/stats?hours=169").await.status(), 400);

    let courses = app.get_ok("/courses?q=RUST&limit=3").await;
    let all_rust = data
        .courses
        .iter()
        .filter(|c| {
            c.id.contains("rust")
                || c.title.to_lowercase().contains("rust")
                || c.tags.iter().any(|t| t.contains("rust"))
        })
        .count();
    assert_eq!(courses["total"], all_rust);
    assert!(all_rust > 3 && courses["items"].as_array().unwrap().len() == 3);
    let py: Value = app.get_ok("/courses?category=python&limit=500").await;
    assert!(py["items"]
        .as_array()
        .unwrap()
        .iter()
        .all(|c| c["category"] == "python"));
    assert_eq!(
        py["total"],
        data.courses.iter().filter(|c| c.category == "python").count()
    );
    let some = app.get_ok("/courses?ids=c001,nope,c003,c001").await;
    let ids: Vec<&str> = some["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["course_id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["c001", "c003"]);
    let many = vec!["x"; 501]
        .iter()
        .enumerate()
        .map(|(i, x)| format!("{x}{i}"))
        .collect::<Vec<_>>();
    let r = app.get(&format!("/courses?ids={}", many.join(","))).await;
    assert_eq!(r.status(), 400);
    app.stop().await;
}

both_backends!(console_read_models, history_and_event_counts_follow_the_store);
