//! The probability of buying one course, or any course of a category: the
//! purchase propensity split over courses by a softmax of the recommender's
//! scores, P(c) = P(any) · exp(β·s_c) / Σ_{c' not owned} exp(β·s_c').
//! The shares of a learner sum to 1 over the courses they do not own, so the
//! per-course probabilities add up to the calibrated P(any).

use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use crate::model::{Csr, Factors};

/// Per learner: the log of the softmax normalizer, and the share of each
/// category (row-major, `n_categories` per learner).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct OfferShares {
    pub beta: f32,
    pub log_norm: Vec<f32>,
    pub n_categories: usize,
    pub category_share: Vec<f32>,
}

fn dot(a: &[f32], b: &[f32]) -> f32 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

impl OfferShares {
    /// Builds the shares of every learner; `taken` rows are the courses each
    /// owns (excluded), `category[c]` the category index of course `c`,
    /// `offered[c]` whether course `c` can be sold at all.
    pub fn build(
        users: &Factors,
        courses: &Factors,
        taken: &Csr,
        category: &[u32],
        offered: &[bool],
        n_categories: usize,
        beta: f32,
    ) -> OfferShares {
        let per: Vec<(f32, Vec<f32>)> = (0..users.n)
            .into_par_iter()
            .map(|u| {
                let x = users.row(u);
                let owned = taken.row(u).0;
                let scores: Vec<(usize, f32)> = (0..courses.n)
                    .filter(|&c| offered[c] && owned.binary_search(&(c as u32)).is_err())
                    .map(|c| (c, beta * dot(x, courses.row(c))))
                    .collect();
                let max = scores.iter().map(|s| s.1).fold(f32::NEG_INFINITY, f32::max);
                let mut cats = vec![0f32; n_categories];
                let mut sum = 0f32;
                for &(c, s) in &scores {
                    let e = (s - max).exp();
                    sum += e;
                    cats[category[c] as usize] += e;
                }
                if sum > 0.0 {
                    cats.iter_mut().for_each(|v| *v /= sum);
                    (max + sum.ln(), cats)
                } else {
                    (f32::INFINITY, cats)
                }
            })
            .collect();
        let mut out = OfferShares {
            beta,
            log_norm: Vec::with_capacity(users.n),
            n_categories,
            category_share: Vec::with_capacity(users.n * n_categories),
        };
        for (z, cats) in per {
            out.log_norm.push(z);
            out.category_share.extend(cats);
        }
        out
    }

    /// Share of course `c` (factor `y`) for learner `u` (factor `x`); 0 when
    /// the learner owns every course.
    pub fn course_share(&self, u: usize, x: &[f32], y: &[f32]) -> f32 {
        (self.beta * dot(x, y) - self.log_norm[u]).exp().min(1.0)
    }

    /// Share of category `k` for learner `u`.
    pub fn category(&self, u: usize, k: usize) -> f32 {
        self.category_share[u * self.n_categories + k]
    }
}
