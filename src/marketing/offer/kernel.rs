//! One learner's softmax normaliser and category shares from the scores of
//! a plan's columns: vectorisable exponentials and reductions.

use super::plan::{Plan, Segment};

/// e^x for x ≤ 0 (softmax terms; −∞ gives 0), relative error below 3e-7:
/// a degree-6 Taylor polynomial on [−ln2/2, ln2/2] scaled by 2ⁿ. Plain
/// arithmetic, so loops over it vectorise, unlike `f32::exp`.
#[inline(always)]
pub(super) fn exp_nonpositive(x: f32) -> f32 {
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

/// (Σ e^(t − max), Σ e^(2(t − max))) over `terms`: a sampled segment's
/// total and the sum of squares its variance needs.
fn exp_sums(terms: &[f32], max: f32) -> (f32, f32) {
    let (mut s1, mut s2) = ([0f32; LANES], [0f32; LANES]);
    let chunks = terms.chunks_exact(LANES);
    let rest = chunks.remainder();
    for c in chunks {
        for ((a, b), &t) in s1.iter_mut().zip(s2.iter_mut()).zip(c) {
            let e = exp_nonpositive(t - max);
            *a += e;
            *b += e * e;
        }
    }
    let (mut t1, mut t2) = (s1.iter().sum::<f32>(), s2.iter().sum::<f32>());
    for &t in rest {
        let e = exp_nonpositive(t - max);
        t1 += e;
        t2 += e * e;
    }
    (t1, t2)
}

/// One learner's ln normaliser, category shares (summing to 1) and the
/// relative standard error of the normaliser (0 when every course was
/// scored). `log_norm` is +∞ when the learner owns every offered course.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct RowShares {
    pub log_norm: f32,
    pub categories: Vec<f32>,
    pub relative_error: f32,
}

/// `terms`: the learner's β-scaled score of each of `plan`'s columns;
/// `owned` are course indices, excluded from the sum.
pub(super) fn row_shares(terms: &mut [f32], owned: &[u32], plan: &Plan, n_categories: usize) -> RowShares {
    for &c in owned {
        if let Some(&p) = plan.position.get(c as usize).filter(|&&p| p != u32::MAX) {
            terms[p as usize] = f32::NEG_INFINITY;
        }
    }
    let max = max_of(terms);
    let mut categories = vec![0f32; n_categories];
    // A sampled stratum whose drawn courses are all owned says nothing
    // about its other courses: an infinite error sends the learner to the
    // exact scoring. So does owning every scored course of a sampled plan.
    let unknown = |terms: &[f32]| terms.iter().all(|&t| t == f32::NEG_INFINITY);
    if max == f32::NEG_INFINITY {
        let sampled = plan
            .segments
            .iter()
            .any(|g| g.population > (g.end - g.start) as f32);
        return RowShares {
            log_norm: f32::INFINITY,
            categories,
            relative_error: if sampled { f32::INFINITY } else { 0.0 },
        };
    }
    let (mut sum, mut variance) = (0f32, 0f32);
    for &Segment {
        category,
        start,
        end,
        population,
    } in &plan.segments
    {
        let terms = &terms[start..end];
        let drawn = terms.len() as f32;
        let s = if population <= drawn {
            exp_sum(terms, max)
        } else {
            // Stratified simple random sample: Σ ≈ (N/n)·Σ_sample, with
            // Var = N²(1 − n/N)·s²/n (Cochran, "Sampling Techniques", 5.3).
            let (s1, s2) = exp_sums(terms, max);
            if s1 == 0.0 && unknown(terms) {
                variance = f32::INFINITY;
            }
            let spread = ((s2 - s1 * s1 / drawn) / (drawn - 1.0).max(1.0)).max(0.0);
            variance += population * population * (1.0 - drawn / population) * spread / drawn;
            s1 * population / drawn
        };
        categories[category as usize] += s;
        sum += s;
    }
    categories.iter_mut().for_each(|v| *v /= sum);
    RowShares {
        log_norm: max + sum.ln(),
        categories,
        relative_error: variance.sqrt() / sum,
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
    fn a_sampled_segment_scales_its_sum_and_reports_its_standard_error() {
        // One exact column (category 0) and a sample of 2 out of 4
        // (category 1) with terms ln 1 and ln 3: max is ln 3, so relative
        // terms are 1/3, 1/3 and 1; the estimate of category 1 is
        // (4/2)·(1/3 + 1) = 8/3, of the whole 1/3 + 8/3 = 3.
        let plan = Plan {
            columns: vec![0, 1, 2],
            position: vec![0, 1, 2, u32::MAX, u32::MAX],
            segments: vec![
                Segment {
                    category: 0,
                    start: 0,
                    end: 1,
                    population: 1.0,
                },
                Segment {
                    category: 1,
                    start: 1,
                    end: 3,
                    population: 4.0,
                },
            ],
        };
        let mut terms = vec![0.0, 0.0, 3f32.ln()];
        let r = row_shares(&mut terms, &[], &plan, 2);
        assert!(
            (r.log_norm - (3f32.ln() + 3f32.ln())).abs() < 1e-5,
            "{}",
            r.log_norm
        );
        assert!((r.categories[0] - 1.0 / 9.0).abs() < 1e-6);
        assert!((r.categories[1] - 8.0 / 9.0).abs() < 1e-6);
        // s² of {1/3, 1} is 2/9; Var = 16·(1 − 1/2)·(2/9)/2 = 8/9.
        let want = (8f32 / 9.0).sqrt() / 3.0;
        assert!((r.relative_error - want).abs() < 1e-5, "{}", r.relative_error);
        // Owning the sampled course 2 removes it from the estimate.
        let mut terms = vec![0.0, 0.0, 3f32.ln()];
        let r = row_shares(&mut terms, &[2], &plan, 2);
        assert!((r.log_norm - 3f32.ln()).abs() < 1e-5, "1 + (4/2)·1 = 3");
    }
}
