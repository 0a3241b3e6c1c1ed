//! Hand-checked cases of turning event aggregates into interactions.

use super::interactions::*;
use crate::domain::Level;
use crate::domain::{Course, EventType, TypeAgg};

const DAY: i64 = 86_400_000;

fn agg(user: &str, course: &str, kind: EventType, count: u32, value: f64, ts: i64) -> TypeAgg {
    TypeAgg {
        user_id: user.into(),
        course_id: course.into(),
        kind,
        count,
        value_sum: value * f64::from(count),
        value_max: value,
        first_ts_ms: ts,
        last_ts_ms: ts,
        count_30d: 0,
        count_90d: 0,
    }
}

fn course(id: &str) -> Course {
    Course {
        id: id.into(),
        title: id.into(),
        category: "c".into(),
        tags: vec![],
        level: Level::Beginner,
        price_cents: 0,
        active: true,
        prerequisites: vec![],
    }
}

#[test]
fn weights_add_up_per_pair() {
    use EventType::*;
    let rows = [
        agg("u", "a", View, 5, 0.0, 0),     // 1 × min(5, 3) = 3
        agg("u", "a", Watch, 2, 0.5, 0),    // 5 × 0.5 = 2.5
        agg("u", "a", Purchase, 1, 0.0, 0), // 10
        agg("u", "b", Rating, 2, 2.0, 0),   // 4 + 2 = 6, taken
        agg("u", "c", Purchase, 1, 0.0, 0), // refunded: nothing left
        agg("u", "c", Refund, 1, 0.0, 0),
        agg("u", "d", Click, 1, 0.0, 0),    // 2
        agg("u", "d", Refund, 1, 0.0, 1),   // then bought again: owned → 10
        agg("u", "d", Purchase, 2, 0.0, 2), // a retry counts once
    ];
    let it = Interactions::build(&rows, &[course("z")], &Weights::default(), 0);
    assert_eq!(it.courses, vec!["z", "a", "b", "c", "d"]);
    let got: Vec<(u32, f32, bool)> = it.entries.iter().map(|e| (e.course, e.weight, e.taken)).collect();
    assert_eq!(got, vec![(1, 15.5, true), (2, 6.0, true), (4, 12.0, true)]);
    assert!(it.taken(0, 1) && it.taken(0, 2) && !it.taken(0, 3) && !it.taken(0, 0));
    assert_eq!(it.to_csr().row(0).0, &[1, 2, 4]);
}

#[test]
fn refund_keeps_light_signals_and_decay_halves() {
    use EventType::*;
    let rows = [
        agg("u", "a", View, 1, 0.0, 0),
        agg("u", "a", Rating, 1, 5.0, 0),
        agg("u", "a", Purchase, 1, 0.0, 0),
        agg("u", "a", Refund, 1, 0.0, 0),
    ];
    let it = Interactions::build(&rows, &[], &Weights::default(), 0);
    // Only the view survives the refund, but the rating still marks it taken.
    assert_eq!((it.entries[0].weight, it.entries[0].taken), (1.0, true));
    let w = Weights {
        half_life_days: Some(7.0),
        ..Weights::default()
    };
    let it = Interactions::build(&[agg("u", "a", Purchase, 1, 0.0, 0)], &[], &w, 14 * DAY);
    assert!((it.entries[0].weight - 2.5).abs() < 1e-6);
}

#[test]
fn weights_deserialize_with_defaults() {
    let w: Weights = serde_json::from_str(r#"{"purchase": 8.0, "half_life_days": 30}"#).unwrap();
    assert_eq!((w.purchase, w.view, w.half_life_days), (8.0, 1.0, Some(30.0)));
    assert!(serde_json::from_str::<Weights>(r#"{"purchse": 8.0}"#).is_err());
}

#[test]
fn ownership_follows_time_order() {
    use EventType::*;
    let rows = [
        // Refund on day 1, purchase on day 5: owned.
        agg("u", "a", Refund, 1, 0.0, DAY),
        agg("u", "a", Purchase, 1, 0.0, 5 * DAY),
        // Purchase on day 1, refund on day 5: not owned, the rating goes too.
        agg("u", "b", View, 1, 0.0, 0),
        agg("u", "b", Purchase, 1, 0.0, DAY),
        agg("u", "b", Refund, 1, 0.0, 5 * DAY),
        // 25 retried purchases weigh as one.
        agg("u", "c", Purchase, 25, 0.0, DAY),
        // A refund of nothing leaves nothing: no user "v" to train.
        agg("v", "a", Refund, 1, 0.0, DAY),
    ];
    let it = Interactions::build(&rows, &[], &Weights::default(), 10 * DAY);
    let got: Vec<(u32, f32, bool)> = it.entries.iter().map(|e| (e.course, e.weight, e.taken)).collect();
    assert_eq!(got, vec![(0, 10.0, true), (1, 1.0, false), (2, 10.0, true)]);
    assert_eq!(
        (it.users.clone(), it.user_index.get("v")),
        (vec!["u".to_string()], None)
    );
}

#[test]
fn interleaved_rows_give_the_same_interactions_as_grouped_rows() {
    use EventType::*;
    // Pair (u, a) arrives in three runs: a purchase, then (after other
    // pairs) a refund and a view, then a later purchase and a rating; the
    // latest purchase and refund decide ownership as if read in one run.
    let grouped = [
        agg("u", "a", View, 1, 0.0, 0),
        agg("u", "a", Rating, 1, 4.0, 3 * DAY),
        agg("u", "a", Purchase, 1, 0.0, 4 * DAY),
        agg("u", "a", Refund, 1, 0.0, 2 * DAY),
        agg("u", "b", Click, 1, 0.0, DAY),
        agg("v", "a", Watch, 1, 0.5, DAY),
    ];
    let interleaved = [
        agg("u", "a", Purchase, 1, 0.0, DAY),
        agg("v", "a", Watch, 1, 0.5, DAY),
        agg("u", "a", Refund, 1, 0.0, 2 * DAY),
        agg("u", "a", View, 1, 0.0, 0),
        agg("u", "b", Click, 1, 0.0, DAY),
        agg("u", "a", Purchase, 1, 0.0, 4 * DAY),
        agg("u", "a", Rating, 1, 4.0, 3 * DAY),
    ];
    let w = Weights::default();
    let a = Interactions::build(&grouped, &[], &w, 10 * DAY);
    let b = Interactions::build(&interleaved, &[], &w, 10 * DAY);
    let named = |it: &Interactions| -> Vec<(String, String, f32, i64, bool)> {
        it.entries
            .iter()
            .map(|e| {
                let (u, c) = (&it.users[e.user as usize], &it.courses[e.course as usize]);
                (u.clone(), c.clone(), e.weight, e.ts_ms, e.taken)
            })
            .collect()
    };
    // View 1 + rating 4 + 4 + purchase 10 (bought again after the refund).
    assert_eq!(named(&a)[0], ("u".into(), "a".into(), 19.0, 4 * DAY, true));
    let mut got = named(&b);
    got.sort_by(|x, y| (&x.0, &x.1).cmp(&(&y.0, &y.1)));
    assert_eq!(got, named(&a));
    assert!(b
        .entries
        .windows(2)
        .all(|p| (p[0].user, p[0].course) < (p[1].user, p[1].course)));
    // Regrouped, the ids keep the order they were first seen in.
    assert_eq!(b.users, ["u", "v"]);
    assert_eq!(b.courses, ["a", "b"]);
}

#[test]
fn a_pair_split_within_one_user_is_merged_in_arrival_order() {
    use EventType::*;
    // Users contiguous (the one-pass path), but (u, a) comes apart around
    // (u, b): the refund after the purchase un-takes it, as in one run.
    let rows = [
        agg("u", "a", Purchase, 1, 0.0, DAY),
        agg("u", "b", Click, 1, 0.0, DAY),
        agg("u", "a", Refund, 1, 0.0, 2 * DAY),
        agg("w", "b", View, 1, 0.0, DAY),
    ];
    let it = Interactions::build(&rows, &[course("z")], &Weights::default(), 10 * DAY);
    assert_eq!(it.users, ["u", "w"]);
    assert_eq!(it.courses, ["z", "a", "b"]);
    let got: Vec<(u32, u32, f32, bool)> = it
        .entries
        .iter()
        .map(|e| (e.user, e.course, e.weight, e.taken))
        .collect();
    // (u, a): refunded, nothing left and not taken, so dropped.
    assert_eq!(got, [(0, 2, 2.0, false), (1, 2, 1.0, false)]);
}
