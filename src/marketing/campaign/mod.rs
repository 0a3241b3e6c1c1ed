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

/// A member drawn into a new campaign.
#[derive(Debug, Clone, PartialEq)]
pub struct Drawn {
    pub user: String,
    /// The treated arm's index; `None`: in the control group.
    pub arm: Option<usize>,
    /// Position in the campaign's targeting order, 0 first.
    pub rank: u32,
}

impl Drawn {
    pub fn control(&self) -> bool {
        self.arm.is_none()
    }
}

/// How members are drawn from the ranked candidates.
#[derive(Debug, Clone, Copy)]
pub struct DrawPlan<'a> {
    pub seed: u64,
    pub control_share: f64,
    /// Each arm's share of the treated, summing to 1.
    pub arm_shares: &'a [f64],
    /// At most this many members.
    pub size: usize,
    /// `(cost, discounts, budget)`: stop before the expected discount cost
    /// of the treated, Σ cost[candidate] × discounts[arm], would pass
    /// `budget` (cents). `cost[i]` is candidate i's P(buying when treated)
    /// × price, cents; `discounts` fractions 0..1 per arm.
    pub budget: Option<(&'a [f64], &'a [f64], f64)>,
}

/// The members of a new campaign: the ranked candidates but those
/// `held_out` (in the control group of a running campaign for an
/// overlapping offer), each drawn into control or an arm by seeded
/// hashes, up to the plan's size and budget. Returns the members and how
/// many candidates were held out before the draw stopped.
pub fn draw_members(
    candidates: &[String],
    held_out: &HashSet<String>,
    plan: &DrawPlan,
) -> (Vec<Drawn>, usize) {
    let (mut members, mut held, mut spent) = (Vec::new(), 0, 0.0);
    for (i, u) in candidates.iter().enumerate() {
        if members.len() == plan.size {
            break;
        }
        if held_out.contains(u) {
            held += 1;
            continue;
        }
        let arm =
            (!in_control(plan.seed, u, plan.control_share)).then(|| arm_of(plan.seed, u, plan.arm_shares));
        if let (Some(a), Some((cost, discounts, budget))) = (arm, plan.budget) {
            let c = cost[i] * discounts[a];
            if spent + c > budget {
                break;
            }
            spent += c;
        }
        members.push(Drawn {
            user: u.clone(),
            arm,
            rank: members.len() as u32,
        });
    }
    (members, held)
}

/// The arm of a treated `user` of a campaign drawn with `seed`: a second
/// xxh3 fraction (seeded apart from the control draw) against the
/// cumulative `shares`.
pub fn arm_of(seed: u64, user: &str, shares: &[f64]) -> usize {
    let h = xxhash_rust::xxh3::xxh3_64_with_seed(user.as_bytes(), seed ^ 0x6172_6d73);
    let x = h as f64 / 18_446_744_073_709_551_616.0;
    let mut acc = 0.0;
    for (a, s) in shares.iter().enumerate() {
        acc += s;
        if x < acc {
            return a;
        }
    }
    shares.len().saturating_sub(1)
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
    effect_adjusted(t, c, discount_cost_cents, 1)
}

/// The effect of one of `arms` treated arms against the shared control:
/// Bonferroni-adjusted, the interval at level α / arms and the p-value
/// times `arms` (at most 1). Both stay always-valid.
pub fn effect_adjusted(t: &Arm, c: &Arm, discount_cost_cents: i64, arms: usize) -> Effect {
    let k = arms.max(1) as f64;
    let cmp = compare(t.conversions, t.users, c.conversions, c.users, ALPHA / k);
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
        p_value: cmp.as_ref().filter(|_| enough).map(|x| (x.p_value * k).min(1.0)),
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

    fn plan(size: usize) -> DrawPlan<'static> {
        DrawPlan {
            seed: 7,
            control_share: 0.5,
            arm_shares: &[1.0],
            size,
            budget: None,
        }
    }

    #[test]
    fn held_out_learners_are_skipped_and_the_size_still_filled() {
        let cands: Vec<String> = (0..10).map(|i| format!("u{i}")).collect();
        let held: HashSet<String> = ["u1", "u3", "u9"].iter().map(|s| s.to_string()).collect();
        let (m, n) = draw_members(&cands, &held, &plan(5));
        let ids: Vec<&str> = m.iter().map(|x| x.user.as_str()).collect();
        assert_eq!(ids, ["u0", "u2", "u4", "u5", "u6"]);
        assert_eq!(n, 2);
        assert!(m.iter().all(|d| d.control() == in_control(7, &d.user, 0.5)));
        assert_eq!(m.iter().map(|d| d.rank).collect::<Vec<_>>(), [0, 1, 2, 3, 4]);
        let (all, n) = draw_members(&cands, &held, &plan(usize::MAX));
        assert_eq!((all.len(), n), (7, 3));
    }

    #[test]
    fn arms_follow_their_shares_and_the_budget_stops_the_draw() {
        let cands: Vec<String> = (0..20_000).map(|i| format!("u{i}")).collect();
        let p = DrawPlan {
            arm_shares: &[0.25, 0.75],
            control_share: 0.2,
            ..plan(usize::MAX)
        };
        let (m, _) = draw_members(&cands, &HashSet::new(), &p);
        let count = |a: Option<usize>| m.iter().filter(|d| d.arm == a).count() as f64 / 20_000.0;
        assert!((count(None) - 0.2).abs() < 0.01);
        assert!((count(Some(0)) - 0.2).abs() < 0.01, "{}", count(Some(0)));
        assert!((count(Some(1)) - 0.6).abs() < 0.01);
        // Each treated member costs 100 × its arm's discount (10 % or
        // 50 %): a budget of 1,000 stops the draw before it is passed.
        let cost = vec![100.0; cands.len()];
        let capped = DrawPlan {
            budget: Some((&cost, &[0.1, 0.5], 1_000.0)),
            ..p
        };
        let (m, _) = draw_members(&cands, &HashSet::new(), &capped);
        let spent: f64 = m.iter().filter_map(|d| d.arm).map(|a| [10.0, 50.0][a]).sum();
        assert!(spent <= 1_000.0 && spent > 900.0, "{spent}");
        assert!(m.len() < 100);
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
