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
            prerequisites: vec![],
        })
        .collect();
    app.store.upsert_courses(&courses).await.unwrap();
    let three = json!({"variants": [{"name": "a", "weight": 1}, {"name": "b", "weight": 1}, {"name": "c", "weight": 1}]});
    assert_eq!(app.put_json("/experiments/levels", &three).await.status(), 201);
    // Clicks: b users 1 in 2, c users 1 in 3, control a 1 in 4; purchases
    // half as often.
    let mut events = Vec::new();
    // 450 users: about 150 a variant, above the minimum sample of 100.
    for u in 0..450 {
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
            assert_ne!(c["verdict"], "insufficient_data", "{c}");
            assert_eq!(c["significant"].as_bool().unwrap(), lo > 0.0 || hi < 0.0, "{c}");
            assert_eq!(
                c["significant"].as_bool().unwrap(),
                c["p_value"].as_f64().unwrap() < 0.025,
                "{c}"
            );
            // The always-valid half-width at 0.025, not at 0.05. (Sent
            // rounded to 4 decimals, hence the tolerance.)
            let at = |alpha: f64| {
                let (v, t2) = ((d / z).powi(2), 0.05f64.powi(2));
                (2.0 * v * (v + t2) / t2 * ((1.0 / alpha).ln() + 0.5 * ((v + t2) / v).ln())).sqrt()
            };
            assert!(((hi - d) - at(0.025)).abs() < 1e-3, "{c}");
            assert!(at(0.025) - at(0.05) > 2e-3, "{c}");
            compared += 1;
        }
    }
    assert_eq!(compared, 4);
    assert!(report["test"].as_str().unwrap().starts_with("mSPRT"));
    // Weights 1:1:1 and a seeded hash: no sample ratio mismatch.
    assert!(report["srm_p_value"].as_f64().unwrap() > 0.001, "{report}");
    assert!(report["srm_warning"].is_null());
    app.stop().await;
}
both_backends!(report_level, intervals_are_drawn_at_the_tested_level);
