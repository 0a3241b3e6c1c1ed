//! Campaign arithmetic: the seeded-hash control draw and the uplift report
//! (treatment against a held-out control group, difference of proportions).

use serde::Serialize;

use crate::experiment::stats::compare;
use crate::model::ownership::{ownership, Payment, PaymentEvent};

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
/// rate with an unpooled 95 % Wald interval and the two-sided z-test on the
/// same standard error (`None` when an arm is empty). Incremental figures scale the per-member
/// differences to the treatment group's size; treatment revenue is already
/// net of the discount. `roi` = incremental revenue / discount cost (`None`
/// without a discount).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Effect {
    pub uplift: Option<f64>,
    pub uplift_ci: Option<[f64; 2]>,
    pub p_value: Option<f64>,
    pub incremental_conversions: f64,
    pub incremental_revenue_cents: i64,
    pub discount_cost_cents: i64,
    pub roi: Option<f64>,
}

/// The effect of treatment `t` against control `c`.
pub fn effect(t: &Arm, c: &Arm, discount_cost_cents: i64) -> Effect {
    let cmp = compare(t.conversions, t.users, c.conversions, c.users, 0.05);
    let uplift = cmp.as_ref().map(|x| x.difference);
    let incremental_revenue = if c.users > 0 {
        ((t.revenue_per_user() - c.revenue_per_user()) * t.users as f64).round() as i64
    } else {
        0
    };
    Effect {
        uplift,
        uplift_ci: cmp.as_ref().map(|x| [x.ci_low, x.ci_high]),
        p_value: cmp.as_ref().map(|x| x.p_value),
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
