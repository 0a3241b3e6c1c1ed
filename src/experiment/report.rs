//! The per-variant report: counts from the store, rates with 95% Wilson
//! intervals, and each treatment against the control.
//!
//! The unit of randomization is the user, so conversion is per user
//! (users with an attributed purchase / users shown lists). Click-through
//! is per impression (lists clicked / lists shown), the usual recommender
//! CTR; its interval treats impressions as independent, which is
//! optimistic when a few users see many lists.

use serde::Serialize;

use super::spec::{Arm, ExperimentSpec};
use super::stats::{compare, wilson, Comparison};

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
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Rate {
    /// `None` before the variant has any traffic.
    pub value: Option<f64>,
    pub ci_low: Option<f64>,
    pub ci_high: Option<f64>,
}

fn rate(x: u64, n: u64) -> Rate {
    let ci = wilson(x, n);
    Rate {
        value: (n > 0).then(|| x as f64 / n as f64),
        ci_low: ci.map(|c| c.0),
        ci_high: ci.map(|c| c.1),
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct VsControl {
    pub ctr: Option<Comparison>,
    pub conversion: Option<Comparison>,
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
                ctr: rate(c.clicks, c.impressions),
                conversion: rate(c.buyers, c.users),
                vs_control: (!is_control).then(|| VsControl {
                    ctr: compare(c.clicks, c.impressions, control.clicks, control.impressions),
                    conversion: compare(c.buyers, c.users, control.buyers, control.users),
                }),
            }
        })
        .collect()
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
            },
            VariantCounts {
                variant: "a".into(),
                users: 1000,
                impressions: 1000,
                clicks: 120,
                purchases: 30,
                buyers: 25,
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
        // The variant without traffic: zeros, no rates, no comparison.
        assert_eq!(r[2].impressions, 0);
        assert_eq!(r[2].ctr.value, None);
        assert_eq!(r[2].vs_control.as_ref().unwrap().ctr, None);
    }
}
