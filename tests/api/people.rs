//! Predictions and RFM groups count people, not events or calendars, on
//! both stores: a purchase retried 25 times is one purchase, a refund nets
//! out of monetary value, "active in the last day" is 24 hours of elapsed
//! time before the training read the log, and no learner is likelier to
//! buy than to stay active.

use serde_json::{json, Value};

use crate::both_backends;
use crate::helpers::TestApp;
use courserec::domain::{now_ms, DAY_MS};
use courserec::retrain::Outcome;

fn ts(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .unwrap()
        .to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

fn event(user: &str, course: &str, kind: &str, ms: i64, id: String) -> Value {
    json!({"user_id": user, "course_id": course, "type": kind, "ts": ts(ms), "event_id": id})
}

async fn profile(app: &TestApp, user: &str) -> Value {
    app.get_ok(&format!("/users/{user}/profile")).await
}

/// Every user id of an audience query, through its pages.
async fn audience(app: &TestApp, query: &str) -> Vec<Value> {
    let mut out = Vec::new();
    let mut after: Option<String> = None;
    loop {
        let q = match &after {
            Some(a) => format!("{query}&limit=1000&after={a}"),
            None => format!("{query}&limit=1000"),
        };
        let page = app.get_ok(&q).await;
        out.extend(page["users"].as_array().unwrap().iter().cloned());
        match page["next"].as_str() {
            Some(a) => after = Some(a.to_string()),
            None => return out,
        }
    }
}

fn has(users: &[Value], id: &str) -> bool {
    users.iter().any(|u| u["user_id"] == id)
}

async fn people_not_events(app: TestApp) {
    let now = now_ms();
    let data = courserec::demo::generate(7, &courserec::demo::DemoSize::small(), now);
    app.load(&data).await;
    let course = &data.courses[0];
    let (c, price) = (course.id.as_str(), course.price_cents);
    let hour = 3_600_000;
    let two_hours_ago = now - 2 * hour;
    // Just before the last UTC midnight: yesterday by the calendar, less
    // than 24 hours ago (unless the clock is in the day's last hour).
    let midnight = now.div_euclid(DAY_MS) * DAY_MS;
    let late_night = if now - midnight < 23 * hour {
        midnight - 60_000
    } else {
        now - hour / 2
    };
    let mut events = vec![
        // One purchase posted 25 times (a client's retries, distinct ids).
        event("retrier", c, "view", two_hours_ago, "retrier-view".into()),
        // One purchase, once, at the time of the retrier's last retry.
        event("single", c, "view", two_hours_ago, "single-view".into()),
        event(
            "single",
            c,
            "purchase",
            two_hours_ago + 24_000,
            "single-buy".into(),
        ),
        // Retried three times, then refunded: nothing spent.
        event("refunder", c, "view", two_hours_ago, "refunder-view".into()),
        event(
            "refunder",
            c,
            "refund",
            two_hours_ago + hour,
            "refunder-refund".into(),
        ),
        // Around a day boundary: 23:59 yesterday, and 25 hours ago.
        event("night-owl", c, "view", late_night, "owl".into()),
        event("day-before", c, "view", now - 25 * hour, "day-before".into()),
    ];
    for i in 0..25 {
        events.push(event(
            "retrier",
            c,
            "purchase",
            two_hours_ago + i * 1000,
            format!("retry-{i}"),
        ));
    }
    for i in 0..3 {
        events.push(event(
            "refunder",
            c,
            "purchase",
            two_hours_ago + i * 1000,
            format!("refunder-{i}"),
        ));
    }
    let r = app.post_json("/events", &json!({ "events": events })).await;
    assert_eq!(r.status(), 202, "{}", r.text().await.unwrap());
    match app.state.trainer.run_now().await {
        Some(Outcome::Published(_)) => {}
        other => panic!("training did not publish: {other:?}"),
    }

    // The retrier is the single buyer: same purchases, spend and group.
    let (retrier, single, refunder) = (
        profile(&app, "retrier").await,
        profile(&app, "single").await,
        profile(&app, "refunder").await,
    );
    assert_eq!(
        retrier["counts"]["purchase"], 25,
        "events are still counted as events"
    );
    assert_eq!(retrier["rfm"], single["rfm"], "{retrier}\n{single}");
    assert_eq!(retrier["spend_cents"], price);
    let group = retrier["rfm"]["group"].as_str().unwrap();
    assert!(!["loyal", "champions"].contains(&group), "{retrier}");
    // A frequency score below the learners who bought the most.
    let top_f = (0..data.users.len())
        .step_by(7)
        .map(|i| data.users[i].0.clone())
        .collect::<Vec<_>>();
    let mut best = 0;
    for u in &top_f {
        best = best.max(profile(&app, u).await["rfm"]["f"].as_u64().unwrap());
    }
    assert!(retrier["rfm"]["f"].as_u64().unwrap() < best, "{retrier}");

    // The refund nets out: nothing spent, the lowest monetary score (the
    // three retried purchases once scored 2 × the price).
    assert_eq!(refunder["spend_cents"], 0, "{refunder}");
    assert_eq!(refunder["rfm"]["m"], 1, "{refunder}");
    assert_eq!(refunder["rfm"]["f"], 1, "{refunder}");

    // Elapsed time, not calendar days.
    let active = audience(&app, "/audiences?active_days=1").await;
    let inactive = audience(&app, "/audiences?inactive_days=1").await;
    assert!(has(&active, "night-owl") && !has(&inactive, "night-owl"));
    assert!(!has(&active, "day-before") && has(&inactive, "day-before"));
    assert!(has(
        &audience(&app, "/audiences?active_days=2").await,
        "day-before"
    ));
    let owl = profile(&app, "night-owl").await;
    assert!(owl["predictions"]["churn_probability"].is_number(), "{owl}");

    // No learner is likelier to buy than to stay active, and the win-back
    // list (churn of 0.5 or more) is ranked by coherent numbers.
    let mut with_churn = 0;
    for (u, _) in &data.users {
        let p = profile(&app, u).await;
        let pred = &p["predictions"];
        if let Some(churn) = pred["churn_probability"].as_f64() {
            with_churn += 1;
            let buy = pred["purchase_probability"].as_f64().unwrap();
            assert!(buy <= 1.0 - churn + 1e-9, "{u}: {pred}");
        }
    }
    assert!(with_churn > 100, "churn defined for {with_churn} learners");
    let win_back = audience(&app, "/audiences?min_churn_probability=0.5").await;
    for m in &win_back {
        let (buy, churn) = (
            m["purchase_probability"].as_f64().unwrap(),
            m["churn_probability"].as_f64().unwrap(),
        );
        assert!(buy + churn <= 1.0 + 1e-4, "{m}");
    }
    app.stop().await;
}

both_backends!(
    predictions_count_people_not_events_or_calendars,
    people_not_events
);
