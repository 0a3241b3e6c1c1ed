//! The campaign report over rows, pure: conversions by the shared
//! ownership rule, revenue at the price each conversion was made at,
//! the effect against control (always-valid), the sample-ratio check and,
//! on request, CUPED on pre-period purchases.

use std::collections::{HashMap, HashSet};

use serde::Serialize;

use super::{converted_at, discounted, effect, effect_adjusted, Arm, Effect, ALPHA};
use crate::experiment::sequential::{msprt, srm_p_value, Verdict, MIXTURE_SD};
use crate::model::ownership::{Payment, PaymentEvent};

/// A purchase or refund of an offered course by a member, with the
/// course's price in force at `ts_ms` (cents).
#[derive(Debug, Clone, PartialEq)]
pub struct PaymentRow {
    pub user: String,
    pub control: bool,
    /// The member's arm (0 for control members and one-arm campaigns).
    pub arm: usize,
    pub course: String,
    pub kind: Payment,
    pub ts_ms: i64,
    pub price_cents: i64,
}

/// A member's purchases (distinct courses) in the pre-period, the CUPED
/// covariate. Members absent from the list had none.
#[derive(Debug, Clone, PartialEq)]
pub struct Covariate {
    pub user: String,
    pub control: bool,
    pub purchases: u64,
}

/// One treated arm as a report reads it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ArmInput {
    /// Members now (erased learners are gone).
    pub users: u64,
    /// 0 to 100; 0 without a discount.
    pub discount_pct: f64,
    /// Configured share of the treated, 0..1.
    pub share: f64,
}

/// What a report is computed from.
#[derive(Debug, Clone)]
pub struct ReportInput<'a> {
    /// The treated arms, in the campaign's order (one at least).
    pub arms: &'a [ArmInput],
    pub control_users: u64,
    /// The configured share of the control group, in (0, 1).
    pub control_share: f64,
    /// The window [from_ms, to_ms).
    pub from_ms: i64,
    pub to_ms: i64,
    pub payments: &'a [PaymentRow],
    /// Some: also adjust by CUPED.
    pub covariates: Option<&'a [Covariate]>,
}

/// CUPED (Deng, Xu, Kohavi, Walker 2013): the uplift adjusted by a
/// pre-period covariate x, ȳ_t − ȳ_c − θ(x̄_t − x̄_c) with θ = cov(x, y) /
/// var(x) over all members, tested like the plain uplift.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Cuped {
    pub theta: f64,
    pub uplift: f64,
    pub uplift_ci: Option<[f64; 2]>,
    pub p_value: Option<f64>,
    pub verdict: Verdict,
    /// 1 − adjusted variance / plain variance of the uplift, in 0..1:
    /// how much narrower the interval is squared.
    pub variance_reduction: f64,
}

/// One arm against control, its p-value and interval adjusted for the
/// number of arms (Bonferroni: p × k, interval at level α / k; both stay
/// always-valid).
#[derive(Debug, Clone, PartialEq)]
pub struct ArmFigures {
    pub arm: Arm,
    pub effect: Effect,
}

/// Every figure of a campaign report.
#[derive(Debug, Clone, PartialEq)]
pub struct Figures {
    /// Every arm pooled.
    pub treatment: Arm,
    pub control: Arm,
    pub effect: Effect,
    pub arms: Vec<ArmFigures>,
    /// Arm and control sizes against their configured shares.
    pub srm_p_value: Option<f64>,
    pub cuped: Option<Cuped>,
    /// Members who converted, either group.
    pub converted: HashSet<String>,
}

/// Of one (member, course): in control, the arm, and each payment with its price.
type PairPayments = (bool, usize, Vec<(PaymentEvent, i64)>);

/// The report of one campaign.
pub fn report(input: &ReportInput) -> Figures {
    // Per (member, course): the payments, and each one's price.
    let mut pairs: HashMap<(&str, &str), PairPayments> = HashMap::new();
    for r in input.payments {
        pairs
            .entry((&r.user, &r.course))
            .or_insert((r.control, r.arm, Vec::new()))
            .2
            .push((
                PaymentEvent {
                    ts_ms: r.ts_ms,
                    kind: r.kind,
                },
                r.price_cents,
            ));
    }
    let k = input.arms.len().max(1);
    let mut converted = [HashSet::new(), HashSet::new()];
    let (mut revenue, mut cost) = ([0i64, 0i64], 0i64);
    // Per arm: conversions, revenue, discount cost.
    let mut per_arm = vec![(HashSet::new(), 0i64, 0i64); k];
    for ((user, _), (control, arm, events)) in &pairs {
        let payments: Vec<PaymentEvent> = events.iter().map(|e| e.0).collect();
        let Some(at) = converted_at(&payments, input.from_ms, input.to_ms) else {
            continue;
        };
        let price = events
            .iter()
            .find(|(e, _)| e.ts_ms == at && e.kind == Payment::Purchase)
            .map_or(0, |e| e.1);
        converted[usize::from(*control)].insert(*user);
        if *control {
            revenue[1] += price;
        } else {
            let a = (*arm).min(k - 1);
            let paid = discounted(price, input.arms.get(a).map_or(0.0, |x| x.discount_pct));
            revenue[0] += paid;
            cost += price - paid;
            per_arm[a].0.insert(*user);
            per_arm[a].1 += paid;
            per_arm[a].2 += price - paid;
        }
    }
    let treated: u64 = input.arms.iter().map(|a| a.users).sum();
    let t = Arm::new(treated, converted[0].len() as u64, revenue[0]);
    let c = Arm::new(input.control_users, converted[1].len() as u64, revenue[1]);
    let arms = input
        .arms
        .iter()
        .zip(&per_arm)
        .map(|(a, (conv, rev, cost))| {
            let arm = Arm::new(a.users, conv.len() as u64, *rev);
            ArmFigures {
                effect: effect_adjusted(&arm, &c, *cost, k),
                arm,
            }
        })
        .collect();
    let mut sizes: Vec<u64> = input.arms.iter().map(|a| a.users).collect();
    let mut shares: Vec<f64> = input
        .arms
        .iter()
        .map(|a| a.share * (1.0 - input.control_share))
        .collect();
    sizes.push(input.control_users);
    shares.push(input.control_share);
    let all: HashSet<String> = converted.iter().flatten().map(|u| u.to_string()).collect();
    Figures {
        effect: effect(&t, &c, cost),
        arms,
        srm_p_value: srm_p_value(&sizes, &shares),
        cuped: input
            .covariates
            .and_then(|x| cuped([treated, input.control_users], &converted, x)),
        treatment: t,
        control: c,
        converted: all,
    }
}

/// Sums over one arm's members of x, x², y, xy (y is 0 or 1).
#[derive(Debug, Default, Clone, Copy)]
struct Sums {
    n: f64,
    x: f64,
    xx: f64,
    y: f64,
    xy: f64,
}

impl Sums {
    fn var_x(&self) -> f64 {
        (self.xx - self.x * self.x / self.n) / (self.n - 1.0)
    }
    fn var_y(&self) -> f64 {
        (self.y - self.y * self.y / self.n) / (self.n - 1.0)
    }
    fn cov(&self) -> f64 {
        (self.xy - self.x * self.y / self.n) / (self.n - 1.0)
    }
    fn plus(&self, o: &Sums) -> Sums {
        Sums {
            n: self.n + o.n,
            x: self.x + o.x,
            xx: self.xx + o.xx,
            y: self.y + o.y,
            xy: self.xy + o.xy,
        }
    }
}

fn cuped(sizes: [u64; 2], converted: &[HashSet<&str>; 2], covariates: &[Covariate]) -> Option<Cuped> {
    if sizes[0] < 2 || sizes[1] < 2 {
        return None;
    }
    let mut s = [Sums::default(), Sums::default()];
    for arm in 0..2 {
        s[arm].n = sizes[arm] as f64;
        s[arm].y = converted[arm].len() as f64;
    }
    for c in covariates {
        let (arm, x) = (usize::from(c.control), c.purchases as f64);
        let y = f64::from(u8::from(converted[arm].contains(c.user.as_str())));
        s[arm].x += x;
        s[arm].xx += x * x;
        s[arm].xy += x * y;
    }
    let all = s[0].plus(&s[1]);
    let theta = if all.var_x() > 0.0 {
        all.cov() / all.var_x()
    } else {
        0.0
    };
    let mean = |a: &Sums| (a.y / a.n, a.x / a.n);
    let ((yt, xt), (yc, xc)) = (mean(&s[0]), mean(&s[1]));
    let uplift = (yt - yc) - theta * (xt - xc);
    let adjusted = |a: &Sums| (a.var_y() - 2.0 * theta * a.cov() + theta * theta * a.var_x()).max(0.0) / a.n;
    let v = adjusted(&s[0]) + adjusted(&s[1]);
    let plain = s[0].var_y() / s[0].n + s[1].var_y() / s[1].n;
    let test = msprt(uplift, v, MIXTURE_SD, ALPHA);
    let interval = (uplift - test.half_width, uplift + test.half_width);
    let verdict = Verdict::of(sizes, (s[0].y + s[1].y) as u64, Some(interval));
    let enough = verdict != Verdict::InsufficientData;
    Some(Cuped {
        theta,
        uplift,
        uplift_ci: enough.then_some([interval.0, interval.1]),
        p_value: enough.then_some(test.p_value),
        verdict,
        variance_reduction: if plain > 0.0 {
            (1.0 - v / plain).clamp(0.0, 1.0)
        } else {
            0.0
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::ownership::Payment::{Purchase, Refund};

    fn row(
        user: &str,
        control: bool,
        course: &str,
        kind: Payment,
        ts_ms: i64,
        price_cents: i64,
    ) -> PaymentRow {
        PaymentRow {
            user: user.into(),
            control,
            arm: 0,
            course: course.into(),
            kind,
            ts_ms,
            price_cents,
        }
    }

    static ONE_ARM: [ArmInput; 1] = [ArmInput {
        users: 900,
        discount_pct: 20.0,
        share: 1.0,
    }];
    static EVEN: [ArmInput; 1] = [ArmInput {
        users: 500,
        discount_pct: 20.0,
        share: 1.0,
    }];
    static UNDISCOUNTED: [ArmInput; 1] = [ArmInput {
        users: 1000,
        discount_pct: 0.0,
        share: 1.0,
    }];

    fn input(payments: &[PaymentRow]) -> ReportInput<'_> {
        ReportInput {
            arms: &ONE_ARM,
            control_users: 100,
            control_share: 0.1,
            from_ms: 100,
            to_ms: 200,
            payments,
            covariates: None,
        }
    }

    #[test]
    fn conversions_are_valued_at_the_price_they_were_made_at() {
        let rows = [
            // Bought at $50 in the window: $40 paid, $10 discount.
            row("a", false, "c1", Purchase, 150, 5000),
            // Bought before the window: not a conversion.
            row("b", false, "c1", Purchase, 50, 5000),
            // Bought then refunded: not a conversion.
            row("c", false, "c1", Purchase, 120, 5000),
            row("c", false, "c1", Refund, 130, 5000),
            // A control learner buys two offered courses at their own prices.
            row("d", true, "c1", Purchase, 110, 3000),
            row("d", true, "c2", Purchase, 160, 7000),
        ];
        let f = report(&input(&rows));
        assert_eq!((f.treatment.conversions, f.treatment.revenue_cents), (1, 4000));
        assert_eq!((f.control.conversions, f.control.revenue_cents), (1, 10_000));
        assert_eq!(f.effect.discount_cost_cents, 1000);
        // 900 : 100 is exactly the configured split.
        assert!((f.srm_p_value.unwrap() - 1.0).abs() < 1e-12);
        // Two conversions among 1,000 learners: no verdict yet.
        assert_eq!(f.effect.verdict, Verdict::InsufficientData);
        assert_eq!(f.effect.p_value, None);
    }

    #[test]
    fn each_arm_is_compared_with_control_at_its_own_discount() {
        let arms = [
            ArmInput {
                users: 450,
                discount_pct: 10.0,
                share: 0.5,
            },
            ArmInput {
                users: 450,
                discount_pct: 50.0,
                share: 0.5,
            },
        ];
        let mut rows = vec![
            row("a", false, "c1", Purchase, 150, 1000),
            row("b", false, "c1", Purchase, 150, 1000),
        ];
        rows[1].arm = 1;
        let f = report(&ReportInput {
            arms: &arms,
            ..input(&rows)
        });
        assert_eq!(f.arms.len(), 2);
        assert_eq!((f.arms[0].arm.conversions, f.arms[0].arm.revenue_cents), (1, 900));
        assert_eq!(
            (f.arms[1].arm.revenue_cents, f.arms[1].effect.discount_cost_cents),
            (500, 500)
        );
        assert_eq!((f.treatment.conversions, f.treatment.revenue_cents), (2, 1400));
        assert_eq!(f.converted.len(), 2);
        // 450 : 450 : 100 is the configured 45 : 45 : 10.
        assert!((f.srm_p_value.unwrap() - 1.0).abs() < 1e-9);
    }

    #[test]
    fn a_retried_purchase_is_valued_once() {
        let rows = [
            row("a", false, "c1", Purchase, 150, 5000),
            row("a", false, "c1", Purchase, 151, 9000),
        ];
        let f = report(&input(&rows));
        assert_eq!((f.treatment.conversions, f.treatment.revenue_cents), (1, 4000));
    }

    #[test]
    fn a_broken_split_is_flagged() {
        let f = report(&ReportInput {
            arms: &EVEN,
            control_users: 500,
            ..input(&[])
        });
        assert!(f.srm_p_value.unwrap() < 1e-10);
    }

    /// Members whose pre-period purchases predict their conversion: CUPED
    /// keeps the uplift's expectation and narrows its interval.
    #[test]
    fn cuped_narrows_the_interval_when_the_past_predicts() {
        let (mut rows, mut covariates) = (Vec::new(), Vec::new());
        for i in 0..2000u64 {
            let control = i % 2 == 1;
            let x = i % 5; // 0..4 past purchases
            covariates.push(Covariate {
                user: format!("u{i}"),
                control,
                purchases: x,
            });
            // Converts when x ≥ 3, or (treated) one time in ten besides.
            let converts = x >= 3 || (!control && i % 20 == 0);
            if converts {
                rows.push(row(&format!("u{i}"), control, "c1", Purchase, 150, 1000));
            }
        }
        let base = ReportInput {
            arms: &UNDISCOUNTED,
            control_users: 1000,
            control_share: 0.5,
            from_ms: 100,
            to_ms: 200,
            payments: &rows,
            covariates: Some(&covariates),
        };
        let f = report(&base);
        let c = f.cuped.unwrap();
        let plain = f.effect.uplift_ci.unwrap();
        let adjusted = c.uplift_ci.unwrap();
        assert!(c.variance_reduction > 0.5, "{c:?}");
        assert!(adjusted[1] - adjusted[0] < plain[1] - plain[0]);
        // The planted uplift: 1 in 20 of the treated who would not convert.
        assert!((c.uplift - f.effect.uplift.unwrap()).abs() < 0.02, "{c:?}");
        assert!(c.theta > 0.0);
        // Without a covariate that varies, CUPED changes nothing.
        let flat: Vec<Covariate> = covariates
            .iter()
            .map(|c| Covariate {
                purchases: 1,
                ..c.clone()
            })
            .collect();
        let same = report(&ReportInput {
            covariates: Some(&flat),
            ..base
        })
        .cuped
        .unwrap();
        assert_eq!(same.theta, 0.0);
        assert!((same.uplift - f.effect.uplift.unwrap()).abs() < 1e-12);
    }
}
