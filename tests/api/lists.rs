//! Lists that agree and explanations that are true, on both stores: an
//! audience cursor keeps its place when the learner it names drops out,
//! category names match whatever their case, and every reason on the demo
//! cites a course the learner took that is not in the same list.

use std::collections::{HashMap, HashSet};

use courserec::retrain::Outcome;
use serde_json::{json, Value};

use crate::both_backends;
use crate::helpers::{course_ids, TestApp};
use crate::marketing::{all_pages, get_csv, ids, post_events};
use crate::recommend::{taken_by, trained};

fn user_ids(page: &Value) -> Vec<String> {
    ids(page["users"].as_array().unwrap())
}

/// One page of `query` after `after`.
async fn page(app: &TestApp, query: &str, limit: usize, after: Option<&str>) -> Value {
    match after {
        Some(a) => app.get_ok(&format!("{query}&limit={limit}&after={a}")).await,
        None => app.get_ok(&format!("{query}&limit={limit}")).await,
    }
}

/// Every learner of `query`, page by page.
async fn walk(app: &TestApp, query: &str, limit: usize) -> Vec<String> {
    ids(&all_pages(app, query, limit).await)
}

fn ts_now() -> String {
    chrono::Utc::now().to_rfc3339()
}

/// Page 1, then its last learner buys the offer; page 2 is still the next
/// 30 of the ranking. Page 2's last learner is erased; page 3 follows on.
/// The pages read this way hold the whole ranking once, in order; a fresh
/// walk holds it without the two who dropped out; a new model's cursor is
/// 409 and a cursor naming nobody of the audience is 400.
async fn cursors_keep_their_place(app: TestApp) {
    let data = trained(&app).await;
    let course = data.courses[0].id.clone();
    let q = format!("/audiences?course_id={course}");
    let ranking = walk(&app, &q, 1000).await;
    assert!(ranking.len() > 120, "{}", ranking.len());

    let p1 = page(&app, &q, 30, None).await;
    assert_eq!(user_ids(&p1), ranking[..30]);
    let bought = ranking[29].clone();
    post_events(
        &app,
        &[json!({"user_id": bought, "course_id": course, "type": "purchase", "ts": ts_now()})],
    )
    .await;
    let p2 = page(&app, &q, 30, p1["next"].as_str()).await;
    assert_eq!(
        user_ids(&p2),
        ranking[30..60],
        "page 2 after the boundary learner bought"
    );
    assert_eq!(p2["size"], ranking.len() - 1);

    let erased = ranking[59].clone();
    assert_eq!(app.delete(&format!("/users/{erased}")).await.status(), 204);
    let p3 = page(&app, &q, 30, p2["next"].as_str()).await;
    assert_eq!(
        user_ids(&p3),
        ranking[60..90],
        "page 3 after the boundary learner was erased"
    );
    assert_eq!(p3["size"], ranking.len() - 2);

    // The rest from page 3's cursor: nothing twice, nobody skipped.
    let mut read: Vec<String> = [user_ids(&p1), user_ids(&p2), user_ids(&p3)].concat();
    let mut after = p3["next"].as_str().map(str::to_string);
    while let Some(a) = after {
        let p = page(&app, &q, 30, Some(&a)).await;
        read.extend(user_ids(&p));
        after = p["next"].as_str().map(str::to_string);
    }
    assert_eq!(read, ranking);
    let fresh = walk(&app, &q, 1000).await;
    let dropped: HashSet<&String> = [&bought, &erased].into();
    let expected: Vec<String> = ranking.iter().filter(|u| !dropped.contains(u)).cloned().collect();
    assert_eq!(fresh, expected);
    // The CSV export is the same list.
    let csv = get_csv(&app, &q).await;
    let csv_ids: Vec<&str> = csv
        .lines()
        .skip(1)
        .map(|l| l.split(',').next().unwrap())
        .collect();
    assert_eq!(csv_ids, expected);

    // A cursor naming nobody of this audience; then one of an older model.
    let version = p3["model_version"].as_i64().unwrap();
    let r = app.get(&format!("{q}&after={version}.nobody-at-all")).await;
    assert_eq!(r.status(), 400);
    assert_eq!(
        r.json::<Value>().await.unwrap()["error"]["code"],
        "invalid_cursor"
    );
    match app.state.trainer.run_now().await {
        Some(Outcome::Published(v)) => assert!(v > version),
        other => panic!("training did not publish: {other:?}"),
    }
    let r = app
        .get(&format!("{q}&limit=30&after={}", p3["next"].as_str().unwrap()))
        .await;
    assert_eq!(r.status(), 409);
    assert_eq!(r.json::<Value>().await.unwrap()["error"]["code"], "stale_cursor");
    app.stop().await;
}

both_backends!(audience_cursors_keep_their_place, cursors_keep_their_place);

/// "RUST", " Rust " and "rust" name one category on every route that takes
/// one; an unknown category is still 404.
async fn categories_match_whatever_the_case(app: TestApp) {
    let data = trained(&app).await;
    let category = data.courses[0].category.clone();
    let upper = category.to_uppercase();
    let mixed = format!("%20{}{}%20", category[..1].to_uppercase(), &category[1..]);
    assert_ne!(upper, category);

    let audience = walk(&app, &format!("/audiences?category={category}"), 1000).await;
    assert!(!audience.is_empty());
    for asked in [&upper, &mixed] {
        let q = format!("/audiences?category={asked}");
        assert_eq!(walk(&app, &q, 1000).await, audience, "{asked}");
        // Cursors of the two spellings are one ranking's.
        let first = page(&app, &q, 10, None).await;
        let next = page(
            &app,
            &format!("/audiences?category={category}"),
            10,
            first["next"].as_str(),
        )
        .await;
        assert_eq!(user_ids(&next), audience[10..20]);
    }
    let user = &data.users[0].0;
    for path in [
        "/popular?n=20&category={}".to_string(),
        "/courses?limit=500&category={}".to_string(),
        format!("/recommend/{user}?n=10&category={{}}"),
    ] {
        let lower = course_ids(&app.get_ok(&path.replace("{}", &category)).await);
        assert!(!lower.is_empty(), "{path}");
        for asked in [&upper, &mixed] {
            let got = course_ids(&app.get_ok(&path.replace("{}", asked)).await);
            assert_eq!(got, lower, "{path} with {asked}");
        }
    }

    // A campaign for the category typed in capitals reaches the same learners.
    let r = app
        .post_json("/campaigns", &json!({"name": "caps", "category": upper}))
        .await;
    assert_eq!(r.status(), 201, "{}", r.text().await.unwrap());
    let created: Value = r.json().await.unwrap();
    let total = created["treatment_size"].as_u64().unwrap() + created["control_size"].as_u64().unwrap();
    assert_eq!(total as usize, audience.len());

    let r = app.get("/audiences?category=NO-SUCH-CATEGORY").await;
    assert_eq!(r.status(), 404);
    assert_eq!(
        r.json::<Value>().await.unwrap()["error"]["code"],
        "category_not_found"
    );
    let r = app
        .post_json(
            "/campaigns",
            &json!({"name": "none", "category": "No-Such-Category"}),
        )
        .await;
    assert_eq!(r.status(), 404);
    app.stop().await;
}

both_backends!(
    category_names_match_whatever_the_case,
    categories_match_whatever_the_case
);

/// Every reason of every demo learner's top 10 (`explain=true`) names a
/// course the learner took (owned or rated) that is not in the same list.
/// Some learners act after the training (a view, a purchase), so lists
/// folded in from the store are checked too.
async fn every_reason_is_true(app: TestApp) {
    let data = trained(&app).await;
    let mut taken: HashMap<String, HashSet<String>> = data
        .users
        .iter()
        .map(|(u, _)| (u.clone(), taken_by(&data, u)))
        .collect();
    // Since the training: views of courses not taken (never a reason) and
    // a purchase (a reason from now on).
    let mut events = Vec::new();
    for (i, (u, _)) in data.users.iter().take(40).enumerate() {
        let not_taken: Vec<&String> = data
            .courses
            .iter()
            .map(|c| &c.id)
            .filter(|c| !taken[u].contains(*c))
            .collect();
        events.push(json!({"user_id": u, "course_id": not_taken[i % 7], "type": "view", "ts": ts_now()}));
        if i % 2 == 0 {
            let c = not_taken[7 + i % 5];
            events.push(json!({"user_id": u, "course_id": c, "type": "purchase", "ts": ts_now()}));
            taken.get_mut(u).unwrap().insert(c.clone());
        }
    }
    post_events(&app, &events).await;

    let (mut reasons, mut with_reasons) = (0, 0);
    for (u, _) in &data.users {
        let body = app.get_ok(&format!("/recommend/{u}?n=10&explain=true")).await;
        let listed: HashSet<String> = course_ids(&body).into_iter().collect();
        let mut any = false;
        for item in body["items"].as_array().unwrap() {
            for r in item["reasons"].as_array().unwrap() {
                let c = r["course_id"].as_str().unwrap();
                assert!(taken[u].contains(c), "{u}: reason {c} was not taken ({body})");
                assert!(!listed.contains(c), "{u}: reason {c} is in the same list");
                reasons += 1;
                any = true;
            }
        }
        with_reasons += usize::from(any);
    }
    // The check is not vacuous: many learners get reasons (183 of 600 on
    // the small demo, the others own too little that is alike).
    assert!(
        with_reasons * 5 > data.users.len(),
        "{with_reasons} of {}",
        data.users.len()
    );
    assert!(reasons > with_reasons, "{reasons}");
    app.stop().await;
}

both_backends!(
    every_reason_on_the_demo_is_a_course_the_learner_took,
    every_reason_is_true
);
