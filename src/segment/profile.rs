//! Per-user behaviour profiles built from the store's `TypeAgg` rows.
//!
//! A profile is what `GET /users/<id>/profile` returns and what segmentation
//! clusters on (together with the ALS factor of the user).

use std::collections::{BTreeMap, HashMap};

use serde::{Deserialize, Serialize};

use crate::domain::{AggView, Course, EventType};
use crate::model::ownership::ownership_from_latest;

const DAY_MS: f64 = 86_400_000.0;

/// What a profile needs to know about a course.
#[derive(Debug, Clone, PartialEq)]
pub struct CourseMeta {
    pub category: String,
    pub price_cents: i64,
}

/// Course id → category and price.
pub type CourseIndex = HashMap<String, CourseMeta>;

/// Builds the lookup used by [`build_profile`] from the catalog.
pub fn course_index(courses: &[Course]) -> CourseIndex {
    courses
        .iter()
        .map(|c| {
            let meta = CourseMeta {
                category: c.category.clone(),
                price_cents: c.price_cents,
            };
            (c.id.clone(), meta)
        })
        .collect()
}

/// Share of a user's (or a segment's) interest that goes to one category.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CategoryShare {
    pub category: String,
    /// In 0..=1; the shares of one profile sum to 1 (or the list is empty).
    pub share: f32,
}

/// Behaviour summary of one user.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Profile {
    pub user_id: String,
    /// Number of events per type; types never seen are absent.
    pub counts: BTreeMap<EventType, u64>,
    /// Categories by weighted interest, largest share first.
    pub interests: Vec<CategoryShare>,
    /// Net spend: the price of every course owned now, by
    /// [`crate::model::ownership`] (a refund cancels only an earlier purchase).
    pub spend_cents: i64,
    /// Days from the last event to `now_ms`; `None` for a user without events.
    pub recency_days: Option<f32>,
    pub events_30d: u32,
    pub events_90d: u32,
    pub first_seen_ms: Option<i64>,
    pub last_seen_ms: Option<i64>,
}

impl Profile {
    /// Count of events of one type.
    pub fn count(&self, kind: EventType) -> u64 {
        self.counts.get(&kind).copied().unwrap_or(0)
    }

    /// Share of one category in [`Profile::interests`], 0 when absent.
    pub fn share(&self, category: &str) -> f32 {
        self.interests
            .iter()
            .find(|c| c.category == category)
            .map_or(0.0, |c| c.share)
    }
}

/// How much one event of a type says about interest in the course's category.
///
/// Money and effort speak louder than browsing: an owned course is worth
/// eight views (once, however many purchase events), a refunded one nothing. Ratings count only
/// when they are good (see [`build_profile`]): a 1-star rating is not interest.
pub fn interest_weight(kind: EventType) -> f64 {
    match kind {
        EventType::View => 1.0,
        EventType::Click => 2.0,
        EventType::Favorite => 3.0,
        EventType::AddToCart => 4.0,
        EventType::Watch => 3.0,
        EventType::Rating => 4.0,
        EventType::Purchase => 8.0,
        EventType::Refund => -8.0,
        // Not this course, which says little about its category.
        EventType::Dismiss => 0.0,
    }
}

/// Builds the profile of `user_id` from its aggregate rows (store rows
/// or training views).
///
/// Rows of other users are ignored, so a caller may pass a larger slice.
/// Rows whose course is unknown still count as events but add no category
/// interest and no spend.
pub fn build_profile<'a, I>(user_id: &str, rows: I, courses: &CourseIndex, now_ms: i64) -> Profile
where
    I: IntoIterator,
    I::Item: Into<AggView<'a>>,
{
    let mut p = Profile {
        user_id: user_id.to_string(),
        ..Profile::default()
    };
    let mut interest: BTreeMap<&str, f64> = BTreeMap::new();
    let mut spend: i64 = 0;
    // Course → (its metadata, [latest purchase, latest refund]).
    type Latest = [Option<i64>; 2];
    let mut payments: BTreeMap<&str, (&CourseMeta, Latest)> = BTreeMap::new();
    let rows = rows.into_iter().map(Into::into);
    for r in rows.filter(|r: &AggView| r.user_id == user_id && r.count > 0) {
        *p.counts.entry(r.kind).or_insert(0) += u64::from(r.count);
        p.events_30d += r.count_30d;
        p.events_90d += r.count_90d;
        p.first_seen_ms = Some(p.first_seen_ms.map_or(r.first_ts_ms, |t| t.min(r.first_ts_ms)));
        p.last_seen_ms = Some(p.last_seen_ms.map_or(r.last_ts_ms, |t| t.max(r.last_ts_ms)));
        let Some(meta) = courses.get(r.course_id) else {
            continue;
        };
        // Payments count once per course, by ownership in time order (below).
        if let Some(slot) = match r.kind {
            EventType::Purchase => Some(0),
            EventType::Refund => Some(1),
            _ => None,
        } {
            let latest = &mut payments.entry(r.course_id).or_insert((meta, [None, None])).1[slot];
            *latest = Some(latest.map_or(r.last_ts_ms, |t: i64| t.max(r.last_ts_ms)));
            continue;
        }
        let mut w = interest_weight(r.kind);
        if r.kind == EventType::Rating && r.value_sum / f64::from(r.count) < 3.0 {
            w = 0.0;
        }
        *interest.entry(meta.category.as_str()).or_insert(0.0) += w * f64::from(r.count);
    }
    for (meta, [purchase, refund]) in payments.into_values() {
        let own = ownership_from_latest(purchase, refund, meta.price_cents);
        spend += own.net_spend_cents;
        if own.owned {
            *interest.entry(meta.category.as_str()).or_insert(0.0) += interest_weight(EventType::Purchase);
        }
    }
    p.spend_cents = spend;
    p.recency_days = p
        .last_seen_ms
        .map(|t| ((now_ms - t).max(0) as f64 / DAY_MS) as f32);
    // Refunds can push a category below zero; it then carries no interest.
    let total: f64 = interest.values().map(|w| w.max(0.0)).sum();
    if total > 0.0 {
        p.interests = interest
            .into_iter()
            .filter(|(_, w)| *w > 0.0)
            .map(|(c, w)| CategoryShare {
                category: c.to_string(),
                share: (w / total) as f32,
            })
            .collect();
        // Stable sort keeps categories of equal share in name order.
        p.interests.sort_by(|a, b| b.share.total_cmp(&a.share));
    }
    p
}

/// Builds profiles for many users at once; the result is in the order
/// of `user_ids`. Rows are read in one pass when each user's rows are
/// contiguous (as the training's cells are sorted); otherwise a second
/// pass groups them by user.
pub fn build_profiles<'a, I>(user_ids: &[String], rows: I, courses: &CourseIndex, now_ms: i64) -> Vec<Profile>
where
    I: IntoIterator,
    I::IntoIter: Clone,
    I::Item: Into<AggView<'a>>,
{
    in_order(user_ids, profiles_by_user(rows, courses, now_ms), courses, now_ms)
}

/// The profile of every user with rows, by user id: [`build_profiles`]
/// before the users' order is known.
pub fn profiles_by_user<'a, I>(rows: I, courses: &CourseIndex, now_ms: i64) -> HashMap<&'a str, Profile>
where
    I: IntoIterator,
    I::IntoIter: Clone,
    I::Item: Into<AggView<'a>>,
{
    let rows = rows.into_iter();
    by_contiguous_runs(rows.clone(), courses, now_ms).unwrap_or_else(|| {
        let mut grouped: HashMap<&str, Vec<AggView>> = HashMap::new();
        for r in rows.map(Into::into) {
            grouped.entry(r.user_id).or_default().push(r);
        }
        grouped
            .into_iter()
            .map(|(u, rows)| (u, build_profile(u, &rows, courses, now_ms)))
            .collect()
    })
}

/// The profiles of `user_ids`, in order, taken from `by_user` (an empty
/// profile for a user it lacks).
pub fn in_order(
    user_ids: &[String],
    mut by_user: HashMap<&str, Profile>,
    courses: &CourseIndex,
    now_ms: i64,
) -> Vec<Profile> {
    user_ids
        .iter()
        .map(|u| {
            by_user
                .remove(u.as_str())
                .unwrap_or_else(|| build_profile(u, [] as [AggView; 0], courses, now_ms))
        })
        .collect()
}

/// One profile per run of rows of one user, holding one run at a time;
/// `None` when a user's rows are split over two runs.
fn by_contiguous_runs<'a>(
    rows: impl Iterator<Item = impl Into<AggView<'a>>>,
    courses: &CourseIndex,
    now_ms: i64,
) -> Option<HashMap<&'a str, Profile>> {
    let mut out: HashMap<&str, Profile> = HashMap::new();
    let mut run: Vec<AggView> = Vec::new();
    let mut flush = |run: &mut Vec<AggView<'a>>| {
        let Some(first) = run.first() else {
            return true;
        };
        let u = first.user_id;
        let fresh = out
            .insert(u, build_profile(u, run.iter(), courses, now_ms))
            .is_none();
        run.clear();
        fresh
    };
    for r in rows.map(Into::into) {
        if run.last().is_some_and(|last| last.user_id != r.user_id) && !flush(&mut run) {
            return None;
        }
        run.push(r);
    }
    flush(&mut run).then_some(out)
}
