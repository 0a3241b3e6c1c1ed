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

/// Metric names (`courserec_*`, `process_*`) a dashboard or rules file
/// queries, histogram suffixes taken off (as scripts/dashboard-metrics.py).
fn queried_metrics(text: &str) -> std::collections::BTreeSet<String> {
    let mut out = std::collections::BTreeSet::new();
    for prefix in ["courserec_", "process_"] {
        let mut rest = text;
        while let Some(at) = rest.find(prefix) {
            let before = rest[..at].chars().last();
            let tail = &rest[at..];
            let end = tail
                .find(|c: char| !(c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_'))
                .unwrap_or(tail.len());
            // Part of a longer word (a file name, say) is not a metric.
            if !before.is_some_and(|c| c.is_ascii_alphanumeric() || c == '_' || c == '/' || c == '.') {
                let name = &tail[..end];
                let base = ["_bucket", "_sum", "_count"]
                    .iter()
                    .find_map(|s| name.strip_suffix(s))
                    .unwrap_or(name);
                out.insert(base.to_string());
            }
            rest = &tail[end.max(1)..];
        }
    }
    out
}

async fn every_metric_the_dashboard_and_alerts_query_is_exported(app: TestApp) {
    let root = env!("CARGO_MANIFEST_DIR");
    let mut queried = std::collections::BTreeSet::new();
    for file in ["ops/grafana/courserec.json", "ops/prometheus/courserec-rules.yml"] {
        let text = std::fs::read_to_string(format!("{root}/{file}")).unwrap();
        let found = queried_metrics(&text);
        assert!(found.len() > 5, "{file} queries metrics");
        queried.extend(found);
    }
    let exported: std::collections::BTreeSet<String> = app.state.metrics.family_names().into_iter().collect();
    let missing: Vec<&String> = queried.difference(&exported).collect();
    assert!(missing.is_empty(), "queried but not exported: {missing:?}");
    // The ones an operator's first alerts need have a series from the start.
    let text = app.get("/metrics").await.text().await.unwrap();
    for series in [
        "courserec_build_info{version=",
        "courserec_store_up{store=",
        "courserec_training_failures_total{reason=\"fit\"} 0",
        "courserec_events_rejected_total{reason=\"invalid_id\"} 0",
        "process_resident_memory_bytes ",
        "process_open_fds ",
        "process_start_time_seconds ",
        "process_cpu_seconds_total ",
    ] {
        assert!(text.contains(series), "{series} missing from /metrics");
    }
    assert!(text.contains(&format!(
        "courserec_store_up{{store=\"{}\"}} 1",
        app.store.backend()
    )));
    app.stop().await;
}
both_backends!(
    dashboards,
    every_metric_the_dashboard_and_alerts_query_is_exported
);
