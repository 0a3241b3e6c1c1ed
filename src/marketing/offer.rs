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

/// Per learner: the log of the softmax normalizer, and the share of each
/// category (row-major, `n_categories` per learner).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct OfferShares {
    pub beta: f32,
    pub log_norm: Vec<f32>,
    pub n_categories: usize,
    pub category_share: Vec<f32>,
}

/// e^x for x ≤ 0 (softmax terms; −∞ gives 0), relative error below 3e-7:
/// a degree-6 Taylor polynomial on [−ln2/2, ln2/2] scaled by 2ⁿ. Plain
/// arithmetic, so loops over it vectorise, unlike `f32::exp`.
#[inline(always)]
fn exp_nonpositive(x: f32) -> f32 {
    const LOG2E: f32 = std::f32::consts::LOG2_E;
    const LN2_HI: f32 = 0.693_145_75;
    const LN2_LO: f32 = 1.428_606_8e-6;
    // Round to nearest by the 1.5·2²³ trick (no libm call).
    const MAGIC: f32 = 12_582_912.0;
    let finite = x > -87.0;
    let x = x.max(-87.0);
    let n = (x * LOG2E + MAGIC) - MAGIC;
    let f = (x - n * LN2_HI) - n * LN2_LO;
    let p = 1.0
        + f * (1.0 + f * (0.5 + f * (1.0 / 6.0 + f * (1.0 / 24.0 + f * (1.0 / 120.0 + f * (1.0 / 720.0))))));
    let scale = f32::from_bits(((n as i32 + 127) as u32) << 23);
    if finite {
        p * scale
    } else {
        0.0
    }
}

/// Lanes of the hand-split reductions below: separate accumulators let
/// the compiler keep them in one vector register (float adds may not be
/// reordered otherwise).
const LANES: usize = 8;

fn max_of(terms: &[f32]) -> f32 {
    let mut acc = [f32::NEG_INFINITY; LANES];
    let chunks = terms.chunks_exact(LANES);
    let rest = chunks.remainder();
    for c in chunks {
        for (a, &t) in acc.iter_mut().zip(c) {
            *a = a.max(t);
        }
    }
    rest.iter().chain(&acc).fold(f32::NEG_INFINITY, |m, &t| m.max(t))
}

/// Σ e^(t − max) over `terms`.
fn exp_sum(terms: &[f32], max: f32) -> f32 {
    let mut acc = [0f32; LANES];
    let chunks = terms.chunks_exact(LANES);
    let rest = chunks.remainder();
    for c in chunks {
        for (a, &t) in acc.iter_mut().zip(c) {
            *a += exp_nonpositive(t - max);
        }
    }
    acc.iter().sum::<f32>() + rest.iter().map(|&t| exp_nonpositive(t - max)).sum::<f32>()
}

/// One learner's (ln normaliser, category shares) from `terms`, the
/// learner's β-scaled score of every offered course in category order
/// (`segments`: category, start, end); `owned` are course indices,
/// `position` maps them into `terms` (`u32::MAX`: not offered).
fn shares(
    terms: &mut [f32],
    owned: &[u32],
    position: &[u32],
    segments: &[(u32, usize, usize)],
    n_categories: usize,
) -> (f32, Vec<f32>) {
    for &c in owned {
        if let Some(&p) = position.get(c as usize).filter(|&&p| p != u32::MAX) {
            terms[p as usize] = f32::NEG_INFINITY;
        }
    }
    let max = max_of(terms);
    let mut cats = vec![0f32; n_categories];
    if max == f32::NEG_INFINITY {
        return (f32::INFINITY, cats);
    }
    let mut sum = 0f32;
    for &(k, a, b) in segments {
        let s = exp_sum(&terms[a..b], max);
        cats[k as usize] += s;
        sum += s;
    }
    cats.iter_mut().for_each(|v| *v /= sum);
    (max + sum.ln(), cats)
}

impl OfferShares {
    /// Builds the shares of every learner; `taken` rows are the courses each
    /// owns (excluded), `category[c]` the category index of course `c`,
    /// `offered[c]` whether course `c` can be sold at all. Costs one dot
    /// product and one exponential per (learner, course): the exact
    /// normaliser needs every course.
    pub fn build(
        users: &Factors,
        courses: &Factors,
        taken: &Csr,
        category: &[u32],
        offered: &[bool],
        n_categories: usize,
        beta: f32,
    ) -> OfferShares {
        // Offered courses only, grouped by category: a row's terms of one
        // category are then contiguous, and its category shares are
        // segment sums instead of a scatter over every course.
        let mut order: Vec<u32> = (0..courses.n as u32).filter(|&c| offered[c as usize]).collect();
        order.sort_by_key(|&c| category[c as usize]);
        let mut position = vec![u32::MAX; courses.n];
        for (p, &c) in order.iter().enumerate() {
            position[c as usize] = p as u32;
        }
        let mut segments: Vec<(u32, usize, usize)> = Vec::new();
        for (p, &c) in order.iter().enumerate() {
            let k = category[c as usize];
            match segments.last_mut() {
                Some(last) if last.0 == k => last.2 = p + 1,
                _ => segments.push((k, p, p + 1)),
            }
        }
        let k = users.k;
        let m = order.len();
        let mut y_data = Vec::with_capacity(m * k);
        for &c in &order {
            y_data.extend_from_slice(courses.row(c as usize));
        }
        // Scores a block of learners against every offered course at once
        // (sgemm through ndarray's matrixmultiply, with its runtime AVX/FMA
        // kernels), then turns each row into its normaliser and shares.
        const BLOCK: usize = 64;
        let y = ArrayView2::from_shape((m, k), &y_data).expect("m × k course factors");
        let blocks: Vec<Vec<(f32, Vec<f32>)>> = (0..users.n.div_ceil(BLOCK))
            .into_par_iter()
            .map(|b| {
                let (u0, u1) = (b * BLOCK, ((b + 1) * BLOCK).min(users.n));
                let x = ArrayView2::from_shape((u1 - u0, k), &users.data[u0 * k..u1 * k]).expect("block");
                let mut scores = Array2::<f32>::zeros((u1 - u0, m));
                general_mat_mul(beta, &x, &y.t(), 0.0, &mut scores);
                scores
                    .rows_mut()
                    .into_iter()
                    .zip(u0..u1)
                    .map(|(mut row, u)| {
                        let terms = row.as_slice_mut().expect("rows of a standard layout");
                        shares(terms, taken.row(u).0, &position, &segments, n_categories)
                    })
                    .collect()
            })
            .collect();
        let per = blocks.into_iter().flatten();
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_fast_exponential_matches_the_standard_one() {
        for i in 0..=20_000 {
            let x = -(i as f32) * 0.0045;
            let (got, want) = (exp_nonpositive(x), x.exp());
            if x <= -87.0 {
                // Below e^-87 (1.6e-38) a softmax term is taken as 0.
                assert_eq!(got, 0.0);
                continue;
            }
            assert!((got - want).abs() <= 3e-7 * want + 1e-38, "{x}: {got} vs {want}");
        }
        assert_eq!(exp_nonpositive(f32::NEG_INFINITY), 0.0);
        assert_eq!(exp_nonpositive(-200.0), 0.0);
        assert_eq!(exp_nonpositive(0.0), 1.0);
    }

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
        let shares = OfferShares::build(&users, &courses, &taken, &[0, 0, 1, 1], &offered, 2, 2.0);
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
        let shares = OfferShares::build(&users, &courses, &taken, &category, &offered, 3, 1.5);
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
}
