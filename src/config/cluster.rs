//! `[cluster]`: running as one of several replicas.

use serde::{Deserialize, Serialize};

/// `[cluster]` in the configuration.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ClusterSettings {
    /// Run as one of several replicas sharing the Postgres database.
    pub enabled: bool,
    /// How often to look for newer models, events and experiments.
    pub poll_ms: u64,
}

impl Default for ClusterSettings {
    fn default() -> Self {
        ClusterSettings {
            enabled: false,
            poll_ms: 1000,
        }
    }
}
