//! The web console in a real headless Chromium on the demo data: every page
//! loads without console errors and shows the API's figures, the audience
//! flow works with clicks, the key prompt appears when auth is on.
//! Screenshots (desktop and phone) and first-render times go to
//! `target/console-screenshots/`.

use std::path::PathBuf;

use courserec::config::ApiKeySettings;
use courserec::retrain::Outcome;
use serde_json::json;
use tokio::sync::Mutex;

use crate::both_backends;
use crate::helpers::{spawn_app_with, Backend, TestApp};
use crate::recommend::trained;
use crate::webdriver::Browser;

/// One browser at a time: two cores are shared by the whole suite.
pub static ONE_BROWSER: Mutex<()> = Mutex::const_new(());

pub const DESKTOP: (u32, u32) = (1280, 900);
const PHONE: (u32, u32) = (390, 844);

pub fn shots_dir() -> PathBuf {
    let target = std::env::var("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|_| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target"));
    target.join("console-screenshots")
}

/// Waits until the page for the current location has finished rendering
/// (not the one before a click changed it).
pub async fn settled(b: &Browser) {
    b.wait_until(
        "return document.body.dataset.ready !== undefined && document.body.dataset.route === location.hash",
    )
    .await;
}

/// Loads `/ui#/<route>` afresh (so navigation timing covers the whole load),
/// waits for the page to finish, and checks the console stayed clean.
/// Returns the first render in milliseconds since navigation start.
pub async fn open(b: &Browser, app: &TestApp, route: &str, page: &str) -> f64 {
    b.goto("about:blank").await;
    b.goto(&app.url(&format!("/ui#/{route}"))).await;
    b.wait_for(&format!("body[data-ready='{page}']")).await;
    let errors = b.errors().await;
    assert!(errors.is_empty(), "console errors on {route}: {errors:?}");
    // COURSEREC_CONSOLE_TIMING=1: where the time went (each request, first paint).
    if std::env::var("COURSEREC_CONSOLE_TIMING").is_ok() {
        let r = b.eval("return performance.getEntriesByType('resource').map(e => [e.name.replace(location.origin, ''), Math.round(e.startTime), Math.round(e.duration)]).concat(performance.getEntriesByType('paint').map(e => [e.name, Math.round(e.startTime)]))", json!([])).await;
        eprintln!("{route}: {r}");
    }
    b.eval("return window.renderedAt", json!([]))
        .await
        .as_f64()
        .unwrap()
}

/// Full-page screenshots of the current page at phone and desktop widths.
pub async fn shoot(b: &Browser, name: &str) {
    let dir = shots_dir();
    for ((width, height), kind) in [(PHONE, "phone"), (DESKTOP, "desktop")] {
        b.set_size(width, height).await;
        let full = b
            .eval("return document.documentElement.scrollHeight", json!([]))
            .await;
        let full = full.as_u64().unwrap_or(u64::from(height)) as u32;
        b.set_size(width, full.clamp(height, 6000)).await;
        b.screenshot(&dir.join(format!("{name}-{kind}.png"))).await;
    }
    b.set_size(DESKTOP.0, DESKTOP.1).await;
}

async fn seed_experiment(app: &TestApp, users: &[String]) {
    let spec = json!({"variants": [
        {"name": "model", "weight": 1},
        {"name": "popular", "weight": 1, "arm": "popular"}
    ]});
    assert_eq!(app.put_json("/experiments/home", &spec).await.status(), 201);
    let mut events = Vec::new();
    for (i, u) in users.iter().enumerate() {
        let rec = app.get_ok(&format!("/recommend/{u}?n=5")).await;
        if i % 3 == 0 {
            let first = &rec["items"][0]["course_id"];
            events.push(json!({"user_id": u, "course_id": first, "type": "click", "rec_id": rec["rec_id"]}));
        }
    }
    let r = app.post_json("/events", &json!({ "events": events })).await;
    assert_eq!(r.status(), 202);
}

async fn every_page_renders_the_api_figures(app: TestApp) {
    let _one = ONE_BROWSER.lock().await;
    let Some(b) = Browser::start(DESKTOP.0, DESKTOP.1).await else {
        return app.stop().await;
    };
    let backend = app.store.backend();
    trained(&app).await;
    // A failed run, so the history shows one.
    app.state.trainer.fail_next_run();
    assert!(matches!(
        app.state.trainer.run_now().await,
        Some(Outcome::Failed(_))
    ));
    let segs = app.get_ok("/segments").await;
    let first_seg = segs["segments"][0]["id"].as_u64().unwrap();
    let members = app.get_ok(&format!("/segments/{first_seg}/users?limit=30")).await;
    let users: Vec<String> = serde_json::from_value(members["users"].clone()).unwrap();
    seed_experiment(&app, &users).await;
    let mut timings = Vec::new();

    // Overview: the serving version, the history with the failure.
    let ms = open(&b, &app, "overview", "overview").await;
    timings.push(("overview", ms));
    let model = app.get_ok("/model").await;
    assert_eq!(b.text("#model-version").await, model["version"].to_string());
    assert_eq!(b.text("#failure-count").await, "1");
    assert!(b.text("#store-health").await.contains(backend));
    shoot(&b, &format!("{backend}-overview")).await;
    // Legends are drawn in their series' colours, not the axis grey.
    b.wait_for("figure svg text.legend").await;
    let legend = b
        .eval(
            "const t = document.querySelector('figure svg text.legend'); return t ? getComputedStyle(t).fill : null",
            json!([]),
        )
        .await;
    let legend = legend.as_str().unwrap_or("none");
    assert!(
        legend.starts_with("rgb(") && legend != "rgb(59, 66, 80)",
        "legend fill {legend}"
    );
    // Retrain from the console: the page follows the training to the new version.
    let next = model["version"].as_i64().unwrap() + 1;
    b.click("#retrain").await;
    b.wait_until(&format!(
        "return document.querySelector('#model-version')?.textContent === '{next}'"
    ))
    .await;

    // Segments: the count and every size.
    let ms = open(&b, &app, "segments", "segments").await;
    timings.push(("segments", ms));
    let list = segs["segments"].as_array().unwrap();
    assert_eq!(b.text("#segment-count").await, list.len().to_string());
    for s in list {
        let shown = b
            .eval(
                "return document.querySelector(`tr[data-segment-id='${arguments[0]}'] td[data-size]`).dataset.size",
                json!([s["id"]]),
            )
            .await;
        assert_eq!(
            shown.as_str().unwrap(),
            s["size"].to_string(),
            "segment {}",
            s["id"]
        );
    }
    b.wait_for("#members li a").await;
    shoot(&b, &format!("{backend}-segments")).await;

    // Learners: the first recommendation, with its title.
    let user = &users[1];
    let ms = open(&b, &app, &format!("learners/{user}"), "learners").await;
    timings.push(("learners", ms));
    let recs = app.get_ok(&format!("/recommend/{user}?n=10&explain=true")).await;
    let first = recs["items"][0]["course_id"].as_str().unwrap();
    let shown = b
        .eval(
            "return document.querySelector('#recommendations li').dataset.courseId",
            json!([]),
        )
        .await;
    assert_eq!(shown, first);
    let title = app.get_ok(&format!("/courses/{first}")).await["title"].clone();
    assert!(b
        .text("#recommendations li")
        .await
        .contains(title.as_str().unwrap()));
    // The learner's path to the first item's category, as the API plans it.
    let category = recs["items"][0]["category"].as_str().unwrap();
    let path = app
        .get_ok(&format!("/users/{user}/path?category={category}"))
        .await;
    b.eval(
        "document.querySelector('#path-goal-kind').value = 'category'; document.querySelector('#path-goal').value = arguments[0];",
        json!([category]),
    )
    .await;
    b.click("#path-submit").await;
    b.wait_for("#path-steps li, [data-testid='path-done']").await;
    match path["steps"][0]["course_id"].as_str() {
        Some(first_step) => {
            let shown = b
                .eval(
                    "return document.querySelector('#path-steps li').dataset.courseId",
                    json!([]),
                )
                .await;
            assert_eq!(shown, first_step);
            assert!(b
                .text("#path-total")
                .await
                .contains(&path["steps"].as_array().unwrap().len().to_string()));
        }
        None => assert!(b.text("[data-testid='path-done']").await.contains("already")),
    }
    shoot(&b, &format!("{backend}-learners")).await;

    // Courses: search, then a course's page by clicking, then its audience.
    let ms = open(&b, &app, "courses", "courses").await;
    timings.push(("courses", ms));
    b.type_into("#course-q", title.as_str().unwrap()).await;
    b.click("form.row button[type=submit]").await;
    b.wait_until("return location.hash.includes('q=')").await;
    settled(&b).await;
    b.click(&format!("a[href='#/courses/{first}']")).await;
    b.wait_until(&format!("return location.hash === '#/courses/{first}'"))
        .await;
    settled(&b).await;
    assert_eq!(b.text("#course-title").await, title.as_str().unwrap());
    b.wait_for("#audience-size").await;
    b.wait_for("#next-table, [data-testid='next-empty']").await;
    audience_to_campaign(&b, &app).await;
    assert!(b.errors().await.is_empty());
    shoot(&b, &format!("{backend}-courses")).await;

    // Campaigns and experiments: the list, then a report by clicking.
    let ms = open(&b, &app, "marketing", "marketing").await;
    timings.push(("marketing", ms));
    b.click("a[href='#/marketing/experiment/home']").await;
    b.wait_until("return location.hash === '#/marketing/experiment/home'")
        .await;
    settled(&b).await;
    b.wait_for("figure svg").await;
    let report = app.get_ok("/experiments/home/report").await;
    let text = b.text("main").await;
    for v in report["variants"].as_array().unwrap() {
        assert!(
            text.contains(&format!("{}", v["users"])),
            "users of {} not shown",
            v["name"]
        );
    }
    assert!(b.errors().await.is_empty());
    shoot(&b, &format!("{backend}-experiment")).await;

    let path = shots_dir().join(format!("first-render-{backend}.json"));
    std::fs::write(&path, serde_json::to_string_pretty(&json!(timings)).unwrap()).unwrap();
    eprintln!("console first render on {backend} (ms): {timings:?}");
    b.quit().await;
    app.stop().await;
}

both_backends!(console_pages, every_page_renders_the_api_figures);

/// The audience-to-campaign flow. Campaigns come with the marketing API:
/// while the server does not document `POST /campaigns`, the page must say
/// so (and this asserts that); once it does, the same test drives the whole
/// flow with clicks. ENABLE-WHEN-CAMPAIGNS-MERGE: nothing to change, the
/// branch below switches on the server's own API document.
async fn audience_to_campaign(b: &Browser, app: &TestApp) {
    let doc = app.get_ok("/openapi.json").await;
    if doc["paths"]["/campaigns"]["post"].is_null() {
        b.wait_for("[data-testid='campaigns-unavailable']").await;
        assert!(b.errors().await.is_empty());
        return;
    }
    b.type_into("#camp-name", "console test").await;
    b.click("#create-campaign").await;
    b.click("#camp-created a#camp-open").await;
    b.wait_for("#campaign-title").await;
    let id = b
        .eval(
            "return decodeURIComponent(location.hash.split('/').pop())",
            json!([]),
        )
        .await;
    let report = app
        .get_ok(&format!("/campaigns/{}/report", id.as_str().unwrap()))
        .await;
    assert!(report["treatment"]["users"].as_u64().unwrap() > 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_console_asks_for_a_key_when_auth_is_on() {
    let key = "console-read-key-0123456789";
    let app = spawn_app_with(Backend::Sqlite, |s| {
        s.auth.enabled = true;
        s.auth.keys = vec![ApiKeySettings {
            name: "ops".into(),
            key: key.into(),
            scopes: vec!["read".into(), "admin".into()],
        }];
    })
    .await
    .unwrap();
    let _one = ONE_BROWSER.lock().await;
    let Some(b) = Browser::start(DESKTOP.0, DESKTOP.1).await else {
        return app.stop().await;
    };
    b.goto(&app.url("/ui")).await;
    b.wait_for("#key-prompt:not([hidden])").await;
    let main_hidden = b
        .eval("return document.getElementById('main').hidden", json!([]))
        .await;
    assert_eq!(main_hidden, true);
    shoot(&b, "auth-key-prompt").await;
    // The refused request is the only console entry.
    let errors = b.errors().await;
    assert!(errors.iter().all(|e| e.contains("401")), "{errors:?}");

    b.type_into("#key-input", key).await;
    b.click("#key-form button").await;
    b.wait_for("body[data-ready='overview'] #model-version").await;
    assert_eq!(b.text("#model-version").await, "none yet");
    let stored = b
        .eval(
            "return [sessionStorage.getItem('courserec.key'), localStorage.length, document.cookie]",
            json!([]),
        )
        .await;
    assert_eq!(stored, json!([key, 0, ""]));
    assert!(b.errors().await.is_empty());
    b.quit().await;
    app.stop().await;
}
