//! Real responses against the generated schema: a trained service on each
//! store answers requests to every operation (successes and errors), and
//! each JSON body must validate against the schema the document gives for
//! its operation and status. A status the document does not list fails.

use serde_json::{json, Value};

use crate::both_backends;
use crate::helpers::TestApp;
use crate::recommend::trained;

/// The schema of `method path` at `status` (JSON bodies), as a standalone
/// JSON Schema whose `$ref`s resolve against the document's components.
fn schema_for(doc: &Value, method: &str, path: &str, status: u16) -> Value {
    let op = &doc["paths"][path][method];
    assert!(op.is_object(), "{method} {path} is not documented");
    let resp = &op["responses"][status.to_string()];
    assert!(
        resp.is_object(),
        "{method} {path} answered {status}, which the document does not list"
    );
    let schema = resp["content"]["application/json"]["schema"].clone();
    json!({
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "components": doc["components"],
        "allOf": [schema],
    })
}

/// Sends one request and checks its answer against the document.
async fn check(
    app: &TestApp,
    doc: &Value,
    method: &str,
    template: &str,
    path: &str,
    body: Option<Value>,
) -> Value {
    let mut rb = app
        .client
        .request(method.to_uppercase().parse().unwrap(), app.url(path));
    if let Some(b) = &body {
        rb = rb.json(b);
    }
    let r = rb.send().await.unwrap();
    let status = r.status().as_u16();
    let text = r.text().await.unwrap();
    let schema = schema_for(doc, method, template, status);
    if status == 204 {
        return Value::Null;
    }
    let value: Value =
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("{method} {path}: not JSON ({e}): {text}"));
    let validator = jsonschema::options()
        .with_draft(jsonschema::Draft::Draft202012)
        .build(&schema)
        .unwrap_or_else(|e| panic!("{method} {template}: bad schema: {e}"));
    let errors: Vec<String> = validator
        .iter_errors(&value)
        .map(|e| format!("{} at {}", e, e.instance_path()))
        .collect();
    assert!(
        errors.is_empty(),
        "{method} {path} -> {status} violates its schema: {errors:?}\n{value}"
    );
    value
}

async fn responses_match_the_schema(app: TestApp) {
    let doc = app.get_ok("/openapi.json").await;
    let data = trained(&app).await;
    let user = data.users[0].0.clone();
    let course = data.courses[0].id.clone();
    let category = data.courses[0].category.clone();

    let gets: Vec<(&str, String)> = vec![
        ("/recommend/{user}", format!("/recommend/{user}?n=5&explain=true")),
        ("/recommend/{user}", "/recommend/nobody-yet".into()),
        ("/recommend/{user}", format!("/recommend/{user}?n=0")),
        ("/courses/{id}/similar", format!("/courses/{course}/similar?n=3")),
        ("/courses/{id}/similar", "/courses/nope/similar".into()),
        ("/popular", format!("/popular?category={category}")),
        ("/model", "/model".into()),
        ("/model/history", "/model/history".into()),
        ("/events/stats", "/events/stats?hours=3".into()),
        ("/courses", format!("/courses?category={category}&limit=2")),
        ("/courses", format!("/courses?ids={course},nope")),
        ("/courses/{id}", format!("/courses/{course}")),
        ("/courses/{id}", "/courses/nope".into()),
        ("/users/{id}/profile", format!("/users/{user}/profile")),
        ("/users/{id}/profile", "/users/nobody/profile".into()),
        ("/users/{id}/segment", format!("/users/{user}/segment")),
        ("/segments", "/segments".into()),
        ("/segments/{id}/users", "/segments/0/users?limit=2".into()),
        ("/segments/{id}/users", "/segments/0/users?after=0.x".into()),
        ("/segments/{id}/users", "/segments/999/users".into()),
        (
            "/courses/{id}/audience",
            format!("/courses/{course}/audience?n=3"),
        ),
        ("/audiences", format!("/audiences?course_id={course}&limit=3")),
        ("/audiences", "/audiences?rfm=champions&rfm=lost&limit=2".into()),
        ("/audiences", "/audiences?min_purchase_probability=2".into()),
        ("/experiments", "/experiments".into()),
        ("/experiments/{id}", "/experiments/nope".into()),
        ("/campaigns", "/campaigns".into()),
        ("/campaigns/{id}", "/campaigns/nope".into()),
        ("/healthz", "/healthz".into()),
        ("/readyz", "/readyz".into()),
    ];
    for (template, path) in &gets {
        check(&app, &doc, "get", template, path, None).await;
    }

    // Writes, then reads of what they made.
    let ev = json!({"user_id": "schema-u", "course_id": course, "type": "view"});
    check(&app, &doc, "post", "/events", "/events", Some(ev)).await;
    check(
        &app,
        &doc,
        "post",
        "/events",
        "/events",
        Some(json!({"events": [{"user_id": ""}]})),
    )
    .await;
    let c = json!({"title": "Schema 101", "category": "testing", "level": "beginner", "price_cents": 1000});
    check(
        &app,
        &doc,
        "put",
        "/courses/{id}",
        "/courses/schema-101",
        Some(c.clone()),
    )
    .await;
    check(
        &app,
        &doc,
        "put",
        "/courses/{id}",
        "/courses/schema-101",
        Some(json!({"title": ""})),
    )
    .await;
    let mut many = c.clone();
    many["id"] = json!("schema-102");
    check(&app, &doc, "post", "/courses", "/courses", Some(json!([many]))).await;
    check(&app, &doc, "delete", "/courses/{id}", "/courses/schema-102", None).await;
    check(
        &app,
        &doc,
        "put",
        "/users/{id}",
        "/users/schema-u",
        Some(json!({"interests": ["rust"]})),
    )
    .await;
    let spec =
        json!({"variants": [{"name": "a", "weight": 1}, {"name": "b", "weight": 1, "arm": "popular"}]});
    check(
        &app,
        &doc,
        "put",
        "/experiments/{id}",
        "/experiments/ab",
        Some(spec),
    )
    .await;
    check(&app, &doc, "get", "/experiments/{id}", "/experiments/ab", None).await;
    check(
        &app,
        &doc,
        "get",
        "/experiments/{id}/report",
        "/experiments/ab/report",
        None,
    )
    .await;
    let campaign = json!({"name": "schema", "course_id": course, "size": 50});
    let created = check(&app, &doc, "post", "/campaigns", "/campaigns", Some(campaign)).await;
    let id = created["campaign_id"].as_str().unwrap();
    check(
        &app,
        &doc,
        "get",
        "/campaigns/{id}",
        &format!("/campaigns/{id}"),
        None,
    )
    .await;
    check(
        &app,
        &doc,
        "get",
        "/campaigns/{id}/recipients",
        &format!("/campaigns/{id}/recipients?limit=5"),
        None,
    )
    .await;
    check(
        &app,
        &doc,
        "get",
        "/campaigns/{id}/report",
        &format!("/campaigns/{id}/report"),
        None,
    )
    .await;
    check(&app, &doc, "get", "/campaigns", "/campaigns", None).await;
    check(&app, &doc, "post", "/model/retrain", "/model/retrain", None).await;
    app.wait_for_training().await;
    check(&app, &doc, "delete", "/users/{id}", "/users/schema-u", None).await;
    check(&app, &doc, "delete", "/users/{id}", "/users/schema-u", None).await;
    app.stop().await;
}

both_backends!(
    real_responses_match_the_generated_schema,
    responses_match_the_schema
);
