//! Uplift targeting over HTTP: the demo's past campaigns (planted response
//! types) → the uplift model → `/audiences?rank_by=uplift` against
//! propensity ranking on the ground truth → a multi-arm, uplift-targeted,
//! budgeted campaign → its report with arms and the Qini curve.

use std::collections::HashMap;

use serde_json::{json, Value};

use crate::both_backends;
use crate::helpers::TestApp;
use courserec::demo::campaigns::{response_type, true_response};
use courserec::marketing::uplift::ResponseGroup;

fn users(page: &Value) -> Vec<&Value> {
    page["users"].as_array().unwrap().iter().collect()
}

async fn the_uplift_loop(app: TestApp) {
    let now = courserec::domain::now_ms();
    let data = courserec::demo::generate(5, &courserec::demo::DemoSize::default(), now);
    let kind: HashMap<&str, usize> = data.kinds.iter().map(|(u, k)| (u.as_str(), *k)).collect();
    app.load(&data).await;
    // Before any campaign: uplift cannot be asked for.
    app.state.trainer.run_now().await;
    let r = app.get("/audiences?category=python&rank_by=uplift").await;
    assert_eq!(r.status(), 409);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["error"]["code"], "uplift_model_not_ready");
    assert!(
        body["error"]["message"].as_str().unwrap().contains("needed"),
        "{body}"
    );
    let r = app.get("/audiences?rank_by=uplift").await;
    assert_eq!(r.status(), 400);
    let early = json!({"name": "early", "category": "python", "targeting": "uplift"});
    let r = app.post_json("/campaigns", &early).await;
    assert_eq!(r.status(), 409);

    app.load_campaigns(&data).await;
    app.state.trainer.run_now().await;
    let model = app.get_ok("/model").await;
    let uplift = &model["marketing"]["uplift"];
    assert_eq!(uplift["serving"], "this_training", "{uplift}");
    let fit = &uplift["fit"];
    assert_eq!(fit["status"], "published");
    assert_eq!(fit["campaigns"], 6);
    assert_eq!(fit["validation"], "leave_one_campaign_out");
    assert!(
        fit["gain_over_propensity"]["qini_ci"][0].as_f64().unwrap() > 0.0,
        "{fit}"
    );
    eprintln!("uplift fit: {fit}");

    // The same audience size by uplift and by propensity, on the truth.
    let size = 500;
    let d = 0.2;
    let ask = |rank_by: &str| {
        format!("/audiences?category=python&rank_by={rank_by}&discount_pct=20&size={size}&limit={size}")
    };
    let by_uplift = app.get_ok(&ask("uplift")).await;
    let by_value = app.get_ok(&ask("expected_value")).await;
    let truth = |page: &Value| -> f64 {
        users(page)
            .iter()
            .map(|m| {
                let (c, t) = true_response(kind[m["user_id"].as_str().unwrap()], d);
                t - c
            })
            .sum()
    };
    let (gain_uplift, gain_value) = (truth(&by_uplift), truth(&by_value));
    eprintln!(
        "true incremental conversions in {size}: uplift {gain_uplift:.1}, propensity {gain_value:.1}; \
         predicted {} and {}",
        by_uplift["expected_incremental_conversions"], by_value["expected_incremental_conversions"]
    );
    let mix = |page: &Value| {
        let mut n = [0usize; 5];
        users(page)
            .iter()
            .for_each(|m| n[kind[m["user_id"].as_str().unwrap()]] += 1);
        n
    };
    eprintln!(
        "kinds in the top {size}: uplift {:?}, propensity {:?}",
        mix(&by_uplift),
        mix(&by_value)
    );
    assert!(gain_uplift >= 1.3 * gain_value, "{gain_uplift} vs {gain_value}");
    let all = app
        .get_ok("/audiences?category=python&rank_by=uplift&limit=10000")
        .await;
    let everyone = users(&all);
    let dnd = |ms: &[&Value]| {
        ms.iter()
            .filter(|m| response_type(kind[m["user_id"].as_str().unwrap()]) == ResponseGroup::DoNotDisturb)
            .count() as f64
            / ms.len() as f64
    };
    let top = &everyone[..everyone.len() / 10];
    eprintln!(
        "do-not-disturb share: top decile {:.3}, all {:.3}",
        dnd(top),
        dnd(&everyone)
    );
    assert!(dnd(top) <= dnd(&everyone) / 2.0);
    assert!(everyone[0]["uplift"].as_f64().unwrap() > 0.0);
    assert_eq!(everyone[0]["response_group"], "persuadable");

    // An uplift-targeted campaign with two arms and a budget.
    let body = json!({
        "name": "python autumn", "category": "python", "targeting": "uplift",
        "arms": [{"name": "ten", "discount_pct": 10, "share": 0.5},
                 {"name": "twenty", "discount_pct": 20, "share": 0.5}],
        "control_share": 0.3, "budget_cents": 100000
    });
    let r = app.post_json("/campaigns", &body).await;
    assert_eq!(r.status(), 201);
    let created: Value = r.json().await.unwrap();
    let arms = created["arms"].as_array().unwrap();
    assert_eq!(arms.len(), 2);
    let treated: u64 = arms.iter().map(|a| a["users"].as_u64().unwrap()).sum();
    assert_eq!(treated, created["treatment_size"].as_u64().unwrap());
    assert!(
        treated > 0 && (treated as usize) < everyone.len(),
        "the budget stops the draw"
    );
    let id = created["campaign_id"].as_str().unwrap();
    let report = app.get_ok(&format!("/campaigns/{id}/report")).await;
    assert_eq!(report["targeting"], "uplift");
    assert_eq!(report["arms"].as_array().unwrap().len(), 2);
    assert_eq!(report["qini"].as_array().unwrap().len(), 10);
    // Bad arms are refused, nothing stored.
    let before = app.get_ok("/campaigns").await["campaigns"]
        .as_array()
        .unwrap()
        .len();
    let bad = json!({"name": "bad", "category": "python",
                     "arms": [{"name": "a", "share": 0.7}, {"name": "a", "share": 0.7}]});
    let r = app.post_json("/campaigns", &bad).await;
    assert_eq!(r.status(), 422);
    assert_eq!(
        app.get_ok("/campaigns").await["campaigns"]
            .as_array()
            .unwrap()
            .len(),
        before
    );

    // A past two-arm campaign's report: each arm against control.
    let past = app.get_ok("/campaigns/cmp_demo_2/report").await;
    let arms = past["arms"].as_array().unwrap();
    assert_eq!(arms.len(), 2);
    assert_eq!(past["p_value_adjustment"], "bonferroni");
    assert!(past["srm_p_value"].as_f64().unwrap() > 0.001);
    assert!(arms[1]["uplift"].as_f64().unwrap() > arms[0]["uplift"].as_f64().unwrap() - 0.05);
    let qini = past["qini"].as_array().unwrap();
    assert_eq!(qini[9]["fraction"], 1.0);
    eprintln!("cmp_demo_2 report: {past}");
    app.stop().await;
}
both_backends!(uplift_loop, the_uplift_loop);
