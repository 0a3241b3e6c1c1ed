//! Precision marketing, pure: learner features and labels, purchase and churn
//! propensity models with their backtest, RFM groups, per-course offer
//! probabilities, audiences ranked by expected value, and campaign uplift.
//! No I/O: `retrain` feeds it the store's day rows, `http` serves its output.

pub mod audience;
pub mod bgbb;
pub mod calibration;
pub mod campaign;
pub mod classifier;
pub mod columns;
pub mod features;
pub mod learners;
pub mod metrics;
pub mod offer;
pub mod predict;
pub mod rfm;
pub mod subsample;
pub mod synthetic;
#[cfg(test)]
mod tests;
pub mod uplift;

use serde::{Deserialize, Serialize};

use crate::domain::EventType;

/// `[marketing]` in the configuration.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MarketingSettings {
    /// H: predictions are about the next H days (labels come from [T−H, T)).
    pub horizon_days: u32,
    /// D: churn is defined for learners active in the last D days.
    pub churn_window_days: u32,
    /// Event types that count as activity (for churn and recency).
    pub activity_types: Vec<EventType>,
    /// L2 penalty of the logistic regressions (on standardized features).
    pub l2: f64,
    /// β of the softmax that splits P(any purchase) over courses.
    pub course_softmax_beta: f32,
    /// When the softmax normaliser samples courses instead of scoring all.
    pub offer_normaliser: offer::NormaliserSampling,
    /// The uplift model learned from past campaigns.
    pub uplift: uplift::fit::UpliftSettings,
}

impl Default for MarketingSettings {
    fn default() -> Self {
        MarketingSettings {
            horizon_days: 28,
            churn_window_days: 28,
            activity_types: vec![
                EventType::View,
                EventType::Click,
                EventType::Favorite,
                EventType::AddToCart,
                EventType::Watch,
                EventType::Rating,
                EventType::Purchase,
            ],
            l2: 1.0,
            course_softmax_beta: 10.0,
            offer_normaliser: offer::NormaliserSampling::default(),
            uplift: uplift::fit::UpliftSettings::default(),
        }
    }
}

impl MarketingSettings {
    /// `mask[t.index()]`: does event type `t` count as activity.
    pub fn activity_mask(&self) -> [bool; EventType::ALL.len()] {
        let mut m = [false; EventType::ALL.len()];
        self.activity_types.iter().for_each(|t| m[t.index()] = true);
        m
    }

    pub fn validate(&self) -> anyhow::Result<()> {
        if !(1..=365).contains(&self.horizon_days) || !(1..=365).contains(&self.churn_window_days) {
            anyhow::bail!(
                "invalid configuration: marketing.horizon_days and churn_window_days must be 1 to 365"
            );
        }
        if self.activity_types.is_empty() {
            anyhow::bail!(
                "invalid configuration: marketing.activity_types must name at least one event type"
            );
        }
        if !(self.l2.is_finite() && self.l2 >= 0.0 && self.course_softmax_beta.is_finite()) {
            anyhow::bail!("invalid configuration: marketing.l2 and course_softmax_beta must be finite");
        }
        self.uplift.validate()?;
        self.offer_normaliser.validate()
    }
}
