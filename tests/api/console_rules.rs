//! The console's Rules page and a learner's feedback in a real headless
//! Chromium, by clicks and typing: a boost rule made with the form reaches
//! the API and the table, the preview marks the course the rule moved, an
//! invalid rule shows the server's faults field by field, "End" ends a
//! rule, and a dismissed course shows on the learner's page (and is gone
//! from their recommendations). Also the rule form's typing helpers on
//! hand-checked cases.

use serde_json::{json, Value};

use crate::both_backends;
use crate::console::{open, shoot, DESKTOP, ONE_BROWSER};
use crate::helpers::{course_ids, spawn_app_with, Backend, TestApp};
use crate::recommend::trained;
use crate::webdriver::Browser;

const RULE: &str = "boost-c";

async fn rules_and_feedback_by_clicks(app: TestApp) {
    let _one = ONE_BROWSER.lock().await;
    let Some(b) = Browser::start(DESKTOP.0, DESKTOP.1).await else {
        return app.stop().await;
    };
    let backend = app.store.backend();
    trained(&app).await;
    // A learner the model knows, and a course on their list (so not owned,
    // active): the last ranked one, which a boost of 1 moves to the top.
    let segs = app.get_ok("/segments").await;
    let first_seg = segs["segments"][0]["id"].as_u64().unwrap();
    let members = app.get_ok(&format!("/segments/{first_seg}/users?limit=5")).await;
    let user = members["users"][0].as_str().unwrap().to_string();
    let before = app.get_ok(&format!("/recommend/{user}?n=10")).await;
    assert!(course_ids(&before).len() >= 2, "{before}");
    let course = before["items"]
        .as_array()
        .unwrap()
        .iter()
        .rev()
        .find(|it| it["explored"] != true)
        .map(|it| it["course_id"].as_str().unwrap().to_string())
        .expect("a ranked recommendation");

    // No rules yet: the empty state.
    open(&b, &app, "rules", "rules").await;
    b.wait_for("#rules-empty").await;

    // A boost rule through the form.
    b.type_into("#rule-id", RULE).await;
    b.click("#rule-action option[value='boost']").await;
    b.click("#rule-target option[value='courses']").await;
    b.type_into("#rule-courses", &course).await;
    b.type_into("#rule-weight", "1").await;
    b.click("#rule-save").await;
    let row_css = format!("#rules-table tr[data-rule-id='{RULE}']");
    b.wait_for(&row_css).await;
    let row = b.text(&row_css).await;
    for part in ["boost", course.as_str(), "weight 1", "active"] {
        assert!(row.contains(part), "{part} not in the row: {row}");
    }
    assert!(b.text("#rule-message").await.contains("created"));
    // Only the fields a boost takes are shown.
    let shown = b
        .eval(
            "return ['#rule-weight', '#rule-position', '#rule-courses', '#rule-category'].map(s => !document.querySelector(s).closest('label').hidden)",
            json!([]),
        )
        .await;
    assert_eq!(shown, json!([true, false, true, false]));
    let listed = app.get_ok("/rules").await;
    let items = listed["items"].as_array().unwrap();
    assert_eq!(items.len(), 1, "{listed}");
    let r = &items[0];
    assert_eq!(r["rule_id"], RULE);
    assert_eq!(r["action"], "boost");
    assert_eq!(r["course_ids"], json!([course]));
    assert_eq!(r["weight"].as_f64(), Some(1.0), "{r}");
    assert_eq!(r["active"], true);
    assert!(r.get("ends_at").is_none_or(Value::is_null), "{r}");

    // The preview: the learner's list as the API serves it, the boosted
    // course marked with the rule, explored items labelled.
    b.type_into("#rule-preview-user", &user).await;
    b.click("#rule-preview").await;
    b.wait_for("#rule-preview-list li").await;
    let served = app.get_ok(&format!("/recommend/{user}?n=10")).await;
    let boosted = served["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|it| it["course_id"] == course.as_str())
        .unwrap_or_else(|| panic!("the boosted course is not served: {served}"));
    assert_eq!(boosted["rule_id"], RULE, "{served}");
    let preview = b
        .eval(
            "return [...document.querySelectorAll('#rule-preview-list li')].map(li => [li.dataset.courseId, li.dataset.ruleId || null, li.querySelectorAll('.tag-explored').length > 0])",
            json!([]),
        )
        .await;
    let expected: Vec<Value> = served["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|it| {
            json!([
                it["course_id"],
                it["rule_id"],
                it["explored"].as_bool().unwrap_or(false)
            ])
        })
        .collect();
    assert_eq!(preview, Value::Array(expected));
    let label = b
        .text(&format!("#rule-preview-list li[data-course-id='{course}']"))
        .await;
    assert!(label.contains(&format!("rule {RULE}")), "{label}");

    // A boost without a weight: the server's 422, field by field.
    b.type_into("#rule-id", "no-weight").await;
    b.eval("document.querySelector('#rule-weight').value = ''", json!([]))
        .await;
    b.click("#rule-save").await;
    b.wait_for("#rule-errors li[data-field='weight']").await;
    let errors = b.text("#rule-errors").await;
    assert!(errors.contains("weight: "), "{errors}");
    let missing = app.get("/rules/no-weight").await;
    assert_eq!(missing.status(), 404);
    // The refused PUT (422) is the only console entry.
    let logged = b.errors().await;
    assert!(logged.iter().all(|e| e.contains("422")), "{logged:?}");
    shoot(&b, &format!("{backend}-rules")).await;

    // "End": the same rule stored again with an end, no longer in force.
    b.click(&format!("{row_css} .rule-end")).await;
    b.wait_until(&format!(
        "const r = document.querySelector(\"{row_css}\"); return !!r && r.dataset.status === 'ended'"
    ))
    .await;
    let ended = app.get_ok(&format!("/rules/{RULE}")).await;
    assert_eq!(ended["active"], false, "{ended}");
    assert!(ended["ends_at"].is_string(), "{ended}");
    // Everything else kept.
    assert_eq!(ended["action"], "boost");
    assert_eq!(ended["course_ids"], json!([course]));
    assert_eq!(ended["weight"].as_f64(), Some(1.0), "{ended}");
    assert!(b.text("#rule-message").await.contains("ended"));
    assert!(b.errors().await.is_empty());

    // The learner says "not interested": the course shows as dismissed on
    // their page and is out of their recommendations.
    let r = app
        .post_json(
            "/events",
            &json!({"user_id": user, "course_id": course, "type": "dismiss"}),
        )
        .await;
    assert_eq!(r.status(), 202, "{}", r.text().await.unwrap());
    let profile = app.get_ok(&format!("/users/{user}/profile")).await;
    let dismissed_ids = profile["feedback"]["dismissed"].as_array().unwrap();
    assert!(dismissed_ids.contains(&json!(course)), "{profile}");
    open(&b, &app, &format!("learners/{user}"), "learners").await;
    let dismissed = b.text("#learner-dismissed").await;
    assert!(dismissed.contains(&course), "{dismissed}");
    assert!(b
        .text("#learner-feedback")
        .await
        .contains("stays out of lists until a later positive event"));
    b.wait_for("#recommendations li").await;
    let listed_again = b
        .eval(
            "return document.querySelectorAll(`#recommendations li[data-course-id='${arguments[0]}']`).length",
            json!([course]),
        )
        .await;
    assert_eq!(listed_again, json!(0));
    assert!(b.errors().await.is_empty());
    shoot(&b, &format!("{backend}-learner-feedback")).await;
    b.quit().await;
    app.stop().await;
}

both_backends!(console_rules_flow, rules_and_feedback_by_clicks);

/// The rule form's pure helpers (ui/format.js) on cases checked by hand:
/// only the fields an action takes are sent, typing faults are named like
/// the API's details, a stored rule goes back to a draft, "End" keeps the
/// rule and a rule not started yet loses its start.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_console_types_rules() {
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
    assert_eq!(
        f("F.ruleDraft({id: ' r1 ', action: 'boost', target: 'courses', courses: 'c1, c2,,', weight: '1', position: '3', segments: '2, 5', starts: '', ends: ''})").await,
        json!({"id": "r1", "draft": {"action": "boost", "course_ids": ["c1", "c2"], "weight": 1, "segments": [2, 5]}, "errors": []})
    );
    assert_eq!(
        f("F.ruleDraft({id: 'p', action: 'pin', target: 'category', courses: 'c1', category: ' Rust ', weight: '2', position: '4', segments: '', starts: '', ends: ''})").await,
        json!({"id": "p", "draft": {"action": "pin", "category": "Rust", "position": 4}, "errors": []})
    );
    // No weight is sent, not a bad one: the server says what is missing.
    assert_eq!(
        f("F.ruleDraft({id: 'b', action: 'boost', target: 'courses', courses: 'c1', weight: ''}).draft")
            .await,
        json!({"action": "boost", "course_ids": ["c1"]})
    );
    assert_eq!(
        f("F.ruleDraft({id: '', action: 'pin', target: 'courses', courses: 'c1', position: '1.5', segments: 'x, 3', starts: 'nope'}).errors.map(e => e.field)").await,
        json!(["id", "position", "segments", "starts_at"])
    );
    let info = "{rule_id: 'r', action: 'bury', category: 'rust', weight: 0.5, position: 9, segments: [1], starts_at: '2020-01-01T00:00:00.000Z', active: true, created_at: 'x', updated_at: 'x'}";
    assert_eq!(
        f(&format!("F.endedDraft({info}, '2026-01-01T00:00:00.000Z')")).await,
        json!({"action": "bury", "category": "rust", "weight": 0.5, "segments": [1],
               "starts_at": "2020-01-01T00:00:00.000Z", "ends_at": "2026-01-01T00:00:00.000Z"})
    );
    let later = "{rule_id: 'p', action: 'pin', course_ids: ['a'], position: 2, segments: [], starts_at: '2099-01-01T00:00:00.000Z', active: false}";
    assert_eq!(
        f(&format!("F.endedDraft({later}, '2026-01-01T00:00:00.000Z')")).await,
        json!({"action": "pin", "course_ids": ["a"], "position": 2, "segments": [], "ends_at": "2026-01-01T00:00:00.000Z"})
    );
    assert_eq!(
        f(&format!("[F.ruleStatus({later}, Date.parse('2026-01-01')), F.ruleStatus({{active: false, ends_at: '2020-01-01T00:00:00Z'}}, Date.parse('2026-01-01')), F.ruleStatus({info}, 0)]")).await,
        json!(["scheduled", "ended", "active"])
    );
    assert!(b.errors().await.is_empty());
    b.quit().await;
    app.stop().await;
}
