//! `[train]`: when the background trainer runs and what it fits.

use serde::{Deserialize, Serialize};

use crate::marketing::MarketingSettings;
use crate::model::{AlsParams, Weights};
use crate::segment::SegmentParams;

/// `[train]` in the configuration.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TrainSettings {
    /// Run the background loop at all (`courserec train` works regardless).
    pub enabled: bool,
    /// Retrain at least this often when there are new events.
    pub interval_secs: u64,
    /// ...or as soon as this many new events arrived.
    pub min_new_events: i64,
    /// How often the loop looks for new events.
    pub check_secs: u64,
    /// Users whose latest interactions are held out for evaluation.
    pub holdout_users: usize,
    pub holdout_fraction: f64,
    /// Publish only when the model beats popularity on the holdout.
    pub require_beat_baseline: bool,
    pub popularity_half_life_days: Option<f64>,
    /// The published model continues from the evaluated model's factors
    /// (fitted on everything but the holdout) for this many iterations on
    /// all interactions; 0 fits it from scratch (`model.iterations`).
    pub refit_iterations: usize,
    pub model: AlsParams,
    pub weights: Weights,
    pub segment: SegmentParams,
    /// Set from `[marketing]` by [`crate::config::Settings::training`].
    #[serde(skip)]
    pub marketing: MarketingSettings,
    /// Set from `serve.exploration` and `serve.exploration_log_days`: the
    /// off-policy estimate reads the served-list log with them.
    #[serde(skip)]
    pub exploration: f64,
    #[serde(skip)]
    pub exploration_log_days: u32,
}

impl Default for TrainSettings {
    fn default() -> Self {
        TrainSettings {
            enabled: true,
            interval_secs: 3600,
            min_new_events: 50_000,
            check_secs: 10,
            holdout_users: 2000,
            holdout_fraction: 0.2,
            require_beat_baseline: true,
            popularity_half_life_days: Some(30.0),
            refit_iterations: 3,
            model: AlsParams::default(),
            weights: Weights::default(),
            segment: SegmentParams::default(),
            marketing: MarketingSettings::default(),
            exploration: 0.05,
            exploration_log_days: 14,
        }
    }
}

impl TrainSettings {
    pub fn validate(&self) -> anyhow::Result<()> {
        if !(0.0..1.0).contains(&self.holdout_fraction) {
            anyhow::bail!("invalid configuration: train.holdout_fraction must be in [0, 1)");
        }
        if self.model.factors == 0 || self.model.iterations == 0 {
            anyhow::bail!(
                "invalid configuration: train.model.factors and train.model.iterations must be positive"
            );
        }
        if !(self.model.regularization.is_finite() && self.model.alpha.is_finite() && self.model.alpha >= 0.0)
        {
            anyhow::bail!(
                "invalid configuration: train.model.regularization and train.model.alpha must be finite"
            );
        }
        Ok(())
    }
}
