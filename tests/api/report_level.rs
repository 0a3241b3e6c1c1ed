//! An experiment report draws its intervals at the level it tests at
//! (Bonferroni with several treatments) and says which, so an interval
//! never excludes 0 beside `significant: false`.

use courserec::domain::{Course, Level};
use serde_json::{json, Value};

use crate::both_backends;
use crate::helpers::TestApp;

async fn intervals_are_drawn_at_the_tested_level(app: TestApp) {
    let courses: Vec<Course> = (0..10)
        .map(|i| Course {
            id: format!("c{i}"),
            title: format!("C{i}"),
            category: "go".into(),
            tags: vec![],
            level: Level::Beginner,
            price_cents: 1000,
            active: true,
        })
        .collect();
    app.store.upsert_courses(&courses).await.unwrap();
    let three = json!({"variants": [{"name": "a", "weight": 1}, {"name": "b", "weight": 1}, {"name": "c", "weight": 1}]});
    assert_eq!(app.put_json("/experiments/levels", &three).await.status(), 201);
    // Clicks: b users 1 in 2, c users 1 in 3, control a 1 in 4; purchases
    // half as often.
    let mut events = Vec::new();
    for u in 0..300 {
        let user = format!("u{u}");
        let list = app.get_ok(&format!("/recommend/{user}")).await;
        let every = match list["variant"].as_str().unwrap() {
            "b" => 2,
            "c" => 3,
            _ => 4,
        };
        let (rec_id, course) = (list["rec_id"].clone(), list["items"][0]["course_id"].clone());
        if u % every == 0 {
            events.push(json!({"user_id": user, "course_id": course, "type": "click", "rec_id": rec_id}));
        }
        if u % (2 * every) == 0 {
            events.push(json!({"user_id": user, "course_id": course, "type": "purchase", "rec_id": rec_id}));
        }
    }
    let r = app.post_json("/events", &json!({ "events": events })).await;
    assert_eq!(r.status(), 202);
    let report = app.get_ok("/experiments/levels/report").await;
    assert_eq!(
        (report["alpha"].as_f64(), report["confidence_level"].as_f64()),
        (Some(0.025), Some(0.975))
    );
    let mut compared = 0;
    for v in report["variants"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|v| v["is_control"] == false)
    {
        for metric in ["ctr", "conversion"] {
            let c: &Value = &v["vs_control"][metric];
            let (lo, hi, d, z) = (
                c["ci_low"].as_f64().unwrap(),
                c["ci_high"].as_f64().unwrap(),
                c["difference"].as_f64().unwrap(),
                c["z"].as_f64().unwrap(),
            );
            assert_eq!(c["significant"].as_bool().unwrap(), lo > 0.0 || hi < 0.0, "{c}");
            assert_eq!(
                c["significant"].as_bool().unwrap(),
                c["p_value"].as_f64().unwrap() < 0.025,
                "{c}"
            );
            // Half-width over standard error: the 97.5% critical value, not 1.96.
            // (Sent rounded to 4 decimals, hence the tolerance; 1.96 is far.)
            assert!(((hi - d) / (d / z) - 2.241_403).abs() < 0.05, "{c}");
            compared += 1;
        }
    }
    assert_eq!(compared, 4);
    app.stop().await;
}
both_backends!(report_level, intervals_are_drawn_at_the_tested_level);
