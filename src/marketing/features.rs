//! Learner features as of a cutoff day, and the labels of the horizon after
//! it, from per-day event counts. Pure: the store's day rows in, numbers out.

use super::bgbb::prepared::DAYS_TABULATED;
use super::bgbb::{BgBb, Prepared, Rf};
use crate::domain::{EventType, DAY_MS};
use crate::model::ownership::{ownership_from_latest, Ownership};

/// Events of one type by one learner on one course on one day (UTC days
/// since the Unix epoch), summed in the store.
#[derive(Debug, Clone, PartialEq)]
pub struct DayRow {
    pub day: i32,
    /// Index into the caller's course table (category and price).
    pub course: u32,
    pub kind: EventType,
    pub count: u32,
    /// Largest value that day (watch fraction 0..1, rating 1..5).
    pub value_max: f32,
    /// Time of the row's last event, ms after the start of `day`: what
    /// elapsed-time windows and the ownership order of payments read.
    pub last_ms: i32,
}

impl DayRow {
    /// Time of the row's last event, ms since the Unix epoch.
    pub fn last_ts_ms(&self) -> i64 {
        i64::from(self.day) * DAY_MS + i64::from(self.last_ms)
    }
}

/// Was the last activity at `last_ms` within `days` days (elapsed time,
/// 86,400,000 ms each) before `cutoff_ms`? `None` (never active) is not.
/// The one definition behind "active in the last N days" everywhere:
/// audience filters, the churn window at scoring.
pub fn active_within(last_ms: Option<i64>, cutoff_ms: i64, days: u32) -> bool {
    last_ms.is_some_and(|t| cutoff_ms.saturating_sub(t) <= i64::from(days) * DAY_MS)
}

/// Elapsed days (fractional) from `last_ms` to `cutoff_ms`, at least 0;
/// infinite for a learner never active.
pub fn days_since(last_ms: Option<i64>, cutoff_ms: i64) -> f64 {
    last_ms.map_or(f64::INFINITY, |t| (cutoff_ms - t).max(0) as f64 / DAY_MS as f64)
}

/// One course's payments by one learner, as [`History::payments`] reads them.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CoursePayments {
    pub course: u32,
    /// Ownership just before the window, by [`crate::model::ownership`]
    /// from the latest purchase and refund times.
    pub before: Ownership,
    /// At least one purchase event in the window.
    pub bought_in_window: bool,
}

/// Distinct purchases: courses owned (count) and net spend (cents at list
/// price), by the shared ownership rule.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Owned {
    /// Courses owned: a purchase repeated while owned (a retry) counts
    /// once, a purchase later refunded not at all.
    pub courses: u32,
    /// Net spend: the price of each owned course, cents.
    pub net_cents: i64,
    /// Courses whose purchase was cancelled by a refund.
    pub refunded: u32,
}

/// Every learner's day rows, flat: learner `u`'s are `rows[starts[u]..starts[u + 1]]`,
/// sorted by day. One buffer instead of one per learner, so a training can
/// turn the store's cells into it in place.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Histories {
    rows: Vec<DayRow>,
    starts: Vec<usize>,
}

impl Histories {
    /// From `(learner, row)` pairs sorted by learner then day, learners
    /// below `n_learners`. The buffer is reused for the rows (Rust collects
    /// a mapped `Vec` in place) and then shrunk, so no second copy is made.
    ///
    /// # Panics
    /// If the pairs are not sorted by learner or a learner is out of range.
    pub fn from_sorted(tagged: Vec<(u32, DayRow)>, n_learners: usize) -> Histories {
        let mut starts = Vec::with_capacity(n_learners + 1);
        for (i, &(u, _)) in tagged.iter().enumerate() {
            let u = u as usize;
            assert!(u < n_learners && u + 1 >= starts.len(), "rows sorted by learner");
            starts.resize(u + 1, i);
        }
        starts.resize(n_learners + 1, tagged.len());
        let mut rows: Vec<DayRow> = tagged.into_iter().map(|(_, r)| r).collect();
        // In place, the buffer keeps the pairs' size: give the rest back.
        rows.shrink_to_fit();
        Histories { rows, starts }
    }

    /// One history per learner, each sorted by day.
    pub fn from_nested(histories: Vec<Vec<DayRow>>) -> Histories {
        let mut starts = Vec::with_capacity(histories.len() + 1);
        let mut rows = Vec::with_capacity(histories.iter().map(Vec::len).sum());
        for h in histories {
            starts.push(rows.len());
            rows.extend(h);
        }
        starts.push(rows.len());
        Histories { rows, starts }
    }

    /// Learners.
    pub fn len(&self) -> usize {
        self.starts.len().saturating_sub(1)
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Learner `u`'s rows, by day.
    pub fn get(&self, u: usize) -> &[DayRow] {
        &self.rows[self.starts[u]..self.starts[u + 1]]
    }

    pub fn iter(&self) -> impl ExactSizeIterator<Item = &[DayRow]> + '_ {
        (0..self.len()).map(|u| self.get(u))
    }

    pub fn par_iter(&self) -> impl rayon::iter::IndexedParallelIterator<Item = &[DayRow]> + '_ {
        use rayon::prelude::*;
        (0..self.len()).into_par_iter().map(|u| self.get(u))
    }
}

/// What features need to know about a course.
#[derive(Debug, Clone, PartialEq)]
pub struct CourseInfo {
    /// Index of the course's category (0..n_categories).
    pub category: u32,
    pub price_cents: i64,
}

/// Features per learner.
pub const N_FEATURES: usize = 18;

/// One learner's features, in the order of [`NAMES`].
pub type Row = [f64; N_FEATURES];

/// The feature names, in the order of [`features`]' output.
pub const NAMES: [&str; N_FEATURES] = [
    "ln_recency_days",
    "ln_active_days_28",
    "ln_active_days_90",
    "ln_net_purchases",
    "ln_monetary_dollars",
    "ln_tenure_days",
    "activity_trend",
    "top_category_share",
    "ln_categories",
    "mean_watch_fraction",
    "ln_refunds",
    "mean_rating_fifths",
    "cart_abandonment",
    "ln_purchases_28",
    "ln_days_since_purchase",
    "ln_events_28",
    "bgbb_logit_inactive",
    "bgbb_logit_alive",
];

/// Index of the first BG/BB feature in [`NAMES`]; they depend on the
/// fitted activity model, the others on the history alone.
pub const BGBB_FIRST: usize = 16;

/// Indices of the recency–frequency baseline's features in [`NAMES`].
pub const BASELINE: [usize; 2] = [0, 2];

/// Days counted when a learner has never done something (recency caps).
const NEVER_DAYS: f64 = 365.0;

/// One learner's rows sorted by day, plus the configuration of "activity".
pub struct History<'a> {
    pub rows: &'a [DayRow],
    /// `active[t.index()]`: does this event type count as activity.
    pub active: &'a [bool; crate::domain::EventType::ALL.len()],
}

impl History<'_> {
    /// Rows strictly before day `cutoff`.
    pub fn before(&self, cutoff: i32) -> &[DayRow] {
        &self.rows[..self.rows.partition_point(|r| r.day < cutoff)]
    }

    /// The BG/BB summary of the activity days before `cutoff`.
    pub fn rf(&self, cutoff: i32) -> Option<Rf> {
        let mut days: Vec<i32> = self
            .before(cutoff)
            .iter()
            .filter(|r| self.active[r.kind.index()])
            .map(|r| r.day)
            .collect();
        days.dedup();
        Rf::from_days(&days, cutoff)
    }

    /// Last activity day before `cutoff`.
    pub fn last_active(&self, cutoff: i32) -> Option<i32> {
        self.before(cutoff)
            .iter()
            .rev()
            .find(|r| self.active[r.kind.index()])
            .map(|r| r.day)
    }

    /// Time of the last activity before day `cutoff`, ms since the epoch.
    pub fn last_active_ms(&self, cutoff: i32) -> Option<i64> {
        let day = self.last_active(cutoff)?;
        let rows = self.before(cutoff);
        let from = rows.partition_point(|r| r.day < day);
        rows[from..]
            .iter()
            .filter(|r| self.active[r.kind.index()])
            .map(DayRow::last_ts_ms)
            .max()
    }

    /// Per course with a payment before day `to`, by course: ownership
    /// before day `from` and whether it was bought in days [from, to).
    pub fn payments(&self, from: i32, to: i32, courses: &[CourseInfo]) -> Vec<CoursePayments> {
        let mut pay: Vec<&DayRow> = self.rows[..self.rows.partition_point(|r| r.day < to)]
            .iter()
            .filter(|r| matches!(r.kind, EventType::Purchase | EventType::Refund))
            .collect();
        pay.sort_by_key(|r| r.course);
        pay.chunk_by(|a, b| a.course == b.course)
            .map(|rows| {
                let latest = |kind| {
                    rows.iter()
                        .filter(|r| r.kind == kind && r.day < from)
                        .map(|r| r.last_ts_ms())
                        .max()
                };
                let course = rows[0].course;
                let price = courses[course as usize].price_cents;
                CoursePayments {
                    course,
                    before: ownership_from_latest(
                        latest(EventType::Purchase),
                        latest(EventType::Refund),
                        price,
                    ),
                    bought_in_window: rows
                        .iter()
                        .any(|r| r.kind == EventType::Purchase && r.day >= from),
                }
            })
            .collect()
    }

    /// Courses owned and net spend before day `cutoff` (see [`Owned`]).
    pub fn owned(&self, cutoff: i32, courses: &[CourseInfo]) -> Owned {
        self.payments(cutoff, cutoff, courses)
            .iter()
            .fold(Owned::default(), |o, p| Owned {
                courses: o.courses + u32::from(p.before.owned),
                net_cents: o.net_cents + p.before.net_spend_cents,
                refunded: o.refunded + u32::from(p.before.refunded),
            })
    }

    /// Any activity in days [from, to).
    pub fn active_between(&self, from: i32, to: i32) -> bool {
        self.rows
            .iter()
            .any(|r| r.day >= from && r.day < to && self.active[r.kind.index()])
    }

    /// Purchases in days [from, to) (count, cents at list price): the
    /// courses bought in the window that were not owned before it, each
    /// once however many purchase events (retries) it has. A refund later
    /// in the window does not undo the purchase here.
    pub fn purchases_between(&self, from: i32, to: i32, courses: &[CourseInfo]) -> (u32, i64) {
        self.payments(from, to, courses)
            .iter()
            .filter(|p| p.bought_in_window && !p.before.owned)
            .fold((0, 0), |(n, c), p| {
                (n + 1, c + courses[p.course as usize].price_cents)
            })
    }
}

fn ln1p(x: f64) -> f64 {
    x.max(0.0).ln_1p()
}

/// ln(p / (1 − p)), with p kept within [1e-6, 1 − 1e-6].
fn logit(p: f64) -> f64 {
    let p = p.clamp(1e-6, 1.0 - 1e-6);
    (p / (1.0 - p)).ln()
}

/// The BG/BB activity model fitted as of the cutoff, and the horizon its
/// churn feature looks ahead (days).
#[derive(Debug, Clone)]
pub struct Activity {
    pub model: Prepared,
    pub horizon_days: u32,
}

impl Activity {
    pub fn new(model: BgBb, horizon_days: u32) -> Activity {
        Activity {
            model: Prepared::new(model, DAYS_TABULATED),
            horizon_days,
        }
    }
}

/// The two BG/BB features (see [`features`]).
pub fn bgbb_columns(h: &History, cutoff: i32, activity: Option<&Activity>) -> (f64, f64) {
    match (activity, h.rf(cutoff)) {
        (Some(a), Some(rf)) => {
            let (inactive, alive) = a.model.p_inactive_and_alive(rf, a.horizon_days);
            (logit(inactive), logit(alive))
        }
        (Some(_), None) => (logit(1.0), logit(0.0)),
        (None, _) => (0.0, 0.0),
    }
}

/// The [`NAMES`] features of one learner as of the start of day `cutoff`
/// (rows on or after it are unseen). `None` when the learner had no event
/// before the cutoff: nothing to predict from. The two BG/BB features are
/// the logits of P(no activity in the horizon) and P(alive) under
/// `activity` (1 and 0, i.e. gone, for a learner never active; both 0
/// without a fitted model).
pub fn features(
    h: &History,
    cutoff: i32,
    courses: &[CourseInfo],
    n_categories: usize,
    activity: Option<&Activity>,
) -> Option<Row> {
    let rows = h.before(cutoff);
    let first = rows.first()?.day;
    let since = |d: i32| f64::from(cutoff - d);
    let mut active_days = (0u32, 0u32, None::<i32>); // 28, 90, last counted day
    let (mut ev28, mut ev14, mut ev14_28) = (0u32, 0u32, 0u32);
    let mut last_purchase = None;
    let mut cat = vec![0u32; n_categories.max(1)];
    let (mut watch_sum, mut watch_n, mut rate_sum, mut rate_n) = (0.0, 0u32, 0.0, 0u32);
    let mut carts: Vec<u32> = Vec::new();
    let mut bought: Vec<u32> = Vec::new();
    let mut last_active = None;
    for r in rows {
        let age = cutoff - r.day;
        if h.active[r.kind.index()] {
            last_active = Some(r.day);
            if active_days.2 != Some(r.day) {
                active_days.2 = Some(r.day);
                active_days.0 += u32::from(age <= 28);
                active_days.1 += u32::from(age <= 90);
            }
            ev28 += if age <= 28 { r.count } else { 0 };
            ev14 += if age <= 14 { r.count } else { 0 };
            ev14_28 += if age > 14 && age <= 28 { r.count } else { 0 };
        }
        cat[courses[r.course as usize].category as usize] += r.count;
        match r.kind {
            EventType::Purchase => {
                last_purchase = Some(r.day);
                bought.push(r.course);
            }
            EventType::Watch => {
                watch_sum += f64::from(r.value_max);
                watch_n += 1;
            }
            EventType::Rating => {
                rate_sum += f64::from(r.value_max);
                rate_n += 1;
            }
            EventType::AddToCart => carts.push(r.course),
            _ => {}
        }
    }
    carts.sort_unstable();
    carts.dedup();
    bought.sort_unstable();
    let abandoned = carts.iter().filter(|c| bought.binary_search(c).is_err()).count();
    let total: u32 = cat.iter().sum();
    let top = cat.iter().copied().max().unwrap_or(0);
    let touched = cat.iter().filter(|&&c| c > 0).count();
    let bgbb = bgbb_columns(h, cutoff, activity);
    // Purchases and spend count people's sales, not events: see [`Owned`].
    let owned = h.owned(cutoff, courses);
    let p28 = h.purchases_between(cutoff - 28, cutoff, courses).0;
    Some([
        ln1p(last_active.map_or(NEVER_DAYS, since)),
        ln1p(f64::from(active_days.0)),
        ln1p(f64::from(active_days.1)),
        ln1p(f64::from(owned.courses)),
        ln1p(owned.net_cents as f64 / 100.0),
        ln1p(since(first)),
        (f64::from(ev14) - f64::from(ev14_28)) / (f64::from(ev14 + ev14_28) + 1.0),
        if total > 0 {
            f64::from(top) / f64::from(total)
        } else {
            0.0
        },
        ln1p(touched as f64),
        if watch_n > 0 {
            watch_sum / f64::from(watch_n)
        } else {
            0.0
        },
        ln1p(f64::from(owned.refunded)),
        if rate_n > 0 {
            rate_sum / f64::from(rate_n) / 5.0
        } else {
            0.0
        },
        if carts.is_empty() {
            0.0
        } else {
            abandoned as f64 / carts.len() as f64
        },
        ln1p(f64::from(p28)),
        ln1p(last_purchase.map_or(NEVER_DAYS, since)),
        ln1p(f64::from(ev28)),
        bgbb.0,
        bgbb.1,
    ])
}

/// Labels of the horizon [cutoff, cutoff + horizon): bought anything, and
/// churned (`None` unless active in the `window` days before the cutoff:
/// churn is undefined for someone already gone).
pub fn labels(
    h: &History,
    cutoff: i32,
    horizon: i32,
    window: i32,
    courses: &[CourseInfo],
) -> (bool, Option<bool>) {
    let bought = h.purchases_between(cutoff, cutoff + horizon, courses).0 > 0;
    let was_active = h.active_between(cutoff - window, cutoff);
    let churned = was_active.then(|| !h.active_between(cutoff, cutoff + horizon));
    (bought, churned)
}

#[cfg(test)]
mod histories_tests {
    use super::{DayRow, Histories};
    use crate::domain::EventType;

    fn row(day: i32) -> DayRow {
        DayRow {
            day,
            course: 0,
            kind: EventType::View,
            count: 1,
            value_max: 0.0,
            last_ms: 0,
        }
    }

    #[test]
    fn learners_without_rows_get_empty_histories() {
        // Learners 0 and 2 of 4 have rows; 1 and 3 none.
        let h = Histories::from_sorted(vec![(0, row(1)), (0, row(3)), (2, row(2))], 4);
        assert_eq!(h.len(), 4);
        let days = |u: usize| h.get(u).iter().map(|r| r.day).collect::<Vec<_>>();
        assert_eq!(
            (days(0), days(1), days(2), days(3)),
            (vec![1, 3], vec![], vec![2], vec![])
        );
        let nested = Histories::from_nested(vec![vec![row(1), row(3)], vec![], vec![row(2)], vec![]]);
        assert_eq!(nested, h);
        assert_eq!(h.iter().map(<[DayRow]>::len).collect::<Vec<_>>(), [2, 0, 1, 0]);
    }

    #[test]
    #[should_panic(expected = "sorted by learner")]
    fn rows_out_of_learner_order_are_refused() {
        Histories::from_sorted(vec![(1, row(1)), (0, row(2))], 2);
    }
}
