//! A course nobody has bought yet keeps a content factor (category and
//! tags) across retrains, so its neighbours and audience stay right; users
//! with no training interaction are never treated as trained.

use std::collections::HashMap;

use courserec::demo::DemoData;
use serde_json::{json, Value};

use crate::both_backends;
use crate::helpers::{course_ids, TestApp};
use crate::recommend::trained;

const COLD: &str = "rust-embedded-cold";

/// Each user's share of events on `category` courses, and the mean share.
fn shares(data: &DemoData, category: &str) -> (HashMap<String, f64>, f64) {
    let cat: HashMap<&str, &str> = data
        .courses
        .iter()
        .map(|c| (c.id.as_str(), c.category.as_str()))
        .collect();
    let mut counts: HashMap<String, (f64, f64)> = HashMap::new();
    for e in &data.events {
        let c = counts.entry(e.user_id.clone()).or_default();
        c.1 += 1.0;
        if cat.get(e.course_id.as_str()) == Some(&category) {
            c.0 += 1.0;
        }
    }
    let shares: HashMap<String, f64> = counts.into_iter().map(|(u, (a, n))| (u, a / n)).collect();
    let mean = shares.values().sum::<f64>() / shares.len() as f64;
    (shares, mean)
}

/// Neighbours are Rust courses (by category and tags while it has no
/// learner) and the audience leans to Rust learners with real scores, not
/// the ~1e-14 residue of a factor fitted on nothing.
async fn assert_cold_course_placed(
    app: &TestApp,
    data: &DemoData,
    when: &str,
    near: &[&str],
    min_near: usize,
) {
    let category = |c: &str| {
        data.courses
            .iter()
            .find(|x| x.id == c)
            .map(|x| x.category.clone())
    };
    let similar = course_ids(&app.get_ok(&format!("/courses/{COLD}/similar?n=5")).await);
    assert_eq!(similar.len(), 5, "{when}");
    let close = similar
        .iter()
        .filter(|c| category(c).is_some_and(|c| near.contains(&c.as_str())))
        .count();
    assert!(close >= min_near, "{when}: neighbours {similar:?}");
    let audience: Value = app.get_ok(&format!("/courses/{COLD}/audience?n=20")).await;
    let users = audience["users"].as_array().unwrap();
    assert_eq!(users.len(), 20, "{when}");
    assert!(
        users.iter().all(|u| u["score"].as_f64().unwrap() > 1e-3),
        "{when}: {audience}"
    );
    let (share, mean) = shares(data, "rust");
    let top: f64 = users
        .iter()
        .map(|u| share[u["user_id"].as_str().unwrap()])
        .sum::<f64>()
        / 20.0;
    assert!(
        top > 2.0 * mean,
        "{when}: audience rust share {top:.3} vs {mean:.3} on average"
    );
}

async fn a_cold_course_keeps_its_place_across_retrains(app: TestApp) {
    let data = trained(&app).await;
    let course = json!({"title": "Embedded Rust, cold", "category": "rust", "tags": ["embedded", "systems"],
        "level": "advanced", "price_cents": 9900});
    assert_eq!(
        app.put_json(&format!("/courses/{COLD}"), &course).await.status(),
        201
    );
    assert_cold_course_placed(&app, &data, "before the retrain", &["rust"], 5).await;

    // A refund of a course never bought: no interaction to train on.
    let refund = json!({"user_id": "refund-only", "course_id": data.courses[0].id, "type": "refund"});
    assert_eq!(app.post_json("/events", &refund).await.status(), 202);
    let v1 = app.get_ok("/model").await["version"].as_i64().unwrap();
    app.state.trainer.run_now().await.unwrap();
    let model = app.get_ok("/model").await;
    assert_eq!(
        (model["version"].as_i64().unwrap(), model["basis"].as_str()),
        (v1 + 1, Some("model"))
    );
    assert_cold_course_placed(&app, &data, "after a retrain with no event for it", &["rust"], 5).await;
    let list = app.get_ok("/recommend/refund-only").await;
    assert_eq!(list["strategy"], "popular", "{list}");

    // First buyers: Rust learners. The factor blends in their evidence and
    // the course stays among Rust courses.
    // Established ones: a dormant learner whose whole history is a sign-up
    // day of Rust has a share of 1 but a factor fitted on three looks.
    let (share, _) = shares(&data, "rust");
    let mut events: HashMap<&str, usize> = HashMap::new();
    data.events
        .iter()
        .for_each(|e| *events.entry(e.user_id.as_str()).or_default() += 1);
    let mut fans: Vec<(&String, &f64)> = share.iter().filter(|(u, _)| events[u.as_str()] >= 30).collect();
    fans.sort_by(|a, b| b.1.total_cmp(a.1).then(a.0.cmp(b.0)));
    let buys: Vec<Value> = fans
        .iter()
        .take(3)
        .map(|(u, _)| json!({"user_id": u, "course_id": COLD, "type": "purchase"}))
        .collect();
    assert_eq!(
        app.post_json("/events", &json!({"events": buys})).await.status(),
        202
    );
    app.state.trainer.run_now().await.unwrap();
    // Learned neighbours mix categories as learners do (as for every
    // course): those of the buyers' taste group, Rust, Go and algorithms.
    assert_cold_course_placed(
        &app,
        &data,
        "after its first three sales",
        &["rust", "go", "algorithms"],
        4,
    )
    .await;
    app.stop().await;
}
both_backends!(cold_course, a_cold_course_keeps_its_place_across_retrains);
