//! The uplift model on the demo's planted response types, without a store:
//! the past campaigns' members and conversions (any purchase of an offered
//! course in the window that the member had not bought before), the fit and
//! its gate, then every learner's predicted uplift for a python offer at
//! 20 % against the ground truth, by kind of learner, and the true
//! incremental conversions of the top 500 by predicted uplift.
//! cargo run --release --example uplift_demo -- [SEED] [CAMPAIGNS]
//! (CAMPAIGNS: learn from only the first that many of the six.)

use std::collections::{HashMap, HashSet};
use std::time::Instant;

use courserec::demo::campaigns::true_response;
use courserec::demo::{generate, DemoSize};
use courserec::domain::{category_key, Event, EventType, DAY_MS};
use courserec::marketing::features::CourseInfo;
use courserec::marketing::predict::{predict, LearnerData};
use courserec::marketing::uplift::fit::{fit_uplift, CampaignOutcomes, MemberOutcome, UpliftInput};
use courserec::marketing::uplift::{columns, OfferFeatures};
use courserec::marketing::MarketingSettings;
use courserec::retrain::days::DayData;

fn main() {
    let seed = std::env::args().nth(1).and_then(|v| v.parse().ok()).unwrap_or(5);
    let now = courserec::domain::now_ms();
    let data = generate(seed, &DemoSize::default(), now);
    let mut events: Vec<Event> = data
        .events
        .iter()
        .chain(&data.campaigns.events)
        .cloned()
        .collect();
    events.sort_by_key(|e| e.ts_ms);
    let mut categories: Vec<String> = data.courses.iter().map(|c| category_key(&c.category)).collect();
    categories.sort();
    categories.dedup();
    let course_index: HashMap<String, u32> = data
        .courses
        .iter()
        .enumerate()
        .map(|(i, c)| (c.id.clone(), i as u32))
        .collect();
    let infos: Vec<CourseInfo> = data
        .courses
        .iter()
        .map(|c| CourseInfo {
            category: categories.binary_search(&category_key(&c.category)).unwrap() as u32,
            price_cents: c.price_cents,
        })
        .collect();
    let mut ids: Vec<String> = events.iter().map(|e| e.user_id.clone()).collect();
    ids.sort();
    ids.dedup();
    let users: HashMap<String, u32> = ids
        .iter()
        .enumerate()
        .map(|(i, u)| (u.clone(), i as u32))
        .collect();
    let days = DayData::from_events(&events);
    let histories = courserec::retrain::marketing::histories(days, &users, &course_index);
    let outcomes: Vec<CampaignOutcomes> = data
        .campaigns
        .campaigns
        .iter()
        .map(|c| {
            let offered: HashSet<&str> = data
                .courses
                .iter()
                .filter(|k| category_key(&k.category) == c.category)
                .map(|k| k.id.as_str())
                .collect();
            let bought_before: HashSet<(&str, &str)> = events
                .iter()
                .filter(|e| e.kind == EventType::Purchase && e.ts_ms < c.created_ms)
                .map(|e| (e.user_id.as_str(), e.course_id.as_str()))
                .collect();
            let converted: HashSet<&str> = events
                .iter()
                .filter(|e| {
                    e.kind == EventType::Purchase
                        && (c.created_ms..c.ends_ms).contains(&e.ts_ms)
                        && offered.contains(e.course_id.as_str())
                        && !bought_before.contains(&(e.user_id.as_str(), e.course_id.as_str()))
                })
                .map(|e| e.user_id.as_str())
                .collect();
            CampaignOutcomes {
                created_ms: c.created_ms,
                offer_category: c.category.clone(),
                category_offer: true,
                members: c
                    .members
                    .iter()
                    .map(|m| MemberOutcome {
                        user: m.user.clone(),
                        discount_pct: m.arm.and_then(|a| c.arms[a].discount_pct),
                        converted: converted.contains(m.user.as_str()),
                    })
                    .collect(),
            }
        })
        .collect();
    let kind_of: HashMap<&str, usize> = data.kinds.iter().map(|(u, k)| (u.as_str(), *k)).collect();
    let mut rates = [[(0usize, 0usize); 2]; 5];
    for c in &outcomes {
        for m in &c.members {
            let Some(&k) = kind_of.get(m.user.as_str()) else {
                continue;
            };
            let r = &mut rates[k][usize::from(m.discount_pct.is_some())];
            r.0 += usize::from(m.converted);
            r.1 += 1;
        }
    }
    for (k, [c, t]) in rates.iter().enumerate() {
        println!(
            "kind {k}: control {}/{} = {:.3}, treated {}/{} = {:.3}",
            c.0,
            c.1,
            c.0 as f64 / c.1.max(1) as f64,
            t.0,
            t.1,
            t.0 as f64 / t.1.max(1) as f64
        );
    }
    let keep = std::env::args()
        .nth(2)
        .and_then(|v| v.parse().ok())
        .unwrap_or(outcomes.len());
    let past: Vec<_> = outcomes
        .iter()
        .take(keep)
        .filter_map(|c| c.indexed(&users, &categories))
        .collect();
    let s = MarketingSettings::default();
    let active = s.activity_mask();
    let today = (now.div_euclid(DAY_MS) + 1) as i32;
    let learner_data = LearnerData {
        histories: &histories,
        courses: &infos,
        n_categories: categories.len(),
        today,
        cutoff_ms: now,
    };
    let purchase = predict(&learner_data, &s, None);
    let input = UpliftInput {
        histories: &histories,
        courses: &infos,
        n_categories: categories.len(),
        active: &active,
        campaigns: &past,
        propensity: Some((&purchase.purchase_model, s.horizon_days)),
    };
    let started = Instant::now();
    let fit = fit_uplift(&input, &s, 1);
    let fit_seconds = started.elapsed().as_secs_f64();
    println!("{}", serde_json::to_string_pretty(&fit.report).unwrap());
    println!(
        "fit and evaluation: {fit_seconds:.2} s; passed the gate: {}",
        fit.passed
    );
    let Some(model) = fit.model else {
        return;
    };
    let started = Instant::now();
    let cols = columns(&model, &histories, &infos, categories.len(), &active, today);
    println!(
        "columns of {} learners: {:.3} s",
        ids.len(),
        started.elapsed().as_secs_f64()
    );
    let offer = OfferFeatures {
        discount: 0.2,
        category: categories.binary_search(&"python".to_string()).unwrap(),
        category_offer: true,
    };
    let kind: HashMap<&str, usize> = data.kinds.iter().map(|(u, k)| (u.as_str(), *k)).collect();
    let mut pc = [(0.0, 0.0, 0usize); 5];
    for (u, id) in ids.iter().enumerate() {
        if let (Some(r), Some(&k)) = (model.score(&cols, u, &offer), kind.get(id.as_str())) {
            pc[k].0 += r.p_control;
            pc[k].1 += r.p_treated();
            pc[k].2 += 1;
        }
    }
    for (k, (c, t, n)) in pc.iter().enumerate() {
        println!(
            "kind {k}: predicted p_control {:.3}, p_treated {:.3}",
            c / *n as f64,
            t / *n as f64
        );
    }
    let mut scored: Vec<(f64, usize)> = ids
        .iter()
        .enumerate()
        .filter_map(|(u, id)| Some((model.score(&cols, u, &offer)?.uplift, *kind.get(id.as_str())?)))
        .collect();
    let mut by_kind = [(0.0, 0usize); 5];
    for &(x, k) in &scored {
        by_kind[k].0 += x;
        by_kind[k].1 += 1;
    }
    for (k, (sum, n)) in by_kind.iter().enumerate() {
        let (c, t) = true_response(k, 0.2);
        println!(
            "kind {k}: {n} learners, mean predicted uplift {:.4}, true {:.4}",
            sum / *n as f64,
            t - c
        );
    }
    scored.sort_by(|a, b| b.0.total_cmp(&a.0));
    let truth = |xs: &[(f64, usize)]| -> f64 {
        xs.iter()
            .map(|&(_, k)| {
                let (c, t) = true_response(k, 0.2);
                t - c
            })
            .sum()
    };
    println!(
        "true incremental conversions, top 500 by predicted uplift: {:.1} (random 500: {:.1})",
        truth(&scored[..500]),
        truth(&scored) * 500.0 / scored.len() as f64
    );
}
