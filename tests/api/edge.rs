//! The edge: ids checked on every route that takes one, the JSON error
//! shape on every error (414, framework rejections, panics), text the two
//! stores would store differently refused, and connection limits (header
//! read timeout, connection cap, shutdown deadline).

use std::time::{Duration, Instant};

use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::both_backends;
use crate::helpers::{spawn_app_with, Backend, TestApp};

/// Ids ingest refuses, URL-encoded for a path segment: too long, blank,
/// with a control character (NUL).
fn bad_ids() -> Vec<String> {
    vec!["x".repeat(129), "%20%20".into(), "a%00b".into(), "%09".into()]
}

async fn assert_error_shape(r: reqwest::Response, status: u16, code: &str) {
    let got = r.status().as_u16();
    let ct = r
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string();
    let text = r.text().await.unwrap();
    assert_eq!(got, status, "{text}");
    assert!(ct.starts_with("application/json"), "content-type {ct:?}: {text}");
    let body: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(body["error"]["code"], code, "{body}");
    assert!(
        body["error"]["message"].as_str().is_some_and(|m| !m.is_empty()),
        "{body}"
    );
}

async fn bad_ids_are_refused_on_every_route_that_takes_one(app: TestApp) {
    let course = json!({"title": "T", "category": "rust", "level": "beginner"});
    for id in bad_ids() {
        let paths = [
            format!("/recommend/{id}"),
            format!("/courses/{id}"),
            format!("/courses/{id}/similar"),
            format!("/courses/{id}/audience"),
            format!("/users/{id}/profile"),
            format!("/users/{id}/segment"),
            format!("/segments/{id}/users"),
            format!("/experiments/{id}"),
            format!("/experiments/{id}/report"),
            format!("/recommend/ana?exclude=c1,{id}"),
            format!("/recommend/ana?exclude=c1&exclude={id}"),
            // `after` is a cursor, checked by the handler that issued it.
            format!("/courses?ids=c1,{id}"),
            format!("/audiences?course_id={id}"),
        ];
        for path in &paths {
            assert_error_shape(app.get(path).await, 400, "invalid_id").await;
        }
        assert_error_shape(
            app.put_json(&format!("/courses/{id}"), &course).await,
            400,
            "invalid_id",
        )
        .await;
        assert_error_shape(app.delete(&format!("/courses/{id}")).await, 400, "invalid_id").await;
        assert_error_shape(
            app.put_json(&format!("/users/{id}"), &json!({})).await,
            400,
            "invalid_id",
        )
        .await;
        assert_error_shape(app.delete(&format!("/users/{id}")).await, 400, "invalid_id").await;
    }
    // Nothing reached the fold-in cache.
    assert_eq!(app.state.live.cache_usage().1, 0);
}
both_backends!(id_guard, bad_ids_are_refused_on_every_route_that_takes_one);

async fn blank_and_nul_ids_and_titles_are_refused_alike_by_both_stores(app: TestApp) {
    for (field, value) in [
        ("user_id", " "),
        ("course_id", " "),
        ("user_id", "\u{3000}"),
        ("user_id", "a\u{0}b"),
        ("course_id", "c\u{0}"),
        ("event_id", "  "),
    ] {
        let mut e = json!({"user_id": "ana", "course_id": "c1", "type": "view"});
        e[field] = json!(value);
        let r = app.post_json("/events", &e).await;
        let status = r.status();
        let body: Value = r.json().await.unwrap();
        assert_eq!(status, 422, "{field}={value:?}: {body}");
        assert_eq!(body["error"]["details"][0]["field"], field);
    }
    assert_eq!(app.event_count().await, 0, "nothing half-stored");
    let r = app
        .put_json(
            "/courses/c1",
            &json!({"title": "Async\u{0}Rust", "category": "rust", "level": "beginner"}),
        )
        .await;
    assert_error_shape(r, 422, "invalid_course").await;
    let r = app
        .put_json(
            "/courses/c1",
            &json!({"title": "Async Rust", "category": " ", "level": "beginner"}),
        )
        .await;
    assert_error_shape(r, 422, "invalid_course").await;
    let r = app
        .put_json("/users/ana", &json!({"interests": ["rust", "go\u{0}"]}))
        .await;
    assert_error_shape(r, 422, "invalid_user").await;
    // What passes the edge is stored by either store.
    let r = app
        .put_json(
            "/courses/c1",
            &json!({"title": "Async Rust\n2nd edition", "category": "rust", "level": "beginner"}),
        )
        .await;
    assert_eq!(r.status(), 201);
}
both_backends!(
    text_guard,
    blank_and_nul_ids_and_titles_are_refused_alike_by_both_stores
);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_error_has_the_json_shape_including_414_and_framework_rejections() {
    let app = spawn_app_with(Backend::Sqlite, |s| s.server.max_uri_bytes = 1024)
        .await
        .unwrap();
    assert_error_shape(
        app.get(&format!("/recommend/ana?x={}", "a".repeat(2000))).await,
        414,
        "uri_too_long",
    )
    .await;
    // Invalid UTF-8 in a path parameter: axum's own rejection, reshaped.
    assert_error_shape(app.get("/recommend/%FF%FE").await, 400, "invalid_parameter").await;
    assert_error_shape(app.get("/no/such/route").await, 404, "not_found").await;
    let r = app.client.patch(app.url("/recommend/ana")).send().await.unwrap();
    assert_error_shape(r, 405, "method_not_allowed").await;
    app.stop().await;
}

#[tokio::test]
async fn a_panicking_handler_answers_a_json_500_and_keeps_serving() {
    use axum::routing::get;
    use tower::ServiceExt;
    let router: axum::Router = courserec::http::error_layers(
        axum::Router::new()
            .route("/boom", get(|| async { panic!("boom") as &'static str }))
            .route("/ok", get(|| async { "ok" })),
    );
    let req = |p: &str| {
        axum::http::Request::get(p)
            .body(axum::body::Body::empty())
            .unwrap()
    };
    let r = router.clone().oneshot(req("/boom")).await.unwrap();
    assert_eq!(r.status(), 500);
    let body = axum::body::to_bytes(r.into_body(), 10_000).await.unwrap();
    let body: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(body["error"]["code"], "internal");
    let r = router.oneshot(req("/ok")).await.unwrap();
    assert_eq!(r.status(), 200);
}

/// Opens a connection and sends half a request's headers.
async fn half_open(addr: &str) -> TcpStream {
    let mut s = TcpStream::connect(addr.trim_start_matches("http://"))
        .await
        .unwrap();
    s.write_all(b"GET /healthz HTTP/1.1\r\nhost: x\r\n")
        .await
        .unwrap();
    s
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_half_sent_request_is_closed_after_the_header_read_timeout() {
    let app = spawn_app_with(Backend::Sqlite, |s| s.server.header_read_timeout_ms = 300)
        .await
        .unwrap();
    let mut s = half_open(&app.addr).await;
    let mut buf = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(5), s.read_to_end(&mut buf)).await;
    assert!(read.is_ok(), "the server closed the connection");
    // An idle keep-alive connection is closed the same way.
    let mut s = TcpStream::connect(app.addr.trim_start_matches("http://"))
        .await
        .unwrap();
    s.write_all(b"GET /healthz HTTP/1.1\r\nhost: x\r\n\r\n")
        .await
        .unwrap();
    let mut buf = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(5), s.read_to_end(&mut buf)).await;
    assert!(read.is_ok(), "idle keep-alive closed");
    assert!(String::from_utf8_lossy(&buf).starts_with("HTTP/1.1 200"));
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_past_the_cap_wait_until_one_closes() {
    let app = spawn_app_with(Backend::Sqlite, |s| {
        s.server.max_connections = 2;
        s.server.header_read_timeout_ms = 60_000;
    })
    .await
    .unwrap();
    let a = half_open(&app.addr).await;
    let _b = half_open(&app.addr).await;
    // Half a request's headers is a request in flight, so neither is closed
    // to make room; until the server has read them, both count as idle.
    tokio::time::sleep(Duration::from_millis(200)).await;
    let client = reqwest::Client::builder()
        .timeout(Duration::from_millis(700))
        .build()
        .unwrap();
    assert!(
        client.get(app.url("/healthz")).send().await.is_err(),
        "a third connection waits"
    );
    drop(a);
    let r = reqwest::Client::new()
        .get(app.url("/healthz"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200, "served once a slot is free");
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_drops_half_open_connections_at_the_deadline() {
    let app = spawn_app_with(Backend::Sqlite, |s| {
        s.server.header_read_timeout_ms = 120_000;
        s.server.shutdown_timeout_secs = 1;
    })
    .await
    .unwrap();
    let mut held = Vec::new();
    for _ in 0..50 {
        held.push(half_open(&app.addr).await);
    }
    let r = app
        .post_json(
            "/events",
            &json!({"user_id": "ana", "course_id": "c1", "type": "view"}),
        )
        .await;
    assert_eq!(r.status(), 202);
    assert_eq!(app.event_count().await, 1);
    let t = Instant::now();
    tokio::time::timeout(Duration::from_secs(10), app.stop())
        .await
        .expect("stopped within the deadline");
    assert!(t.elapsed() < Duration::from_secs(5), "took {:?}", t.elapsed());
}
