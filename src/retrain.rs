//! The background trainer: the one place where store, model, evaluation,
//! segmentation and serving meet.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TrainSettings {
    pub interval_secs: u64,
    pub min_new_events: u64,
}

impl Default for TrainSettings {
    fn default() -> Self {
        TrainSettings {
            interval_secs: 3600,
            min_new_events: 10_000,
        }
    }
}

impl TrainSettings {
    pub fn validate(&self) -> anyhow::Result<()> {
        Ok(())
    }
}

#[derive(Clone)]
pub struct Trainer;
