use serde_json::{json, Value};

use crate::both_backends;
use crate::helpers::TestApp;

fn event(user: &str, course: &str, kind: &str) -> Value {
    json!({"user_id": user, "course_id": course, "type": kind})
}

async fn single_and_batch_events_are_stored_before_the_202(app: TestApp) {
    let r = app.post_json("/events", &event("u1", "c1", "view")).await;
    assert_eq!(r.status(), 202);
    assert_eq!(
        r.json::<Value>().await.unwrap(),
        json!({"accepted": 1, "duplicates": 0})
    );
    assert_eq!(app.event_count().await, 1);

    let batch: Vec<Value> = (0..50)
        .map(|i| json!({"user_id": format!("u{i}"), "course_id": "c2", "type": "rating", "value": 4, "ts": "2026-01-02T03:04:05Z"}))
        .collect();
    let r = app.post_json("/events", &json!({"events": batch})).await;
    assert_eq!(r.status(), 202);
    assert_eq!(
        r.json::<Value>().await.unwrap(),
        json!({"accepted": 50, "duplicates": 0})
    );
    assert_eq!(app.event_count().await, 51);
    let aggs = app.store.user_aggregates("u7").await.unwrap();
    assert_eq!(aggs.len(), 1);
    assert_eq!(aggs[0].course_id, "c2");
    assert_eq!(aggs[0].value_max, 4.0);
    assert_eq!(aggs[0].last_ts_ms, 1_767_323_045_000);
    app.stop().await;
}
both_backends!(
    single_and_batch,
    single_and_batch_events_are_stored_before_the_202
);

async fn a_repeated_event_id_is_counted_once(app: TestApp) {
    let mut e = event("u1", "c1", "click");
    e["event_id"] = json!("ev-1");
    let r = app.post_json("/events", &e).await;
    assert_eq!(
        r.json::<Value>().await.unwrap(),
        json!({"accepted": 1, "duplicates": 0})
    );
    let r = app.post_json("/events", &e).await;
    assert_eq!(r.status(), 202);
    assert_eq!(
        r.json::<Value>().await.unwrap(),
        json!({"accepted": 0, "duplicates": 1})
    );
    // Within one batch too, next to a new id.
    let mut e2 = event("u1", "c2", "click");
    e2["event_id"] = json!("ev-2");
    let r = app.post_json("/events", &json!({"events": [e2, e2, e]})).await;
    assert_eq!(
        r.json::<Value>().await.unwrap(),
        json!({"accepted": 1, "duplicates": 2})
    );
    assert_eq!(app.event_count().await, 2);
    // Concurrent requests carrying the same id store it once.
    let mut e3 = event("u2", "c3", "purchase");
    e3["event_id"] = json!("ev-3");
    let posts = (0..8).map(|_| app.post_json("/events", &e3));
    let mut accepted = 0;
    for r in futures::future::join_all(posts).await {
        assert_eq!(r.status(), 202);
        accepted += r.json::<Value>().await.unwrap()["accepted"].as_i64().unwrap();
    }
    assert_eq!(accepted, 1);
    assert_eq!(app.event_count().await, 3);
    app.stop().await;
}
both_backends!(idempotency, a_repeated_event_id_is_counted_once);

async fn bad_input_gets_a_clear_error_and_stores_nothing(app: TestApp) {
    let future = (chrono::Utc::now() + chrono::Duration::days(1)).to_rfc3339();
    let with = |k: &str, v: Value| {
        let mut e = event("u1", "c1", "view");
        e[k] = v;
        e
    };
    let mut hundred: Vec<Value> = (0..100).map(|i| event(&format!("u{i}"), "c1", "view")).collect();
    hundred[57]["type"] = json!("like");
    let over_batch: Vec<Value> = (0..1001).map(|_| event("u", "c", "view")).collect();
    let cases: Vec<(&str, Value, u16, &str)> = vec![
        (
            "missing user_id",
            json!({"course_id": "c1", "type": "view"}),
            422,
            "invalid_events",
        ),
        ("empty user_id", with("user_id", json!("")), 422, "invalid_events"),
        (
            "129-char course_id",
            with("course_id", json!("x".repeat(129))),
            422,
            "invalid_events",
        ),
        ("unknown type", with("type", json!("like")), 422, "invalid_events"),
        (
            "rating 0",
            json!({"user_id": "u", "course_id": "c", "type": "rating", "value": 0}),
            422,
            "invalid_events",
        ),
        (
            "rating 6",
            json!({"user_id": "u", "course_id": "c", "type": "rating", "value": 6}),
            422,
            "invalid_events",
        ),
        (
            "value as string",
            with("value", json!("5")),
            422,
            "invalid_events",
        ),
        (
            "value as string NaN",
            with("value", json!("NaN")),
            422,
            "invalid_events",
        ),
        (
            "watch 1.5",
            json!({"user_id": "u", "course_id": "c", "type": "watch", "value": 1.5}),
            422,
            "invalid_events",
        ),
        (
            "ts not RFC 3339",
            with("ts", json!("27/11/2026")),
            422,
            "invalid_events",
        ),
        ("ts a day ahead", with("ts", json!(future)), 422, "invalid_events"),
        (
            "batch over max_batch",
            json!({"events": over_batch}),
            422,
            "batch_too_large",
        ),
        ("empty batch", json!({"events": []}), 422, "empty_batch"),
        ("not an object", json!([1, 2]), 422, "invalid_body"),
        (
            "one bad event in 100",
            json!({"events": hundred}),
            422,
            "invalid_events",
        ),
    ];
    for (what, body, status, code) in cases {
        let r = app.post_json("/events", &body).await;
        assert_eq!(r.status().as_u16(), status, "{what}");
        let b: Value = r.json().await.unwrap();
        assert_eq!(b["error"]["code"], code, "{what}: {b}");
        assert!(
            b["error"]["message"].as_str().is_some_and(|m| !m.is_empty()),
            "{what}"
        );
        assert_eq!(app.event_count().await, 0, "{what} stored something");
    }
    // The bad event in the batch of 100 is named by its index.
    let b: Value = app
        .post_json("/events", &json!({"events": hundred}))
        .await
        .json()
        .await
        .unwrap();
    let details = b["error"]["details"].as_array().unwrap();
    assert_eq!(details.len(), 1);
    assert_eq!(details[0]["index"], 57);
    assert_eq!(details[0]["field"], "type");

    // Bodies that are not JSON at all.
    let raw = |body: &'static str, ctype: &'static str| {
        app.client
            .post(app.url("/events"))
            .header("content-type", ctype)
            .body(body)
            .send()
    };
    for (what, body, ctype, status, code) in [
        (
            "malformed JSON",
            "{\"user_id\": ",
            "application/json",
            400,
            "malformed_json",
        ),
        (
            "NaN literal",
            r#"{"user_id":"u","course_id":"c","type":"view","value":NaN}"#,
            "application/json",
            400,
            "malformed_json",
        ),
        (
            "Infinity literal",
            r#"{"user_id":"u","course_id":"c","type":"view","value":Infinity}"#,
            "application/json",
            400,
            "malformed_json",
        ),
        (
            "wrong content type",
            r#"{"user_id":"u","course_id":"c","type":"view"}"#,
            "text/plain",
            415,
            "unsupported_media_type",
        ),
    ] {
        let r = raw(body, ctype).await.unwrap();
        assert_eq!(r.status().as_u16(), status, "{what}");
        let b: Value = r.json().await.unwrap();
        assert_eq!(b["error"]["code"], code, "{what}");
    }
    // Over the body size limit (2 MiB by default).
    let big = with("padding", json!("x".repeat(3 * 1024 * 1024)));
    let r = app.post_json("/events", &big).await;
    assert_eq!(r.status(), 413);
    assert_eq!(
        r.json::<Value>().await.unwrap()["error"]["code"],
        "payload_too_large"
    );
    assert_eq!(app.event_count().await, 0);
    app.stop().await;
}
both_backends!(bad_input, bad_input_gets_a_clear_error_and_stores_nothing);
