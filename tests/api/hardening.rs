//! Hardening, second round: one learner per person (ids in NFC, padded ids
//! refused), no silent loss on `event_id` replays, long exclusion lists in a
//! JSON body, and catalog edits made during a training surviving its publish.

use serde_json::{json, Value};

use crate::both_backends;
use crate::helpers::TestApp;

/// "José" with a precomposed é (NFC) and with e + U+0301 (NFD).
const COMPOSED: &str = "jos\u{e9}";
const DECOMPOSED: &str = "jose\u{301}";
/// The two spellings percent-encoded for a path.
const COMPOSED_PATH: &str = "jos%C3%A9";
const DECOMPOSED_PATH: &str = "jose%CC%81";

fn event(user: &str, course: &str, kind: &str) -> Value {
    json!({"user_id": user, "course_id": course, "type": kind})
}

async fn status_and_body(r: reqwest::Response) -> (u16, Value) {
    let status = r.status().as_u16();
    (status, r.json().await.unwrap_or(Value::Null))
}

async fn one_person_is_one_learner_whatever_the_spelling(app: TestApp) {
    for user in [COMPOSED, DECOMPOSED] {
        let r = app.post_json("/events", &event(user, "rust-1", "view")).await;
        assert_eq!(r.status(), 202);
    }
    // Both events belong to the composed spelling; nothing else is stored.
    assert_eq!(app.store.user_aggregates(COMPOSED).await.unwrap()[0].count, 2);
    assert!(app.store.user_aggregates(DECOMPOSED).await.unwrap().is_empty());
    // Paths and query values are compared in NFC as well.
    let by_decomposed = app.get_ok(&format!("/recommend/{DECOMPOSED_PATH}")).await;
    assert_eq!(by_decomposed["user_id"], COMPOSED);
    // A course id in a body and in a path, too.
    let course = json!({"title": "Caf\u{e9} Rust", "category": "rust", "level": "beginner"});
    let r = app.put_json("/courses/cafe%CC%81", &course).await;
    assert!(r.status().is_success(), "{}", r.status());
    let card = app.get_ok("/courses/caf%C3%A9").await;
    assert_eq!(card["course_id"], "caf\u{e9}");

    // Padded ids are refused, never trimmed and never stored.
    let before = app.event_count().await;
    let (status, body) = status_and_body(
        app.post_json(
            "/events",
            &json!({"events": [event("ok", "rust-1", "view"), event(" u1", "rust-1", "view")]}),
        )
        .await,
    )
    .await;
    assert_eq!(status, 422, "{body}");
    assert_eq!(body["error"]["details"][0]["index"], 1);
    assert_eq!(body["error"]["details"][0]["field"], "user_id");
    assert_eq!(app.event_count().await, before, "nothing of the batch stored");
    for path in ["/users/%20u1", "/users/u1%20"] {
        let (status, body) = status_and_body(app.put_json(path, &json!({})).await).await;
        assert_eq!(
            (status, body["error"]["code"].as_str()),
            (422, Some("invalid_id")),
            "{path}"
        );
    }
    let (status, body) = status_and_body(app.get("/recommend/u1?exclude=%20c1").await).await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (422, Some("invalid_id"))
    );
    let (status, _) = status_and_body(
        app.post_json(
            "/courses",
            &json!([{"id": "c9 ", "title": "T", "category": "rust", "level": "beginner"}]),
        )
        .await,
    )
    .await;
    assert_eq!(status, 422);
    assert!(app.get("/courses/c9").await.status() == 404);

    // A row written before ids were normalised (straight into the store)
    // is reached by the erasure of the person, whichever spelling is used.
    let legacy = courserec::domain::Event {
        event_id: None,
        user_id: DECOMPOSED.into(),
        course_id: "rust-1".into(),
        kind: courserec::domain::EventType::View,
        value: None,
        ts_ms: courserec::domain::now_ms(),
        rec_id: None,
    };
    app.store.insert_events(&[legacy], &[]).await.unwrap();
    assert!(!app.store.user_aggregates(DECOMPOSED).await.unwrap().is_empty());
    assert_eq!(app.delete(&format!("/users/{COMPOSED_PATH}")).await.status(), 204);
    assert!(app.store.user_aggregates(COMPOSED).await.unwrap().is_empty());
    assert!(app.store.user_aggregates(DECOMPOSED).await.unwrap().is_empty());
    app.stop().await;
}
both_backends!(one_learner, one_person_is_one_learner_whatever_the_spelling);

async fn an_event_id_replayed_with_another_body_is_refused_not_dropped(app: TestApp) {
    let first = json!({"event_id": "e1", "user_id": "u1", "course_id": "c1", "type": "rating", "value": 4});
    let r = app.post_json("/events", &first).await;
    assert_eq!(r.status(), 202);
    // An exact replay (no ts: stamped anew, not compared) is a duplicate.
    let (status, body) = status_and_body(app.post_json("/events", &first).await).await;
    assert_eq!(
        (status, body.clone()),
        (202, json!({"accepted": 0, "duplicates": 1}))
    );
    let count = app.event_count().await;

    // Another value, course or type under the same id: 409 naming the index,
    // and nothing of the batch stored.
    let mut other_value = first.clone();
    other_value["value"] = json!(5);
    let fresh = json!({"event_id": "e2", "user_id": "u2", "course_id": "c1", "type": "view"});
    let (status, body) = status_and_body(
        app.post_json("/events", &json!({"events": [fresh, other_value]}))
            .await,
    )
    .await;
    assert_eq!(status, 409, "{body}");
    assert_eq!(body["error"]["code"], "event_id_conflict");
    assert_eq!(body["error"]["details"][0]["index"], 1);
    assert_eq!(body["error"]["details"][0]["field"], "event_id");
    assert_eq!(
        app.event_count().await,
        count,
        "the fresh event of that batch is not stored"
    );
    let mut other_course = first.clone();
    other_course["course_id"] = json!("c2");
    assert_eq!(app.post_json("/events", &other_course).await.status(), 409);

    // An explicit time is part of the body.
    let timed = json!({"event_id": "e3", "user_id": "u1", "course_id": "c1", "type": "view", "ts": "2026-01-02T03:04:05Z"});
    assert_eq!(app.post_json("/events", &timed).await.status(), 202);
    assert_eq!(app.post_json("/events", &timed).await.status(), 202);
    let mut later = timed.clone();
    later["ts"] = json!("2026-01-02T03:04:06Z");
    assert_eq!(app.post_json("/events", &later).await.status(), 409);

    // Within one batch, the second copy must agree with the first.
    let a = json!({"event_id": "e4", "user_id": "u1", "course_id": "c1", "type": "view"});
    let b = json!({"event_id": "e4", "user_id": "u1", "course_id": "c9", "type": "view"});
    let (status, body) =
        status_and_body(app.post_json("/events", &json!({"events": [a.clone(), b]})).await).await;
    assert_eq!(status, 409, "{body}");
    assert_eq!(body["error"]["details"][0]["index"], 1);
    let (status, body) =
        status_and_body(app.post_json("/events", &json!({"events": [a.clone(), a]})).await).await;
    assert_eq!((status, body), (202, json!({"accepted": 1, "duplicates": 1})));
    let metrics = app.get("/metrics").await.text().await.unwrap();
    assert!(
        metrics.contains("courserec_events_rejected_total{reason=\"event_id_conflict\"}"),
        "conflicts are counted"
    );
    app.stop().await;
}
both_backends!(
    event_id_conflict,
    an_event_id_replayed_with_another_body_is_refused_not_dropped
);

async fn long_exclusion_lists_go_in_a_json_body(app: TestApp) {
    let data = crate::recommend::trained(&app).await;
    let user = data.users[0].0.clone();
    let get = app.get_ok(&format!("/recommend/{user}?n=5")).await;
    let first = crate::helpers::course_ids(&get)[0].clone();
    // The same list as the GET, then without its first course.
    let post = app
        .post_json(&format!("/recommend/{user}"), &json!({"n": 5}))
        .await;
    assert_eq!(post.status(), 200);
    let post: Value = post.json().await.unwrap();
    assert_eq!(
        crate::helpers::course_ids(&post),
        crate::helpers::course_ids(&get)
    );
    let mut exclude: Vec<String> = (0..9_999)
        .map(|i| format!("not-a-course-{i:05}-{}", "x".repeat(60)))
        .collect();
    exclude.push(first.clone());
    let r = app
        .post_json(
            &format!("/recommend/{user}"),
            &json!({"n": 5, "exclude": exclude}),
        )
        .await;
    assert_eq!(r.status(), 200, "10,000 exclusions answered");
    let body: Value = r.json().await.unwrap();
    assert!(!crate::helpers::course_ids(&body).contains(&first));
    assert_eq!(crate::helpers::course_ids(&body).len(), 5);
    // Bad parameters: 422 naming the field; unknown fields are refused.
    for (bad, field) in [
        (json!({"n": 0}), "n"),
        (json!({"diversity": 2}), "diversity"),
        (json!({"exclude": [" c1"]}), "exclude"),
    ] {
        let (status, body) = status_and_body(app.post_json(&format!("/recommend/{user}"), &bad).await).await;
        assert_eq!(status, 422, "{bad}");
        assert_eq!(body["error"]["details"][0]["field"], field, "{body}");
    }
    let (status, _) = status_and_body(
        app.post_json(&format!("/recommend/{user}"), &json!({"nn": 3}))
            .await,
    )
    .await;
    assert_eq!(status, 422);
    app.stop().await;
}
both_backends!(post_recommend, long_exclusion_lists_go_in_a_json_body);

async fn unknown_courses_and_broken_bodies_are_client_errors(app: TestApp) {
    // No model yet: an unknown course is still 404, a known one 503.
    let (status, body) = status_and_body(app.get("/courses/nope/audience").await).await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (404, Some("course_not_found"))
    );
    let course = json!({"title": "Rust", "category": "rust", "level": "beginner"});
    assert!(app
        .put_json("/courses/known", &course)
        .await
        .status()
        .is_success());
    assert_eq!(app.get("/courses/known/audience").await.status(), 503);
    // A retrain body that is sent must be JSON.
    let r = app
        .client
        .post(app.url("/model/retrain"))
        .header("content-type", "application/json")
        .body("{not json")
        .send()
        .await
        .unwrap();
    let (status, body) = status_and_body(r).await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (400, Some("malformed_json"))
    );
    app.stop().await;
}
both_backends!(client_errors, unknown_courses_and_broken_bodies_are_client_errors);

async fn catalog_edits_made_during_a_training_survive_its_publish(app: TestApp) {
    let data = crate::recommend::trained(&app).await;
    let (gone, off) = (data.courses[0].id.clone(), data.courses[1].id.clone());
    // A training held after it read the catalog, until the edits are made.
    let held = app.hold_training().await;
    // GET /model shows the running training's phase (held after its read).
    let model = app.get_ok("/model").await;
    assert_eq!(model["training"], true, "{model}");
    assert_eq!(model["training_phase"]["name"], "read", "{model}");
    assert_eq!(
        model["training_phase"]["phases_done"], 1,
        "compact came first: {model}"
    );
    let new = json!({"title": "Brand New Rust", "category": data.courses[2].category, "level": "beginner"});
    assert_eq!(app.put_json("/courses/brand-new", &new).await.status(), 201);
    assert_eq!(app.delete(&format!("/courses/{gone}")).await.status(), 204);
    let mut inactive = app.get_ok(&format!("/courses/{off}")).await;
    inactive["active"] = json!(false);
    assert!(app
        .put_json(&format!("/courses/{off}"), &inactive)
        .await
        .status()
        .is_success());
    let outcome = held.release().await;
    assert!(app.get_ok("/model").await.get("training_phase").is_none());
    assert!(
        matches!(outcome, Some(courserec::retrain::Outcome::Published(_))),
        "{outcome:?}"
    );

    let snap = app.state.live.snapshot().unwrap();
    let c = &snap.courses;
    let meta = |id: &str| c.index.get(id).map(|&i| c.meta[i as usize].clone());
    assert!(
        meta("brand-new").is_some_and(|m| m.listed),
        "the new course is in"
    );
    assert!(
        meta(&gone).is_none_or(|m| !m.listed),
        "the deleted course stays out"
    );
    assert!(
        meta(&off).is_none_or(|m| !m.active),
        "the deactivated course stays inactive"
    );
    assert_eq!(app.get(&format!("/courses/{gone}/similar")).await.status(), 404);
    for (user, _) in data.users.iter().take(50) {
        let list = app.get_ok(&format!("/recommend/{user}?n=20")).await;
        let ids = crate::helpers::course_ids(&list);
        assert!(!ids.contains(&gone) && !ids.contains(&off), "{user}: {ids:?}");
    }
    app.stop().await;
}
both_backends!(
    catalog_during_training,
    catalog_edits_made_during_a_training_survive_its_publish
);
