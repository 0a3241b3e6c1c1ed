//! Clustering features: the user's ALS factor joined with profile features.
//!
//! Three blocks, each scaled to a total variance of 1 over the training users
//! and then multiplied by its weight, so a block's pull on distances depends
//! on its weight and not on how many dimensions it has:
//! - taste: the L2-normalized ALS factor (direction, not popularity);
//! - taste: category shares over a fixed category list;
//! - activity: recency, 30/90-day frequency and spend, z-scored (log scale).
//!
//! The scaling parameters are kept so a new user is projected the same way.

use serde::{Deserialize, Serialize};

use super::profile::Profile;

/// Number of activity features, see [`activity_features`].
pub const ACTIVITY_DIM: usize = 4;

/// Relative pull of each feature block on distances.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct FeatureWeights {
    pub factors: f32,
    pub categories: f32,
    pub activity: f32,
}

impl Default for FeatureWeights {
    /// Taste dominates; activity only refines, so heavy and casual users of
    /// the same taste stay in one segment unless taste is ambiguous.
    fn default() -> Self {
        FeatureWeights {
            factors: 1.0,
            categories: 1.0,
            activity: 0.35,
        }
    }
}

/// Activity features on a log scale: a user with 100 events is not ten
/// times as different from one with 10 as that one is from one with 1.
pub fn activity_features(p: &Profile) -> [f32; ACTIVITY_DIM] {
    let recency = p.recency_days.unwrap_or(365.0).max(0.0);
    [
        recency.ln_1p(),
        (p.events_30d as f32).ln_1p(),
        (p.events_90d as f32).ln_1p(),
        (p.spend_cents.max(0) as f32 / 100.0).ln_1p(),
    ]
}

/// Fitted feature layout and scaling.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FeatureSpace {
    /// Length of the ALS factors this space was fitted with (0: none).
    pub factor_dim: usize,
    /// Category list of the share block, in column order.
    pub categories: Vec<String>,
    pub weights: FeatureWeights,
    /// Multiplier of the normalized factor block (weight / block std).
    pub factor_scale: f32,
    pub share_mean: Vec<f32>,
    /// Multiplier of the centered share block (weight / block std).
    pub share_scale: f32,
    pub activity_mean: Vec<f32>,
    /// Per-feature multiplier (weight / std / √block size); 0 for a
    /// feature that was constant, so it cannot blow up noise.
    pub activity_scale: Vec<f32>,
}

fn l2_normalized(f: &[f32], out: &mut [f32]) {
    let norm = f.iter().map(|x| x * x).sum::<f32>().sqrt();
    if norm > 1e-12 {
        out.iter_mut().zip(f).for_each(|(o, x)| *o = x / norm);
    } else {
        out.fill(0.0);
    }
}

/// Scale giving a block of total variance `total_var` a total variance of
/// `weight²`; a constant block gets 0 instead of blowing up noise.
fn block_scale(weight: f32, total_var: f64) -> f32 {
    if total_var > 1e-12 {
        (f64::from(weight) / total_var.sqrt()) as f32
    } else {
        0.0
    }
}

/// Mean and total variance (sum over columns) of row-major `rows` × `d` data.
fn mean_and_total_var(data: &[f32], d: usize) -> (Vec<f64>, Vec<f64>) {
    let n = data.len().checked_div(d).unwrap_or(0);
    let mut mean = vec![0.0f64; d];
    let mut sq = vec![0.0f64; d];
    for row in data.chunks_exact(d.max(1)).take(n) {
        for j in 0..d {
            mean[j] += f64::from(row[j]);
            sq[j] += f64::from(row[j]) * f64::from(row[j]);
        }
    }
    let nf = n.max(1) as f64;
    let var = (0..d)
        .map(|j| (sq[j] / nf - (mean[j] / nf).powi(2)).max(0.0))
        .collect();
    (mean.into_iter().map(|m| m / nf).collect(), var)
}

impl FeatureSpace {
    /// Fits the scaling on all users. `user_factors` is n × `factor_dim`
    /// row-major, or empty when there are no factors.
    pub fn fit(
        user_factors: &[f32],
        factor_dim: usize,
        profiles: &[Profile],
        weights: FeatureWeights,
    ) -> Self {
        let n = profiles.len();
        let factor_dim = if user_factors.is_empty() { 0 } else { factor_dim };
        let mut categories: Vec<String> = profiles
            .iter()
            .flat_map(|p| p.interests.iter().map(|c| c.category.clone()))
            .collect();
        categories.sort();
        categories.dedup();

        let mut normed = vec![0.0f32; n * factor_dim];
        if factor_dim > 0 {
            for (o, f) in normed
                .chunks_exact_mut(factor_dim)
                .zip(user_factors.chunks_exact(factor_dim))
            {
                l2_normalized(f, o);
            }
        }
        let (_, fvar) = mean_and_total_var(&normed, factor_dim);

        let c = categories.len();
        let mut shares = vec![0.0f32; n * c];
        for (row, p) in shares.chunks_exact_mut(c.max(1)).zip(profiles) {
            for s in &p.interests {
                if let Ok(j) = categories.binary_search(&s.category) {
                    row[j] = s.share;
                }
            }
        }
        let (smean, svar) = mean_and_total_var(&shares, c);

        let act: Vec<f32> = profiles.iter().flat_map(activity_features).collect();
        let (amean, avar) = mean_and_total_var(&act, ACTIVITY_DIM);
        let per_feature = weights.activity / (ACTIVITY_DIM as f32).sqrt();
        let activity_scale = avar.iter().map(|v| block_scale(per_feature, *v)).collect();

        FeatureSpace {
            factor_dim,
            weights,
            factor_scale: block_scale(weights.factors, fvar.iter().sum()),
            share_mean: smean.iter().map(|m| *m as f32).collect(),
            share_scale: block_scale(weights.categories, svar.iter().sum()),
            categories,
            activity_mean: amean.iter().map(|m| *m as f32).collect(),
            activity_scale,
        }
    }

    /// Length of a feature vector.
    pub fn dim(&self) -> usize {
        self.factor_dim + self.categories.len() + ACTIVITY_DIM
    }

    /// Writes the features of one user into `out` (length [`Self::dim`]).
    /// A missing factor, or one of the wrong length, becomes zeros.
    pub fn project(&self, factor: Option<&[f32]>, profile: &Profile, out: &mut [f32]) {
        let (fo, rest) = out.split_at_mut(self.factor_dim);
        let (so, ao) = rest.split_at_mut(self.categories.len());
        match factor {
            Some(f) if f.len() == self.factor_dim => {
                l2_normalized(f, fo);
                fo.iter_mut().for_each(|x| *x *= self.factor_scale);
            }
            _ => fo.fill(0.0),
        }
        so.fill(0.0);
        for s in &profile.interests {
            if let Ok(j) = self.categories.binary_search(&s.category) {
                so[j] = s.share;
            }
        }
        for (j, x) in so.iter_mut().enumerate() {
            *x = (*x - self.share_mean[j]) * self.share_scale;
        }
        for (j, (o, a)) in ao.iter_mut().zip(activity_features(profile)).enumerate() {
            *o = (a - self.activity_mean[j]) * self.activity_scale[j];
        }
    }

    /// Feature matrix of all users, n × [`Self::dim`] row-major.
    pub fn matrix(&self, user_factors: &[f32], profiles: &[Profile]) -> Vec<f32> {
        use rayon::prelude::*;
        let d = self.dim();
        let mut out = vec![0.0f32; profiles.len() * d];
        out.par_chunks_mut(d.max(1))
            .zip(profiles.par_iter())
            .enumerate()
            .for_each(|(i, (row, p))| {
                let f = (self.factor_dim > 0)
                    .then(|| &user_factors[i * self.factor_dim..(i + 1) * self.factor_dim]);
                self.project(f, p, row);
            });
        out
    }
}
