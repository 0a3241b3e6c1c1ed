//! Unit tests of [`crate::segment::profile`].

use crate::domain::{EventType, TypeAgg};
use crate::segment::profile::*;

const NOW: i64 = 100 * 86_400_000;

fn row(course: &str, kind: EventType, count: u32, value_sum: f64, last_day: i64) -> TypeAgg {
    TypeAgg {
        user_id: "u1".into(),
        course_id: course.into(),
        kind,
        count,
        value_sum,
        value_max: value_sum,
        first_ts_ms: (last_day - 5) * 86_400_000,
        last_ts_ms: last_day * 86_400_000,
        count_30d: if last_day >= 70 { count } else { 0 },
        count_90d: count,
    }
}

fn index() -> CourseIndex {
    let mut ix = CourseIndex::new();
    ix.insert(
        "r1".into(),
        CourseMeta {
            category: "rust".into(),
            price_cents: 5000,
        },
    );
    ix.insert(
        "p1".into(),
        CourseMeta {
            category: "python".into(),
            price_cents: 2000,
        },
    );
    ix
}

#[test]
fn weighted_shares_spend_and_recency() {
    let rows = vec![
        row("r1", EventType::View, 4, 0.0, 90),
        row("r1", EventType::Purchase, 1, 0.0, 95),
        row("p1", EventType::View, 4, 0.0, 60),
        row("p1", EventType::Rating, 1, 1.0, 61),
        row("x9", EventType::View, 2, 0.0, 50),
    ];
    let p = build_profile("u1", &rows, &index(), NOW);
    // rust: 4 views + 1 purchase = 4 + 8 = 12; python: 4 views, bad rating = 4.
    assert_eq!(p.interests[0].category, "rust");
    assert!((p.share("rust") - 0.75).abs() < 1e-6);
    assert!((p.share("python") - 0.25).abs() < 1e-6);
    assert_eq!(p.spend_cents, 5000);
    assert_eq!(p.count(EventType::View), 10);
    assert_eq!(p.recency_days, Some(5.0));
    assert_eq!(p.events_30d, 5);
    assert_eq!(p.events_90d, 12);
    assert_eq!(p.first_seen_ms, Some(45 * 86_400_000));
}

#[test]
fn refunds_cancel_spend_and_interest() {
    let rows = vec![
        row("p1", EventType::Purchase, 1, 0.0, 90),
        row("p1", EventType::Refund, 1, 0.0, 91),
        row("r1", EventType::View, 1, 0.0, 91),
    ];
    let p = build_profile("u1", &rows, &index(), NOW);
    assert_eq!(p.spend_cents, 0);
    assert_eq!(p.interests.len(), 1);
    assert_eq!(p.share("rust"), 1.0);
}

#[test]
fn user_without_rows_is_empty() {
    let p = build_profile("nobody", &[] as &[TypeAgg], &index(), NOW);
    assert!(p.interests.is_empty());
    assert_eq!(p.recency_days, None);
    let json = serde_json::to_string(&p).unwrap();
    assert!(json.contains("\"user_id\":\"nobody\""), "{json}");
}

#[test]
fn counts_serialize_by_type_name() {
    let rows = vec![row("r1", EventType::AddToCart, 2, 0.0, 90)];
    let p = build_profile("u1", &rows, &index(), NOW);
    let json = serde_json::to_string(&p).unwrap();
    assert!(json.contains("\"counts\":{\"add_to_cart\":2}"), "{json}");
}

#[test]
fn spend_follows_ownership_in_time_order() {
    // Refunded on day 90, bought on day 95: owned, spend once however many
    // purchase events a retrying client sent.
    let rows = vec![
        row("r1", EventType::Refund, 1, 0.0, 90),
        row("r1", EventType::Purchase, 25, 0.0, 95),
        row("p1", EventType::Purchase, 1, 0.0, 90),
        row("p1", EventType::Refund, 1, 0.0, 95),
    ];
    let p = build_profile("u1", &rows, &index(), NOW);
    assert_eq!(p.spend_cents, 5000);
    assert_eq!(p.share("rust"), 1.0);
    assert_eq!(p.count(EventType::Purchase), 26);
}

#[test]
fn profiles_of_interleaved_rows_equal_those_of_grouped_rows() {
    let of = |user: &str, r: TypeAgg| TypeAgg {
        user_id: user.into(),
        ..r
    };
    let grouped = vec![
        of("a", row("r1", EventType::View, 4, 0.0, 90)),
        of("a", row("p1", EventType::Purchase, 1, 0.0, 95)),
        of("b", row("p1", EventType::View, 2, 0.0, 60)),
        of("c", row("r1", EventType::Purchase, 1, 0.0, 80)),
    ];
    // "a" appears in two runs: the one-pass grouping must not cut its profile.
    let interleaved = vec![
        grouped[0].clone(),
        grouped[2].clone(),
        grouped[1].clone(),
        grouped[3].clone(),
    ];
    let ids: Vec<String> = ["a", "b", "c", "nobody"].map(String::from).to_vec();
    let one_pass = build_profiles(&ids, &grouped, &index(), NOW);
    assert_eq!(build_profiles(&ids, &interleaved, &index(), NOW), one_pass);
    assert_eq!(one_pass[0].spend_cents, 2000);
    assert_eq!(one_pass[0].count(EventType::View), 4);
    assert_eq!(
        one_pass[3],
        build_profile("nobody", &[] as &[TypeAgg], &index(), NOW)
    );
    for (p, id) in one_pass.iter().zip(&ids) {
        assert_eq!(&p.user_id, id);
    }
}
