use serde_json::{json, Value};

use crate::both_backends;
use crate::helpers::{error_fields, TestApp};

fn course(title: &str, category: &str) -> Value {
    json!({"title": title, "category": category, "tags": ["Async", "systems"], "level": "intermediate", "price_cents": 4900})
}

async fn courses_can_be_created_read_updated_and_deleted(app: TestApp) {
    let r = app
        .put_json("/courses/rust-async", &course("Async Rust", "Rust"))
        .await;
    assert_eq!(r.status(), 201);
    let got = app.get_ok("/courses/rust-async").await;
    assert_eq!(got["title"], "Async Rust");
    assert_eq!(got["category"], "rust");
    assert_eq!(got["tags"], json!(["async", "systems"]));
    assert_eq!(got["active"], true);

    let mut changed = course("Async Rust, 2nd edition", "rust");
    changed["active"] = json!(false);
    let r = app.put_json("/courses/rust-async", &changed).await;
    assert_eq!(r.status(), 200);
    let got = app.get_ok("/courses/rust-async").await;
    assert_eq!(got["title"], "Async Rust, 2nd edition");
    assert_eq!(got["active"], false);

    let mut a = course("Go basics", "go");
    a["id"] = json!("go-101");
    let mut b = course("Go web", "go");
    b["id"] = json!("go-201");
    let r = app.post_json("/courses", &json!([a, b])).await;
    assert_eq!(r.status(), 200);
    assert_eq!(
        r.json::<Value>().await.unwrap(),
        json!({"created": 2, "updated": 0})
    );
    assert_eq!(app.get_ok("/courses/go-201").await["title"], "Go web");

    let r = app.delete("/courses/rust-async").await;
    assert_eq!(r.status(), 204);
    let r = app.get("/courses/rust-async").await;
    assert_eq!(r.status(), 404);
    assert_eq!(
        r.json::<Value>().await.unwrap()["error"]["code"],
        "course_not_found"
    );
    assert_eq!(app.delete("/courses/rust-async").await.status(), 404);
    let r = app.client.patch(app.url("/courses/go-101")).send().await.unwrap();
    assert_eq!(r.status(), 405);
    assert_eq!(
        r.json::<Value>().await.unwrap()["error"]["code"],
        "method_not_allowed"
    );
    app.stop().await;
}
both_backends!(course_crud, courses_can_be_created_read_updated_and_deleted);

async fn invalid_courses_are_refused_with_every_reason(app: TestApp) {
    let r = app
        .put_json(
            "/courses/x",
            &json!({"title": "", "category": "rust", "level": "expert", "price_cents": -1}),
        )
        .await;
    assert_eq!(r.status(), 422);
    let b: Value = r.json().await.unwrap();
    assert_eq!(b["error"]["code"], "invalid_course");
    assert_eq!(error_fields(&b), ["title", "level", "price_cents"]);
    let mut ok = course("ok", "rust");
    ok["id"] = json!("ok");
    let bad = json!({"id": "bad", "title": "t", "category": "rust", "level": "nope"});
    let r = app.post_json("/courses", &json!([ok, bad])).await;
    assert_eq!(r.status(), 422);
    assert_eq!(
        r.json::<Value>().await.unwrap()["error"]["details"][0]["index"],
        1
    );
    assert_eq!(
        app.get("/courses/ok").await.status(),
        404,
        "half of a rejected batch was stored"
    );
    app.stop().await;
}
both_backends!(course_validation, invalid_courses_are_refused_with_every_reason);

async fn deleting_a_user_erases_their_events_and_attributes(app: TestApp) {
    let r = app
        .put_json(
            "/users/ana",
            &json!({"interests": ["rust", "go"], "level": "beginner"}),
        )
        .await;
    assert_eq!(r.status(), 200);
    let events: Vec<Value> = ["c1", "c2", "c3"]
        .iter()
        .map(|c| json!({"user_id": "ana", "course_id": c, "type": "view"}))
        .chain([json!({"user_id": "bob", "course_id": "c1", "type": "view"})])
        .collect();
    assert_eq!(
        app.post_json("/events", &json!({"events": events}))
            .await
            .status(),
        202
    );
    assert_eq!(app.event_count().await, 4);
    assert_eq!(app.delete("/users/ana").await.status(), 204);
    assert_eq!(app.event_count().await, 1);
    assert!(app.store.get_user("ana").await.unwrap().is_none());
    assert!(app.store.user_aggregates("ana").await.unwrap().is_empty());
    assert_eq!(app.delete("/users/ana").await.status(), 404);
    let r = app.put_json("/users/zed", &json!({"level": "guru"})).await;
    assert_eq!(r.status(), 422);
    app.stop().await;
}
both_backends!(user_erasure, deleting_a_user_erases_their_events_and_attributes);
