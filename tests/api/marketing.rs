//! The marketing loop over HTTP on both stores: predictions in profiles,
//! audiences without owners, a campaign whose control group is never
//! exported, a report that nets refunds and covers the planted uplift, and
//! erasure that takes a learner out of it.

use std::collections::HashSet;

use courserec::domain::EventType;
use rand::{Rng, SeedableRng};
use serde_json::{json, Value};

use crate::both_backends;
use crate::helpers::TestApp;
use crate::recommend::trained;

/// Every learner of an audience query through its `next` pages.
async fn all_pages(app: &TestApp, query: &str, limit: usize) -> Vec<Value> {
    let mut out = Vec::new();
    let mut after: Option<String> = None;
    loop {
        let q = match &after {
            Some(a) => format!("{query}&limit={limit}&after={a}"),
            None => format!("{query}&limit={limit}"),
        };
        let page = app.get_ok(&q).await;
        out.extend(page["users"].as_array().unwrap().iter().cloned());
        match page["next"].as_str() {
            Some(a) => after = Some(a.to_string()),
            None => break,
        }
    }
    out
}

pub(crate) async fn get_csv(app: &TestApp, path: &str) -> String {
    let r = app
        .client
        .get(app.url(path))
        .header("accept", "text/csv")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200, "{path}");
    assert!(r.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/csv"));
    r.text().await.unwrap()
}

pub(crate) async fn post_events(app: &TestApp, events: &[Value]) {
    for chunk in events.chunks(1000) {
        let r = app.post_json("/events", &json!({ "events": chunk })).await;
        assert_eq!(r.status(), 202, "{}", r.text().await.unwrap());
    }
}

fn ids(users: &[Value]) -> Vec<String> {
    users
        .iter()
        .map(|u| u["user_id"].as_str().unwrap().to_string())
        .collect()
}

async fn marketing_loop(app: TestApp) {
    let data = trained(&app).await;
    let model = app.get_ok("/model").await;
    let mk = &model["marketing"];
    assert_eq!(mk["horizon_days"], 28, "{model}");
    for p in ["purchase", "churn"] {
        assert!(
            ["model", "previous", "baseline"].contains(&mk[p]["source"].as_str().unwrap()),
            "{mk}"
        );
    }

    // Profiles carry predictions and an RFM group.
    let user = &data.users[0].0;
    let prof = app.get_ok(&format!("/users/{user}/profile")).await;
    let pred = &prof["predictions"];
    assert_eq!(pred["horizon_days"], 28);
    assert!(
        (0.0..=1.0).contains(&pred["purchase_probability"].as_f64().unwrap()),
        "{pred}"
    );
    assert!(pred["churn_probability"].is_null() || pred["churn_probability"].as_f64().is_some());
    assert!(pred["predicted_spend_cents"].as_i64().unwrap() >= 0);
    assert!((1..=5).contains(&prof["rfm"]["r"].as_u64().unwrap()));
    assert!(prof["rfm"]["group"].is_string());

    // A course audience: ranked by expected value, no owners, pages = CSV.
    let course = data.courses[0].id.clone();
    // Owners: bought and not refunded (the demo refunds only after a purchase).
    let of_kind = |kind: EventType| -> HashSet<String> {
        data.events
            .iter()
            .filter(|e| e.course_id == course && e.kind == kind)
            .map(|e| e.user_id.clone())
            .collect()
    };
    let owners: HashSet<String> = of_kind(EventType::Purchase)
        .difference(&of_kind(EventType::Refund))
        .cloned()
        .collect();
    let q = format!("/audiences?course_id={course}");
    let first = app.get_ok(&format!("{q}&limit=5")).await;
    let size = first["size"].as_u64().unwrap() as usize;
    assert!(size > 100, "{first}");
    let all = all_pages(&app, &q, 97).await;
    assert_eq!(all.len(), size);
    let values: Vec<f64> = all
        .iter()
        .map(|u| u["expected_value_cents"].as_f64().unwrap())
        .collect();
    assert!(
        values.windows(2).all(|w| w[0] >= w[1]),
        "not ranked by expected value"
    );
    let members = ids(&all);
    assert_eq!(
        members.iter().collect::<HashSet<_>>().len(),
        size,
        "a learner listed twice"
    );
    assert!(
        members.iter().all(|u| !owners.contains(u)),
        "an owner is in the audience"
    );
    let csv = get_csv(&app, &q).await;
    assert_eq!(csv.lines().count(), size + 1);
    let sum: f64 = all
        .iter()
        .map(|u| u["purchase_probability"].as_f64().unwrap())
        .sum();
    // Sent rounded: the sum to 2 decimals, each probability to 4.
    let slack = 0.005 + all.len() as f64 * 5e-5;
    assert!((first["expected_conversions"].as_f64().unwrap() - sum).abs() <= slack);

    // Filters hold for every member; bad ones are refused.
    let loyal = all_pages(
        &app,
        &format!("{q}&rfm=champions,loyal&min_purchase_probability=0.01"),
        50,
    )
    .await;
    assert!(loyal.iter().all(
        |u| ["champions", "loyal"].contains(&u["rfm_group"].as_str().unwrap())
            && u["purchase_probability"].as_f64().unwrap() >= 0.01
    ));
    let active = all_pages(&app, "/audiences?active_days=7&min_churn_probability=0", 500).await;
    assert!(active.iter().all(|u| u["churn_probability"].is_number()));
    for bad in [
        "rfm=vips",
        "min_purchase_probability=2",
        "active_days=x",
        "course_id=a&category=b",
    ] {
        let r = app.get(&format!("/audiences?{bad}")).await;
        assert_eq!(r.status(), 400, "{bad}");
    }
    assert_eq!(app.get("/audiences?course_id=nope").await.status(), 404);
    assert_eq!(app.get("/audiences?category=nope").await.status(), 404);

    // A campaign: the list is frozen, the control group never exported.
    let r = app
        .post_json(
            "/campaigns",
            &json!({"name": "", "course_id": course, "control_share": 1.5}),
        )
        .await;
    assert_eq!(r.status(), 422);
    let body: Value = r.json().await.unwrap();
    assert_eq!(crate::helpers::error_fields(&body), ["name", "control_share"]);
    let r = app
        .post_json(
            "/campaigns",
            &json!({"name": "none", "course_id": course, "audience": {"min_purchase_probability": 1.0}}),
        )
        .await;
    assert_eq!(r.status(), 422);
    let r = app
        .post_json(
            "/campaigns",
            &json!({"name": "spring", "course_id": course, "control_share": 0.5, "discount_pct": 20}),
        )
        .await;
    assert_eq!(r.status(), 201);
    let created: Value = r.json().await.unwrap();
    let id = created["campaign_id"].as_str().unwrap().to_string();
    let (n_t, n_c) = (
        created["treatment_size"].as_u64().unwrap(),
        created["control_size"].as_u64().unwrap(),
    );
    assert_eq!((n_t + n_c) as usize, size);
    assert!(n_c > size as u64 / 4 && n_t > size as u64 / 4, "{created}");
    let listed = app.get_ok("/campaigns").await;
    assert_eq!(listed["campaigns"][0]["campaign_id"], id.as_str());
    assert_eq!(app.get("/campaigns/nope").await.status(), 404);

    let mut rec_query = format!("/campaigns/{id}/recipients?x=1");
    let treated = ids(&all_pages(&app, &rec_query, 40).await);
    assert_eq!(treated.len() as u64, n_t);
    rec_query = format!("/campaigns/{id}/recipients");
    assert_eq!(get_csv(&app, &rec_query).await.lines().count() as u64, n_t + 1);
    let treated_set: HashSet<&String> = treated.iter().collect();
    let control: Vec<&String> = members.iter().filter(|u| !treated_set.contains(u)).collect();
    assert_eq!(
        control.len() as u64,
        n_c,
        "recipients are not the treatment group alone"
    );

    // Simulated responses: 50 % of treatment and 20 % of control buy.
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(5);
    let now = chrono::Utc::now();
    let purchase = |u: &str, c: &str, secs: i64| json!({"user_id": u, "course_id": c, "type": "purchase", "ts": (now + chrono::Duration::seconds(secs)).to_rfc3339()});
    let mut events = Vec::new();
    let mut bought_t = Vec::new();
    for u in &treated {
        if rng.random::<f64>() < 0.5 {
            events.push(purchase(u.as_str(), &course, 1));
            bought_t.push(u.clone());
        }
    }
    let mut bought_c = 0;
    for u in &control {
        if rng.random::<f64>() < 0.2 {
            events.push(purchase(u.as_str(), &course, 1));
            bought_c += 1;
        }
    }
    // Refunds cancel five treatment conversions; another course never counts.
    for u in &bought_t[..5] {
        events.push(json!({"user_id": u, "course_id": course, "type": "refund", "ts": (now + chrono::Duration::seconds(2)).to_rfc3339()}));
    }
    events.push(purchase(control[0].as_str(), &data.courses[1].id, 1));
    post_events(&app, &events).await;

    let rep = app.get_ok(&format!("/campaigns/{id}/report")).await;
    let conv_t = bought_t.len() as u64 - 5;
    assert_eq!(rep["treatment"]["users"], n_t);
    assert_eq!(rep["treatment"]["conversions"], conv_t, "{rep}");
    assert_eq!(rep["control"]["conversions"], bought_c, "{rep}");
    let price = data.courses[0].price_cents;
    assert_eq!(
        rep["treatment"]["revenue_cents"].as_i64().unwrap(),
        conv_t as i64 * (price * 8 / 10)
    );
    assert_eq!(
        rep["discount_cost_cents"].as_i64().unwrap(),
        conv_t as i64 * (price - price * 8 / 10)
    );
    let ci = rep["uplift_ci"].as_array().unwrap();
    let (lo, hi) = (ci[0].as_f64().unwrap(), ci[1].as_f64().unwrap());
    // The planted uplift is 0.3 less the refunded share of treatment.
    let planted = 0.3 - 5.0 / n_t as f64;
    assert!(lo < planted && planted < hi, "{planted} outside [{lo}, {hi}]");
    assert!(rep["p_value"].as_f64().unwrap() < 0.01);
    let uplift = rep["uplift"].as_f64().unwrap();
    // The uplift is sent to 4 decimals, incremental conversions to 2.
    let slack = 5e-5 * n_t as f64 + 0.005;
    assert!((rep["incremental_conversions"].as_f64().unwrap() - uplift * n_t as f64).abs() <= slack);

    // Erasure takes a converted learner out of the campaign and its report.
    let gone = &bought_t[10];
    assert_eq!(app.delete(&format!("/users/{gone}")).await.status(), 204);
    let rep = app.get_ok(&format!("/campaigns/{id}/report")).await;
    assert_eq!(rep["treatment"]["users"], n_t - 1);
    assert_eq!(rep["treatment"]["conversions"], conv_t - 1);
    let treated = ids(&all_pages(&app, &format!("/campaigns/{id}/recipients?x=1"), 1000).await);
    assert!(!treated.contains(gone));
    let again = ids(&all_pages(&app, &q, 1000).await);
    assert!(!again.contains(gone));
    let metrics = app
        .client
        .get(app.url("/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(metrics.contains("courserec_campaigns_created_total 1"));
    assert!(metrics.contains("courserec_marketing_backtest{"));
    app.stop().await;
}

both_backends!(the_marketing_loop_works_end_to_end, marketing_loop);

/// Courses each learner owns at the end of the demo, by the shared rule.
fn demo_owned(data: &courserec::demo::DemoData) -> HashSet<(String, String)> {
    use courserec::model::ownership::{ownership, Payment, PaymentEvent};
    let mut pay: std::collections::HashMap<(&str, &str), Vec<PaymentEvent>> = Default::default();
    for e in &data.events {
        let kind = match e.kind {
            EventType::Purchase => Payment::Purchase,
            EventType::Refund => Payment::Refund,
            _ => continue,
        };
        pay.entry((&e.user_id, &e.course_id))
            .or_default()
            .push(PaymentEvent { ts_ms: e.ts_ms, kind });
    }
    pay.into_iter()
        .filter(|(_, p)| ownership(p, 0).owned)
        .map(|((u, c), _)| (u.to_string(), c.to_string()))
        .collect()
}

/// Creates a campaign: its id and start (ms since the epoch).
async fn create_campaign(app: &TestApp, body: Value) -> (String, i64) {
    let r = app.post_json("/campaigns", &body).await;
    assert_eq!(r.status(), 201, "{}", r.text().await.unwrap());
    let created: Value = r.json().await.unwrap();
    let at = chrono::DateTime::parse_from_rfc3339(created["created_at"].as_str().unwrap())
        .unwrap()
        .timestamp_millis();
    (created["campaign_id"].as_str().unwrap().to_string(), at)
}

fn conversions(rep: &Value) -> u64 {
    rep["treatment"]["conversions"].as_u64().unwrap() + rep["control"]["conversions"].as_u64().unwrap()
}

/// A conversion needs the offer not owned when the campaign started: a
/// retried purchase by an earlier owner counts for nothing, whether the
/// earlier purchase was in the store before the campaign (a category offer)
/// or arrived late with its original time (a course offer).
async fn prior_owners_do_not_convert(app: TestApp) {
    let data = trained(&app).await;
    let owned = demo_owned(&data);
    let ts = |ms: i64| {
        chrono::DateTime::from_timestamp_millis(ms)
            .unwrap()
            .to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
    };
    let pay = |u: &str, c: &str, kind: &str, ms: i64| json!({"user_id": u, "course_id": c, "type": kind, "ts": ts(ms)});

    // A category offer: its audience keeps owners of single courses of it.
    let category = data.courses[0].category.clone();
    let in_cat: Vec<&str> = data
        .courses
        .iter()
        .filter(|c| c.category == category)
        .map(|c| c.id.as_str())
        .collect();
    let audience = ids(&all_pages(&app, &format!("/audiences?category={category}"), 1000).await);
    let owner = audience
        .iter()
        .find_map(|u| {
            in_cat
                .iter()
                .find(|c| owned.contains(&(u.clone(), c.to_string())))
                .map(|c| (u.clone(), c.to_string()))
        })
        .expect("an audience member owns a course of the category");
    let newcomer = audience
        .iter()
        .find(|u| {
            **u != owner.0
                && !in_cat
                    .iter()
                    .any(|c| owned.contains(&((*u).clone(), c.to_string())))
        })
        .expect("a member who owns nothing of the category")
        .clone();
    let fresh = in_cat
        .iter()
        .find(|c| !owned.contains(&(newcomer.clone(), c.to_string())))
        .unwrap()
        .to_string();
    let (id, start) = create_campaign(
        &app,
        json!({"name": "category", "category": category, "control_share": 0.5}),
    )
    .await;
    post_events(
        &app,
        &[
            pay(&owner.0, &owner.1, "purchase", start + 1000),
            pay(&newcomer, &fresh, "purchase", start + 1000),
        ],
    )
    .await;
    let rep = app.get_ok(&format!("/campaigns/{id}/report")).await;
    assert_eq!(conversions(&rep), 1, "only the newcomer converted: {rep}");

    // A course offer; payments before the start arrive after it.
    let course = data.courses[1].id.clone();
    let members = ids(&all_pages(&app, &format!("/audiences?course_id={course}"), 1000).await);
    assert!(members.len() >= 3);
    let (id, start) = create_campaign(
        &app,
        json!({"name": "course", "course_id": course, "control_share": 0.5}),
    )
    .await;
    let hour = 3_600_000;
    post_events(
        &app,
        &[
            // Owned before the start (late), retried in the window: no conversion.
            pay(&members[0], &course, "purchase", start - hour),
            pay(&members[0], &course, "purchase", start + 1000),
            // Bought and given back before the start, bought again: converted.
            pay(&members[1], &course, "purchase", start - 2 * hour),
            pay(&members[1], &course, "refund", start - hour),
            pay(&members[1], &course, "purchase", start + 1000),
            // A first purchase in the window: converted.
            pay(&members[2], &course, "purchase", start + 2000),
        ],
    )
    .await;
    let rep = app.get_ok(&format!("/campaigns/{id}/report")).await;
    assert_eq!(conversions(&rep), 2, "{rep}");
    app.stop().await;
}

both_backends!(
    a_learner_who_owned_the_offer_at_the_start_does_not_convert,
    prior_owners_do_not_convert
);
