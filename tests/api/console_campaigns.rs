//! The console's campaign flow in a real headless Chromium, by clicks and
//! typing: a campaign with filters (segment, RFM group, minimum purchase
//! probability, size) reaches the API typed, its preview matches what was
//! created, its recipients download as CSV, and its report says "no data
//! yet" before any conversion and prints negative money with a minus sign.
//! Also the console's formatting helpers on hand-checked cases.

use std::collections::HashMap;

use serde_json::{json, Value};

use crate::both_backends;
use crate::console::{open, settled, shoot, DESKTOP, ONE_BROWSER};
use crate::helpers::{spawn_app_with, Backend, TestApp};
use crate::marketing::{get_csv, post_events};
use crate::recommend::trained;
use crate::webdriver::Browser;

/// The U+2212 minus the console prints before negative figures.
const MINUS: char = '\u{2212}';

/// Filters a marketer could type that keep a large audience: the most
/// common (segment, RFM group) pair among the course's audience with a
/// purchase probability of at least 0.001, and a minimum purchase
/// probability (3 decimals, above 0) that all of that pair passes.
async fn pick_filters(app: &TestApp, course: &str) -> (u64, String, String) {
    let all = app
        .get_ok(&format!("/audiences?course_id={course}&limit=10000"))
        .await;
    let mut pairs: HashMap<(u64, String), Vec<f64>> = HashMap::new();
    for u in all["users"].as_array().unwrap() {
        let p = u["purchase_probability"].as_f64().unwrap();
        let (Some(seg), Some(rfm)) = (u["segment_id"].as_u64(), u["rfm_group"].as_str()) else {
            continue;
        };
        if p >= 0.001 {
            pairs.entry((seg, rfm.to_string())).or_default().push(p);
        }
    }
    let ((seg, rfm), probs) = pairs
        .into_iter()
        .max_by_key(|(k, v)| (v.len(), std::cmp::Reverse(k.clone())))
        .expect("an audience with segments and RFM groups");
    let least = probs.iter().copied().fold(f64::INFINITY, f64::min);
    let floor = (least * 1000.0).floor() / 1000.0;
    (seg, rfm, format!("{floor:.3}"))
}

async fn a_filtered_campaign_by_clicks(app: TestApp) {
    let _one = ONE_BROWSER.lock().await;
    let Some(b) = Browser::start(DESKTOP.0, DESKTOP.1).await else {
        return app.stop().await;
    };
    let backend = app.store.backend();
    let data = trained(&app).await;
    // A paid course, so a conversion has revenue.
    let course = data
        .courses
        .iter()
        .find(|c| c.price_cents > 0)
        .unwrap()
        .id
        .clone();
    let (segment, rfm, min_p) = pick_filters(&app, &course).await;
    let query = format!(
        "/audiences?course_id={course}&segment={segment}&rfm={rfm}&min_purchase_probability={min_p}&limit=10000"
    );
    let audience = app.get_ok(&query).await;
    let n = audience["size"].as_u64().unwrap();
    // At least 15 members with half held out: an empty control group (needed
    // below) has a chance of 0.5^15, about 3 in 100,000.
    assert!(n >= 16, "the demo's largest filtered audience has {n} learners");
    // A size that cuts the audience, so the cap is part of the preview.
    let size = (n - 1).min(40);

    open(&b, &app, &format!("courses/{course}"), "courses").await;
    b.wait_for("#audience-size").await;
    b.click(&format!("#aud-segment option[value='{segment}']")).await;
    b.click(&format!("#aud-rfm option[value='{rfm}']")).await;
    b.type_into("#aud-minp", &min_p).await;
    b.click("#audience-form button[type=submit]").await;
    b.wait_until(&format!(
        "const p = document.querySelector('#audience-size'); return !!p && p.textContent.startsWith('{n} learners ·')"
    ))
    .await;
    b.type_into("#camp-name", "filtered by clicks").await;
    b.type_into("#camp-size", &size.to_string()).await;
    b.type_into("#camp-control", "0.5").await;
    let preview = b
        .eval(
            "const d = document.querySelector('#camp-split').dataset; return [d.total, d.treatment, d.control].map(Number)",
            json!([]),
        )
        .await;
    let expected_control = (size as f64 * 0.5).round() as u64;
    assert_eq!(preview, json!([size, size - expected_control, expected_control]));
    // Without past campaigns there is no uplift model: the comparison shows
    // propensity targeting alone and the server's reason.
    b.click("#camp-preview").await;
    b.wait_for("#camp-preview-table tr[data-targeting='propensity']")
        .await;
    let why = b.text("#camp-compare [data-testid='uplift-not-ready']").await;
    assert!(why.contains("uplift"), "{why}");
    let uplift_rows = b
        .eval(
            "return document.querySelectorAll(\"#camp-preview-table tr[data-targeting='uplift']\").length",
            json!([]),
        )
        .await;
    assert_eq!(uplift_rows, json!(0));
    // The refused uplift request (409) is the only console entry.
    let errors = b.errors().await;
    assert!(errors.iter().all(|e| e.contains("409")), "{errors:?}");
    shoot(&b, &format!("{backend}-campaign-form")).await;

    b.click("#create-campaign").await;
    b.wait_for("#camp-created").await;
    let created = b
        .eval(
            "const d = document.querySelector('#camp-created').dataset; return [d.campaignId, Number(d.treatment), Number(d.control)]",
            json!([]),
        )
        .await;
    let id = created[0].as_str().unwrap().to_string();
    let (n_t, n_c) = (created[1].as_u64().unwrap(), created[2].as_u64().unwrap());
    // The total is exact; each learner's group is drawn by the server's
    // seeded hash, so the arms are the preview's within binomial noise.
    assert_eq!(n_t + n_c, size);
    let sd = (size as f64 * 0.25).sqrt();
    assert!(
        (n_c as f64 - expected_control as f64).abs() <= 4.0 * sd + 1.0,
        "control {n_c} vs previewed {expected_control}"
    );
    assert!(n_c > 0, "no control group to convert");

    // The API got typed values: the stored audience is what was typed.
    let info = app.get_ok(&format!("/campaigns/{id}")).await;
    assert_eq!(
        (info["treatment_size"].as_u64(), info["control_size"].as_u64()),
        (Some(n_t), Some(n_c))
    );
    let stored: serde_json::Map<String, Value> = info["audience"]
        .as_object()
        .unwrap()
        .iter()
        .filter(|(_, v)| !v.is_null())
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    let typed = json!({
        "segment": segment,
        "rfm": [rfm],
        "min_purchase_probability": min_p.parse::<f64>().unwrap(),
    });
    assert_eq!(Value::Object(stored), typed);
    assert!(b
        .text("#camp-created")
        .await
        .contains(&format!("{n_t} treatment and {n_c} control")));

    // Its report before any conversion: "no data yet", no 0 % interval.
    b.click("#camp-open").await;
    b.wait_until(&format!("return location.hash === '#/marketing/campaign/{id}'"))
        .await;
    settled(&b).await;
    assert_eq!(b.text("#campaign-uplift").await, "no data yet");
    b.wait_for("[data-testid='campaign-no-data']").await;
    let text = b.text("main").await;
    assert!(
        !text.contains("0.00% to 0.00%") && !text.contains("points to") && !text.contains("null"),
        "{text}"
    );
    assert_eq!(b.text("#campaign-incremental-revenue").await, "no data yet");
    shoot(&b, &format!("{backend}-campaign-no-data")).await;

    // The recipients, downloaded by the button, are the API's CSV.
    b.click("#recipients-csv").await;
    let file = b.downloaded(&format!("campaign-{id}-recipients.csv")).await;
    let api_csv = get_csv(&app, &format!("/campaigns/{id}/recipients")).await;
    assert_eq!(String::from_utf8(file).unwrap(), api_csv);
    assert_eq!(api_csv.lines().count() as u64, n_t + 1);

    // A control learner buys the offer and no recipient does: the
    // incremental revenue is negative, printed as −$.
    let recipients: Vec<&str> = api_csv.lines().skip(1).collect();
    let members = app
        .get_ok(&format!(
            "/audiences?course_id={course}&segment={segment}&rfm={rfm}&min_purchase_probability={min_p}&limit={size}"
        ))
        .await;
    let control = members["users"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["user_id"].as_str().unwrap())
        .find(|u| !recipients.contains(u))
        .expect("a control learner")
        .to_string();
    let ts = (chrono::Utc::now() + chrono::Duration::seconds(1)).to_rfc3339();
    post_events(
        &app,
        &[json!({"user_id": control, "course_id": course, "type": "purchase", "ts": ts})],
    )
    .await;
    let report = app.get_ok(&format!("/campaigns/{id}/report")).await;
    let cents = report["incremental_revenue_cents"].as_i64().unwrap();
    assert!(cents < 0, "{report}");
    open(&b, &app, &format!("marketing/campaign/{id}"), "marketing").await;
    let shown = b.text("#campaign-incremental-revenue").await;
    let dollars = format!("{:.2}", (-cents) as f64 / 100.0);
    assert!(
        shown.starts_with(&format!("{MINUS}$")) && shown.replace(',', "").ends_with(&dollars),
        "{shown} for {cents} cents"
    );
    let uplift = b.text("#campaign-uplift").await;
    assert!(uplift.starts_with(MINUS) && uplift.contains("points"), "{uplift}");
    let text = b.text("main").await;
    assert!(!text.contains("no data yet") && !text.contains("null"), "{text}");
    assert!(b.errors().await.is_empty());
    shoot(&b, &format!("{backend}-campaign-negative")).await;
    b.quit().await;
    app.stop().await;
}

both_backends!(console_campaign_flow, a_filtered_campaign_by_clicks);

/// The figures of each row of `#camp-preview-table` by its targeting.
async fn compared_rows(b: &Browser) -> HashMap<String, Vec<String>> {
    let rows = b
        .eval(
            "return [...document.querySelectorAll('#camp-preview-table tr[data-targeting]')].map(r => [r.dataset.targeting, [...r.cells].slice(1).map(c => c.textContent)])",
            json!([]),
        )
        .await;
    serde_json::from_value::<Vec<(String, Vec<String>)>>(rows)
        .unwrap()
        .into_iter()
        .collect()
}

/// The uplift parts of the console on the demo with its past campaigns: a
/// two-arm campaign's arms and Qini curve, propensity against uplift
/// targeting side by side before creating a campaign, and an audience
/// ranked by uplift with each learner's response group.
async fn uplift_in_the_console(app: TestApp) {
    let _one = ONE_BROWSER.lock().await;
    let Some(b) = Browser::start(DESKTOP.0, DESKTOP.1).await else {
        return app.stop().await;
    };
    let backend = app.store.backend();
    let now = courserec::domain::now_ms();
    let data = courserec::demo::generate(5, &courserec::demo::DemoSize::default(), now);
    app.load(&data).await;
    app.load_campaigns(&data).await;
    app.state.trainer.run_now().await;

    // A past campaign with two arms: each against control, and its Qini curve.
    open(&b, &app, "marketing/campaign/cmp_demo_2", "marketing").await;
    b.wait_for("#campaign-arms").await;
    let arms = b
        .eval(
            "return [...document.querySelectorAll('#campaign-arms tbody tr[data-arm]')].map(r => r.dataset.arm)",
            json!([]),
        )
        .await;
    assert_eq!(arms.as_array().unwrap().len(), 2, "{arms}");
    assert!(b.text("[data-testid='bonferroni']").await.contains("Bonferroni"));
    b.wait_for("#campaign-qini svg").await;
    let qini_points = b
        .eval(
            "return document.querySelectorAll('#campaign-qini svg circle').length",
            json!([]),
        )
        .await;
    // Eleven points (the origin and ten deciles) on each of two lines.
    assert_eq!(qini_points, json!(22));
    shoot(&b, &format!("{backend}-campaign-arms-qini")).await;

    // The campaigns list says how each was targeted.
    open(&b, &app, "marketing", "marketing").await;
    assert!(b.text("#campaigns-table thead").await.contains("targeting"));

    // A category's audience: propensity and uplift targeting side by side,
    // for the best 300 (or fewer when the audience is smaller).
    let everyone = app.get_ok("/audiences?category=python&limit=1").await["size"]
        .as_u64()
        .unwrap();
    let learners = everyone.min(300);
    assert!(learners > 0);
    open(&b, &app, "courses?category=python", "courses").await;
    b.wait_for("#audience-size").await;
    b.type_into("#camp-size", "300").await;
    b.type_into("#camp-discount", "20").await;
    b.click("#camp-preview").await;
    b.wait_for("#camp-preview-table tr[data-targeting='uplift']")
        .await;
    let rows = compared_rows(&b).await;
    for targeting in ["propensity", "uplift"] {
        let cells = &rows[targeting];
        assert_eq!(
            cells[0].replace(',', ""),
            learners.to_string(),
            "{targeting}: {cells:?}"
        );
        for c in cells {
            assert!(c.chars().any(|ch| ch.is_ascii_digit()), "{targeting}: {cells:?}");
        }
    }
    assert!(b.errors().await.is_empty());
    shoot(&b, &format!("{backend}-campaign-compare")).await;

    // Ranked by uplift: the re-query's members carry their response groups.
    b.click("#aud-rank-by option[value='uplift']").await;
    b.click("#audience-form button[type=submit]").await;
    b.wait_until(
        "const t = document.querySelector('#camp-targeting'); return !!t && t.value === 'uplift' && document.querySelectorAll('#audience-table .response-group').length > 0",
    )
    .await;
    let groups = b
        .eval(
            "return [...document.querySelectorAll('#audience-table .response-group')].map(c => c.textContent)",
            json!([]),
        )
        .await;
    let groups: Vec<String> = serde_json::from_value(groups).unwrap();
    let known = ["persuadable", "sure thing", "lost cause", "do not disturb"];
    assert!(groups.iter().all(|g| known.contains(&g.as_str())), "{groups:?}");
    assert_eq!(groups[0], "persuadable", "{groups:?}");
    assert!(b.errors().await.is_empty());
    shoot(&b, &format!("{backend}-audience-by-uplift")).await;
    b.quit().await;
    app.stop().await;
}

both_backends!(console_uplift, uplift_in_the_console);

/// The console's pure helpers (ui/format.js), run in the browser on cases
/// checked by hand: money and signs, typed filters, the preview split, "no
/// data yet", relative lift and the verdict sentences of the report fields
/// the server is gaining (verdict, detectable_uplift, minimum_sample_per_arm).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_console_formats_figures_and_verdicts() {
    let app = spawn_app_with(Backend::Sqlite, |_| {}).await.unwrap();
    let _one = ONE_BROWSER.lock().await;
    let Some(b) = Browser::start(DESKTOP.0, DESKTOP.1).await else {
        return app.stop().await;
    };
    b.goto(&app.url("/ui")).await;
    b.wait_until("return !!window.Format").await;
    let br = &b;
    let f = move |expr: &str| {
        let script = format!("const F = window.Format; return {expr};");
        async move { br.eval(&script, json!([])).await }
    };
    let m = MINUS;
    assert_eq!(f("F.money(-158043)").await, json!(format!("{m}$1,580.43")));
    assert_eq!(f("F.money(158043)").await, json!("$1,580.43"));
    assert_eq!(f("F.money(-0.4)").await, json!("$0.00"));
    assert_eq!(f("F.pct(-0.0123, 2)").await, json!(format!("{m}1.23%")));
    assert_eq!(f("F.points(0.032)").await, json!("+3.20 points"));
    assert_eq!(f("F.points(-0.0321)").await, json!(format!("{m}3.21 points")));
    assert_eq!(f("F.points(0)").await, json!("0.00 points"));

    let typed = f("F.typedFilter({segment: '3', rfm: 'loyal', min_purchase_probability: '0.2', min_churn_probability: '', active_days: '7', inactive_days: ''})").await;
    assert_eq!(
        typed,
        json!({"filter": {"segment": 3, "rfm": ["loyal"], "min_purchase_probability": 0.2, "active_days": 7}, "errors": []})
    );
    let bad = f("F.typedFilter({segment: '1.5', rfm: 'nope', min_churn_probability: '2', inactive_days: '0'}).errors.length").await;
    assert_eq!(bad, json!(4));
    assert_eq!(
        f("F.audienceQuery({course_id: 'c 1'}, {segment: 3, rfm: ['loyal', 'new'], min_purchase_probability: 0.2})").await,
        json!("course_id=c+1&segment=3&rfm=loyal%2Cnew&min_purchase_probability=0.2")
    );
    assert_eq!(
        f("[F.previewSplit(120, 50, 0.1), F.previewSplit(7, null, 0.5)]").await,
        json!([{"total": 50, "treatment": 45, "control": 5}, {"total": 7, "treatment": 3, "control": 4}])
    );
    // Arm rows: shares within 0.01 of 1 are sent normalised; bad rows say why.
    assert_eq!(
        f("F.typedArms([{name: ' ten ', discount_pct: '10', share: '0.5'}, {name: 'none', discount_pct: '', share: '0.5'}])").await,
        json!({"arms": [{"name": "ten", "discount_pct": 10, "share": 0.5}, {"name": "none", "share": 0.5}], "errors": []})
    );
    assert_eq!(
        f("F.typedArms([{name: 'a', discount_pct: '120', share: '0.7'}, {name: 'a', share: '0.7'}]).errors.length").await,
        json!(3)
    );
    assert_eq!(
        f("F.meanDiscount([{discount_pct: 10, share: 0.25}, {share: 0.25}, {discount_pct: 30, share: 0.5}])").await,
        json!(17.5)
    );
    assert_eq!(
        f("F.qiniSeries([{fraction: 0.5, incremental_conversions: 3}, {fraction: 1, incremental_conversions: 4}])").await,
        json!({"labels": ["0%", "50%", "100%"], "curve": [0, 3, 4], "random": [0, 2, 4]})
    );

    let arms = "treatment: {users: 100, conversions: 20, rate: 0.2}, control: {users: 50, conversions: 5, rate: 0.1}, uplift: 0.1";
    assert_eq!(
        f(&format!("F.upliftText({{{arms}}})")).await,
        json!("+10.00 points (+100.0 % relative)")
    );
    // The server's relative_lift wins over the ratio, null included.
    assert_eq!(
        f(&format!("F.upliftText({{{arms}, relative_lift: null}})")).await,
        json!("+10.00 points")
    );
    let none = "treatment: {users: 10, conversions: 0, rate: 0}, control: {users: 3, conversions: 0, rate: 0}, uplift: 0";
    assert_eq!(
        f(&format!("[F.noData({{{none}}}), F.upliftText({{{none}}})]")).await,
        json!([true, "no data yet"])
    );
    let empty_arm = "treatment: {users: 10, conversions: 2, rate: 0.2}, control: {users: 0, conversions: 0, rate: 0}, uplift: null";
    assert_eq!(f(&format!("F.noData({{{empty_arm}}})")).await, json!(true));

    assert_eq!(f(&format!("F.verdictSentence({{{arms}}})")).await, Value::Null);
    assert_eq!(
        f(&format!(
            "F.verdictSentence({{{arms}, verdict: 'positive', relative_lift: 0.5}})"
        ))
        .await,
        json!("The offer raised conversion by 10.0 points (50.0 % relative).")
    );
    assert_eq!(
        f("F.verdictSentence({verdict: 'negative', uplift: -0.05, relative_lift: -0.25, treatment: {}, control: {}})").await,
        json!("The offer lowered conversion by 5.0 points (25.0 % relative).")
    );
    assert_eq!(
        f("F.verdictSentence({verdict: 'no_detectable_effect', detectable_uplift: 0.1234})").await,
        json!("No detectable effect yet: the control group is too small to see less than 12.3 points.")
    );
    assert_eq!(
        f("F.verdictSentence({verdict: 'insufficient_data', minimum_sample_per_arm: 1200})").await,
        json!("Not enough data yet: at least 1,200 learners per group are needed.")
    );
    assert!(b.errors().await.is_empty());
    b.quit().await;
    app.stop().await;
}
