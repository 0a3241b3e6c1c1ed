use courserec::config::{ApiKeySettings, Settings};
use courserec::startup::Application;
use serde_json::json;

use crate::helpers::{spawn_app_with, Backend};

fn key(name: &str, key: &str, scopes: &[&str]) -> ApiKeySettings {
    ApiKeySettings {
        name: name.into(),
        key: key.into(),
        scopes: scopes.iter().map(|s| s.to_string()).collect(),
    }
}

#[tokio::test]
async fn keys_and_scopes_guard_every_route_group() {
    let app = spawn_app_with(Backend::Sqlite, |s| {
        s.auth.enabled = true;
        s.auth.keys = vec![
            key("mobile", "ingest-key-123", &["ingest"]),
            key("ops", "admin-key-456", &["admin", "read"]),
        ];
    })
    .await
    .unwrap();
    let event = json!({"user_id": "u", "course_id": "c", "type": "view"});
    let post = |k: Option<&str>| {
        let rb = app.client.post(app.url("/events")).json(&event);
        match k {
            Some(k) => rb.bearer_auth(k),
            None => rb,
        }
        .send()
    };
    let r = post(None).await.unwrap();
    assert_eq!(r.status(), 401);
    assert_eq!(
        r.json::<serde_json::Value>().await.unwrap()["error"]["code"],
        "unauthorized"
    );
    assert_eq!(post(Some("wrong-key-000")).await.unwrap().status(), 401);
    assert_eq!(
        post(Some("admin-key-456")).await.unwrap().status(),
        403,
        "admin+read cannot ingest"
    );
    assert_eq!(post(Some("ingest-key-123")).await.unwrap().status(), 202);

    let put = |k: &str| {
        app.client
            .put(app.url("/courses/c"))
            .bearer_auth(k)
            .json(&json!({"title": "t", "category": "go", "level": "beginner"}))
            .send()
    };
    let r = put("ingest-key-123").await.unwrap();
    assert_eq!(r.status(), 403);
    assert_eq!(
        r.json::<serde_json::Value>().await.unwrap()["error"]["code"],
        "forbidden"
    );
    assert_eq!(put("admin-key-456").await.unwrap().status(), 201);
    let get = |k: &str| app.client.get(app.url("/courses/c")).bearer_auth(k).send();
    assert_eq!(get("ingest-key-123").await.unwrap().status(), 403);
    assert_eq!(get("admin-key-456").await.unwrap().status(), 200);
    // Health and metrics stay open for probes and scrapers.
    assert_eq!(
        app.client.get(app.url("/healthz")).send().await.unwrap().status(),
        200
    );
    assert_eq!(
        app.client.get(app.url("/metrics")).send().await.unwrap().status(),
        200
    );
    app.stop().await;
}

#[tokio::test]
async fn a_public_address_without_keys_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let mut s = Settings::defaults();
    s.server.listen = "0.0.0.0:0".into();
    s.database.url = format!("sqlite://{}", dir.path().join("x.db").display());
    let err = Application::build(s.clone()).await.err().expect("must refuse");
    assert!(err.to_string().contains("refusing to listen"), "{err}");
    s.auth.allow_anonymous = true;
    assert!(Application::build(s.clone()).await.is_ok());
    s.auth.allow_anonymous = false;
    s.auth.keys = vec![key("k", "secret-key-1", &["read"])];
    assert!(Application::build(s).await.is_ok());
}

#[test]
fn invalid_configuration_names_the_key() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bad.toml");
    std::fs::write(&path, "[ingest]\nmax_batch = \"lots\"\n").unwrap();
    let err = Settings::load(Some(&path), &Default::default())
        .unwrap_err()
        .to_string();
    assert!(err.contains("max_batch"), "{err}");
    std::fs::write(&path, "[server]\nlisten = \"nowhere\"\n").unwrap();
    let err = Settings::load(Some(&path), &Default::default())
        .unwrap_err()
        .to_string();
    assert!(err.contains("server.listen"), "{err}");
    std::fs::write(
        &path,
        "[auth]\nkeys = [{name = \"a\", key = \"12345678\", scopes = [\"root\"]}]\n",
    )
    .unwrap();
    let err = Settings::load(Some(&path), &Default::default())
        .unwrap_err()
        .to_string();
    assert!(err.contains("auth.keys[0].scopes"), "{err}");
}

/// A `client` key (carried by a web page or an app) reaches the lists,
/// course cards and `POST /events`, and nothing that reveals another learner.
#[tokio::test]
async fn a_client_key_reaches_lists_and_events_but_no_learner_data() {
    let app = spawn_app_with(Backend::Sqlite, |s| {
        s.auth.enabled = true;
        s.auth.keys = vec![
            key("web", "client-key-123", &["client"]),
            key("ops", "admin-key-456", &["admin", "read"]),
        ];
    })
    .await
    .unwrap();
    let call = |method: reqwest::Method, path: &str, body: Option<serde_json::Value>| {
        let rb = app
            .client
            .request(method, app.url(path))
            .bearer_auth("client-key-123");
        let rb = match body {
            Some(b) => rb.json(&b),
            None => rb,
        };
        async move { rb.send().await.unwrap().status().as_u16() }
    };
    use reqwest::Method;
    let event = json!({"user_id": "u1", "course_id": "c1", "type": "view"});
    assert_eq!(call(Method::POST, "/events", Some(event)).await, 202);
    for path in ["/recommend/u1", "/popular", "/courses?ids=c1"] {
        assert_eq!(call(Method::GET, path, None).await, 200, "{path}");
    }
    assert_eq!(
        call(Method::POST, "/recommend/u1", Some(json!({"n": 3}))).await,
        200
    );
    assert_eq!(
        call(Method::GET, "/courses/c1", None).await,
        404,
        "a course card route"
    );
    for path in [
        "/users/u1/profile",
        "/users/u1/segment",
        "/segments",
        "/segments/0/users",
        "/audiences",
        "/courses/c1/audience",
        "/campaigns",
        "/events/stats",
        "/model",
    ] {
        assert_eq!(call(Method::GET, path, None).await, 403, "{path}");
    }
    assert_eq!(call(Method::DELETE, "/users/u1", None).await, 403);
    assert_eq!(call(Method::POST, "/model/retrain", None).await, 403);
    // The document says which scopes suffice, as alternatives.
    let doc: serde_json::Value = app.get("/openapi.json").await.json().await.unwrap();
    let security = &doc["paths"]["/recommend/{user}"]["get"]["security"];
    assert_eq!(security, &json!([{"bearer": ["read"]}, {"bearer": ["client"]}]));
    app.stop().await;
}
