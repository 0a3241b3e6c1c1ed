//! Learning paths over HTTP: prerequisites in the catalog (cycles refused),
//! `GET /users/{id}/path` and `GET /courses/{id}/next`, prerequisites on
//! `/recommend` items, and the figure on the demo's planted tracks.

use std::collections::{HashMap, HashSet};

use serde_json::{json, Value};

use crate::both_backends;
use crate::helpers::{course_ids, TestApp};

fn course(id: &str, level: &str, prerequisites: &[&str]) -> Value {
    json!({"id": id, "title": id.to_uppercase(), "category": "rust", "level": level,
           "price_cents": 1000, "prerequisites": prerequisites})
}

fn step_ids(path: &Value) -> Vec<String> {
    path["steps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["course_id"].as_str().unwrap().to_string())
        .collect()
}

/// A rust track: b1, b2 beginner; i1 needs b1; a1 needs i1 and b2. Learners
/// take b1 → i1 (most) or b1 → b2; the learner "me" owns b1.
async fn the_path_contract(app: TestApp) {
    let catalog = json!([
        course("b1", "beginner", &[]),
        course("b2", "beginner", &[]),
        course("i1", "intermediate", &["b1"]),
        course("a1", "advanced", &["i1", "b2"]),
        // An id not in the catalog yet is kept and does not count.
        course("x1", "beginner", &["not-yet"]),
    ]);
    let r = app.post_json("/courses", &catalog).await;
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
    assert_eq!(
        app.get_ok("/courses/a1").await["prerequisites"],
        json!(["i1", "b2"])
    );
    // A cycle is refused whole, naming it, and nothing is stored.
    let r = app
        .put_json("/courses/b1", &course("b1", "beginner", &["a1"]))
        .await;
    assert_eq!(r.status(), 422);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["error"]["code"], "prerequisite_cycle", "{body}");
    assert!(
        body["error"]["message"].as_str().unwrap().contains("b1"),
        "{body}"
    );
    assert_eq!(app.get_ok("/courses/b1").await["prerequisites"], json!([]));
    let self_loop = app
        .put_json("/courses/b2", &course("b2", "beginner", &["b2"]))
        .await;
    assert_eq!(self_loop.status(), 422);
    let mut events = Vec::new();
    for u in 0..12 {
        let next = if u < 9 { "i1" } else { "b2" };
        for (k, c) in ["b1", next].iter().enumerate() {
            events.push(
                json!({"user_id": format!("l{u}"), "course_id": c, "type": "purchase",
                               "ts": format!("2026-11-0{}T10:00:00Z", k + 1)}),
            );
        }
    }
    events.push(json!({"user_id": "me", "course_id": "b1", "type": "purchase"}));
    let r = app.post_json("/events", &json!({ "events": events })).await;
    assert_eq!(r.status(), 202);
    app.state.trainer.run_now().await;

    // What learners take next, by order: 9 of the 13 who took b1 took i1.
    let next = app.get_ok("/courses/b1/next").await;
    assert_eq!(course_ids(&next), ["i1", "b2"], "{next}");
    assert_eq!(next["items"][0]["share"], 0.6923);
    assert_eq!(next["learners"], 13);
    assert_eq!(app.get("/courses/nope/next").await.status(), 404);

    // To a1: i1 and b2 are missing (the lower level first); a1 last.
    let path = app.get_ok("/users/me/path?course_id=a1").await;
    assert_eq!(step_ids(&path), ["b2", "i1", "a1"], "{path}");
    assert_eq!(path["steps"][0]["reason"], "prerequisite");
    assert_eq!(path["steps"][2]["after"], json!(["i1", "b2"]));
    assert_eq!(path["total_price_cents"], 3000);
    assert_eq!(path["already_owned"], json!(["b1"]));
    assert_eq!(path["goal"], json!({"course_id": "a1"}));
    // An owned goal has no steps; a category goal reaches its top level.
    assert_eq!(
        step_ids(&app.get_ok("/users/l0/path?course_id=i1").await),
        Vec::<String>::new()
    );
    let by_category = app.get_ok("/users/me/path?category=Rust").await;
    assert_eq!(
        step_ids(&by_category).last().map(String::as_str),
        Some("a1"),
        "{by_category}"
    );
    // A stranger plans from nothing.
    assert_eq!(
        step_ids(&app.get_ok("/users/new-learner/path?course_id=a1").await),
        ["b1", "b2", "i1", "a1"]
    );

    // Errors: unknown goals, too long, bad parameters.
    for (q, status, code) in [
        ("course_id=zzz", 404, "course_not_found"),
        ("category=cobol", 404, "category_not_found"),
        ("course_id=a1&max_steps=2", 422, "path_too_long"),
        ("course_id=a1&category=rust", 400, "invalid_parameter"),
        ("", 400, "invalid_parameter"),
        ("course_id=a1&max_steps=0", 400, "invalid_parameter"),
    ] {
        let r = app.get(&format!("/users/me/path?{q}")).await;
        assert_eq!(r.status(), status, "{q}");
        let body: Value = r.json().await.unwrap();
        assert_eq!(body["error"]["code"], code, "{q}: {body}");
        if code == "path_too_long" {
            assert!(
                body["error"]["details"][0]["reason"]
                    .as_str()
                    .unwrap()
                    .contains('3'),
                "{body}"
            );
        }
    }

    // /recommend names what is missing; ready_only keeps what is ready.
    let list = app.get_ok("/recommend/me?n=10").await;
    for item in list["items"].as_array().unwrap() {
        let missing = &item["missing_prerequisites"];
        match item["course_id"].as_str().unwrap() {
            "a1" => assert_eq!(missing, &json!(["i1", "b2"])),
            _ => assert_eq!(missing, &json!([]), "{item}"),
        }
    }
    let ready = app.get_ok("/recommend/me?n=10&ready_only=true").await;
    assert!(!course_ids(&ready).contains(&"a1".to_string()), "{ready}");
    assert!(course_ids(&ready).contains(&"i1".to_string()), "{ready}");
    let posted = app
        .post_json("/recommend/me", &json!({"n": 10, "ready_only": true}))
        .await;
    assert_eq!(course_ids(&posted.json().await.unwrap()), course_ids(&ready));

    // GET /model reports the order model.
    let model = app.get_ok("/model").await;
    assert!(model["paths"]["transitions"].as_u64().unwrap() >= 2, "{model}");
    app.stop().await;
}
both_backends!(path_contract, the_path_contract);

/// The demo's tracks, each track learner's latest course held back: how
/// often the path to the track's category starts with it, against the
/// first item of `/recommend?category=<track>` for the same learners.
async fn paths_find_the_held_back_course(app: TestApp) {
    let now = courserec::domain::now_ms();
    let data = courserec::demo::generate(3, &courserec::demo::DemoSize::default(), now);
    let t = &data.tracks;
    let held: HashMap<&str, usize> = t
        .learners
        .iter()
        .filter(|l| l.sequence.len() >= 2)
        .map(|l| (l.user_id.as_str(), *l.sequence.last().unwrap()))
        .collect();
    let kept: Vec<courserec::domain::Event> = t
        .events
        .iter()
        .filter(|e| {
            held.get(e.user_id.as_str())
                .is_none_or(|&c| data.courses[c].id != e.course_id)
        })
        .cloned()
        .collect();
    app.load(&data).await;
    app.store.bulk_insert_events(&kept).await.unwrap();
    app.state.trainer.run_now().await;
    let levels: HashMap<&str, (&str, u8)> = data
        .courses
        .iter()
        .map(|c| (c.id.as_str(), (c.category.as_str(), c.level as u8)))
        .collect();
    let (mut by_path, mut by_list, mut n) = (0, 0, 0);
    for l in t
        .learners
        .iter()
        .filter(|l| held.contains_key(l.user_id.as_str()))
    {
        let target = &data.courses[held[l.user_id.as_str()]].id;
        let path = app
            .get_ok(&format!("/users/{}/path?category={}", l.user_id, l.category))
            .await;
        let steps = step_ids(&path);
        // Invariants: nothing owned, prerequisites first, levels not down.
        let owned: HashSet<&str> = l.sequence[..l.sequence.len() - 1]
            .iter()
            .map(|&c| data.courses[c].id.as_str())
            .collect();
        let mut have = owned.clone();
        for s in &steps {
            assert!(!owned.contains(s.as_str()), "{path}");
            let c = data.courses.iter().find(|c| &c.id == s).unwrap();
            // A retired (inactive) prerequisite no longer gates anything.
            let counts = |p: &&String| data.courses.iter().any(|d| &d.id == *p && d.active);
            assert!(
                c.prerequisites
                    .iter()
                    .filter(counts)
                    .all(|p| have.contains(p.as_str())),
                "{path}"
            );
            have.insert(s);
        }
        let lv: Vec<u8> = steps.iter().map(|s| levels[s.as_str()].1).collect();
        assert!(lv.windows(2).all(|w| w[0] <= w[1]), "{path}");
        let list = app
            .get_ok(&format!("/recommend/{}?n=1&category={}", l.user_id, l.category))
            .await;
        n += 1;
        by_path += usize::from(steps.first() == Some(target));
        by_list += usize::from(course_ids(&list).first() == Some(target));
    }
    let (p, r) = (by_path as f64 / n as f64, by_list as f64 / n as f64);
    eprintln!("held-back next course: path first step {by_path}/{n} = {p:.3}, /recommend first item {by_list}/{n} = {r:.3}");
    assert!(n >= 100, "{n} learners");
    assert!(p >= 0.6, "path {p:.3}");
    assert!(p > r, "path {p:.3} vs recommend {r:.3}");
    let model = app.get_ok("/model").await;
    eprintln!("next-course holdout: {}", model["paths"]["next_course"]);
    app.stop().await;
}
both_backends!(demo_tracks, paths_find_the_held_back_course);
