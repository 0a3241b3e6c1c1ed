use serde_json::json;

use crate::both_backends;
use crate::helpers::TestApp;

fn metric(text: &str, line_start: &str) -> f64 {
    text.lines()
        .find(|l| l.starts_with(line_start))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("no metric line {line_start}"))
}

async fn metrics_count_a_known_sequence_of_requests(app: TestApp) {
    let ok = json!({"events": [
        {"user_id": "u", "course_id": "c", "type": "view", "event_id": "a"},
        {"user_id": "u", "course_id": "c", "type": "purchase", "event_id": "b"},
        {"user_id": "u", "course_id": "c", "type": "purchase", "event_id": "b"}
    ]});
    assert_eq!(app.post_json("/events", &ok).await.status(), 202);
    let bad = json!({"events": [{"user_id": "u", "course_id": "c", "type": "view"}, {"user_id": "u", "course_id": "c", "type": "rating", "value": 9}]});
    assert_eq!(app.post_json("/events", &bad).await.status(), 422);
    let r = app
        .client
        .post(app.url("/events"))
        .header("content-type", "application/json")
        .body("{")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    assert!(r.headers().contains_key("x-request-id"));
    assert_eq!(app.get("/courses/nope").await.status(), 404);

    let text = app
        .client
        .get(app.url("/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert_eq!(
        metric(&text, "courserec_events_ingested_total{type=\"view\"}"),
        1.0
    );
    assert_eq!(
        metric(&text, "courserec_events_ingested_total{type=\"purchase\"}"),
        1.0
    );
    assert_eq!(metric(&text, "courserec_events_duplicate_total"), 1.0);
    assert_eq!(
        metric(&text, "courserec_events_rejected_total{reason=\"invalid_value\"}"),
        1.0
    );
    assert_eq!(
        metric(&text, "courserec_events_rejected_total{reason=\"batch_invalid\"}"),
        1.0
    );
    assert_eq!(
        metric(
            &text,
            "courserec_events_rejected_total{reason=\"malformed_json\"}"
        ),
        1.0
    );
    assert_eq!(
        metric(
            &text,
            "courserec_http_requests_total{method=\"POST\",route=\"/events\",status=\"202\"}"
        ),
        1.0
    );
    assert_eq!(
        metric(
            &text,
            "courserec_http_requests_total{method=\"POST\",route=\"/events\",status=\"422\"}"
        ),
        1.0
    );
    assert_eq!(
        metric(
            &text,
            "courserec_http_requests_total{method=\"GET\",route=\"/courses/{id}\",status=\"404\"}"
        ),
        1.0
    );
    assert_eq!(
        metric(
            &text,
            "courserec_http_request_duration_seconds_count{method=\"POST\",route=\"/events\",status=\"400\"}"
        ),
        1.0
    );
    let ready = app.get_ok("/readyz").await;
    assert_eq!(ready["store"], "ok");
    app.stop().await;
}
both_backends!(metrics, metrics_count_a_known_sequence_of_requests);
