//! `/openapi.json` is generated from the handlers and the router, so it
//! cannot list a route the server does not serve. These tests check what
//! generation alone does not: the document is well-formed, every operation
//! documents its errors, the declared scope of each operation is the one the
//! server enforces, and no route is served outside the document.

use courserec::config::ApiKeySettings;
use serde_json::Value;

use crate::helpers::{spawn_app, spawn_app_with, Backend};

const METHODS: &[&str] = &["get", "put", "post", "delete", "patch"];

/// Every (method, path, scope) the document lists.
pub fn operations(doc: &Value) -> Vec<(String, String, Option<String>)> {
    let mut out = Vec::new();
    for (path, item) in doc["paths"].as_object().expect("paths") {
        for &m in METHODS {
            let op = &item[m];
            if !op.is_object() {
                continue;
            }
            let scope = op["security"]
                .as_array()
                .and_then(|s| s.first())
                .and_then(|req| req["bearer"][0].as_str())
                .map(str::to_string);
            out.push((m.to_string(), path.clone(), scope));
        }
    }
    out
}

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
async fn the_document_is_complete_and_consistent() {
    let app = spawn_app(Backend::Sqlite).await.unwrap();
    let r = app.client.get(app.url("/openapi.json")).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["content-type"], "application/json");
    let doc = app.get_ok("/openapi.json").await;
    assert!(doc["openapi"].as_str().is_some_and(|v| v.starts_with("3.")));
    assert!(doc["info"]["title"].is_string());
    assert_eq!(doc["components"]["securitySchemes"]["bearer"]["scheme"], "bearer");
    check_refs(&doc, &doc);

    let ops = operations(&doc);
    assert!(ops.len() >= 34, "only {} operations documented", ops.len());
    for (method, path, scope) in &ops {
        let op = &doc["paths"][path][method];
        assert!(op["summary"].is_string(), "{method} {path} has no summary");
        let responses = op["responses"].as_object().unwrap();
        let success = responses.keys().any(|s| s.starts_with('2'));
        assert!(success, "{method} {path} documents no success");
        for code in ["400", "414", "500", "503"] {
            assert!(responses.contains_key(code), "{method} {path} lacks {code}");
        }
        if scope.is_some() {
            for code in ["401", "403"] {
                assert!(responses.contains_key(code), "{method} {path} lacks {code}");
            }
        }
        if op["requestBody"].is_object() {
            for code in ["413", "415", "422"] {
                assert!(responses.contains_key(code), "{method} {path} lacks {code}");
            }
        }
        // Every error body is the one error shape.
        for (code, resp) in responses
            .iter()
            .filter(|(c, _)| c.starts_with('4') || c.starts_with('5'))
        {
            if path == "/readyz" && code == "503" {
                continue; // Readiness reports itself, not an error.
            }
            assert_eq!(
                resp["content"]["application/json"]["schema"]["$ref"], "#/components/schemas/ErrorBody",
                "{method} {path} {code}"
            );
        }
    }
    // No time field in milliseconds anywhere in the responses.
    let text = doc.to_string();
    for bad in ["_ms\"", "next_after"] {
        assert!(!text.contains(bad), "the document still mentions {bad}");
    }
    app.stop().await;
}

/// Only the console's static assets are routed outside the generated
/// document (`.route(` instead of `routes!`).
#[test]
fn no_route_is_served_outside_the_document() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src/http");
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy().to_string();
        if !name.ends_with(".rs") || name == "console.rs" {
            continue;
        }
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(
            !text.contains(".route("),
            "{name} routes something outside the OpenAPI document"
        );
    }
}

/// With auth on, a key holding every scope but the documented one is refused
/// with 403, no key with 401, and routes documented as open need no key.
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
    let doc = app.get_ok("/openapi.json").await;
    let ops = operations(&doc);
    let scoped = ops.iter().filter(|o| o.2.is_some()).count();
    assert!(scoped >= 30, "only {scoped} scoped operations");
    for (method, path, scope) in ops {
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
                    status != 401 && status != 403 && status != 404,
                    "{method} {path} with no key -> {status}"
                );
            }
        }
    }
    app.stop().await;
}

/// The README's route table lists exactly the documented operations with
/// their scopes (`scripts/api-table.py` regenerates it from the document).
#[tokio::test]
async fn the_readme_route_table_matches_the_document() {
    let app = spawn_app(Backend::Sqlite).await.unwrap();
    let doc = app.get_ok("/openapi.json").await;
    app.stop().await;
    let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).unwrap();
    let table = readme
        .split("<!-- api-table:begin -->")
        .nth(1)
        .and_then(|t| t.split("<!-- api-table:end -->").next())
        .expect("README has the api-table markers");
    let mut listed: Vec<(String, String, Option<String>)> = table
        .lines()
        .filter_map(|l| {
            let cells: Vec<&str> = l.split('|').map(str::trim).collect();
            let op = cells.get(1)?.trim_matches('`');
            let (method, path) = op.split_once(' ')?;
            let scope = cells.get(2)?.to_string();
            Some((
                method.to_lowercase(),
                path.to_string(),
                (scope != "none").then_some(scope),
            ))
        })
        .collect();
    let mut documented = operations(&doc);
    listed.sort();
    documented.sort();
    assert_eq!(
        listed, documented,
        "run scripts/api-table.py and paste its output into README.md"
    );
}
