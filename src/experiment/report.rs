//! The per-variant report: counts from the store, rates with intervals,
//! and each treatment against the control, every interval at the level
//! the treatments are tested at (1 − alpha).
//!
//! The unit of randomization is the user, so every variance is per user.
//! Conversion (users with an attributed purchase / users shown lists) is a
//! proportion of users: Wilson interval, pooled two-proportion z-test.
//! Click-through (lists clicked / lists shown) is a ratio of per-user sums:
//! delta-method variance, so a few users who see many lists do not pass
//! for many independent observations. With several treatments each is
//! tested at 0.05 divided by their number (Bonferroni), and every interval
//! is drawn at that level, so no interval excludes 0 beside a
//! non-significant verdict.

use serde::Serialize;

use super::sequential::{srm_p_value, Verdict};
use super::spec::{Arm, ExperimentSpec};
use super::stats::{compare, compare_ratios, wilson_at, z_two_sided, Comparison, RatioSums};

/// What the store counted for one variant.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct VariantCounts {
    pub variant: String,
    pub users: u64,
    pub impressions: u64,
    /// Impressions followed by at least one click carrying their `rec_id`.
    pub clicks: u64,
    /// Impressions followed by at least one purchase carrying their `rec_id`.
    pub purchases: u64,
    /// Users with at least one such purchase.
    pub buyers: u64,
    /// Σ over users of impressions², clicks² and impressions·clicks, for
    /// the delta-method variance of the CTR.
    pub impressions_sq: u64,
    pub clicks_sq: u64,
    pub impressions_clicks: u64,
}

impl VariantCounts {
    fn ctr_sums(&self) -> RatioSums {
        RatioSums {
            n: self.users,
            x: self.impressions as f64,
            y: self.clicks as f64,
            xx: self.impressions_sq as f64,
            yy: self.clicks_sq as f64,
            xy: self.impressions_clicks as f64,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Rate {
    /// `None` before the variant has any traffic.
    pub value: Option<f64>,
    pub ci_low: Option<f64>,
    pub ci_high: Option<f64>,
}

fn rate(value: Option<f64>, ci: Option<(f64, f64)>) -> Rate {
    Rate {
        value,
        ci_low: ci.map(|c| c.0),
        ci_high: ci.map(|c| c.1),
    }
}

/// The significance level each treatment is tested at; every interval of
/// the report is drawn at level 1 − alpha.
pub fn alpha(spec: &ExperimentSpec) -> f64 {
    0.05 / (spec.variants.len().saturating_sub(1)).max(1) as f64
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct VsControl {
    pub ctr: Option<Comparison>,
    pub conversion: Option<Comparison>,
    /// What the CTR comparison allows to conclude (users of both variants,
    /// clicks of both).
    pub ctr_verdict: Verdict,
    /// The same for conversion (users, buyers).
    pub conversion_verdict: Verdict,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct VariantReport {
    pub name: String,
    pub arm: Arm,
    pub weight: u32,
    pub is_control: bool,
    pub users: u64,
    pub impressions: u64,
    pub clicks: u64,
    pub purchases: u64,
    pub buyers: u64,
    pub ctr: Rate,
    pub conversion: Rate,
    /// Absent for the control itself.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub vs_control: Option<VsControl>,
}

/// One row per variant of `spec`, in its order; variants the store has
/// not seen yet get zeros.
pub fn build_report(spec: &ExperimentSpec, counts: &[VariantCounts]) -> Vec<VariantReport> {
    let of = |name: &str| {
        counts
            .iter()
            .find(|c| c.variant == name)
            .cloned()
            .unwrap_or_default()
    };
    let control = of(spec.control_name());
    let alpha = alpha(spec);
    let z = z_two_sided(alpha);
    spec.variants
        .iter()
        .map(|v| {
            let c = of(&v.name);
            let is_control = v.name == spec.control_name();
            VariantReport {
                name: v.name.clone(),
                arm: v.arm,
                weight: v.weight,
                is_control,
                users: c.users,
                impressions: c.impressions,
                clicks: c.clicks,
                purchases: c.purchases,
                buyers: c.buyers,
                ctr: rate(c.ctr_sums().ratio(), c.ctr_sums().interval_at(z)),
                conversion: rate(
                    (c.users > 0).then(|| c.buyers as f64 / c.users as f64),
                    wilson_at(c.buyers, c.users, z),
                ),
                vs_control: (!is_control).then(|| vs_control(&c, &control, alpha)),
            }
        })
        .collect()
}

fn vs_control(t: &VariantCounts, c: &VariantCounts, alpha: f64) -> VsControl {
    let ctr = compare_ratios(&t.ctr_sums(), &c.ctr_sums(), alpha);
    let conversion = compare(t.buyers, t.users, c.buyers, c.users, alpha);
    let interval = |x: &Option<Comparison>| x.as_ref().map(|x| (x.ci_low, x.ci_high));
    let users = [t.users, c.users];
    VsControl {
        ctr_verdict: Verdict::of(users, t.clicks + c.clicks, interval(&ctr)),
        conversion_verdict: Verdict::of(users, t.buyers + c.buyers, interval(&conversion)),
        ctr,
        conversion,
    }
}

/// Sample-ratio mismatch of the users each variant saw against the
/// variants' weights (see [`srm_p_value`]).
pub fn srm(spec: &ExperimentSpec, counts: &[VariantCounts]) -> Option<f64> {
    let users: Vec<u64> = spec
        .variants
        .iter()
        .map(|v| counts.iter().find(|c| c.variant == v.name).map_or(0, |c| c.users))
        .collect();
    let weights: Vec<f64> = spec.variants.iter().map(|v| f64::from(v.weight)).collect();
    srm_p_value(&users, &weights)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_follow_the_spec_and_compare_with_the_control() {
        let spec: ExperimentSpec = serde_json::from_value(serde_json::json!({
            "control": "b",
            "variants": [{"name": "a", "weight": 1}, {"name": "b", "weight": 1}, {"name": "c", "weight": 1}]
        }))
        .unwrap();
        let counts = vec![
            VariantCounts {
                variant: "b".into(),
                users: 1000,
                impressions: 1000,
                clicks: 100,
                purchases: 20,
                buyers: 20,
                // One list per user.
                impressions_sq: 1000,
                clicks_sq: 100,
                impressions_clicks: 100,
            },
            VariantCounts {
                variant: "a".into(),
                users: 1000,
                impressions: 1000,
                clicks: 120,
                purchases: 30,
                buyers: 25,
                impressions_sq: 1000,
                clicks_sq: 120,
                impressions_clicks: 120,
            },
        ];
        let r = build_report(&spec, &counts);
        assert_eq!(
            r.iter().map(|v| v.name.as_str()).collect::<Vec<_>>(),
            ["a", "b", "c"]
        );
        assert!(r[1].is_control && r[1].vs_control.is_none());
        assert_eq!(r[0].ctr.value, Some(0.12));
        assert_eq!(r[0].conversion.value, Some(0.025));
        let vs = r[0].vs_control.as_ref().unwrap();
        let ctr = vs.ctr.as_ref().unwrap();
        assert!((ctr.difference - 0.02).abs() < 1e-12 && !ctr.significant);
        assert_eq!(vs.ctr_verdict, Verdict::NoDetectableEffect);
        // Two treatments: each tested at 0.025.
        assert_eq!(alpha(&spec), 0.025);
        // One list per user: the delta method is the binomial test with
        // n − 1 variances (z ≈ 1.43 either way).
        assert!((ctr.z - 1.43).abs() < 0.01, "{}", ctr.z);
        // The always-valid interval at 97.5 %, the tested level.
        let conv = vs.conversion.as_ref().unwrap();
        let se = conv.difference / conv.z;
        let seq = super::super::sequential::msprt(conv.difference, se * se, 0.05, 0.025);
        assert!((conv.ci_high - conv.difference - seq.half_width).abs() < 1e-12);
        // 1,000 users per arm and 45 buyers in all: enough for a verdict.
        assert_eq!(vs.conversion_verdict, Verdict::NoDetectableEffect);
        // Weights 1:1:1 and 1,000 / 1,000 / 0 users: a mismatch.
        assert!(srm(&spec, &counts).unwrap() < 1e-6);
        let want = super::super::stats::wilson_at(25, 1000, 2.2414027).unwrap();
        assert!((r[0].conversion.ci_low.unwrap() - want.0).abs() < 1e-9);
        // The variant without traffic: zeros, no rates, no comparison.
        assert_eq!(r[2].impressions, 0);
        assert_eq!(r[2].ctr.value, None);
        assert_eq!(r[2].vs_control.as_ref().unwrap().ctr, None);
        assert_eq!(
            r[2].vs_control.as_ref().unwrap().ctr_verdict,
            Verdict::InsufficientData
        );
    }
}
