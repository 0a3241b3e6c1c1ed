//! The next-course holdout: for each test learner of a temporal split, the
//! held-out course they started first after their training part is the
//! target; each candidate ranks the catalogue minus the learner's training
//! courses, scored by HR@K and NDCG@K (one relevant item). Candidates: the
//! factor model, the order-aware model, their blend, 7-day trending and
//! all-time popularity. The shuffle test refits the order model on each
//! learner's courses in a random order: if order carries signal, the true
//! order beats it on the same targets.

use rand::seq::SliceRandom;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use super::order::{blend_pool, taken_sequences, Transitions};
use crate::model::topn::{dot, top_n_scores};
use crate::model::{top_n, Factors, Interaction};

/// Window of the trending baseline, ms.
pub const TRENDING_MS: i64 = 7 * 86_400_000;
/// Blend weights tried (λ of [`blend_pool`]).
pub const BLEND_WEIGHTS: [f32; 4] = [0.25, 0.5, 0.75, 1.0];
/// Factor candidates the blend re-ranks, beyond K.
pub const BLEND_POOL: usize = 50;
/// Level of the paired tests.
const ALPHA: f64 = 0.05;

/// A holdout split as the next-course holdout reads it (the shape of
/// `eval::split::Split`, borrowed, so this module does not depend on it).
#[derive(Debug, Clone, Copy)]
pub struct Split<'a> {
    /// The training part, sorted by learner.
    pub train: &'a [Interaction],
    /// Per test learner, the held-out course indices (sorted).
    pub test: &'a [(u32, Vec<u32>)],
}

/// HR@K and NDCG@K of one candidate.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct CandidateScore {
    /// `factor`, `order`, `blend`, `trending` or `popularity`.
    pub name: String,
    /// Share of test learners whose next course is in the top K, 0..1.
    pub hit_rate: f64,
    pub ndcg: f64,
}

/// Does the order learners take courses in carry signal? The order model
/// fitted on true orders against one fitted on orders shuffled within each
/// learner, on the same targets; a paired z-test on per-learner NDCG.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ShuffleTest {
    pub ndcg_ordered: f64,
    pub ndcg_shuffled: f64,
    /// Ordered minus shuffled.
    pub difference: f64,
    /// Two-sided p-value of the paired z-test, 0..1.
    pub p_value: f64,
    /// `order_carries_signal`, `order_hurts` or `no_detectable_signal`
    /// (at the 5 % level).
    pub verdict: String,
}

/// How the candidates did on the next-course holdout.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct NextCourseReport {
    pub k: usize,
    /// Learners with a training history and a held-out next course.
    pub test_users: usize,
    pub candidates: Vec<CandidateScore>,
    /// λ of the blend, chosen on half of the test learners (even rows).
    pub blend_weight: f32,
    /// NDCG of blend minus factor model on the other half, and its paired
    /// two-sided p-value: the blend serves only when this is positive and
    /// the p-value below 0.05.
    pub blend_gain: f64,
    pub blend_p_value: f64,
    pub blend_wins: bool,
    pub shuffle_test: ShuffleTest,
}

impl NextCourseReport {
    /// The candidate called `name`, if evaluated.
    pub fn candidate(&self, name: &str) -> Option<&CandidateScore> {
        self.candidates.iter().find(|c| c.name == name)
    }
}

/// One test learner: training courses (sorted), taken ones in order, target.
struct Case {
    user: u32,
    train: Vec<u32>,
    history: Vec<u32>,
    target: u32,
}

/// The cases of a temporal split: `entries` are all interactions (sorted by
/// learner), `split.train` the training part.
fn cases(entries: &[Interaction], split: &Split<'_>) -> Vec<Case> {
    let by_user: std::collections::HashMap<u32, &[Interaction]> = entries
        .chunk_by(|a, b| a.user == b.user)
        .map(|g| (g[0].user, g))
        .collect();
    let train_of: std::collections::HashMap<u32, &[Interaction]> = split
        .train
        .chunk_by(|a, b| a.user == b.user)
        .map(|g| (g[0].user, g))
        .collect();
    split
        .test
        .iter()
        .filter_map(|(u, held)| {
            let all = by_user.get(u)?;
            let target = all
                .iter()
                .filter(|e| e.taken && held.binary_search(&e.course).is_ok())
                .min_by_key(|e| (e.start_ms, e.course))?
                .course;
            let train = train_of.get(u).copied().unwrap_or(&[]);
            let history = taken_sequences(train).next().unwrap_or_default();
            if history.is_empty() {
                return None;
            }
            Some(Case {
                user: *u,
                train: train.iter().map(|e| e.course).collect(),
                history,
                target,
            })
        })
        .collect()
}

/// NDCG of one relevant item at 0-based `rank` within K (0 when absent).
fn gain(list: &[(u32, f32)], target: u32, k: usize) -> f64 {
    list.iter()
        .take(k)
        .position(|r| r.0 == target)
        .map_or(0.0, |r| 1.0 / (r as f64 + 2.0).log2())
}

/// Mean and paired two-sided z-test p-value of `a − b`.
fn paired(a: &[f64], b: &[f64]) -> (f64, f64) {
    let n = a.len() as f64;
    if a.len() < 2 {
        return (0.0, 1.0);
    }
    let d: Vec<f64> = a.iter().zip(b).map(|(x, y)| x - y).collect();
    let mean = d.iter().sum::<f64>() / n;
    let var = d.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (n - 1.0);
    let se = (var / n).sqrt();
    let p = if se > 0.0 {
        libm::erfc((mean / se).abs() / std::f64::consts::SQRT_2)
    } else if mean == 0.0 {
        1.0
    } else {
        0.0
    };
    (mean, p)
}

fn mean(v: &[f64]) -> f64 {
    if v.is_empty() {
        0.0
    } else {
        v.iter().sum::<f64>() / v.len() as f64
    }
}

/// Each candidate's ranked list, per case.
struct Ranked {
    factor: f64,
    order: f64,
    shuffled: f64,
    trending: f64,
    popularity: f64,
    blends: [f64; BLEND_WEIGHTS.len()],
}

/// What the next-course holdout needs of a split, taken before the split
/// is consumed by the factor model's fit: the cases, the order models
/// fitted on true and shuffled training orders, and the baselines.
pub struct NextCourseHoldout {
    cases: Vec<Case>,
    ordered: Transitions,
    shuffled: Transitions,
    trending: Vec<f32>,
    popularity: Vec<f32>,
}

impl NextCourseHoldout {
    /// From `split` (temporal, of `entries`, all interactions sorted by
    /// learner) over `n_courses` courses of `category`. `None` when no test
    /// learner has a history and a held-out next course.
    pub fn prepare(
        entries: &[Interaction],
        split: &Split<'_>,
        n_courses: usize,
        category: &[u32],
        seed: u64,
    ) -> Option<NextCourseHoldout> {
        let cases = cases(entries, split);
        if cases.is_empty() {
            return None;
        }
        let n = n_courses;
        let ordered = Transitions::build(taken_sequences(split.train), n, category);
        let mut rng = ChaCha8Rng::seed_from_u64(seed ^ 0x5eed);
        let shuffled_seqs: Vec<Vec<u32>> = taken_sequences(split.train)
            .map(|mut s| {
                s.shuffle(&mut rng);
                s
            })
            .collect();
        let shuffled = Transitions::build(shuffled_seqs.into_iter(), n, category);
        let end = split.train.iter().map(|e| e.start_ms).max().unwrap_or(0);
        let mut trending = vec![0f32; n];
        let mut popularity = vec![0f32; n];
        for e in split.train {
            popularity[e.course as usize] += 1.0;
            if e.start_ms > end - TRENDING_MS {
                trending[e.course as usize] += 1.0;
            }
        }
        Some(NextCourseHoldout {
            cases,
            ordered,
            shuffled,
            trending,
            popularity,
        })
    }

    /// Scores every candidate at `k`; the factor model is `users`·`items`
    /// fitted on the split's training part.
    pub fn evaluate(&self, users: &Factors, items: &Factors, k: usize) -> NextCourseReport {
        let NextCourseHoldout {
            cases,
            ordered,
            shuffled,
            trending,
            popularity,
        } = self;
        let ranked: Vec<Ranked> = cases
            .par_iter()
            .map(|c| {
                let mut train = c.train.clone();
                train.sort_unstable();
                let excl = |i: u32| train.binary_search(&i).is_ok();
                let u = users.row(c.user as usize);
                let factor = top_n(u, items, k + BLEND_POOL, excl);
                let order = top_n_scores(&ordered.scores(&c.history), k, excl);
                let shuf = top_n_scores(&shuffled.scores(&c.history), k, excl);
                let trend = top_n_scores(trending, k, excl);
                let pop = top_n_scores(popularity, k, excl);
                let mut pool = factor.clone();
                for b in ordered.successors(&c.history) {
                    if !excl(b) && !pool.iter().any(|p| p.0 == b) {
                        pool.push((b, dot(u, items.row(b as usize))));
                    }
                }
                let mut blends = [0.0; BLEND_WEIGHTS.len()];
                for (slot, &lambda) in blends.iter_mut().zip(&BLEND_WEIGHTS) {
                    let mut p = pool.clone();
                    blend_pool(&mut p, &c.history, ordered, lambda);
                    *slot = gain(&p, c.target, k);
                }
                let g = |l: &[(u32, f32)]| gain(l, c.target, k);
                Ranked {
                    factor: g(&factor),
                    order: g(&order),
                    shuffled: g(&shuf),
                    trending: g(&trend),
                    popularity: g(&pop),
                    blends,
                }
            })
            .collect();
        // λ chosen on even cases, the win judged on odd ones.
        let tune: Vec<&Ranked> = ranked.iter().step_by(2).collect();
        let best = (0..BLEND_WEIGHTS.len())
            .max_by(|&a, &b| {
                let m = |j: usize| tune.iter().map(|r| r.blends[j]).sum::<f64>();
                m(a).total_cmp(&m(b)).then(b.cmp(&a))
            })
            .expect("weights are not empty");
        let judge: Vec<&Ranked> = ranked.iter().skip(1).step_by(2).collect();
        let (blend_gain, blend_p_value) = paired(
            &judge.iter().map(|r| r.blends[best]).collect::<Vec<_>>(),
            &judge.iter().map(|r| r.factor).collect::<Vec<_>>(),
        );
        let col = |f: fn(&Ranked) -> f64| ranked.iter().map(f).collect::<Vec<f64>>();
        let blend_col: Vec<f64> = ranked.iter().map(|r| r.blends[best]).collect();
        // A case is a hit exactly when its gain is above 0.
        let score = |name: &str, gains: &[f64]| CandidateScore {
            name: name.to_string(),
            hit_rate: gains.iter().filter(|&&g| g > 0.0).count() as f64 / gains.len() as f64,
            ndcg: mean(gains),
        };
        let (ord, shuf) = (col(|r| r.order), col(|r| r.shuffled));
        let (difference, p_value) = paired(&ord, &shuf);
        let verdict = match (p_value < ALPHA, difference > 0.0) {
            (true, true) => "order_carries_signal",
            (true, false) => "order_hurts",
            _ => "no_detectable_signal",
        };
        NextCourseReport {
            k,
            test_users: ranked.len(),
            candidates: vec![
                score("factor", &col(|r| r.factor)),
                score("order", &ord),
                score("blend", &blend_col),
                score("trending", &col(|r| r.trending)),
                score("popularity", &col(|r| r.popularity)),
            ],
            blend_weight: BLEND_WEIGHTS[best],
            blend_gain,
            blend_p_value,
            blend_wins: blend_gain > 0.0 && blend_p_value < ALPHA,
            shuffle_test: ShuffleTest {
                ndcg_ordered: mean(&ord),
                ndcg_shuffled: mean(&shuf),
                difference,
                p_value,
                verdict: verdict.to_string(),
            },
        }
    }
}

/// [`NextCourseHoldout::prepare`] then [`NextCourseHoldout::evaluate`].
pub fn evaluate_next(
    entries: &[Interaction],
    split: &Split<'_>,
    users: &Factors,
    items: &Factors,
    category: &[u32],
    k: usize,
    seed: u64,
) -> Option<NextCourseReport> {
    NextCourseHoldout::prepare(entries, split, items.n, category, seed).map(|h| h.evaluate(users, items, k))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Learners who all take courses 0 → 1 → 2 → 3 → 4 in that order (a
    /// strong habit), with factors that know nothing (all equal): the
    /// order model finds each learner's next course, shuffled order and
    /// flat factors do not.
    #[test]
    fn order_wins_when_learners_share_an_order() {
        let mut entries = Vec::new();
        for u in 0..200u32 {
            let start = u % 3; // learners start at different points
            for (step, c) in (start..5).enumerate() {
                let ts = i64::from(u) * 1000 + step as i64 * 10;
                entries.push(Interaction {
                    user: u,
                    course: c,
                    weight: 1.0,
                    ts_ms: ts,
                    start_ms: ts,
                    taken: true,
                });
            }
        }
        // Even learners are tested on their latest course (always 4); the
        // odd half keeps its whole order in training.
        let train: Vec<Interaction> = entries
            .iter()
            .copied()
            .filter(|e| e.user % 2 == 1 || e.course != 4)
            .collect();
        let test: Vec<(u32, Vec<u32>)> = (0..200).step_by(2).map(|u| (u, vec![4])).collect();
        let sp = Split {
            train: &train,
            test: &test,
        };
        let flat = Factors {
            n: 200,
            k: 1,
            data: vec![1.0; 200],
        };
        let items = Factors {
            n: 5,
            k: 1,
            data: vec![1.0; 5],
        };
        let r = evaluate_next(&entries, &sp, &flat, &items, &[0; 5], 1, 7).unwrap();
        assert_eq!(r.test_users, 100);
        assert_eq!(r.candidate("order").unwrap().hit_rate, 1.0, "{r:?}");
        assert!(r.shuffle_test.ndcg_ordered > r.shuffle_test.ndcg_shuffled);
        assert_eq!(r.shuffle_test.verdict, "order_carries_signal");
        assert!(r.candidate("blend").unwrap().ndcg > r.candidate("factor").unwrap().ndcg);
        assert!(r.blend_wins, "{r:?}");
    }

    #[test]
    fn gains_and_paired_tests_by_hand() {
        let list = [(5, 0.9), (7, 0.8), (9, 0.1)];
        assert_eq!(gain(&list, 5, 10), 1.0);
        assert!((gain(&list, 7, 10) - 1.0 / 3f64.log2()).abs() < 1e-12);
        assert_eq!(gain(&list, 9, 2), 0.0);
        // d = [1, 1, 1]: mean 1, no variance, p = 0.
        assert_eq!(paired(&[1.0, 1.0, 1.0], &[0.0; 3]), (1.0, 0.0));
        // d = [1, −1]: mean 0, p = 1.
        assert_eq!(paired(&[1.0, 0.0], &[0.0, 1.0]).1, 1.0);
    }
}
