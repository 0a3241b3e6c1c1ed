//! Young platforms: lists from the first request (popularity from the
//! store; newest courses when nothing has events), a popularity snapshot
//! when the model loses or cannot be evaluated, popularity that counts
//! learners rather than events, and `exclude` that can name every id.

use courserec::domain::{Course, Level};
use serde_json::{json, Value};

use crate::both_backends;
use crate::helpers::{course_ids, TestApp};

fn course(id: &str, category: &str, active: bool) -> Course {
    Course {
        id: id.into(),
        title: id.to_uppercase(),
        category: category.into(),
        tags: vec![],
        level: Level::Beginner,
        price_cents: 1000,
        active,
        prerequisites: vec![],
    }
}

/// Stores courses one at a time, oldest first.
async fn add_courses(app: &TestApp, courses: &[Course]) {
    for c in courses {
        app.store.upsert_courses(std::slice::from_ref(c)).await.unwrap();
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    }
}

async fn post_events(app: &TestApp, events: Vec<Value>) {
    let r = app.post_json("/events", &json!({ "events": events })).await;
    assert_eq!(r.status(), 202, "{}", r.text().await.unwrap());
}

fn scores(body: &Value) -> Vec<f64> {
    body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["score"].as_f64().unwrap())
        .collect()
}

async fn without_events_the_newest_courses_are_served(app: TestApp) {
    let old = ["old", "mid", "new"].map(|id| course(id, "go", true));
    add_courses(&app, &old).await;
    add_courses(&app, &[course("newest-but-inactive", "go", false)]).await;
    assert_eq!(course_ids(&app.get_ok("/popular").await), ["new", "mid", "old"]);
    let list = app.get_ok("/recommend/first-visitor?n=2").await;
    assert_eq!(
        (course_ids(&list), list["strategy"].as_str()),
        (vec!["new".into(), "mid".into()], Some("popular"))
    );
    let model = app.get_ok("/model").await;
    assert_eq!(
        (model["basis"].as_str(), model["reason"].as_str()),
        (Some("popularity"), Some("no_model_yet"))
    );
    app.stop().await;
}
both_backends!(newest_first, without_events_the_newest_courses_are_served);

async fn popularity_counts_learners_and_serves_before_any_model(app: TestApp) {
    add_courses(&app, &["a", "b", "c", "d"].map(|id| course(id, "rust", true))).await;
    // A client retry loop: 25 purchases of a by one learner, no event_id.
    let mut events: Vec<Value> = (0..25)
        .map(|_| json!({"user_id": "looper", "course_id": "a", "type": "purchase"}))
        .collect();
    events.extend(
        (0..4).map(|i| json!({"user_id": format!("buyer{i}"), "course_id": "b", "type": "purchase"})),
    );
    events.push(json!({"user_id": "browser", "course_id": "c", "type": "view"}));
    post_events(&app, events).await;

    for when in ["before any training", "after a training"] {
        let popular = app.get_ok("/popular").await;
        assert_eq!(course_ids(&popular), ["b", "a", "c", "d"], "{when}");
        // Learners, time-decayed over minutes: 4 buyers, 1, a tenth (a view).
        let want = [4.0, 1.0, 0.1, 0.0];
        assert!(
            scores(&popular)
                .iter()
                .zip(want)
                .all(|(s, w)| (s - w).abs() < 1e-3),
            "{when}: {popular}"
        );
        let list = app.get_ok("/recommend/looper").await;
        assert_eq!(
            (course_ids(&list), list["strategy"].as_str()),
            (vec!["b".into(), "c".into(), "d".into()], Some("popular"))
        );
        app.state.trainer.run_now().await.unwrap();
    }
    // Nobody has enough interactions for a holdout: no model, and /model says why.
    let model = app.get_ok("/model").await;
    assert_eq!(
        (model["basis"].as_str(), model["reason"].as_str()),
        (Some("popularity"), Some("not_evaluated"))
    );
    assert!(
        model["metrics"].is_null() && model["version"].as_i64() >= Some(1),
        "{model}"
    );

    // exclude: repeated values are whole ids; one value is a known id or a comma list.
    let r = app
        .put_json(
            "/courses/x%2Cy",
            &json!({"title": "X, Y", "category": "rust", "level": "beginner", "price_cents": 0}),
        )
        .await;
    assert_eq!(r.status(), 201);
    for (q, want) in [
        ("exclude=x%2Cy", &["b", "a", "c", "d"][..]),
        ("exclude=x%2Cy&exclude=b", &["a", "c", "d"]),
        ("exclude=a,b", &["c", "d", "x,y"]),
    ] {
        let list = app.get_ok(&format!("/recommend/newbie?n=100&{q}")).await;
        assert_eq!(course_ids(&list), want, "{q}");
    }
    app.stop().await;
}
both_backends!(
    learners_not_events,
    popularity_counts_learners_and_serves_before_any_model
);

async fn a_model_that_loses_to_popularity_is_replaced_by_popularity(app: TestApp) {
    // Twenty early learners bought c00 first (4 courses each, too few to be
    // held out); twenty more bought it last. Their held-out course is c00,
    // popularity's first pick: NDCG@10 of 1, which no model can beat.
    let courses: Vec<Course> = (0..30).map(|i| course(&format!("c{i:02}"), "go", true)).collect();
    app.store.upsert_courses(&courses).await.unwrap();
    let now = courserec::domain::now_ms();
    let mut events = Vec::new();
    for u in 0..40usize {
        let early = u < 20;
        let mut bought: Vec<String> = (0..if early { 3 } else { 4 })
            .map(|j| format!("c{:02}", (u + j) % 9 + 1))
            .collect();
        if early {
            bought.insert(0, "c00".into());
        } else {
            bought.push("c00".into());
        }
        for (j, c) in bought.iter().enumerate() {
            let ts = chrono::DateTime::from_timestamp_millis(now - 3_600_000 + j as i64 * 60_000).unwrap();
            events.push(json!({"user_id": format!("u{u}"), "course_id": c, "type": "purchase", "ts": ts.to_rfc3339()}));
        }
    }
    post_events(&app, events).await;
    app.state.trainer.run_now().await.unwrap();
    let model = app.get_ok("/model").await;
    let basis = (model["basis"].as_str(), model["reason"].as_str());
    assert_eq!(
        basis,
        (Some("popularity"), Some("not_better_than_baseline")),
        "{model}"
    );
    let (m, b) = (
        model["metrics"]["ndcg"].as_f64().unwrap(),
        model["baseline_metrics"]["ndcg"].as_f64().unwrap(),
    );
    assert!(m <= b && b > 0.99, "{model}");
    // Lists are popularity, without the learner's own courses, never empty.
    let list = app.get_ok("/recommend/u30?n=30").await;
    assert_eq!(list["strategy"], "popular");
    let items = course_ids(&list);
    assert_eq!(items.len(), 30 - 5, "{items:?}");
    assert!(!items.contains(&"c00".to_string()));
    assert_eq!(course_ids(&app.get_ok("/popular?n=30").await).len(), 30);
    app.stop().await;
}
both_backends!(
    losing_model,
    a_model_that_loses_to_popularity_is_replaced_by_popularity
);
