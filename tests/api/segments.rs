use std::collections::{HashMap, HashSet};

use courserec::demo::{generate, DemoSize};
use courserec::retrain::Outcome;
use courserec::segment::ari::adjusted_rand_index;
use serde_json::{json, Value};

use crate::both_backends;
use crate::helpers::{spawn_app_with, Backend, TestApp};
use crate::recommend::trained;

/// Every member of every segment through keyset pagination.
async fn all_members(app: &TestApp, limit: usize) -> HashMap<String, u32> {
    let segs = app.get_ok("/segments").await;
    let mut out = HashMap::new();
    for s in segs["segments"].as_array().unwrap() {
        let id = s["id"].as_u64().unwrap() as u32;
        let mut after: Option<String> = None;
        let mut count = 0;
        loop {
            let q = match &after {
                Some(a) => format!("/segments/{id}/users?limit={limit}&after={a}"),
                None => format!("/segments/{id}/users?limit={limit}"),
            };
            let page = app.get_ok(&q).await;
            for u in page["users"].as_array().unwrap() {
                let prev = out.insert(u.as_str().unwrap().to_string(), id);
                assert!(prev.is_none(), "{u} listed twice");
                count += 1;
            }
            match page["next"].as_str() {
                Some(a) => after = Some(a.to_string()),
                None => break,
            }
        }
        assert_eq!(count, s["size"].as_u64().unwrap() as usize, "segment {id} size");
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn segments_recover_the_demo_taste_groups() {
    let app = spawn_app_with(Backend::Sqlite, |s| s.train.enabled = false)
        .await
        .unwrap();
    let data = generate(
        courserec::demo::DEMO_SEED,
        &DemoSize::default(),
        courserec::domain::now_ms(),
    );
    app.load(&data).await;
    assert!(matches!(
        app.state.trainer.run_now().await,
        Some(Outcome::Published(_))
    ));
    let members = all_members(&app, 700).await;
    let (truth, found): (Vec<usize>, Vec<u32>) = data
        .taste_groups
        .iter()
        .filter_map(|(u, g)| members.get(u).map(|s| (*g, *s)))
        .collect();
    assert!(
        truth.len() as f64 > 0.95 * data.users.len() as f64,
        "most users are segmented"
    );
    let ari = adjusted_rand_index(&truth, &found);
    println!("ARI against the generator's taste groups: {ari:.3}");
    assert!(ari >= 0.8, "ARI {ari}");
    let segs = app.get_ok("/segments").await;
    for s in segs["segments"].as_array().unwrap() {
        assert!(s["label"].as_str().is_some_and(|l| !l.is_empty()));
        assert!(s["share"].as_f64().unwrap() > 0.0);
        assert!(!s["top_categories"].as_array().unwrap().is_empty());
    }
    app.stop().await;
}

async fn audiences_exclude_owners_and_respect_segments(app: TestApp) {
    let data = trained(&app).await;
    let groups: HashMap<&str, usize> = data.taste_groups.iter().map(|(u, g)| (u.as_str(), *g)).collect();
    let owners = |course: &str| -> HashSet<&str> {
        use courserec::domain::EventType::*;
        data.events
            .iter()
            .filter(|e| e.course_id == course && matches!(e.kind, Purchase | Rating))
            .map(|e| e.user_id.as_str())
            .collect()
    };
    let rust = data
        .courses
        .iter()
        .find(|c| c.category == "rust" && !owners(&c.id).is_empty())
        .unwrap();
    let audience = app.get_ok(&format!("/courses/{}/audience?n=50", rust.id)).await;
    let users: Vec<&str> = audience["users"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["user_id"].as_str().unwrap())
        .collect();
    assert_eq!(users.len(), 50);
    let own = owners(&rust.id);
    assert!(
        users.iter().all(|u| !own.contains(u)),
        "an owner is in the audience"
    );
    let systems = users.iter().filter(|u| groups.get(*u) == Some(&0)).count();
    assert!(
        systems >= 40,
        "only {systems}/50 of the Rust audience is in the systems group"
    );

    // Filtered to one segment: every member belongs to it.
    let seg = app.get_ok(&format!("/users/{}/segment", users[0])).await["segment_id"]
        .as_u64()
        .unwrap();
    let filtered = app
        .get_ok(&format!("/courses/{}/audience?n=30&segment={seg}", rust.id))
        .await;
    for u in filtered["users"].as_array().unwrap() {
        assert_eq!(u["segment_id"].as_u64().unwrap(), seg);
        let who = u["user_id"].as_str().unwrap();
        assert_eq!(
            app.get_ok(&format!("/users/{who}/segment")).await["segment_id"]
                .as_u64()
                .unwrap(),
            seg
        );
    }
    // A buyer after training drops out of the audience at once.
    let top = users[0];
    let ev = json!({"user_id": top, "course_id": rust.id, "type": "purchase"});
    assert_eq!(app.post_json("/events", &ev).await.status(), 202);
    let again = app.get_ok(&format!("/courses/{}/audience?n=50", rust.id)).await;
    assert!(again["users"]
        .as_array()
        .unwrap()
        .iter()
        .all(|u| u["user_id"] != top));
    for (path, code) in [
        ("/courses/nope/audience".to_string(), "course_not_found"),
        (
            format!("/courses/{}/audience?segment=999", rust.id),
            "segment_not_found",
        ),
        ("/segments/999/users".to_string(), "segment_not_found"),
        ("/users/nobody/segment".to_string(), "user_not_found"),
    ] {
        let r = app.get(&path).await;
        assert_eq!(r.status(), 404, "{path}");
        assert_eq!(r.json::<Value>().await.unwrap()["error"]["code"], code, "{path}");
    }
    app.stop().await;
}
both_backends!(audience, audiences_exclude_owners_and_respect_segments);

async fn pagination_and_csv_export_list_every_member_once(app: TestApp) {
    let data = trained(&app).await;
    let members = all_members(&app, 37).await;
    assert_eq!(members.len(), data.users.len());
    let segs = app.get_ok("/segments").await;
    let id = segs["segments"][0]["id"].as_u64().unwrap();
    let csv = app
        .client
        .get(app.url(&format!("/segments/{id}/users")))
        .header("accept", "text/csv")
        .send()
        .await
        .unwrap();
    assert!(csv.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/csv"));
    let text = csv.text().await.unwrap();
    let mut lines = text.lines();
    assert_eq!(lines.next(), Some("user_id"));
    let from_csv: Vec<&str> = lines.collect();
    let mut from_json: Vec<&str> = members
        .iter()
        .filter(|(_, s)| **s as u64 == id)
        .map(|(u, _)| u.as_str())
        .collect();
    from_json.sort_unstable();
    assert_eq!(from_csv, from_json);
    // Profiles include the user's segment and their latest events.
    let user = &data.users[0].0;
    let before = app.get_ok(&format!("/users/{user}/profile")).await;
    assert!(before["segment"]["segment_id"].is_number());
    let ev = json!({"user_id": user, "course_id": data.courses[0].id, "type": "view"});
    assert_eq!(app.post_json("/events", &ev).await.status(), 202);
    let after = app.get_ok(&format!("/users/{user}/profile")).await;
    let views = |p: &Value| p["counts"]["view"].as_u64().unwrap_or(0);
    assert_eq!(views(&after), views(&before) + 1);
    // A user who only arrived after training has a profile and a segment.
    let ev = json!({"user_id": "late", "course_id": data.courses[0].id, "type": "purchase"});
    assert_eq!(app.post_json("/events", &ev).await.status(), 202);
    let late = app.get_ok("/users/late/profile").await;
    assert_eq!(late["counts"]["purchase"], 1);
    assert!(late["segment"]["segment_id"].is_number());
    app.stop().await;
}
both_backends!(pagination, pagination_and_csv_export_list_every_member_once);
