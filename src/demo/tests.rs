//! Demo data: reproducible, realistic funnel, recoverable taste groups.

use std::collections::{HashMap, HashSet};

use super::*;
use crate::domain::EventType;
use crate::segment::ari::adjusted_rand_index;
use crate::segment::profile::{build_profiles, course_index};
use crate::segment::{segment_users, SegmentParams};

const NOW: i64 = 1_767_225_600_000; // 2026-01-01

#[test]
fn same_seed_same_data() {
    let a = generate(7, &DemoSize::small(), NOW);
    assert_eq!(a, generate(7, &DemoSize::small(), NOW));
    assert_ne!(a.events, generate(8, &DemoSize::small(), NOW).events);
}

#[test]
fn default_size_is_realistic() {
    let d = generate(1, &DemoSize::default(), NOW);
    assert!(d.courses.len() >= 300);
    let cats: HashSet<&str> = d.courses.iter().map(|c| c.category.as_str()).collect();
    assert!(cats.len() >= 10);
    assert!(d.courses.iter().all(|c| (1900..=19900).contains(&c.price_cents)));
    assert!(d.users.len() >= 5000 && d.group_names.len() >= 5);
    assert!(d.events.len() >= 200_000, "{}", d.events.len());
    let ids: HashSet<&str> = d.events.iter().map(|e| e.event_id.as_deref().unwrap()).collect();
    assert_eq!(ids.len(), d.events.len());
    assert!(d
        .events
        .iter()
        .all(|e| e.ts_ms < NOW && e.ts_ms > NOW - 90 * 86_400_000));

    let mut n = [0usize; 8];
    d.events.iter().for_each(|e| n[e.kind.index()] += 1);
    let c = |k: EventType| n[k.index()];
    assert!(c(EventType::View) > c(EventType::Click));
    assert!(c(EventType::Click) > c(EventType::AddToCart));
    assert!(c(EventType::AddToCart) > c(EventType::Purchase));
    let refunds = c(EventType::Refund) as f64 / c(EventType::Purchase) as f64;
    assert!((0.015..0.035).contains(&refunds), "{refunds}");
    for e in &d.events {
        match e.kind {
            EventType::Rating => assert!((1.0..=5.0).contains(&e.value.unwrap())),
            EventType::Watch => assert!((0.0..=1.0).contains(&e.value.unwrap())),
            _ => assert!(e.value.is_none()),
        }
    }
    assert!(d.users.iter().any(|u| !u.1.interests.is_empty()));

    // 80–90% of activity falls in the user's group's categories.
    let cat_of: HashMap<&str, &str> = d
        .courses
        .iter()
        .map(|c| (c.id.as_str(), c.category.as_str()))
        .collect();
    let group_of: HashMap<&str, usize> = d.taste_groups.iter().map(|(u, g)| (u.as_str(), *g)).collect();
    let inside = d
        .events
        .iter()
        .filter(|e| {
            let g = GROUPS[group_of[e.user_id.as_str()]].1;
            g.iter().any(|(c, _)| *c == cat_of[e.course_id.as_str()])
        })
        .count() as f64
        / d.events.len() as f64;
    assert!((0.8..0.92).contains(&inside), "{inside}");
}

#[test]
fn taste_groups_are_recoverable_from_profiles() {
    let d = generate(3, &DemoSize::default(), NOW);
    let rows = aggregate(&d.events, NOW);
    let ids: Vec<String> = d.users.iter().map(|u| u.0.clone()).collect();
    let profiles = build_profiles(&ids, &rows, &course_index(&d.courses), NOW);
    // k = auto over the default 2..=12; a smaller sample keeps debug runs quick.
    let params = SegmentParams {
        sample_size: 2000,
        silhouette_size: 1000,
        ..SegmentParams::default()
    };
    let (seg, assignment) = segment_users(&[], 0, &profiles, &params, None, 11);
    let truth: Vec<usize> = d.taste_groups.iter().map(|t| t.1).collect();
    let ari = adjusted_rand_index(&truth, &assignment);
    assert_eq!(seg.segments.len(), d.group_names.len(), "{:?}", seg.k_scores);
    eprintln!("ARI {ari:.4}, k scores {:?}", seg.k_scores);
    eprintln!(
        "{:#?}",
        seg.segments
            .iter()
            .map(|s| (&s.label, s.size))
            .collect::<Vec<_>>()
    );
    assert!(ari >= 0.9, "ARI {ari}");
}

#[test]
fn aggregate_counts_windows() {
    let e = |kind, days: i64| Event {
        event_id: None,
        user_id: "u".into(),
        course_id: "c".into(),
        kind,
        value: Some(2.0),
        ts_ms: NOW - days * 86_400_000,
        rec_id: None,
    };
    let rows = aggregate(
        &[
            e(EventType::View, 1),
            e(EventType::View, 40),
            e(EventType::Click, 5),
        ],
        NOW,
    );
    assert_eq!(rows.len(), 2);
    let v = &rows[0];
    assert_eq!(
        (v.kind, v.count, v.count_30d, v.count_90d),
        (EventType::View, 2, 1, 2)
    );
    assert_eq!((v.value_sum, v.value_max), (4.0, 2.0));
    assert_eq!(v.first_ts_ms, NOW - 40 * 86_400_000);
}

#[test]
fn the_future_is_apart_and_leaves_the_past_alone() {
    let size = DemoSize::small();
    let past = generate(4, &size, NOW);
    assert!(past.future.is_empty());
    let with = generate(
        4,
        &DemoSize {
            future_days: 28,
            ..size
        },
        NOW,
    );
    assert!(with.events == past.events, "the future changed the past");
    assert!(!with.future.is_empty());
    assert!(with
        .future
        .iter()
        .all(|e| e.ts_ms >= NOW && e.ts_ms < NOW + 28 * 86_400_000));
    assert!(with.kinds == past.kinds);
}

/// Per kind of learner: (users, purchases, mean price paid, carts left
/// behind per cart, active in the last 28 days, of those silent in the 28
/// after).
fn by_kind(d: &DemoData) -> Vec<(usize, usize, f64, f64, usize, usize)> {
    const DAY: i64 = 86_400_000;
    let kind_of: HashMap<&str, usize> = d.kinds.iter().map(|(u, k)| (u.as_str(), *k)).collect();
    let price: HashMap<&str, i64> = d.courses.iter().map(|c| (c.id.as_str(), c.price_cents)).collect();
    let mut out = vec![(0, 0, 0.0, 0.0, 0, 0); crate::marketing::learners::KINDS.len()];
    d.kinds.iter().for_each(|(_, k)| out[*k].0 += 1);
    let mut carts: HashSet<(&str, &str)> = HashSet::new();
    let mut bought: HashSet<(&str, &str)> = HashSet::new();
    let (mut recent, mut later): (HashSet<&str>, HashSet<&str>) = Default::default();
    for e in &d.events {
        let k = kind_of[e.user_id.as_str()];
        match e.kind {
            EventType::Purchase => {
                out[k].1 += 1;
                out[k].2 += price[e.course_id.as_str()] as f64;
                bought.insert((&e.user_id, &e.course_id));
            }
            EventType::AddToCart => {
                carts.insert((&e.user_id, &e.course_id));
            }
            _ => {}
        }
        if e.kind != EventType::Refund && e.ts_ms >= NOW - 28 * DAY {
            recent.insert(&e.user_id);
        }
    }
    for e in &d.future {
        if e.kind != EventType::Refund && e.ts_ms < NOW + 28 * DAY {
            later.insert(&e.user_id);
        }
    }
    let mut left = vec![(0usize, 0usize); out.len()];
    for c in &carts {
        let k = kind_of[c.0];
        left[k].0 += 1;
        left[k].1 += usize::from(!bought.contains(c));
    }
    for (k, o) in out.iter_mut().enumerate() {
        o.2 /= o.1.max(1) as f64;
        o.3 = left[k].1 as f64 / left[k].0.max(1) as f64;
    }
    for u in &recent {
        let k = kind_of[u];
        out[k].4 += 1;
        out[k].5 += usize::from(!later.contains(u));
    }
    out
}

#[test]
fn kinds_of_learner_behave_as_planted() {
    let d = generate(
        5,
        &DemoSize {
            future_days: 28,
            ..DemoSize::default()
        },
        NOW,
    );
    let k = by_kind(&d);
    let ix = |name: &str| crate::marketing::learners::kind_index(name).unwrap();
    let (loyal, bargain, casual, churning, dormant) = (
        k[ix("loyal_buyer")],
        k[ix("bargain_hunter")],
        k[ix("casual")],
        k[ix("churning")],
        k[ix("dormant")],
    );
    eprintln!("{k:?}");
    for (kind, row) in crate::marketing::learners::KINDS.iter().zip(&k) {
        let share = row.0 as f64 / d.users.len() as f64;
        assert!((share - kind.share).abs() < 0.02, "{} {share}", kind.name);
    }
    let per_user = |r: (usize, usize, f64, f64, usize, usize)| r.1 as f64 / r.0 as f64;
    // Loyal buyers buy most; casual and dormant learners least.
    assert!(per_user(loyal) > 3.0 * per_user(casual), "{k:?}");
    assert!(per_user(loyal) > per_user(bargain) && per_user(bargain) > per_user(casual));
    assert!(per_user(dormant) < per_user(casual));
    // Bargain hunters pay less per course and leave more carts behind.
    let others = (loyal.2 + casual.2 + churning.2) / 3.0;
    assert!(bargain.2 < 0.85 * others, "{} vs {others}", bargain.2);
    assert!(bargain.3 > loyal.3 + 0.1, "{k:?}");
    // Churners go quiet: of those active lately, far more are silent next month.
    let silent = |r: (usize, usize, f64, f64, usize, usize)| r.5 as f64 / r.4.max(1) as f64;
    assert!(silent(churning) > 0.3, "{k:?}");
    assert!(silent(loyal) < 0.05 && silent(bargain) < 0.1, "{k:?}");
    assert!(silent(dormant) > silent(casual), "{k:?}");
}

#[test]
fn demo_learners_are_predicted_from_their_behaviour() {
    use crate::marketing::learners::kind_index;
    use crate::marketing::metrics::{quality, spend_quality};
    use crate::marketing::predict::{predict, Source};
    use crate::marketing::synthetic::{baseline_outcomes, outcomes};
    use crate::marketing::MarketingSettings;
    // NOW is midnight: the training's T starts exactly there.
    let data = generate(
        42,
        &DemoSize {
            future_days: 90,
            ..DemoSize::default()
        },
        NOW,
    );
    let planted = super::truth::planted(&data, NOW - 1);
    let seen = planted.seen();
    let s = MarketingSettings::default();
    let p = predict(&planted.data(&seen), &s, None);
    // The backtest on [T−H, T): both beat the baseline, and recalibrated
    // they are calibrated.
    for (g, margin) in [(&p.purchase_gate, 0.01), (&p.churn_gate, 0.0)] {
        let (m, b) = (g.model.unwrap(), g.baseline.unwrap());
        assert!(m.auc > b.auc + margin, "{g:?}");
        assert_eq!(g.source, Source::Model);
        assert!(g.calibrated.unwrap().ece <= 0.05, "{g:?}");
    }
    assert!(p.purchase_gate.model.unwrap().auc >= 0.8);
    let spend = p.spend_backtest.as_ref().unwrap();
    assert!(spend.model.spearman > spend.baseline.spearman, "{spend:?}");
    assert!(spend.model.rmse_cents < spend.baseline.rmse_cents, "{spend:?}");

    // Against the simulated future, beside baselines fitted on the latest window.
    let (o, b) = (outcomes(&planted, &p, &s, Some), baseline_outcomes(&planted, &s));
    let (qp, bp) = (
        quality(&o.purchase.0, &o.purchase.1).unwrap(),
        quality(&b.purchase.0, &b.purchase.1).unwrap(),
    );
    let (qc, bc) = (
        quality(&o.churn.0, &o.churn.1).unwrap(),
        quality(&b.churn.0, &b.churn.1).unwrap(),
    );
    eprintln!("purchase {qp:?}\n  baseline {bp:?}\nchurn {qc:?}\n  baseline {bc:?}");
    assert!(
        qp.auc >= 0.8 && qp.auc > bp.auc + 0.01 && qp.ece <= 0.05,
        "{qp:?} {bp:?}"
    );
    // Churn beats the baseline out of time too, thanks to the BG/BB
    // features (before them it did not, on two seeds of three).
    assert!(
        qc.auc >= 0.85 && qc.auc > bc.auc + 0.02 && qc.ece <= 0.05,
        "{qc:?} {bc:?}"
    );
    let (sm, sb) = (
        spend_quality(&o.spend.0, &o.spend.1),
        spend_quality(&b.spend.0, &b.spend.1),
    );
    assert!(sm.spearman > sb.spearman, "{sm:?} {sb:?}");
    assert!((0.8..1.25).contains(&sm.total_ratio), "{sm:?}");

    // The kinds rank as planted.
    let mean = |k: &str, v: &dyn Fn(usize) -> f32| {
        let k = kind_index(k).unwrap();
        let x: Vec<f32> = (0..data.users.len())
            .filter(|&u| planted.kind[u] == k)
            .map(v)
            .filter(|x| !x.is_nan())
            .collect();
        x.iter().sum::<f32>() / x.len() as f32
    };
    let buy = |u: usize| p.purchase[u];
    let churn = |u: usize| p.churn[u];
    assert!(mean("loyal_buyer", &buy) > 2.0 * mean("casual", &buy));
    assert!(mean("bargain_hunter", &buy) > mean("casual", &buy));
    assert!(mean("churning", &churn) > 3.0 * mean("loyal_buyer", &churn));
}
