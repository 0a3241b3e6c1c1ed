//! The probability of buying one course, or any course of a category: the
//! purchase propensity split over courses by a softmax of the recommender's
//! scores, P(c) = P(any) · exp(β·s_c) / Σ_{c' not owned} exp(β·s_c').
//! The shares of a learner sum to 1 over the courses they do not own, so the
//! per-course probabilities add up to the calibrated P(any).

use ndarray::linalg::general_mat_mul;
use ndarray::{Array2, ArrayView2};
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use crate::model::vecops::dot;
use crate::model::{Csr, Factors};

mod kernel;
mod plan;

use kernel::{row_shares, RowShares};
pub use plan::NormaliserSampling;
use plan::Plan;

/// Per learner: the log of the softmax normalizer, and the share of each
/// category (row-major, `n_categories` per learner).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct OfferShares {
    pub beta: f32,
    pub log_norm: Vec<f32>,
    pub n_categories: usize,
    pub category_share: Vec<f32>,
}

/// The courses offers are split over.
#[derive(Debug, Clone, Copy)]
pub struct Catalogue<'a> {
    /// Course factors, one row per course.
    pub factors: &'a Factors,
    /// `category[c]`: category index of course `c`, below `n_categories`.
    pub category: &'a [u32],
    /// `offered[c]`: whether course `c` can be sold at all.
    pub offered: &'a [bool],
    pub n_categories: usize,
}

/// How far the sampled normaliser was from the exact one, measured on a
/// seeded sample of learners it served; all zero when every course was
/// scored.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct OfferAudit {
    /// Whether the normaliser sampled courses at all.
    pub sampled: bool,
    /// Learners scored in full because their estimate's relative standard
    /// error exceeded the limit.
    pub learners_exact: usize,
    pub learners_checked: usize,
    /// |Ẑ/Z − 1| over the checked learners: median and largest.
    pub median_relative_error: f64,
    pub max_relative_error: f64,
    /// Largest |estimated − exact| category share (shares are in 0..1).
    pub max_category_error: f64,
}

/// Learners the audit compares against a full scoring.
const AUDITED: usize = 256;

impl OfferShares {
    /// Builds the shares of every learner (`users`: one factor row per
    /// learner; `taken` row u: the courses learner u owns, excluded).
    ///
    /// The exact normaliser costs one dot product and one exponential per
    /// (learner, offered course). Past `sampling.exact_up_to` offered
    /// courses it scores the head by norm and a stratified sample of the
    /// rest instead, and falls back to every course for each learner whose
    /// estimate is less precise than `sampling.max_relative_error`.
    pub fn build(
        users: &Factors,
        taken: &Csr,
        catalogue: &Catalogue,
        beta: f32,
        sampling: &NormaliserSampling,
    ) -> (OfferShares, OfferAudit) {
        let plan = Plan::sampled(catalogue.factors, catalogue.category, catalogue.offered, sampling);
        let everyone: Vec<u32> = (0..users.n as u32).collect();
        let mut rows = score(users, &everyone, taken, catalogue, &plan, beta);
        let mut audit = OfferAudit::default();
        if !plan.is_exact() {
            audit.sampled = true;
            let exact = Plan::exact(catalogue.category, catalogue.offered);
            let imprecise: Vec<u32> = everyone
                .iter()
                .copied()
                .filter(|&u| rows[u as usize].relative_error > sampling.max_relative_error)
                .collect();
            audit.learners_exact = imprecise.len();
            for (u, row) in imprecise
                .iter()
                .zip(score(users, &imprecise, taken, catalogue, &exact, beta))
            {
                rows[*u as usize] = row;
            }
            let served: Vec<u32> = everyone
                .iter()
                .copied()
                .filter(|&u| rows[u as usize].relative_error > 0.0)
                .collect();
            let checked = audit_sample(&served);
            let truth = score(users, &checked, taken, catalogue, &exact, beta);
            let mut errors: Vec<f64> = Vec::with_capacity(checked.len());
            for (&u, t) in checked.iter().zip(&truth) {
                let r = &rows[u as usize];
                errors.push((f64::from(r.log_norm - t.log_norm)).exp_m1().abs());
                for (a, b) in r.categories.iter().zip(&t.categories) {
                    audit.max_category_error = audit.max_category_error.max(f64::from((a - b).abs()));
                }
            }
            errors.sort_by(f64::total_cmp);
            audit.learners_checked = errors.len();
            audit.median_relative_error = errors.get(errors.len() / 2).copied().unwrap_or(0.0);
            audit.max_relative_error = errors.last().copied().unwrap_or(0.0);
        }
        let mut out = OfferShares {
            beta,
            log_norm: Vec::with_capacity(users.n),
            n_categories: catalogue.n_categories,
            category_share: Vec::with_capacity(users.n * catalogue.n_categories),
        };
        for r in rows {
            out.log_norm.push(r.log_norm);
            out.category_share.extend(r.categories);
        }
        (out, audit)
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

/// Every `learners` row's shares over `plan`'s columns: a block of
/// learners is scored against every column at once (sgemm through
/// ndarray's matrixmultiply, with its runtime AVX/FMA kernels), then each
/// row is reduced to its normaliser and shares.
fn score(
    users: &Factors,
    learners: &[u32],
    taken: &Csr,
    catalogue: &Catalogue,
    plan: &Plan,
    beta: f32,
) -> Vec<RowShares> {
    const BLOCK: usize = 64;
    let k = users.k;
    let m = plan.columns.len();
    let mut y_data = Vec::with_capacity(m * k);
    for &c in &plan.columns {
        y_data.extend_from_slice(catalogue.factors.row(c as usize));
    }
    let y = ArrayView2::from_shape((m, k), &y_data).expect("m × k course factors");
    let blocks: Vec<Vec<RowShares>> = learners
        .par_chunks(BLOCK)
        .map(|block| {
            let mut x = Array2::<f32>::zeros((block.len(), k));
            for (mut row, &u) in x.rows_mut().into_iter().zip(block) {
                row.as_slice_mut()
                    .expect("rows of a standard layout")
                    .copy_from_slice(users.row(u as usize));
            }
            let mut scores = Array2::<f32>::zeros((block.len(), m));
            general_mat_mul(beta, &x, &y.t(), 0.0, &mut scores);
            scores
                .rows_mut()
                .into_iter()
                .zip(block)
                .map(|(mut row, &u)| {
                    let terms = row.as_slice_mut().expect("rows of a standard layout");
                    row_shares(terms, taken.row(u as usize).0, plan, catalogue.n_categories)
                })
                .collect()
        })
        .collect();
    blocks.into_iter().flatten().collect()
}

/// A seeded sample of at most `AUDITED` of `learners`.
fn audit_sample(learners: &[u32]) -> Vec<u32> {
    use rand::SeedableRng;
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(0xa0d1);
    let n = AUDITED.min(learners.len());
    rand::seq::index::sample(&mut rng, learners.len(), n)
        .into_iter()
        .map(|i| learners[i])
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shares_are_the_softmax_over_unowned_offered_courses() {
        // 70 learners (more than one block) × 4 courses, k = 2.
        let n = 70;
        let users = Factors {
            n,
            k: 2,
            data: (0..n * 2).map(|i| (i % 7) as f32 * 0.3 - 0.9).collect(),
        };
        let courses = Factors {
            n: 4,
            k: 2,
            data: vec![1.0, 0.0, 0.0, 1.0, -1.0, 0.5, 0.2, 0.2],
        };
        // Learner 1 owns course 0; course 3 is not offered; 0 and 1 are
        // category 0, course 2 category 1.
        let taken = Csr::from_triples(n, 4, &[(1, 0, 1.0)]);
        let offered = [true, true, true, false];
        let catalogue = Catalogue {
            factors: &courses,
            category: &[0, 0, 1, 1],
            offered: &offered,
            n_categories: 2,
        };
        let (shares, audit) =
            OfferShares::build(&users, &taken, &catalogue, 2.0, &NormaliserSampling::default());
        assert_eq!(audit, OfferAudit::default());
        for u in 0..n {
            let x = users.row(u);
            let owned = if u == 1 { vec![0] } else { vec![] };
            let e: Vec<f64> = (0..4)
                .map(|c| {
                    if !offered[c] || owned.contains(&c) {
                        0.0
                    } else {
                        (2.0 * f64::from(dot(x, courses.row(c)))).exp()
                    }
                })
                .collect();
            let z: f64 = e.iter().sum();
            assert!(
                (f64::from(shares.category(u, 0)) - (e[0] + e[1]) / z).abs() < 1e-5,
                "{u}"
            );
            assert!((f64::from(shares.category(u, 1)) - e[2] / z).abs() < 1e-5, "{u}");
            let p1 = f64::from(shares.course_share(u, x, courses.row(1)));
            assert!((p1 - e[1] / z).abs() < 1e-5, "{u}");
        }
    }

    #[test]
    fn shares_hold_past_one_vector_of_courses_in_mixed_category_order() {
        // 21 courses (two full lanes and a remainder), categories
        // interleaved, every fifth not offered, each learner owning one.
        let (n, m) = (70, 21);
        let users = Factors {
            n,
            k: 3,
            data: (0..n * 3).map(|i| ((i * 37) % 11) as f32 * 0.2 - 1.0).collect(),
        };
        let courses = Factors {
            n: m,
            k: 3,
            data: (0..m * 3).map(|i| ((i * 53) % 13) as f32 * 0.15 - 0.9).collect(),
        };
        let category: Vec<u32> = (0..m as u32).map(|c| c % 3).collect();
        let offered: Vec<bool> = (0..m).map(|c| c % 5 != 4).collect();
        let owned: Vec<(u32, u32, f32)> = (0..n).map(|u| (u as u32, (u % m) as u32, 1.0)).collect();
        let taken = Csr::from_triples(n, m, &owned);
        let catalogue = Catalogue {
            factors: &courses,
            category: &category,
            offered: &offered,
            n_categories: 3,
        };
        let (shares, _) = OfferShares::build(&users, &taken, &catalogue, 1.5, &NormaliserSampling::default());
        for u in 0..n {
            let x = users.row(u);
            let e: Vec<f64> = (0..m)
                .map(|c| {
                    if !offered[c] || c == u % m {
                        0.0
                    } else {
                        (1.5 * f64::from(dot(x, courses.row(c)))).exp()
                    }
                })
                .collect();
            let z: f64 = e.iter().sum();
            for k in 0..3 {
                let want: f64 = (0..m)
                    .filter(|&c| category[c] == k as u32)
                    .map(|c| e[c])
                    .sum::<f64>()
                    / z;
                assert!((f64::from(shares.category(u, k)) - want).abs() < 1e-5, "{u} {k}");
            }
            let c = (u + 1) % m;
            let got = f64::from(shares.course_share(u, x, courses.row(c)));
            assert!((got - e[c] / z).abs() < 1e-5 || !offered[c], "{u}");
        }
    }

    /// `n` learners and `m` courses in `n_categories`, k = 8, with a
    /// power-law spread of course norms like a trained model's.
    fn skewed(n: usize, m: usize) -> (Factors, Factors) {
        let noise = |i: usize| (((i * 2_654_435_761) % 1_000_003) as f32 / 1_000_003.0) - 0.5;
        let users = Factors {
            n,
            k: 8,
            data: (0..n * 8).map(|i| 0.3 + noise(i)).collect(),
        };
        let courses = Factors {
            n: m,
            k: 8,
            data: (0..m * 8)
                .map(|i| (0.25 + noise(i * 7 + 3)) / (1.0 + (i / 8) as f32).powf(0.3))
                .collect(),
        };
        (users, courses)
    }

    #[test]
    fn the_sampled_normaliser_stays_within_its_error_limit_of_the_exact_one() {
        let (n, m) = (300, 3_000);
        let (users, courses) = skewed(n, m);
        let category: Vec<u32> = (0..m as u32).map(|c| c % 5).collect();
        let offered: Vec<bool> = (0..m).map(|c| c % 11 != 0).collect();
        let sampled = NormaliserSampling {
            exact_up_to: 0,
            head: 100,
            sample: 400,
            max_relative_error: 0.01,
        };
        // Learner 0 owns every course the sample scores (but not all
        // courses): only a full scoring can tell its normaliser.
        let plan = Plan::sampled(&courses, &category, &offered, &sampled);
        let mut owned: Vec<(u32, u32, f32)> = plan.columns.iter().map(|&c| (0, c, 1.0)).collect();
        owned.extend((1..n).map(|u| (u as u32, (u * 7 % m) as u32, 1.0)));
        let taken = Csr::from_triples(n, m, &owned);
        let catalogue = Catalogue {
            factors: &courses,
            category: &category,
            offered: &offered,
            n_categories: 5,
        };
        let exact = NormaliserSampling {
            exact_up_to: m,
            ..NormaliserSampling::default()
        };
        let (want, none) = OfferShares::build(&users, &taken, &catalogue, 10.0, &exact);
        assert!(!none.sampled);
        let (got, audit) = OfferShares::build(&users, &taken, &catalogue, 10.0, &sampled);
        assert!(audit.sampled && audit.learners_checked > 0, "{audit:?}");
        assert!(audit.learners_exact >= 1, "{audit:?}");
        assert!(want.log_norm[0].is_finite());
        assert!((got.log_norm[0] - want.log_norm[0]).abs() < 1e-5);
        let mut worst = 0f64;
        for u in 0..n {
            let err = f64::from(got.log_norm[u] - want.log_norm[u]).exp_m1().abs();
            worst = worst.max(err);
            // Four standard errors: a miss is 1 in 15,000 per learner.
            assert!(err < 0.04, "learner {u}: {err}");
            let total: f32 = (0..5).map(|k| got.category(u, k)).sum();
            assert!((total - 1.0).abs() < 1e-5);
        }
        assert!((audit.max_relative_error - worst).abs() < 1e-9 || audit.max_relative_error < worst);
        // A limit of 0 scores every learner in full: the exact answer.
        let strict = NormaliserSampling {
            max_relative_error: 0.0,
            ..sampled
        };
        let (all, audit) = OfferShares::build(&users, &taken, &catalogue, 10.0, &strict);
        assert_eq!(audit.learners_exact, n);
        for u in 0..n {
            assert!((all.log_norm[u] - want.log_norm[u]).abs() < 1e-5);
            for k in 0..5 {
                assert!((all.category(u, k) - want.category(u, k)).abs() < 1e-5);
            }
        }
    }
}
