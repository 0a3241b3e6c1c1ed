//! Case-control subsampling for the logistic fits: at hundreds of
//! thousands of learners, L-BFGS over every row costs seconds per fit
//! while a few tens of thousands pin a dozen coefficients as well. Rare
//! positives are all kept (up to half the budget) and negatives are drawn
//! at a lower rate; the intercept is then shifted back by the log of the
//! two rates' ratio (prior correction, King & Zeng 2001, "Logistic
//! Regression in Rare Events Data", Political Analysis 9(2)). Pure.

use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

/// Rows a logistic fit reads at most.
pub const MAX_FIT_ROWS: usize = 50_000;

/// The rows a fit reads and the correction its intercept needs.
#[derive(Debug, Clone, PartialEq)]
pub struct Subsample {
    /// Row indices, ascending.
    pub rows: Vec<usize>,
    /// ln(s₁/s₀), s the inclusion rate of each class: a model fitted on
    /// the sample has logits higher by this much than on all rows.
    pub log_odds_shift: f64,
}

/// Seeded indices of `k` of `of`, ascending.
fn draw(rng: &mut ChaCha8Rng, of: &[usize], k: usize) -> Vec<usize> {
    if k >= of.len() {
        return of.to_vec();
    }
    let mut picked: Vec<usize> = rand::seq::index::sample(rng, of.len(), k)
        .into_iter()
        .map(|i| of[i])
        .collect();
    picked.sort_unstable();
    picked
}

/// The sample of `y`'s rows a fit of at most `max` rows reads, or `None`
/// when every row fits. Same labels, same sample (fixed seed).
pub fn case_control(y: &[bool], max: usize) -> Option<Subsample> {
    if y.len() <= max {
        return None;
    }
    let (pos, neg): (Vec<usize>, Vec<usize>) = (0..y.len()).partition(|&i| y[i]);
    // The rarer class keeps all its rows up to half the budget.
    let (rare, common) = if pos.len() <= neg.len() {
        (&pos, &neg)
    } else {
        (&neg, &pos)
    };
    let keep_rare = rare.len().min(max / 2);
    let keep_common = max - keep_rare;
    let mut rng = ChaCha8Rng::seed_from_u64(0x6c6f_6769_7374_6963);
    let mut rows = draw(&mut rng, rare, keep_rare);
    rows.extend(draw(&mut rng, common, keep_common));
    rows.sort_unstable();
    let rate = |kept: usize, of: usize| kept as f64 / of as f64;
    let (s_rare, s_common) = (rate(keep_rare, rare.len()), rate(keep_common, common.len()));
    let (s1, s0) = if pos.len() <= neg.len() {
        (s_rare, s_common)
    } else {
        (s_common, s_rare)
    };
    Some(Subsample {
        rows,
        log_odds_shift: (s1 / s0).ln(),
    })
}

/// The rows a fit of at most `max` rows reads and the shift its
/// intercept needs: every row and 0 when they fit, else [`case_control`].
pub fn fit_rows(y: &[bool], max: usize) -> (Vec<usize>, f64) {
    match case_control(y, max) {
        Some(s) => (s.rows, s.log_odds_shift),
        None => ((0..y.len()).collect(), 0.0),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn small_inputs_are_read_whole() {
        assert_eq!(case_control(&[true, false, false], 3), None);
    }

    #[test]
    fn rare_positives_are_all_kept_and_the_shift_is_the_rate_ratio() {
        // 10 positives, 990 negatives, budget 100: all 10 positives (rate
        // 1) and 90 of 990 negatives (rate 1/11): shift ln 11.
        let y: Vec<bool> = (0..1000).map(|i| i % 100 == 0).collect();
        let s = case_control(&y, 100).expect("sampled");
        assert_eq!(s.rows.len(), 100);
        assert_eq!(s.rows.iter().filter(|&&i| y[i]).count(), 10);
        assert!(s.rows.windows(2).all(|w| w[0] < w[1]));
        assert!((s.log_odds_shift - 11f64.ln()).abs() < 1e-12);
        assert_eq!(case_control(&y, 100), Some(s), "seeded");
    }

    #[test]
    fn a_common_positive_class_is_sampled_down_too() {
        // 900 positives, 100 negatives, budget 100: 50 negatives (rate
        // 1/2) and 50 positives (rate 1/18): shift ln(1/9).
        let y: Vec<bool> = (0..1000).map(|i| i % 10 != 0).collect();
        let s = case_control(&y, 100).expect("sampled");
        assert_eq!(s.rows.iter().filter(|&&i| !y[i]).count(), 50);
        assert!((s.log_odds_shift - (1.0f64 / 9.0).ln()).abs() < 1e-12);
    }
}
