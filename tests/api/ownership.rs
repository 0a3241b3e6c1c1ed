//! Ownership in time order: a refund cancels only an earlier purchase and
//! the latest word wins, in lists, audiences, profiles (spend), after a
//! retrain, and in experiment conversions.

use serde_json::{json, Value};

use crate::both_backends;
use crate::helpers::{course_ids, TestApp};
use crate::recommend::{taken_by, trained};

const DAY_MS: i64 = 86_400_000;

fn at(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms).unwrap().to_rfc3339()
}

async fn post_events(app: &TestApp, events: Vec<Value>) {
    let r = app.post_json("/events", &json!({ "events": events })).await;
    assert_eq!(r.status(), 202, "{}", r.text().await.unwrap());
}

async fn spend(app: &TestApp, user: &str) -> i64 {
    app.get_ok(&format!("/users/{user}/profile")).await["spend_cents"]
        .as_i64()
        .unwrap()
}

/// (in the user's category list, in the course's audience) for `course`.
async fn offered(app: &TestApp, user: &str, course: &str, category: &str) -> (bool, bool) {
    let list = app
        .get_ok(&format!("/recommend/{user}?n=100&category={category}"))
        .await;
    let audience = app.get_ok(&format!("/courses/{course}/audience?n=10000")).await;
    let in_audience = audience["users"]
        .as_array()
        .unwrap()
        .iter()
        .any(|u| u["user_id"] == user);
    (course_ids(&list).iter().any(|c| c == course), in_audience)
}

async fn ownership_is_decided_in_time_order(app: TestApp) {
    let data = trained(&app).await;
    let course = data.courses.iter().find(|c| c.active).unwrap();
    let (id, cat) = (course.id.as_str(), course.category.as_str());
    // Two trained learners who never took the course.
    let mut fresh = data
        .users
        .iter()
        .map(|u| u.0.as_str())
        .filter(|u| !taken_by(&data, u).contains(id));
    let (late_buyer, refunder) = (fresh.next().unwrap(), fresh.next().unwrap());
    let spent = (spend(&app, late_buyer).await, spend(&app, refunder).await);
    assert_eq!(offered(&app, late_buyer, id, cat).await, (true, true));

    let now = courserec::domain::now_ms();
    let (nov1, nov5) = (at(now - 10 * DAY_MS), at(now - 6 * DAY_MS));
    let ev =
        |user: &str, kind: &str, ts: &str| json!({"user_id": user, "course_id": id, "type": kind, "ts": ts});
    post_events(
        &app,
        vec![
            // Sent in reverse order: the times decide, not the arrival.
            ev(late_buyer, "purchase", &nov5),
            ev(late_buyer, "refund", &nov1),
            ev(refunder, "refund", &nov5),
            ev(refunder, "purchase", &nov1),
        ],
    )
    .await;
    for when in ["before the retrain (fold-in)", "after the retrain"] {
        assert_eq!(offered(&app, late_buyer, id, cat).await, (false, false), "{when}");
        assert_eq!(offered(&app, refunder, id, cat).await, (true, true), "{when}");
        assert_eq!(
            spend(&app, late_buyer).await,
            spent.0 + course.price_cents,
            "{when}"
        );
        assert_eq!(spend(&app, refunder).await, spent.1, "{when}");
        app.state.trainer.run_now().await.unwrap();
    }

    // A refund after an attributed purchase cancels the conversion.
    let arms = json!({"variants": [{"name": "a", "weight": 1}, {"name": "b", "weight": 1}]});
    assert_eq!(app.put_json("/experiments/refunds", &arms).await.status(), 201);
    let buyer = fresh.next().unwrap();
    let list = app.get_ok(&format!("/recommend/{buyer}")).await;
    let (variant, rec_id) = (
        list["variant"].as_str().unwrap(),
        list["rec_id"].as_str().unwrap(),
    );
    let bought = &course_ids(&list)[0];
    let buy = json!({"user_id": buyer, "course_id": bought, "type": "purchase", "rec_id": rec_id,
        "ts": at(courserec::domain::now_ms() - 2000)});
    post_events(&app, vec![buy]).await;
    let buyers = |r: &Value| {
        r["variants"]
            .as_array()
            .unwrap()
            .iter()
            .find(|v| v["name"] == variant)
            .unwrap()["buyers"]
            .as_u64()
    };
    assert_eq!(buyers(&app.get_ok("/experiments/refunds/report").await), Some(1));
    let refund = json!({"user_id": buyer, "course_id": bought, "type": "refund",
        "ts": at(courserec::domain::now_ms() - 1000)});
    post_events(&app, vec![refund]).await;
    assert_eq!(buyers(&app.get_ok("/experiments/refunds/report").await), Some(0));
    app.stop().await;
}
both_backends!(time_ordered_ownership, ownership_is_decided_in_time_order);
