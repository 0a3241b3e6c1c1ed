use std::collections::HashSet;

use courserec::demo::{generate, DemoData, DemoSize};
use courserec::retrain::Outcome;
use serde_json::{json, Value};

use crate::both_backends;
use crate::helpers::{course_ids, spawn_app_with, Backend, TestApp};

/// Loads the small demo platform and trains once.
pub async fn trained(app: &TestApp) -> DemoData {
    let data = generate(7, &DemoSize::small(), courserec::domain::now_ms());
    app.load(&data).await;
    match app.state.trainer.run_now().await {
        Some(Outcome::Published(v)) => assert!(v >= 1),
        other => panic!("training did not publish: {other:?}"),
    }
    data
}

/// Courses the user took, from the demo events: owned (a refund cancels
/// only an earlier purchase, the latest word wins) or rated.
pub fn taken_by(data: &DemoData, user: &str) -> HashSet<String> {
    use courserec::domain::EventType::*;
    use courserec::model::ownership::{ownership, Payment, PaymentEvent};
    let mut payments: std::collections::HashMap<&str, Vec<PaymentEvent>> = std::collections::HashMap::new();
    let mut rated = HashSet::new();
    for e in data.events.iter().filter(|e| e.user_id == user) {
        let kind = match e.kind {
            Purchase => Payment::Purchase,
            Refund => Payment::Refund,
            Rating => {
                rated.insert(e.course_id.clone());
                continue;
            }
            _ => continue,
        };
        let ev = PaymentEvent { ts_ms: e.ts_ms, kind };
        payments.entry(&e.course_id).or_default().push(ev);
    }
    payments
        .into_iter()
        .filter(|(_, p)| ownership(p, 0).owned)
        .map(|(c, _)| c.to_string())
        .chain(rated)
        .collect()
}

fn category_of<'a>(data: &'a DemoData, course: &str) -> &'a str {
    &data.courses.iter().find(|c| c.id == course).unwrap().category
}

async fn a_trained_model_gives_personalized_lists_without_taken_courses(app: TestApp) {
    let data = trained(&app).await;
    let model = app.get_ok("/model").await;
    assert_eq!(model["status"], "serving");
    assert!(model["metrics"]["ndcg"].as_f64().unwrap() > model["baseline_metrics"]["ndcg"].as_f64().unwrap());
    for key in ["precision", "recall", "f1", "ndcg", "map", "hit_rate", "coverage"] {
        assert!(model["metrics"][key].is_number(), "{key} missing: {model}");
    }
    // Each phase of the training, timed, in order, and the same in Prometheus.
    let phases: Vec<&str> = model["phases"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        phases,
        ["compact", "read", "build", "evaluate", "fit", "segment", "predict", "persist"]
    );
    for p in model["phases"].as_array().unwrap() {
        assert!(p["seconds"].as_f64().unwrap() >= 0.0, "{p}");
        assert!(p["peak_rss_mib"].as_f64().unwrap() > 0.0, "{p}");
    }
    let text = app.get("/metrics").await.text().await.unwrap();
    for phase in phases {
        assert!(
            text.contains(&format!("courserec_training_phase_seconds{{phase=\"{phase}\"}}")),
            "{phase}"
        );
        assert!(text.contains(&format!(
            "courserec_training_phase_peak_rss_bytes{{phase=\"{phase}\"}}"
        )));
    }
    // Heavy users: their taken sets are largest, so exclusion is really tested.
    let mut users: Vec<&String> = data.users.iter().map(|u| &u.0).collect();
    users.sort_by_key(|u| std::cmp::Reverse(taken_by(&data, u).len()));
    for user in users.into_iter().take(5) {
        let body = app.get_ok(&format!("/recommend/{user}?n=20")).await;
        assert_eq!(body["strategy"], "personalized");
        assert_eq!(body["model_version"], model["version"]);
        assert!(body["rec_id"].as_str().is_some_and(|r| !r.is_empty()));
        let items = course_ids(&body);
        assert_eq!(items.len(), 20);
        let taken = taken_by(&data, user);
        assert!(
            items.iter().all(|c| !taken.contains(c)),
            "{user} was offered a course they took"
        );
        // Best first, but for the slots exploration gave to other courses.
        let scores: Vec<f64> = body["items"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|i| i["explored"] != true)
            .map(|i| i["score"].as_f64().unwrap())
            .collect();
        assert!(scores.windows(2).all(|w| w[0] >= w[1]), "scores not sorted");
    }
    let user = &data.users[0].0;
    let first = course_ids(&app.get_ok(&format!("/recommend/{user}?n=5&category=rust")).await);
    assert!(!first.is_empty());
    let body = app
        .get_ok(&format!(
            "/recommend/{user}?n=5&category=rust&exclude={}",
            first[0]
        ))
        .await;
    let items = course_ids(&body);
    assert!(items
        .iter()
        .all(|c| category_of(&data, c) == "rust" && *c != first[0]));
    let body = app
        .get_ok(&format!("/recommend/{user}?n=10&diversity=0.7&explain=true"))
        .await;
    assert_eq!(course_ids(&body).len(), 10);
    // Each item is renderable as it is: title, category, level and price
    // from the catalog; reasons name the learner's course and its title.
    for item in body["items"].as_array().unwrap() {
        let c = data
            .courses
            .iter()
            .find(|c| c.id == item["course_id"].as_str().unwrap())
            .unwrap();
        assert_eq!(item["title"], c.title.as_str());
        assert_eq!(item["category"], c.category.as_str());
        assert_eq!(item["level"], c.level.as_str());
        assert_eq!(item["price_cents"], c.price_cents);
        // Scores carry 4 significant digits, not f32 noise.
        let score = item["score"].as_f64().unwrap();
        assert!(
            score.to_string().trim_start_matches(['-', '0', '.']).len() <= 5,
            "{score}"
        );
        for r in item["reasons"].as_array().unwrap() {
            let title = r["title"].as_str().unwrap();
            assert!(data
                .courses
                .iter()
                .any(|c| c.id == r["course_id"].as_str().unwrap() && c.title == title));
            assert_eq!(r["text"], format!("because you took {title}"));
        }
    }
    assert!(body["items"][0]["reasons"]
        .as_array()
        .is_some_and(|r| !r.is_empty()));
    for bad in ["n=0", "n=101", "n=ten", "diversity=2", "explain=maybe"] {
        let r = app.get(&format!("/recommend/{user}?{bad}")).await;
        assert_eq!(r.status(), 400, "{bad}");
        assert_eq!(
            r.json::<Value>().await.unwrap()["error"]["code"],
            "invalid_parameter"
        );
    }
    let similar = app
        .get_ok(&format!("/courses/{}/similar?n=5", data.courses[0].id))
        .await;
    assert_eq!(course_ids(&similar).len(), 5);
    let r = app.get("/courses/no-such-course/similar").await;
    assert_eq!(r.status(), 404);
    assert_eq!(
        r.json::<Value>().await.unwrap()["error"]["code"],
        "course_not_found"
    );
    let popular = app.get_ok("/popular?n=3&category=python").await;
    assert!(course_ids(&popular)
        .iter()
        .all(|c| category_of(&data, c) == "python"));
    app.stop().await;
}
both_backends!(
    personalized,
    a_trained_model_gives_personalized_lists_without_taken_courses
);

async fn a_new_users_purchases_count_in_the_very_next_request(app: TestApp) {
    let data = trained(&app).await;
    let rust: Vec<&str> = data
        .courses
        .iter()
        .filter(|c| c.category == "rust")
        .map(|c| c.id.as_str())
        .take(3)
        .collect();
    let events: Vec<Value> = rust
        .iter()
        .map(|c| json!({"user_id": "newbie", "course_id": c, "type": "purchase"}))
        .collect();
    // Before: an unknown user gets popularity.
    assert_eq!(app.get_ok("/recommend/newbie").await["strategy"], "popular");
    assert_eq!(
        app.post_json("/events", &json!({"events": events}))
            .await
            .status(),
        202
    );
    let body = app.get_ok("/recommend/newbie?n=10").await;
    assert_eq!(body["strategy"], "fold_in");
    let items = course_ids(&body);
    assert!(
        items.iter().all(|c| !rust.contains(&c.as_str())),
        "bought courses offered again"
    );
    let systems = ["rust", "go", "algorithms"];
    let leaning = items
        .iter()
        .filter(|c| systems.contains(&category_of(&data, c)))
        .count();
    assert!(leaning >= 7, "only {leaning}/10 systems courses: {items:?}");
    // The user's next event invalidates the cached fold-in.
    let go = data.courses.iter().find(|c| c.category == "go").unwrap();
    let ev = json!({"user_id": "newbie", "course_id": go.id, "type": "purchase"});
    assert_eq!(app.post_json("/events", &ev).await.status(), 202);
    let after = course_ids(&app.get_ok("/recommend/newbie?n=10").await);
    assert!(!after.contains(&go.id));
    // A known user's new purchase is excluded at once too.
    let user = &data.users[0].0;
    let top = course_ids(&app.get_ok(&format!("/recommend/{user}?n=1")).await).remove(0);
    let ev = json!({"user_id": user, "course_id": top, "type": "purchase"});
    assert_eq!(app.post_json("/events", &ev).await.status(), 202);
    let body = app.get_ok(&format!("/recommend/{user}?n=10")).await;
    assert_eq!(body["strategy"], "fold_in");
    assert!(!course_ids(&body).contains(&top));
    app.stop().await;
}
both_backends!(fold_in, a_new_users_purchases_count_in_the_very_next_request);

async fn cold_users_get_interests_or_popularity(app: TestApp) {
    let data = trained(&app).await;
    let r = app
        .put_json("/users/fresh", &json!({"interests": ["python"]}))
        .await;
    assert_eq!(r.status(), 200);
    let body = app.get_ok("/recommend/fresh?n=5").await;
    assert_eq!(body["strategy"], "interests");
    let items = course_ids(&body);
    assert_eq!(items.len(), 5);
    for c in &items {
        let course = data.courses.iter().find(|x| &x.id == c).unwrap();
        assert!(
            course.category == "python" || course.tags.iter().any(|t| t == "python"),
            "{c}"
        );
    }
    let body = app.get_ok("/recommend/nobody-at-all?n=5").await;
    assert_eq!(body["strategy"], "popular");
    assert_eq!(course_ids(&body), course_ids(&app.get_ok("/popular?n=5").await));
    app.stop().await;
}
both_backends!(cold_start, cold_users_get_interests_or_popularity);

async fn catalog_changes_reach_the_live_model_without_a_retrain(app: TestApp) {
    let data = trained(&app).await;
    let version = app.get_ok("/model").await["version"].clone();
    let user = &data.users[0].0;
    let top = course_ids(&app.get_ok(&format!("/recommend/{user}?n=1")).await).remove(0);
    assert_eq!(app.delete(&format!("/courses/{top}")).await.status(), 204);
    let after = course_ids(&app.get_ok(&format!("/recommend/{user}?n=50")).await);
    assert!(!after.contains(&top), "deleted course still recommended");
    assert!(!course_ids(&app.get_ok("/popular?n=100").await).contains(&top));
    assert_eq!(app.get(&format!("/courses/{top}/similar")).await.status(), 404);

    // A brand-new Rust course gets a factor from its category and tags.
    let new = json!({"title": "Rust for embedded", "category": "rust", "tags": ["rust", "systems"], "level": "advanced", "price_cents": 9900});
    assert_eq!(
        app.put_json("/courses/rust-embedded-new", &new).await.status(),
        201
    );
    let similar = course_ids(&app.get_ok("/courses/rust-embedded-new/similar?n=5").await);
    assert!(
        similar.iter().filter(|c| category_of(&data, c) == "rust").count() >= 3,
        "{similar:?}"
    );
    let audience = app.get_ok("/courses/rust-embedded-new/audience?n=20").await;
    assert_eq!(audience["users"].as_array().unwrap().len(), 20);
    assert_eq!(app.get_ok("/model").await["version"], version);
    app.stop().await;
}
both_backends!(
    catalog_live,
    catalog_changes_reach_the_live_model_without_a_retrain
);

async fn a_failed_training_keeps_the_old_model_serving(app: TestApp) {
    let data = trained(&app).await;
    let version = app.get_ok("/model").await["version"].as_i64().unwrap();
    let user = &data.users[1].0;
    let before = app.get_ok(&format!("/recommend/{user}")).await;
    app.state.trainer.fail_next_run();
    assert_eq!(app.post_json("/model/retrain", &json!({})).await.status(), 202);
    app.wait_for_training().await;
    assert_eq!(app.get_ok("/model").await["version"].as_i64().unwrap(), version);
    let after = app.get_ok(&format!("/recommend/{user}")).await;
    assert_eq!(course_ids(&after), course_ids(&before));
    let text = app.get("/metrics").await.text().await.unwrap();
    assert!(
        text.contains("courserec_training_failures_total{reason=\"injected\"} 1"),
        "{text}"
    );
    // The next run succeeds and publishes a newer version.
    assert_eq!(app.post_json("/model/retrain", &json!({})).await.status(), 202);
    app.wait_for_training().await;
    assert_eq!(
        app.get_ok("/model").await["version"].as_i64().unwrap(),
        version + 1
    );
    app.stop().await;
}
both_backends!(failed_training, a_failed_training_keeps_the_old_model_serving);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_retrain_request_while_one_runs_gets_409() {
    let app = spawn_app_with(Backend::Sqlite, |s| s.train.enabled = false)
        .await
        .unwrap();
    trained(&app).await;
    assert_eq!(app.post_json("/model/retrain", &json!({})).await.status(), 202);
    let r = app.post_json("/model/retrain", &json!({})).await;
    assert_eq!(r.status(), 409);
    assert_eq!(
        r.json::<Value>().await.unwrap()["error"]["code"],
        "training_in_progress"
    );
    app.wait_for_training().await;
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restart_serves_the_persisted_model_without_retraining() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("keep.db").display());
    let u = url.clone();
    let app = spawn_app_with(Backend::Sqlite, move |s| {
        s.database.url = u;
        s.train.enabled = false;
    })
    .await
    .unwrap();
    let data = trained(&app).await;
    let user = &data.users[3].0;
    let model = app.get_ok("/model").await;
    let list = app.get_ok(&format!("/recommend/{user}")).await;
    app.stop().await;

    let app = spawn_app_with(Backend::Sqlite, move |s| {
        s.database.url = url;
        s.train.enabled = false;
    })
    .await
    .unwrap();
    let again = app.get_ok("/model").await;
    assert_eq!(again["version"], model["version"]);
    assert_eq!(again["trained_at"], model["trained_at"]);
    // Persisted before its own phase ended: every phase but `persist`.
    let phases = model["phases"].as_array().unwrap();
    assert_eq!(
        again["phases"].as_array().unwrap()[..],
        phases[..phases.len() - 1]
    );
    let list2 = app.get_ok(&format!("/recommend/{user}")).await;
    assert_eq!(list2["items"], list["items"]);
    assert_eq!(list2["strategy"], "personalized");
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restart_does_not_bring_back_erased_users_or_deleted_courses() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("keep.db").display());
    let u = url.clone();
    let app = spawn_app_with(Backend::Sqlite, move |s| s.database.url = u)
        .await
        .unwrap();
    let data = trained(&app).await;
    let (gone, other) = (&data.users[3].0, &data.users[4].0);
    let top = course_ids(&app.get_ok(&format!("/recommend/{other}")).await)[0].clone();
    assert_eq!(app.delete(&format!("/users/{gone}")).await.status(), 204);
    assert_eq!(app.delete(&format!("/courses/{top}")).await.status(), 204);
    app.stop().await;

    // The persisted model still holds both; the restart must not use them.
    let app = spawn_app_with(Backend::Sqlite, move |s| s.database.url = url)
        .await
        .unwrap();
    let b = app.get_ok(&format!("/recommend/{gone}")).await;
    assert_ne!(b["strategy"], "personalized", "{b}");
    let b = app.get_ok(&format!("/recommend/{other}")).await;
    assert_eq!(b["strategy"], "personalized");
    assert!(!course_ids(&b).contains(&top), "{b}");
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hot_swaps_under_load_never_fail_a_request() {
    let app = spawn_app_with(Backend::Sqlite, |s| s.train.enabled = false)
        .await
        .unwrap();
    let data = trained(&app).await;
    let users: Vec<String> = data.users.iter().take(50).map(|u| u.0.clone()).collect();
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let mut loops = Vec::new();
    for w in 0..4 {
        let (client, base, users, stop) = (app.client.clone(), app.addr.clone(), users.clone(), stop.clone());
        loops.push(tokio::spawn(async move {
            let mut seen = Vec::new();
            let mut i = w;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                let r = client
                    .get(format!("{base}/recommend/{}", users[i % users.len()]))
                    .send()
                    .await
                    .unwrap();
                assert_eq!(r.status(), 200);
                let b: Value = r.json().await.unwrap();
                assert_eq!(b["items"].as_array().unwrap().len(), 10);
                seen.push(b["model_version"].as_i64().unwrap());
                i += 1;
            }
            seen
        }));
    }
    let mut published = vec![app.get_ok("/model").await["version"].as_i64().unwrap()];
    for _ in 0..3 {
        match app.state.trainer.run_now().await {
            Some(Outcome::Published(v)) => published.push(v),
            other => panic!("retrain failed: {other:?}"),
        }
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let mut total = 0;
    for l in loops {
        let seen = l.await.expect("no request failed");
        total += seen.len();
        assert!(
            seen.iter().all(|v| published.contains(v)),
            "unknown version in {seen:?}"
        );
        assert!(seen.windows(2).all(|w| w[0] <= w[1]), "a version went backwards");
    }
    assert!(total > 20, "only {total} requests ran during the swaps");
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_background_loop_trains_once_enough_events_arrived() {
    let app = spawn_app_with(Backend::Sqlite, |s| {
        s.train.enabled = true;
        s.train.check_secs = 1;
    })
    .await
    .unwrap();
    assert_eq!(app.get_ok("/model").await["status"], "no_model");
    app.load(&generate(7, &DemoSize::small(), courserec::domain::now_ms()))
        .await;
    for _ in 0..600 {
        if app.get_ok("/model").await["status"] == "serving" {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert_eq!(
        app.get_ok("/model").await["status"],
        "serving",
        "no model after 60 s"
    );
    app.stop().await;
}
