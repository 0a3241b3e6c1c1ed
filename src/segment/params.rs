//! Segmentation settings, read from the service configuration.

use serde::{Deserialize, Serialize};

use super::features::FeatureWeights;

/// Invalid segmentation settings.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum SegmentError {
    #[error("k must be \"auto\" or a number ≥ 2, got {0:?}")]
    BadK(String),
    #[error("need 2 ≤ k_min ≤ k_max, got k_min {0}, k_max {1}")]
    BadRange(usize, usize),
    #[error("{0} must be positive")]
    NotPositive(&'static str),
}

/// Number of segments: chosen by silhouette, or fixed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "RawK", into = "RawK")]
pub enum KChoice {
    Auto,
    Fixed(usize),
}

/// How `k` is written in configuration: `"auto"` or a number.
#[derive(Serialize, Deserialize)]
#[serde(untagged)]
enum RawK {
    Number(usize),
    Word(String),
}

impl TryFrom<RawK> for KChoice {
    type Error = SegmentError;
    fn try_from(raw: RawK) -> Result<Self, SegmentError> {
        match raw {
            RawK::Number(k) if k >= 2 => Ok(KChoice::Fixed(k)),
            RawK::Number(k) => Err(SegmentError::BadK(k.to_string())),
            RawK::Word(w) if w.eq_ignore_ascii_case("auto") => Ok(KChoice::Auto),
            RawK::Word(w) => Err(SegmentError::BadK(w)),
        }
    }
}

impl From<KChoice> for RawK {
    fn from(k: KChoice) -> RawK {
        match k {
            KChoice::Auto => RawK::Word("auto".into()),
            KChoice::Fixed(k) => RawK::Number(k),
        }
    }
}

/// Settings of [`super::segment_users`]; every field has a default.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct SegmentParams {
    pub k: KChoice,
    pub k_min: usize,
    pub k_max: usize,
    /// Users k-means is fitted on for each candidate k.
    pub sample_size: usize,
    /// Users (part of the sample) the silhouette is computed on; cost is
    /// quadratic in this number.
    pub silhouette_size: usize,
    /// k-means++ restarts per candidate k.
    pub n_init: usize,
    /// Lloyd iterations on the sample.
    pub max_iter: usize,
    /// Lloyd iterations on all users, starting from the sample's centroids.
    pub full_max_iter: usize,
    pub weights: FeatureWeights,
    /// Farthest a new segment may be from an old one and still take its id
    /// (distance of category mixes plus a little activity).
    pub max_match_distance: f32,
}

impl Default for SegmentParams {
    fn default() -> Self {
        SegmentParams {
            k: KChoice::Auto,
            k_min: 2,
            k_max: 12,
            sample_size: 4000,
            silhouette_size: 2000,
            n_init: 3,
            max_iter: 50,
            full_max_iter: 20,
            weights: FeatureWeights::default(),
            max_match_distance: 0.5,
        }
    }
}

impl SegmentParams {
    /// Checks the settings; call when loading configuration.
    pub fn validate(&self) -> Result<(), SegmentError> {
        if self.k_min < 2 || self.k_min > self.k_max {
            return Err(SegmentError::BadRange(self.k_min, self.k_max));
        }
        if let KChoice::Fixed(k) = self.k {
            if k < 2 {
                return Err(SegmentError::BadK(k.to_string()));
            }
        }
        for (name, v) in [
            ("sample_size", self.sample_size),
            ("silhouette_size", self.silhouette_size),
            ("n_init", self.n_init),
        ] {
            if v == 0 {
                return Err(SegmentError::NotPositive(name));
            }
        }
        Ok(())
    }
}
