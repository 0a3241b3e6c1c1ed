//! `/openapi.json`: served without auth, and in step with the router: every
//! route is documented, nothing else is, and each operation's declared scope
//! is the one the server enforces.

use courserec::config::ApiKeySettings;
use serde_json::Value;

use crate::helpers::{spawn_app, spawn_app_with, Backend};

/// Every (method, path, scope) the router serves, as written in the
/// `.route(...)` calls of `src/http/*.rs` and the scope `src/http/mod.rs`
/// puts them under. Axum's `{id}` path syntax is OpenAPI's.
const ROUTES: &[(&str, &str, Option<&str>)] = &[
    // events.rs
    ("post", "/events", Some("ingest")),
    // courses.rs
    ("get", "/courses/{id}", Some("read")),
    ("get", "/courses", Some("read")),
    ("put", "/courses/{id}", Some("admin")),
    ("delete", "/courses/{id}", Some("admin")),
    ("post", "/courses", Some("admin")),
    // users.rs
    ("put", "/users/{id}", Some("admin")),
    ("delete", "/users/{id}", Some("admin")),
    // recommend.rs
    ("get", "/recommend/{user}", Some("read")),
    ("get", "/courses/{id}/similar", Some("read")),
    ("get", "/popular", Some("read")),
    ("get", "/model", Some("read")),
    ("post", "/model/retrain", Some("admin")),
    // segments.rs
    ("get", "/users/{id}/profile", Some("read")),
    ("get", "/users/{id}/segment", Some("read")),
    ("get", "/segments", Some("read")),
    ("get", "/segments/{id}/users", Some("read")),
    ("get", "/courses/{id}/audience", Some("read")),
    // experiments.rs
    ("get", "/experiments", Some("admin")),
    ("get", "/experiments/{id}", Some("admin")),
    ("put", "/experiments/{id}", Some("admin")),
    ("get", "/experiments/{id}/report", Some("admin")),
    // audiences.rs
    ("get", "/audiences", Some("read")),
    // campaigns.rs
    ("get", "/campaigns", Some("read")),
    ("post", "/campaigns", Some("admin")),
    ("get", "/campaigns/{id}", Some("read")),
    ("get", "/campaigns/{id}/recipients", Some("read")),
    ("get", "/campaigns/{id}/report", Some("read")),
    // console.rs
    ("get", "/model/history", Some("read")),
    ("get", "/events/stats", Some("read")),
    // ops.rs
    ("get", "/healthz", None),
    ("get", "/readyz", None),
    ("get", "/metrics", None),
    ("get", "/openapi.json", None),
];

const METHODS: &[&str] = &[
    "get", "put", "post", "delete", "options", "head", "patch", "trace",
];

/// Every `$ref` in `v` names something that exists in `doc`.
fn check_refs(doc: &Value, v: &Value) {
    match v {
        Value::Object(map) => {
            if let Some(Value::String(r)) = map.get("$ref") {
                let pointer = r.strip_prefix('#').expect("local $ref");
                assert!(doc.pointer(pointer).is_some(), "dangling $ref {r}");
            }
            map.values().for_each(|x| check_refs(doc, x));
        }
        Value::Array(items) => items.iter().for_each(|x| check_refs(doc, x)),
        _ => {}
    }
}

#[tokio::test]
async fn the_document_covers_every_route_with_its_scope() {
    let app = spawn_app(Backend::Sqlite).await.unwrap();
    let r = app.client.get(app.url("/openapi.json")).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["content-type"], "application/json");
    let doc = app.get_ok("/openapi.json").await;
    assert!(
        doc["openapi"].as_str().is_some_and(|v| v.starts_with("3.")),
        "openapi version: {}",
        doc["openapi"]
    );
    assert!(doc["info"]["title"].is_string());
    assert_eq!(
        doc["components"]["securitySchemes"]["bearerAuth"]["scheme"],
        "bearer"
    );
    check_refs(&doc, &doc);

    let paths = doc["paths"].as_object().expect("paths");
    for &(method, path, scope) in ROUTES {
        let op = &paths
            .get(path)
            .unwrap_or_else(|| panic!("{path} is not documented"))[method];
        assert!(
            op.is_object(),
            "{} {path} is not documented",
            method.to_uppercase()
        );
        assert!(op["responses"].as_object().is_some_and(|r| !r.is_empty()));
        assert!(op["description"].is_string() || op["summary"].is_string());
        let security = op["security"].as_array();
        match scope {
            Some(scope) => {
                assert!(
                    security.is_some_and(|s| s.iter().any(|req| req.get("bearerAuth").is_some())),
                    "{method} {path} needs {scope} but declares no bearerAuth security"
                );
                assert_eq!(op["x-required-scope"], scope, "{method} {path}");
                for code in ["401", "403"] {
                    assert!(
                        op["responses"].get(code).is_some(),
                        "{method} {path} lacks {code}"
                    );
                }
            }
            None => assert!(
                security.is_none_or(|s| s.is_empty()),
                "{method} {path} needs no key but declares security"
            ),
        }
    }

    // Nothing is documented that the router does not serve.
    for (path, item) in paths {
        for method in item.as_object().unwrap().keys() {
            if METHODS.contains(&method.as_str()) {
                assert!(
                    ROUTES.iter().any(|&(m, p, _)| m == method && p == path),
                    "{method} {path} is documented but not routed"
                );
            }
        }
    }
    app.stop().await;
}

/// With auth on, a key holding every scope but the documented one is refused
/// with 403, and routes documented as open need no key at all.
#[tokio::test]
async fn documented_scopes_are_the_enforced_ones() {
    let all = ["ingest", "read", "admin"];
    let keys: Vec<ApiKeySettings> = all
        .iter()
        .map(|missing| ApiKeySettings {
            name: format!("all-but-{missing}"),
            key: format!("key-without-{missing}-0123456789"),
            scopes: all
                .iter()
                .filter(|s| *s != missing)
                .map(|s| s.to_string())
                .collect(),
        })
        .collect();
    let app = spawn_app_with(Backend::Sqlite, |s| {
        s.auth.enabled = true;
        s.auth.keys = keys;
    })
    .await
    .unwrap();
    for &(method, path, scope) in ROUTES {
        let url = app.url(&path.replace("{id}", "1").replace("{user}", "u1"));
        let req = |key: Option<String>| {
            let rb = app.client.request(method.to_uppercase().parse().unwrap(), &url);
            match key {
                Some(k) => rb.bearer_auth(k),
                None => rb,
            }
            .send()
        };
        match scope {
            Some(scope) => {
                let without = format!("key-without-{scope}-0123456789");
                let status = req(Some(without)).await.unwrap().status();
                assert_eq!(status, 403, "{method} {path} without {scope}");
                let status = req(None).await.unwrap().status();
                assert_eq!(status, 401, "{method} {path} with no key");
            }
            None => {
                let status = req(None).await.unwrap().status();
                assert!(
                    status != 401 && status != 403,
                    "{method} {path} with no key -> {status}"
                );
            }
        }
    }
    app.stop().await;
}
