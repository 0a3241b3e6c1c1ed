//! Campaign arithmetic, pure: the checked spec ([`spec`]), the seeded-hash
//! control draw and the overlap hold-out, and the report over payment rows
//! ([`report`]): treatment against a held-out control group, difference of
//! proportions tested by the always-valid mSPRT.

pub mod report;
pub mod spec;

use std::collections::HashSet;

use serde::Serialize;

use crate::domain::category_key;
use crate::experiment::sequential::Verdict;
use crate::experiment::stats::compare;
use crate::model::ownership::{ownership, Payment, PaymentEvent};

/// A campaign tests at 0.05 (one treatment against its control).
pub const ALPHA: f64 = 0.05;

/// The members of a new campaign: the first `size` ranked candidates but
/// those `held_out` (in the control group of a running campaign for an
/// overlapping offer), each with whether it falls in the control group.
/// Returns the members and how many candidates were held out before
/// `size` was reached.
pub fn draw_members(
    candidates: &[String],
    held_out: &HashSet<String>,
    size: usize,
    seed: u64,
    control_share: f64,
) -> (Vec<(String, bool)>, usize) {
    let (mut members, mut held) = (Vec::new(), 0);
    for u in candidates {
        if members.len() == size {
            break;
        }
        if held_out.contains(u) {
            held += 1;
        } else {
            members.push((u.clone(), in_control(seed, u, control_share)));
        }
    }
    (members, held)
}

/// The courses an offer covers, frozen at a campaign's creation, and the
/// offer's category in lower case: the course itself, or every listed
/// course of the category (compared by [`category_key`]: trimmed, any case). `catalog` yields
/// (id, category) of the listed courses.
pub fn offer_courses<'a>(
    offer: &spec::OfferSpec,
    catalog: impl Iterator<Item = (&'a str, &'a str)>,
) -> (Vec<String>, String) {
    match offer {
        spec::OfferSpec::Course(id) => {
            let category = catalog
                .filter(|(c, _)| c == id)
                .map(|(_, cat)| category_key(cat))
                .next()
                .unwrap_or_default();
            (vec![id.clone()], category)
        }
        spec::OfferSpec::Category(cat) => {
            let cat = category_key(cat);
            let mut ids: Vec<String> = catalog
                .filter(|(_, c)| category_key(c) == cat)
                .map(|(id, _)| id.to_string())
                .collect();
            ids.sort();
            (ids, cat)
        }
    }
}

/// True when `user` falls in the control group of a campaign drawn with
/// `seed`: xxh3(seed, user) read as a fraction of 2⁶⁴ below `control_share`.
/// Stable across processes and versions of this crate's dependencies.
pub fn in_control(seed: u64, user: &str, control_share: f64) -> bool {
    let h = xxhash_rust::xxh3::xxh3_64_with_seed(user.as_bytes(), seed);
    (h as f64 / 18_446_744_073_709_551_616.0) < control_share
}

/// Members, conversions and revenue (cents) of one arm.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct Arm {
    pub users: u64,
    pub conversions: u64,
    pub rate: f64,
    pub revenue_cents: i64,
}

impl Arm {
    pub fn new(users: u64, conversions: u64, revenue_cents: i64) -> Arm {
        let rate = if users > 0 {
            conversions as f64 / users as f64
        } else {
            0.0
        };
        Arm {
            users,
            conversions,
            rate,
            revenue_cents,
        }
    }

    fn revenue_per_user(&self) -> f64 {
        if self.users > 0 {
            self.revenue_cents as f64 / self.users as f64
        } else {
            0.0
        }
    }
}

/// The measured effect of a campaign. `uplift` = treatment rate − control
/// rate, with the always-valid 95 % interval and p-value of the mSPRT on
/// the unpooled standard error (`None` when an arm is empty; interval and
/// p-value also `None` while the verdict is `insufficient_data`).
/// `detectable_uplift` is the interval's half-width: the smallest
/// difference the data could declare now. `relative_lift` = uplift /
/// control rate. Incremental figures scale the per-member differences to
/// the treatment group's size; treatment revenue is already net of the
/// discount. `roi` = incremental revenue / discount cost (`None` without
/// a discount).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Effect {
    pub uplift: Option<f64>,
    pub uplift_ci: Option<[f64; 2]>,
    pub p_value: Option<f64>,
    pub verdict: Verdict,
    pub detectable_uplift: Option<f64>,
    pub relative_lift: Option<f64>,
    pub incremental_conversions: f64,
    pub incremental_revenue_cents: i64,
    pub discount_cost_cents: i64,
    pub roi: Option<f64>,
}

/// The effect of treatment `t` against control `c`.
pub fn effect(t: &Arm, c: &Arm, discount_cost_cents: i64) -> Effect {
    let cmp = compare(t.conversions, t.users, c.conversions, c.users, ALPHA);
    let uplift = cmp.as_ref().map(|x| x.difference);
    let interval = cmp.as_ref().map(|x| (x.ci_low, x.ci_high));
    let verdict = Verdict::of([t.users, c.users], t.conversions + c.conversions, interval);
    let enough = verdict != Verdict::InsufficientData;
    let incremental_revenue = if c.users > 0 {
        ((t.revenue_per_user() - c.revenue_per_user()) * t.users as f64).round() as i64
    } else {
        0
    };
    Effect {
        uplift,
        uplift_ci: cmp.as_ref().filter(|_| enough).map(|x| [x.ci_low, x.ci_high]),
        p_value: cmp.as_ref().filter(|_| enough).map(|x| x.p_value),
        verdict,
        detectable_uplift: cmp.as_ref().map(|x| (x.ci_high - x.ci_low) / 2.0),
        relative_lift: uplift.filter(|_| c.rate > 0.0).map(|u| u / c.rate),
        incremental_conversions: uplift.unwrap_or(0.0) * t.users as f64,
        incremental_revenue_cents: incremental_revenue,
        discount_cost_cents,
        roi: (discount_cost_cents > 0).then(|| incremental_revenue as f64 / discount_cost_cents as f64),
    }
}

/// When a (member, course) pair converted in the window [`from_ms`, `to_ms`):
/// the time of the purchase that makes the course owned, by the shared rule
/// [`ownership`] applied to the pair's whole payment history (purchases
/// made before the window's end, refunds made at any time: a refund after
/// the window still cancels). The purchase must fall in the window, so a
/// learner who already owned the course when the campaign started, and
/// whose purchase in the window is a retry or a duplicate, did not convert;
/// one who bought, refunded before the start and bought again in the window
/// did. `None`: not converted.
pub fn converted_at(events: &[PaymentEvent], from_ms: i64, to_ms: i64) -> Option<i64> {
    let counted: Vec<PaymentEvent> = events
        .iter()
        .filter(|e| e.kind == Payment::Refund || e.ts_ms < to_ms)
        .copied()
        .collect();
    ownership(&counted, 0)
        .since_ms
        .filter(|&t| (from_ms..to_ms).contains(&t))
}

/// Price paid after a discount of `discount_pct` (0–100), in cents.
pub fn discounted(price_cents: i64, discount_pct: f64) -> i64 {
    (price_cents as f64 * (1.0 - discount_pct / 100.0)).round() as i64
}

#[cfg(test)]
mod tests {
    use super::spec::OfferSpec;
    use super::*;

    #[test]
    fn held_out_learners_are_skipped_and_the_size_still_filled() {
        let cands: Vec<String> = (0..10).map(|i| format!("u{i}")).collect();
        let held: HashSet<String> = ["u1", "u3", "u9"].iter().map(|s| s.to_string()).collect();
        let (m, n) = draw_members(&cands, &held, 5, 7, 0.5);
        let ids: Vec<&str> = m.iter().map(|x| x.0.as_str()).collect();
        assert_eq!(ids, ["u0", "u2", "u4", "u5", "u6"]);
        assert_eq!(n, 2);
        assert!(m.iter().all(|(u, c)| *c == in_control(7, u, 0.5)));
        let (all, n) = draw_members(&cands, &held, usize::MAX, 7, 0.5);
        assert_eq!((all.len(), n), (7, 3));
    }

    #[test]
    fn an_offer_freezes_its_courses_and_category() {
        let catalog = [("c1", "Rust"), ("c2", "rust"), ("c3", "Go")];
        let (ids, cat) = offer_courses(&OfferSpec::Category(" RUST ".into()), catalog.into_iter());
        assert_eq!((ids, cat.as_str()), (vec!["c1".to_string(), "c2".into()], "rust"));
        let (ids, cat) = offer_courses(&OfferSpec::Course("c3".into()), catalog.into_iter());
        assert_eq!((ids, cat.as_str()), (vec!["c3".to_string()], "go"));
    }
}
