//! Significance that stays valid when a report is read every day: the
//! mixture sequential probability ratio test (mSPRT) of Johari, Koomen,
//! Pekelis and Walsh, "Peeking at A/B tests" (KDD 2017), on a normal
//! approximation of the difference of two rates, and the sample-ratio
//! mismatch check (Fabijan et al., "Diagnosing Sample Ratio Mismatch",
//! KDD 2019).
//!
//! With an estimate θ̂ of variance V and a N(0, τ²) mixture over effects,
//! the likelihood ratio against θ = 0 is
//! Λ = √(V / (V + τ²)) · exp(τ² θ̂² / (2 V (V + τ²))).
//! Under the null Λ is a martingale, so by Ville's inequality the chance
//! that 1/Λ ever drops below α, however often it is read, is at most α.
//! The always-valid p-value is min(1, 1/Λ); the confidence sequence is
//! every θ whose own Λ stays below 1/α.

use serde::Serialize;

/// τ: the standard deviation of the mixture over true differences of
/// rates (5 points). Tests are most powerful for effects near τ and stay
/// valid for any.
pub const MIXTURE_SD: f64 = 0.05;

/// Below this many units (learners) in either arm a report gives no
/// verdict: the normal approximation is not yet to be trusted.
pub const MIN_UNITS_PER_ARM: u64 = 100;

/// Nor with fewer successes (conversions, clicks) in both arms together.
pub const MIN_SUCCESSES: u64 = 10;

/// The sample-ratio mismatch warning fires below this p-value (the
/// conventional 0.001: a real mismatch is rarely subtle).
pub const SRM_ALPHA: f64 = 0.001;

/// The name reports give the test, as `test`.
pub const TEST_NAME: &str = "mSPRT (always-valid normal-mixture sequential test, tau = 0.05)";

/// An always-valid test of one difference.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Sequential {
    /// min(1, 1/Λ), in 0..1.
    pub p_value: f64,
    /// Half-width of the confidence sequence at level 1 − alpha: the
    /// smallest |difference| the data could declare now.
    pub half_width: f64,
}

/// The mSPRT of θ = 0 for `estimate` with sampling `variance` (> 0), at
/// level `alpha`, with mixture standard deviation `tau`.
pub fn msprt(estimate: f64, variance: f64, tau: f64, alpha: f64) -> Sequential {
    let t2 = tau * tau;
    if variance <= 0.0 {
        let p_value = if estimate == 0.0 { 1.0 } else { 0.0 };
        return Sequential {
            p_value,
            half_width: 0.0,
        };
    }
    let v = variance;
    let log_lambda = 0.5 * (v / (v + t2)).ln() + t2 * estimate * estimate / (2.0 * v * (v + t2));
    let p_value = (-log_lambda).exp().min(1.0);
    let bound = (1.0 / alpha).ln() + 0.5 * ((v + t2) / v).ln();
    let half_width = (2.0 * v * (v + t2) / t2 * bound).sqrt();
    Sequential { p_value, half_width }
}

/// What a comparison lets a reader conclude.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    /// Fewer than [`MIN_UNITS_PER_ARM`] units in an arm or fewer than
    /// [`MIN_SUCCESSES`] successes: no p-value is given.
    InsufficientData,
    /// The interval holds 0.
    NoDetectableEffect,
    /// Significantly above the control.
    Positive,
    /// Significantly below the control.
    Negative,
}

impl Verdict {
    /// From the units of each arm, their successes together, and the
    /// interval of the difference (`None`: no comparison).
    pub fn of(units: [u64; 2], successes: u64, interval: Option<(f64, f64)>) -> Verdict {
        match interval {
            _ if units[0] < MIN_UNITS_PER_ARM || units[1] < MIN_UNITS_PER_ARM => Verdict::InsufficientData,
            _ if successes < MIN_SUCCESSES => Verdict::InsufficientData,
            None => Verdict::InsufficientData,
            Some((lo, _)) if lo > 0.0 => Verdict::Positive,
            Some((_, hi)) if hi < 0.0 => Verdict::Negative,
            Some(_) => Verdict::NoDetectableEffect,
        }
    }
}

/// Sample-ratio mismatch: the p-value of Pearson's χ² goodness-of-fit test
/// of `observed` counts against `expected_shares` (any positive scale;
/// k − 1 degrees of freedom). `None` with fewer than two groups or no units.
pub fn srm_p_value(observed: &[u64], expected_shares: &[f64]) -> Option<f64> {
    let n: u64 = observed.iter().sum();
    let total: f64 = expected_shares.iter().sum();
    if observed.len() < 2 || observed.len() != expected_shares.len() || n == 0 || total <= 0.0 {
        return None;
    }
    let mut chi2 = 0.0;
    for (&o, &s) in observed.iter().zip(expected_shares) {
        let e = n as f64 * s / total;
        if e <= 0.0 {
            return (o == 0).then_some(1.0).or(Some(0.0));
        }
        chi2 += (o as f64 - e).powi(2) / e;
    }
    Some(chi2_survival(chi2, (observed.len() - 1) as f64))
}

/// The warning a report shows for `srm_p_value`, or `None`.
pub fn srm_warning(p: Option<f64>) -> Option<String> {
    p.filter(|&p| p < SRM_ALPHA).map(|p| {
        format!(
            "sample ratio mismatch (p = {p:.2e}): the groups' sizes differ from their configured \
             shares more than chance allows; assignment or logging is broken, do not trust this report"
        )
    })
}

/// P(χ²_df > x): the regularized upper incomplete gamma Q(df/2, x/2).
fn chi2_survival(x: f64, df: f64) -> f64 {
    if x <= 0.0 {
        return 1.0;
    }
    gamma_q(df / 2.0, x / 2.0)
}

/// Q(a, x) = Γ(a, x) / Γ(a): the series of P below a + 1, Lentz's continued
/// fraction above (Numerical Recipes §6.2), to ~1e-14.
fn gamma_q(a: f64, x: f64) -> f64 {
    let ln_prefix = a * x.ln() - x - libm::lgamma(a);
    if x < a + 1.0 {
        let (mut term, mut sum, mut ap) = (1.0 / a, 1.0 / a, a);
        for _ in 0..1000 {
            ap += 1.0;
            term *= x / ap;
            sum += term;
            if term.abs() < sum.abs() * 1e-15 {
                break;
            }
        }
        (1.0 - sum * ln_prefix.exp()).clamp(0.0, 1.0)
    } else {
        let tiny = 1e-300;
        let mut b = x + 1.0 - a;
        let mut c = 1.0 / tiny;
        let mut d = 1.0 / b;
        let mut h = d;
        for i in 1..1000 {
            let an = -(i as f64) * (i as f64 - a);
            b += 2.0;
            d = an * d + b;
            if d.abs() < tiny {
                d = tiny;
            }
            c = b + an / c;
            if c.abs() < tiny {
                c = tiny;
            }
            d = 1.0 / d;
            let delta = d * c;
            h *= delta;
            if (delta - 1.0).abs() < 1e-15 {
                break;
            }
        }
        (ln_prefix.exp() * h).clamp(0.0, 1.0)
    }
}

#[cfg(test)]
mod tests {
    use rand::{Rng, SeedableRng};
    use rand_chacha::ChaCha8Rng;

    use super::*;
    use crate::experiment::stats::compare;

    #[test]
    fn chi2_survival_matches_the_tables() {
        // The 95 % points of χ² with 1, 2, 3 and 10 degrees of freedom.
        for (x, df) in [
            (3.841_459, 1.0),
            (5.991_465, 2.0),
            (7.814_728, 3.0),
            (18.307_04, 10.0),
        ] {
            let p = chi2_survival(x, df);
            assert!((p - 0.05).abs() < 1e-6, "{x} {df} {p}");
        }
        // df = 1 is the two-sided normal tail.
        let p = chi2_survival(4.0, 1.0);
        assert!((p - libm::erfc(2.0 / std::f64::consts::SQRT_2)).abs() < 1e-12);
        assert_eq!(chi2_survival(0.0, 3.0), 1.0);
    }

    #[test]
    fn srm_flags_a_broken_split_only() {
        // 90/10 configured, 9,000 / 1,000 observed: no mismatch.
        assert!((srm_p_value(&[9000, 1000], &[0.9, 0.1]).unwrap() - 1.0).abs() < 1e-12);
        // 50/50 configured, 5,200 / 4,800: χ² = 16, p = 6.3e-5.
        let p = srm_p_value(&[5200, 4800], &[1.0, 1.0]).unwrap();
        assert!((p - 6.334e-5).abs() < 1e-7, "{p}");
        assert!(srm_warning(Some(p)).is_some());
        assert!(srm_warning(Some(0.2)).is_none());
        assert_eq!(srm_p_value(&[0, 0], &[1.0, 1.0]), None);
        assert_eq!(srm_p_value(&[5], &[1.0]), None);
    }

    #[test]
    fn msprt_by_hand() {
        // V = 0.0001, τ = 0.05: ln Λ = ½ ln(1e-4 / 0.0026) + 0.0025·θ̂² / (2e-4·0.0026).
        let s = msprt(0.04, 1e-4, 0.05, 0.05);
        let log_lambda = 0.5 * (1e-4f64 / 0.0026).ln() + 0.0025 * 0.0016 / (2e-4 * 0.0026);
        assert!((s.p_value - (-log_lambda).exp()).abs() < 1e-12);
        // The interval excludes 0 exactly when p < alpha.
        for est in [0.0, 0.01, 0.02, 0.03, 0.0344, 0.035, 0.05] {
            let s = msprt(est, 1e-4, 0.05, 0.05);
            assert_eq!(s.p_value < 0.05, est.abs() > s.half_width, "{est} {s:?}");
        }
        // Wider than a fixed-sample interval: the price of reading daily.
        assert!(msprt(0.0, 1e-4, 0.05, 0.05).half_width > 1.96 * 0.01);
        assert_eq!(msprt(0.0, 0.0, 0.05, 0.05).p_value, 1.0);
    }

    #[test]
    fn verdicts_need_a_minimum_sample() {
        assert_eq!(
            Verdict::of([40, 40], 30, Some((0.1, 0.3))),
            Verdict::InsufficientData
        );
        assert_eq!(
            Verdict::of([500, 500], 5, Some((0.1, 0.3))),
            Verdict::InsufficientData
        );
        assert_eq!(Verdict::of([500, 500], 50, Some((0.01, 0.3))), Verdict::Positive);
        assert_eq!(
            Verdict::of([500, 500], 50, Some((-0.3, -0.01))),
            Verdict::Negative
        );
        assert_eq!(
            Verdict::of([500, 500], 50, Some((-0.1, 0.2))),
            Verdict::NoDetectableEffect
        );
    }

    /// Draws `n` Bernoulli(`p`) and returns the successes.
    fn successes(rng: &mut ChaCha8Rng, n: u64, p: f64) -> u64 {
        (0..n).filter(|_| rng.random::<f64>() < p).count() as u64
    }

    /// Runs `runs` experiments for `days` days, `per_day` learners per arm a
    /// day, converting at `p_t` and `p_c`, reading the report every day;
    /// returns the share ever declared significant by the always-valid
    /// test and by a fixed-sample z-test read the same way.
    fn peeking(runs: usize, days: usize, per_day: u64, p_t: f64, p_c: f64, seed: u64) -> (f64, f64) {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let (mut sequential, mut fixed) = (0, 0);
        for _ in 0..runs {
            let (mut xt, mut xc, mut n) = (0, 0, 0);
            let (mut seq_hit, mut fixed_hit) = (false, false);
            for _ in 0..days {
                n += per_day;
                xt += successes(&mut rng, per_day, p_t);
                xc += successes(&mut rng, per_day, p_c);
                let c = compare(xt, n, xc, n, 0.05).unwrap();
                let verdict = Verdict::of([n, n], xt + xc, Some((c.ci_low, c.ci_high)));
                seq_hit |= matches!(verdict, Verdict::Positive | Verdict::Negative);
                fixed_hit |= c.fixed_p_value < 0.05;
            }
            sequential += usize::from(seq_hit);
            fixed += usize::from(fixed_hit);
        }
        (sequential as f64 / runs as f64, fixed as f64 / runs as f64)
    }

    /// 1,000 A/A experiments of 40 learners per arm a day, read every day
    /// for 30 days: the always-valid test declares at most 5 % of them
    /// significant, where the fixed-sample test read daily declares far more.
    #[test]
    fn daily_peeking_at_a_a_tests_keeps_false_positives_under_5_percent() {
        let (sequential, fixed) = peeking(1000, 30, 40, 0.1, 0.1, 7);
        eprintln!(
            "A/A, 1,000 runs x 30 daily reads: always-valid {sequential:.3}, fixed-sample z {fixed:.3}"
        );
        assert!(sequential <= 0.05, "{sequential}");
        assert!(fixed > 2.0 * sequential.max(0.05), "{fixed}");
    }

    /// A planted 30 % against 20 % with 2,000 learners per arm by day 30.
    #[test]
    fn a_planted_ten_point_difference_is_found() {
        let (power, _) = peeking(500, 30, 67, 0.3, 0.2, 11);
        eprintln!("30% vs 20%, 2,010 per arm after 30 daily reads: power {power:.3}");
        assert!(power >= 0.95, "{power}");
    }
}
