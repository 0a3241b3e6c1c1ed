//! Campaign figures are facts: a report does not move when the catalog
//! changes after the fact, a repeated request does not create a second
//! campaign, and a running campaign's control group is never the target of
//! another campaign for an overlapping offer.

use std::collections::HashSet;

use serde_json::{json, Value};

use crate::both_backends;
use crate::helpers::TestApp;
use crate::recommend::trained;

fn ts(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .unwrap()
        .to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

async fn created(app: &TestApp, body: &Value, key: Option<&str>) -> reqwest::Response {
    let mut rb = app.client.post(app.url("/campaigns")).json(body);
    if let Some(k) = key {
        rb = rb.header("idempotency-key", k);
    }
    if let Some(k) = &app.key {
        rb = rb.bearer_auth(k);
    }
    rb.send().await.unwrap()
}

async fn create(app: &TestApp, body: Value) -> Value {
    let r = created(app, &body, None).await;
    assert_eq!(r.status(), 201);
    r.json().await.unwrap()
}

/// Every user id of a campaign's recipients (treatment).
async fn recipients(app: &TestApp, id: &str) -> HashSet<String> {
    let page = app
        .get_ok(&format!("/campaigns/{id}/recipients?limit=10000"))
        .await;
    page["users"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["user_id"].as_str().unwrap().to_string())
        .collect()
}

/// The report figures that must never move after the fact.
fn figures(rep: &Value) -> Value {
    json!([
        rep["treatment"],
        rep["control"],
        rep["uplift"],
        rep["discount_cost_cents"],
        rep["incremental_revenue_cents"]
    ])
}

async fn reports_do_not_follow_later_catalog_edits(app: TestApp) {
    let data = trained(&app).await;
    let course = data.courses[0].clone();
    let camp = create(
        &app,
        json!({"name": "facts", "course_id": course.id, "control_share": 0.5, "discount_pct": 25}),
    )
    .await;
    let id = camp["campaign_id"].as_str().unwrap().to_string();
    let start = chrono::DateTime::parse_from_rfc3339(camp["created_at"].as_str().unwrap())
        .unwrap()
        .timestamp_millis();
    let treated: Vec<String> = recipients(&app, &id).await.into_iter().collect();
    assert!(treated.len() >= 2, "{camp}");
    // Two treated learners buy in the window at the current price (1 ms
    // after the start: before the price change below, however fast).
    let events: Vec<Value> = treated[..2]
        .iter()
        .map(|u| json!({"user_id": u, "course_id": course.id, "type": "purchase", "ts": ts(start + 1)}))
        .collect();
    assert_eq!(
        app.post_json("/events", &json!({ "events": events }))
            .await
            .status(),
        202
    );
    let before = app.get_ok(&format!("/campaigns/{id}/report")).await;
    assert_eq!(before["treatment"]["conversions"], 2, "{before}");
    let paid = course.price_cents - course.price_cents / 4;
    assert_eq!(before["treatment"]["revenue_cents"], 2 * paid, "{before}");
    assert_eq!(before["discount_cost_cents"], 2 * (course.price_cents - paid));

    // The price doubles, the course moves to another category, then goes.
    let mut body = json!({"title": course.title, "category": course.category,
        "tags": course.tags, "level": course.level, "price_cents": course.price_cents * 2, "active": true});
    assert_eq!(
        app.put_json(&format!("/courses/{}", course.id), &body)
            .await
            .status(),
        200
    );
    assert_eq!(
        figures(&app.get_ok(&format!("/campaigns/{id}/report")).await),
        figures(&before)
    );
    body["category"] = json!("somewhere-else");
    assert_eq!(
        app.put_json(&format!("/courses/{}", course.id), &body)
            .await
            .status(),
        200
    );
    assert_eq!(
        figures(&app.get_ok(&format!("/campaigns/{id}/report")).await),
        figures(&before)
    );
    assert_eq!(app.delete(&format!("/courses/{}", course.id)).await.status(), 204);
    assert_eq!(
        figures(&app.get_ok(&format!("/campaigns/{id}/report")).await),
        figures(&before)
    );

    // A category offer is frozen too: a course added to the category later
    // is not part of it.
    let category = data.courses[1].category.clone();
    let cat = create(
        &app,
        json!({"name": "cat", "category": category.to_uppercase(), "control_share": 0.5}),
    )
    .await;
    let cat_id = cat["campaign_id"].as_str().unwrap().to_string();
    let late = json!({"title": "Late", "category": category, "tags": [], "level": "beginner",
        "price_cents": 1000, "active": true});
    assert_eq!(app.put_json("/courses/late-course", &late).await.status(), 201);
    let member = recipients(&app, &cat_id).await.into_iter().next().unwrap();
    let ev = json!({"user_id": member, "course_id": "late-course", "type": "purchase"});
    assert_eq!(app.post_json("/events", &ev).await.status(), 202);
    let rep = app.get_ok(&format!("/campaigns/{cat_id}/report")).await;
    assert_eq!(rep["treatment"]["conversions"], 0, "{rep}");
    app.stop().await;
}

both_backends!(
    a_report_is_a_fact_as_of_the_event,
    reports_do_not_follow_later_catalog_edits
);

async fn repeats_and_overlaps_cannot_contaminate(app: TestApp) {
    let data = trained(&app).await;
    let course = &data.courses[2];
    let body = json!({"name": "once", "course_id": course.id, "control_share": 0.5});

    // The same request twice with one Idempotency-Key: one campaign.
    let first = created(&app, &body, Some("spring-1")).await;
    assert_eq!(first.status(), 201);
    let first: Value = first.json().await.unwrap();
    let again = created(&app, &body, Some("spring-1")).await;
    assert_eq!(again.status(), 201);
    assert_eq!(again.headers()["idempotent-replayed"], "true");
    let again: Value = again.json().await.unwrap();
    assert_eq!(again, first);
    assert_eq!(
        app.get_ok("/campaigns").await["campaigns"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
    // Another request under the same key is refused; a bad key is 400.
    let other = json!({"name": "other", "course_id": course.id, "control_share": 0.3});
    let r = created(&app, &other, Some("spring-1")).await;
    assert_eq!(r.status(), 422);
    assert_eq!(
        r.json::<Value>().await.unwrap()["error"]["code"],
        "idempotency_key_reused"
    );
    assert_eq!(created(&app, &body, Some(&"k".repeat(300))).await.status(), 400);
    assert_eq!(
        app.get_ok("/campaigns").await["campaigns"]
            .as_array()
            .unwrap()
            .len(),
        1
    );

    // Sent again without a key: a second campaign, but the first one's
    // control group is held out of it and counted.
    let first_id = first["campaign_id"].as_str().unwrap();
    let first_treated = recipients(&app, first_id).await;
    let second = create(&app, body.clone()).await;
    let held = second["held_out_overlap"].as_u64().unwrap();
    assert_eq!(held, first["control_size"].as_u64().unwrap(), "{first} {second}");
    let second_id = second["campaign_id"].as_str().unwrap();
    let second_all = recipients(&app, second_id).await;
    assert_eq!(
        second["treatment_size"].as_u64().unwrap() + second["control_size"].as_u64().unwrap(),
        first["treatment_size"].as_u64().unwrap(),
        "only the first one's treatment group was left to draw from"
    );
    assert!(second_all.is_subset(&first_treated));
    let info = app.get_ok(&format!("/campaigns/{second_id}")).await;
    assert_eq!(info["held_out_overlap"], held);

    // An offer of another category does not overlap.
    let far = data
        .courses
        .iter()
        .find(|c| c.category.to_lowercase() != course.category.to_lowercase())
        .unwrap();
    let third = create(
        &app,
        json!({"name": "far", "course_id": far.id, "control_share": 0.5}),
    )
    .await;
    assert_eq!(third["held_out_overlap"], 0, "{third}");

    // The audience may repeat the offer, not contradict it.
    let same =
        json!({"name": "rep", "course_id": far.id, "audience": {"course_id": far.id, "segment": null}});
    assert_eq!(created(&app, &same, None).await.status(), 201);
    let clash = json!({"name": "clash", "course_id": far.id, "audience": {"course_id": course.id}});
    let r = created(&app, &clash, None).await;
    assert_eq!(r.status(), 422);
    let unknown = json!({"name": "typo", "course_id": far.id, "audience": {"segmnt": 1}});
    assert_eq!(created(&app, &unknown, None).await.status(), 422);
    app.stop().await;
}

both_backends!(
    campaigns_cannot_contaminate_each_other,
    repeats_and_overlaps_cannot_contaminate
);

async fn reports_say_what_they_can_conclude(app: TestApp) {
    let data = trained(&app).await;
    let course = &data.courses[3];
    let camp = create(
        &app,
        json!({"name": "small", "course_id": course.id, "size": 40, "control_share": 0.5}),
    )
    .await;
    let id = camp["campaign_id"].as_str().unwrap();
    let rep = app.get_ok(&format!("/campaigns/{id}/report?cuped=true")).await;
    assert_eq!(rep["verdict"], "insufficient_data", "{rep}");
    assert!(rep["p_value"].is_null() && rep["uplift_ci"].is_null());
    assert_eq!(rep["minimum_sample_per_arm"], 100);
    assert!(rep["test"].as_str().unwrap().starts_with("mSPRT"));
    let srm = rep["srm_p_value"].as_f64().unwrap();
    assert!((0.0..=1.0).contains(&srm));
    assert_eq!(rep["srm_warning"].is_null(), srm >= 0.001);
    assert!(
        rep["cuped"]["covariate"]
            .as_str()
            .unwrap()
            .contains("days before"),
        "{rep}"
    );
    let plain = app.get_ok(&format!("/campaigns/{id}/report")).await;
    assert!(plain.get("cuped").is_none());
    assert_eq!(
        app.get(&format!("/campaigns/{id}/report?cuped=maybe"))
            .await
            .status(),
        400
    );
    app.stop().await;
}

both_backends!(
    a_small_campaign_gets_no_verdict,
    reports_say_what_they_can_conclude
);
