//! One owner for per-learner data: after erasing learners and restarting on
//! the same store, every other learner's answers on every learner-facing
//! route are what they were (their own predictions, RFM group, segment,
//! recommendations, audience rows), the erased are gone, segment sizes
//! follow at once, and nothing answers 500.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::time::Duration;

use courserec::serve::snapshot::ModelSnapshot;
use serde_json::{json, Value};

use crate::both_backends;
use crate::helpers::TestApp;
use crate::marketing::all_pages;
use crate::recommend::trained;

/// What one learner is told.
#[derive(Debug, Clone, PartialEq)]
struct Own {
    predictions: Value,
    rfm: Value,
    profile_segment: Value,
    segment: Value,
    recommend: Value,
}

/// Every learner-facing answer the test compares.
struct Answers {
    learners: BTreeMap<String, Own>,
    /// Audience rows by query, in rank order.
    audiences: BTreeMap<String, Vec<Value>>,
    /// Segment id → (size, share, sorted members).
    segments: BTreeMap<u64, (u64, f64, Vec<String>)>,
    /// `/courses/<id>/audience` rows.
    course_audience: Vec<Value>,
}

async fn ok(app: &TestApp, path: &str) -> Value {
    let r = app.get(path).await;
    let status = r.status();
    let body = r.text().await.unwrap();
    assert_eq!(status, 200, "{path}: {body}");
    serde_json::from_str(&body).unwrap()
}

async fn answers(app: &TestApp, learners: &[String], courses: &[String]) -> Answers {
    let mut own = BTreeMap::new();
    for u in learners {
        let profile = ok(app, &format!("/users/{u}/profile")).await;
        let rec = ok(app, &format!("/users/{u}/segment")).await;
        let recommend = ok(app, &format!("/recommend/{u}?n=10")).await;
        own.insert(
            u.clone(),
            Own {
                predictions: profile["predictions"].clone(),
                rfm: profile["rfm"].clone(),
                profile_segment: profile["segment"].clone(),
                segment: rec,
                recommend: json!([recommend["strategy"], recommend["items"]]),
            },
        );
    }
    let mut audiences = BTreeMap::new();
    for q in [
        "/audiences?min_purchase_probability=0".to_string(),
        format!("/audiences?course_id={}", courses[0]),
        format!("/audiences?course_id={}", courses[1]),
        "/audiences?rfm=champions,loyal,at_risk,hibernating,lost".to_string(),
    ] {
        let rows = all_pages(app, &q, 1000).await;
        audiences.insert(q, rows);
    }
    let mut segments = BTreeMap::new();
    for s in ok(app, "/segments").await["segments"].as_array().unwrap() {
        let id = s["id"].as_u64().unwrap();
        let members = ok(app, &format!("/segments/{id}/users?limit=10000")).await;
        let mut users: Vec<String> = members["users"]
            .as_array()
            .unwrap()
            .iter()
            .map(|u| u.as_str().unwrap().to_string())
            .collect();
        users.sort();
        let size = s["size"].as_u64().unwrap();
        assert_eq!(
            size as usize,
            users.len(),
            "segment {id}: size and member list agree"
        );
        segments.insert(id, (size, s["share"].as_f64().unwrap(), users));
    }
    let course_audience = ok(app, &format!("/courses/{}/audience?n=10000", courses[0])).await["users"]
        .as_array()
        .unwrap()
        .clone();
    Answers {
        learners: own,
        audiences,
        segments,
        course_audience,
    }
}

fn user_of(row: &Value) -> &str {
    row["user_id"].as_str().unwrap()
}

/// `before` less the erased learners is `after`, row for row.
fn assert_lists_follow(before: &Answers, after: &Answers, gone: &HashSet<String>, when: &str) {
    for (q, rows) in &before.audiences {
        let want: Vec<&Value> = rows.iter().filter(|r| !gone.contains(user_of(r))).collect();
        let got: Vec<&Value> = after.audiences[q].iter().collect();
        assert_eq!(got, want, "{when} {q}");
    }
    let want: Vec<&Value> = before
        .course_audience
        .iter()
        .filter(|r| !gone.contains(user_of(r)))
        .collect();
    assert_eq!(
        after.course_audience.iter().collect::<Vec<_>>(),
        want,
        "{when} course audience"
    );
    // Segment sizes and shares drop with the member lists.
    let total: u64 = after.segments.values().map(|s| s.0).sum();
    assert_eq!(
        total as usize,
        before.segments.values().map(|s| s.0).sum::<u64>() as usize - gone.len(),
        "{when}"
    );
    for (id, (_, _, members)) in &before.segments {
        let (size, share, now) = &after.segments[id];
        let want: Vec<String> = members.iter().filter(|u| !gone.contains(*u)).cloned().collect();
        assert_eq!(now, &want, "{when} segment {id} members");
        assert_eq!(*size as usize, want.len(), "{when} segment {id} size");
        assert!(
            (share - *size as f64 / total as f64).abs() < 1e-4,
            "{when} segment {id} share {share}"
        );
    }
}

async fn persisted_without(app: &TestApp, gone: &HashSet<String>) -> bool {
    let rows = app.store.all_snapshots().await.unwrap();
    rows.len() == 1 && {
        let s = ModelSnapshot::decode(&rows[0]).unwrap();
        s.users.ids.iter().all(|u| !gone.contains(u))
    }
}

/// Creates a campaign: (treatment, control) sizes, counting the learners
/// held out as controls of an earlier campaign for the same course as
/// control too (they are in a control group either way).
async fn campaign(app: &TestApp, name: &str, course: &str) -> (u64, u64) {
    let body = json!({"name": name, "course_id": course, "control_share": 0.5});
    let r = app.post_json("/campaigns", &body).await;
    let status = r.status();
    let created: Value = r.json().await.unwrap();
    assert_eq!(status, 201, "{created}");
    (
        created["treatment_size"].as_u64().unwrap(),
        created["control_size"].as_u64().unwrap() + created["held_out_overlap"].as_u64().unwrap(),
    )
}

async fn erased_learners_leave_everyone_else_s_answers_unchanged_across_a_restart(app: TestApp) {
    let data = trained(&app).await;
    let snap = app.state.live.snapshot().unwrap();
    let learners: Vec<String> = snap.users.ids.clone();
    assert!(snap.users.marketing.is_some() && snap.users.segment.is_some());
    drop(snap);
    let courses: Vec<String> = data.courses.iter().take(2).map(|c| c.id.clone()).collect();
    let before = answers(&app, &learners, &courses).await;
    assert!(before
        .learners
        .values()
        .all(|o| o.predictions.is_object() && o.rfm.is_object()));
    let sizes = campaign(&app, "before", &courses[0]).await;
    let audience = |q: &str| {
        before.audiences[q]
            .iter()
            .map(|r| user_of(r).to_string())
            .collect::<Vec<_>>()
    };
    assert_eq!(
        sizes.0 + sizes.1,
        audience(&format!("/audiences?course_id={}", courses[0])).len() as u64
    );

    // The first learners of the table (everyone after them shifts) and two
    // of the second course's audience.
    let mut gone: HashSet<String> = learners[..2].iter().cloned().collect();
    let second: Vec<String> = audience(&format!("/audiences?course_id={}", courses[1]))
        .into_iter()
        .filter(|u| !gone.contains(u))
        .take(2)
        .collect();
    gone.extend(second);
    for u in &gone {
        assert_eq!(app.delete(&format!("/users/{u}")).await.status(), 204);
    }
    let kept: Vec<String> = learners.iter().filter(|u| !gone.contains(*u)).cloned().collect();

    // At once, before any retrain: lists and segment sizes follow.
    let live = answers(&app, &kept, &courses).await;
    assert_lists_follow(&before, &live, &gone, "live");

    // The snapshot is re-persisted without them (off the request path).
    let mut clean = false;
    for _ in 0..100 {
        if persisted_without(&app, &gone).await {
            clean = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(clean, "the persisted snapshot still holds an erased learner");

    let app = app.restart(|_| {}).await;
    let snap = app.state.live.snapshot().unwrap();
    assert!(
        snap.users.ids.iter().all(|u| !gone.contains(u)),
        "restored the old snapshot"
    );
    assert_eq!(snap.users.len(), kept.len());
    drop(snap);
    let after = answers(&app, &kept, &courses).await;
    let changed: Vec<&String> = kept
        .iter()
        .filter(|u| before.learners[*u] != after.learners[*u])
        .collect();
    assert!(
        changed.is_empty(),
        "{} learners' answers changed, e.g. {:?}: {:?} then {:?}",
        changed.len(),
        changed[0],
        before.learners[changed[0]],
        after.learners[changed[0]]
    );
    assert_lists_follow(&before, &after, &gone, "after restart");
    for u in &gone {
        for path in [format!("/users/{u}/profile"), format!("/users/{u}/segment")] {
            assert_eq!(app.get(&path).await.status(), 404, "{path}");
        }
        let r = ok(&app, &format!("/recommend/{u}")).await;
        assert_ne!(r["strategy"], "personalized", "{r}");
    }
    // Campaigns still work and count only who is left.
    let after_audience: Vec<String> = after.audiences[&format!("/audiences?course_id={}", courses[1])]
        .iter()
        .map(|r| user_of(r).to_string())
        .collect();
    let (t, c) = campaign(&app, "after", &courses[1]).await;
    assert_eq!((t + c) as usize, after_audience.len());
    let campaigns = ok(&app, "/campaigns").await;
    let mut recipients: HashMap<String, Vec<String>> = HashMap::new();
    for k in campaigns["campaigns"].as_array().unwrap() {
        let id = k["campaign_id"].as_str().unwrap();
        let rows = all_pages(&app, &format!("/campaigns/{id}/recipients?x=1"), 1000).await;
        recipients.insert(
            id.to_string(),
            rows.iter().map(|r| user_of(r).to_string()).collect(),
        );
    }
    assert_eq!(recipients.len(), 2);
    assert!(recipients.values().flatten().all(|u| !gone.contains(u)));
    app.stop().await;
}

both_backends!(
    erasure_keeps_each_learner_s_own_row,
    erased_learners_leave_everyone_else_s_answers_unchanged_across_a_restart
);
