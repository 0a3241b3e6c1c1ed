//! Learner feedback, merchandising rules, exploration and the batch
//! export, over HTTP on both stores: a dismissal sticks until a positive
//! event, fatigue demotes a course served too often, rules boost, pin,
//! bury and block within their window and segments (and never bring back
//! what a learner owns), exploration is the same all day and its log
//! feeds the off-policy estimate, and the export serves `/recommend`'s
//! lists.

use std::collections::HashSet;

use courserec::retrain::Outcome;
use serde_json::{json, Value};

use crate::helpers::{course_ids, error_fields, spawn_app_with, Backend, TestApp};
use crate::marketing::post_events;
use crate::recommend::{taken_by, trained};

fn now() -> String {
    chrono::Utc::now().to_rfc3339()
}

async fn list(app: &TestApp, user: &str, n: usize) -> Value {
    app.get_ok(&format!("/recommend/{user}?n={n}")).await
}

async fn retrain(app: &TestApp) {
    match app.state.trainer.run_now().await {
        Some(Outcome::Published(_)) => {}
        other => panic!("training did not publish: {other:?}"),
    }
}

/// A dismissed course leaves the list at once and stays out (through a
/// retraining too) until a later positive event on it.
async fn dismissals_stick_until_a_positive_event(app: TestApp) {
    let data = trained(&app).await;
    let user = data.users[3].0.clone();
    let first = course_ids(&list(&app, &user, 10).await);
    let gone = first[0].clone();
    post_events(
        &app,
        &[json!({"user_id": user, "course_id": gone, "type": "dismiss", "ts": now()})],
    )
    .await;
    let after = course_ids(&list(&app, &user, 10).await);
    assert!(!after.contains(&gone), "{gone} still listed: {after:?}");
    let profile = app.get_ok(&format!("/users/{user}/profile")).await;
    assert_eq!(profile["feedback"]["dismissed"], json!([gone]));

    retrain(&app).await;
    let trained_after = course_ids(&list(&app, &user, 10).await);
    assert!(
        !trained_after.contains(&gone),
        "back after a training: {trained_after:?}"
    );

    post_events(
        &app,
        &[json!({"user_id": user, "course_id": gone, "type": "click", "ts": now()})],
    )
    .await;
    let profile = app.get_ok(&format!("/users/{user}/profile")).await;
    assert_eq!(profile["feedback"]["dismissed"], json!([]));
    let back = course_ids(&list(&app, &user, 20).await);
    assert!(back.contains(&gone), "not back after a click: {back:?}");
    app.stop().await;
}

/// A course served `max_impressions` times without a positive event sinks
/// (and shows in the profile); a click on it lifts that.
async fn fatigue_demotes_what_was_shown_too_often(app: TestApp) {
    let data = trained(&app).await;
    let user = data.users[5].0.clone();
    let first = course_ids(&list(&app, &user, 10).await);
    for _ in 0..2 {
        assert_eq!(
            course_ids(&list(&app, &user, 10).await),
            first,
            "same list below the limit"
        );
    }
    // Three lists served: every listed course is fatigued now.
    let profile = app.get_ok(&format!("/users/{user}/profile")).await;
    let tired: HashSet<String> = serde_json::from_value(profile["feedback"]["fatigued"].clone()).unwrap();
    assert_eq!(tired, first.iter().cloned().collect::<HashSet<_>>());
    let fourth = course_ids(&list(&app, &user, 10).await);
    assert_ne!(fourth, first, "fatigue changed nothing");
    assert!(
        fourth.iter().any(|c| !first.contains(c)),
        "no fresh course came in: {fourth:?}"
    );
    post_events(
        &app,
        &[json!({"user_id": user, "course_id": first[0], "type": "click", "ts": now()})],
    )
    .await;
    let profile = app.get_ok(&format!("/users/{user}/profile")).await;
    let tired: Vec<String> = serde_json::from_value(profile["feedback"]["fatigued"].clone()).unwrap();
    assert!(!tired.contains(&first[0]), "a click did not clear {}", first[0]);
    let metrics = app.get("/metrics").await.text().await.unwrap();
    let demoted: f64 = metrics
        .lines()
        .find_map(|l| l.strip_prefix("courserec_served_items_total{slot=\"ranked\",touched=\"fatigue\"} "))
        .unwrap()
        .parse()
        .unwrap();
    assert!(demoted > 0.0, "no fatigued item counted");
    app.stop().await;
}

async fn put_rule(app: &TestApp, id: &str, body: Value) -> Value {
    let r = app.put_json(&format!("/rules/{id}"), &body).await;
    let status = r.status().as_u16();
    let body: Value = r.json().await.unwrap();
    assert!(status == 201 || status == 200, "{status}: {body}");
    body
}

/// Boost, pin, bury and block on `/recommend`, `/popular` and
/// `/courses/{id}/similar`, within their window and segments; owned
/// courses stay out; a bad rule is 422 with nothing stored.
async fn rules_shape_every_list(app: TestApp) {
    let data = trained(&app).await;
    let (user, owned) = data
        .users
        .iter()
        .map(|(u, _)| (u.clone(), taken_by(&data, u)))
        .find(|(_, t)| !t.is_empty())
        .unwrap();
    let base = course_ids(&list(&app, &user, 10).await);
    let outside = data
        .courses
        .iter()
        .map(|c| c.id.clone())
        .find(|c| {
            !base.contains(c) && !owned.contains(c) && data.courses.iter().any(|x| &x.id == c && x.active)
        })
        .unwrap();
    let owned_one = owned.iter().next().cloned().unwrap();

    // Invalid: every fault listed, nothing stored.
    let r = app
        .put_json(
            "/rules/bad",
            &json!({"action": "boost", "category": "python", "position": 2}),
        )
        .await;
    assert_eq!(r.status(), 422);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["error"]["code"], "invalid_rule");
    let mut fields = error_fields(&body);
    fields.sort();
    assert_eq!(fields, ["position", "weight"]);
    assert_eq!(app.get_ok("/rules").await["items"], json!([]));

    let boost = put_rule(
        &app,
        "launch",
        json!({"action": "boost", "course_ids": [outside, owned_one], "weight": 2.0}),
    )
    .await;
    assert_eq!(boost["active"], true);
    let boosted = list(&app, &user, 10).await;
    assert_eq!(boosted["items"][0]["course_id"], json!(outside), "{boosted}");
    assert_eq!(boosted["items"][0]["rule_id"], "launch");
    assert!(
        !course_ids(&boosted).contains(&owned_one),
        "a rule brought back an owned course"
    );
    // No learner on /popular: the owned course is boosted there too.
    let popular = app.get_ok("/popular?n=10").await;
    let top2: Vec<&Value> = popular["items"].as_array().unwrap()[..2].iter().collect();
    assert!(
        top2.iter()
            .any(|i| i["course_id"] == json!(outside) && i["rule_id"] == "launch"),
        "{popular}"
    );

    // Pin base[5] to position 1, block base[1].
    put_rule(
        &app,
        "pin",
        json!({"action": "pin", "course_ids": [base[5]], "position": 1}),
    )
    .await;
    put_rule(&app, "block", json!({"action": "block", "course_ids": [base[1]]})).await;
    let shaped = course_ids(&list(&app, &user, 10).await);
    assert_eq!(shaped[0], base[5]);
    assert_eq!(shaped[1], outside);
    assert!(!shaped.contains(&base[1]));
    let similar = app.get_ok(&format!("/courses/{}/similar?n=10", base[0])).await;
    assert!(
        !course_ids(&similar).contains(&base[1]),
        "block ignored by similar"
    );
    assert_eq!(similar["items"][0]["course_id"], json!(base[5]));

    // A rule for another segment, or a window not open yet, does nothing.
    let seg = app.get_ok(&format!("/users/{user}/segment")).await["segment_id"]
        .as_u64()
        .unwrap();
    for id in ["launch", "pin", "block"] {
        assert_eq!(app.delete(&format!("/rules/{id}")).await.status(), 204);
    }
    assert_eq!(app.delete("/rules/launch").await.status(), 404);
    put_rule(
        &app,
        "other",
        json!({"action": "bury", "course_ids": [base[0]], "weight": 5.0, "segments": [seg + 1000]}),
    )
    .await;
    put_rule(
        &app,
        "later",
        json!({"action": "block", "course_ids": [base[0]], "starts_at": "2999-01-01T00:00:00Z"}),
    )
    .await;
    assert_eq!(course_ids(&list(&app, &user, 10).await)[0], base[0]);
    put_rule(
        &app,
        "mine",
        json!({"action": "bury", "course_ids": [base[0]], "weight": 5.0, "segments": [seg]}),
    )
    .await;
    let buried = list(&app, &user, 10).await;
    assert_ne!(course_ids(&buried)[0], base[0]);
    let rules = app.get_ok("/rules").await;
    assert_eq!(rules["items"].as_array().unwrap().len(), 3);
    let later = app.get_ok("/rules/later").await;
    assert_eq!(later["active"], false);
    assert_eq!(app.get("/rules/none").await.status(), 404);
    app.stop().await;
}

/// Exploration: a repeated request is the same list, some slots explore,
/// the log of served lists and the clicks on it feed `GET /model`'s
/// off-policy estimate after the next training.
async fn exploration_is_logged_and_evaluated(app: TestApp) {
    let data = trained(&app).await;
    let mut explored = 0;
    let mut clicks = Vec::new();
    for (u, _) in data.users.iter().take(150) {
        let a = list(&app, u, 10).await;
        let b = list(&app, u, 10).await;
        assert_eq!(
            course_ids(&a),
            course_ids(&b),
            "{u}: not the same list within the day"
        );
        for (k, item) in a["items"].as_array().unwrap().iter().enumerate() {
            explored += usize::from(item["explored"] == true);
            if k < 2 {
                clicks.push(
                    json!({"user_id": u, "course_id": item["course_id"], "type": "click",
                                   "rec_id": a["rec_id"], "ts": now()}),
                );
            }
        }
    }
    assert!(explored > 30, "{explored} explored slots at share 0.2");
    assert!(explored < 300 * 10 / 2, "{explored} explored slots at share 0.2");
    post_events(&app, &clicks).await;
    app.state.impressions.flush().await;
    retrain(&app).await;
    let model = app.get_ok("/model").await;
    let op = &model["offline_policy"];
    assert_eq!(op["lists"], 300, "{op}");
    assert_eq!(op["serving_exploration"], 0.2);
    // Two clicks on one of each learner's two lists of 10.
    let logged = op["logged_click_rate"]["value"].as_f64().unwrap();
    assert!((logged - 0.1).abs() < 1e-9, "{logged}");
    let shares: Vec<f64> = op["estimates"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["exploration"].as_f64().unwrap())
        .collect();
    assert_eq!(shares, [0.0, 0.05, 0.1, 0.2]);
    // The serving share's estimate is the logged rate (weights of 1).
    let same = &op["estimates"][3]["click_rate"]["value"];
    assert!((same.as_f64().unwrap() - logged).abs() < 1e-9, "{op}");

    // An experiment's report carries the same figures per variant.
    let exp = json!({"variants": [{"name": "a", "weight": 1}, {"name": "b", "weight": 1, "arm": "popular"}]});
    assert_eq!(app.put_json("/experiments/x", &exp).await.status(), 201);
    for (u, _) in data.users.iter().skip(200).take(40) {
        list(&app, u, 10).await;
    }
    let report = app.get_ok("/experiments/x/report").await;
    let per_variant = report["offline_policy"].as_array().unwrap();
    assert_eq!(per_variant.len(), 2, "{report}");
    let lists: u64 = per_variant
        .iter()
        .map(|v| v["policy"]["lists"].as_u64().unwrap_or(0))
        .sum();
    assert_eq!(lists, 40, "{report}");
    app.stop().await;
}

/// The export holds every learner's `/recommend` list (asked after it, so
/// fatigue does not differ), CSV or Parquet, by segment too.
async fn export_serves_the_same_lists(app: TestApp) {
    let data = trained(&app).await;
    let r = app.get("/recommendations/export?n=5").await;
    assert_eq!(r.status(), 200);
    assert!(r.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/csv"));
    let text = r.text().await.unwrap();
    let mut lines = text.lines();
    assert_eq!(
        lines.next(),
        Some("user_id,rank,course_id,score,rule_id,explored")
    );
    let rows: Vec<Vec<String>> = lines
        .map(|l| l.split(',').map(str::to_string).collect())
        .collect();
    let users: HashSet<&str> = rows.iter().map(|r| r[0].as_str()).collect();
    let model = app.get_ok("/model").await;
    assert_eq!(users.len() as u64, model["n_users"].as_u64().unwrap());
    for (u, _) in data.users.iter().take(20) {
        let exported: Vec<String> = rows.iter().filter(|r| &r[0] == u).map(|r| r[2].clone()).collect();
        assert_eq!(exported, course_ids(&list(&app, u, 5).await), "{u}");
    }
    let parquet = app.get("/recommendations/export?n=3&format=parquet").await;
    assert_eq!(parquet.status(), 200);
    let bytes = parquet.bytes().await.unwrap();
    assert_eq!(&bytes[..4], b"PAR1");
    let seg = app.get_ok("/segments").await["segments"][0]["id"]
        .as_u64()
        .unwrap();
    let part = app
        .get(&format!("/recommendations/export?segment={seg}"))
        .await
        .text()
        .await
        .unwrap();
    assert!(part.lines().count() > 1 && part.lines().count() < text.lines().count());
    assert_eq!(
        app.get("/recommendations/export?segment=9999").await.status(),
        404
    );
    assert_eq!(app.get("/recommendations/export?rfm=nobody").await.status(), 400);
    assert_eq!(app.get("/recommendations/export?format=xml").await.status(), 400);
    app.stop().await;
}

/// The settings each test runs with: exploration and fatigue off unless
/// the test is about them, so lists compare.
macro_rules! feedback_test {
    ($name:ident, $body:path, $exploration:expr, $fatigue:expr) => {
        mod $name {
            use super::*;
            fn tweak(s: &mut courserec::config::Settings) {
                s.serve.exploration = $exploration;
                s.serve.fatigue.max_impressions = $fatigue;
                s.train.enabled = false;
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn on_sqlite() {
                if let Some(app) = spawn_app_with(Backend::Sqlite, tweak).await {
                    $body(app).await;
                }
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn on_postgres() {
                if let Some(app) = spawn_app_with(Backend::Postgres, tweak).await {
                    $body(app).await;
                }
            }
        }
    };
}

feedback_test!(dismiss, dismissals_stick_until_a_positive_event, 0.0, 0);
feedback_test!(fatigue, fatigue_demotes_what_was_shown_too_often, 0.0, 3);
feedback_test!(rules, rules_shape_every_list, 0.0, 0);
feedback_test!(exploration, exploration_is_logged_and_evaluated, 0.2, 5);
feedback_test!(export, export_serves_the_same_lists, 0.05, 5);
