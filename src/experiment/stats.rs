//! Proportions with intervals at a chosen level, and differences of rates
//! tested by the always-valid mSPRT ([`super::sequential`]) on the
//! two-proportion normal approximation, so a verdict always agrees with
//! its interval and stays valid when the report is read every day.

use serde::Serialize;

use super::sequential::{msprt, MIXTURE_SD};

/// The 97.5% quantile of the standard normal.
pub const Z95: f64 = 1.959_963_984_540_054;

/// The two-sided critical value of the standard normal at level `alpha`:
/// z with P(|Z| > z) = alpha (1.96 for 0.05, 2.24 for 0.025). Solved by
/// bisection on erfc, exact to ~1e-12; `alpha` outside (0, 1) is clamped.
pub fn z_two_sided(alpha: f64) -> f64 {
    let alpha = alpha.clamp(1e-15, 1.0 - 1e-15);
    let (mut lo, mut hi) = (0.0f64, 40.0f64);
    for _ in 0..200 {
        let mid = 0.5 * (lo + hi);
        if libm::erfc(mid / std::f64::consts::SQRT_2) > alpha {
            lo = mid;
        } else {
            hi = mid;
        }
    }
    0.5 * (lo + hi)
}

#[cfg(test)]
/// Wilson score interval for `x` successes in `n` trials at 95%: unlike
/// the Wald interval it stays inside [0, 1] and is honest for small `n` or
/// rates near 0, which click-through rates are.
fn wilson(x: u64, n: u64) -> Option<(f64, f64)> {
    wilson_at(x, n, Z95)
}

/// The Wilson score interval with critical value `z` (see [`z_two_sided`]).
pub fn wilson_at(x: u64, n: u64, z: f64) -> Option<(f64, f64)> {
    if n == 0 {
        return None;
    }
    let (n, p) = (n as f64, x as f64 / n as f64);
    let z2 = z * z;
    let denom = 1.0 + z2 / n;
    let center = (p + z2 / (2.0 * n)) / denom;
    let half = z * (p * (1.0 - p) / n + z2 / (4.0 * n * n)).sqrt() / denom;
    Some(((center - half).max(0.0), (center + half).min(1.0)))
}

/// Per-unit sums for a ratio metric `Σy / Σx` over `n` units (users), e.g.
/// clicked lists over lists shown. Units, not the events inside them, are
/// what was randomized, so they are what the variance counts.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct RatioSums {
    pub n: u64,
    pub x: f64,
    pub y: f64,
    pub xx: f64,
    pub yy: f64,
    pub xy: f64,
}

impl RatioSums {
    pub fn ratio(&self) -> Option<f64> {
        (self.x > 0.0).then(|| self.y / self.x)
    }

    /// Delta-method variance of the ratio (Deng et al. 2018):
    /// `(σ²_y − 2R·σ_xy + R²·σ²_x) / (n·μ_x²)`. It grows when a few units
    /// hold many events, where treating events as independent would not.
    pub fn ratio_variance(&self) -> Option<f64> {
        if self.n < 2 || self.x <= 0.0 {
            return None;
        }
        let n = self.n as f64;
        let (mx, my) = (self.x / n, self.y / n);
        let r = my / mx;
        let vx = (self.xx - n * mx * mx) / (n - 1.0);
        let vy = (self.yy - n * my * my) / (n - 1.0);
        let cxy = (self.xy - n * mx * my) / (n - 1.0);
        Some(((vy - 2.0 * r * cxy + r * r * vx) / (n * mx * mx)).max(0.0))
    }

    /// The ratio with a 95% normal interval, clamped to [0, 1].
    pub fn interval(&self) -> Option<(f64, f64)> {
        self.interval_at(Z95)
    }

    /// [`RatioSums::interval`] with critical value `z`.
    pub fn interval_at(&self, z: f64) -> Option<(f64, f64)> {
        let (r, v) = (self.ratio()?, self.ratio_variance()?);
        let half = z * v.sqrt();
        Some(((r - half).max(0.0), (r + half).min(1.0)))
    }
}

/// Compares two ratio metrics (treatment `t`, control `c`) with the
/// delta-method variances: difference, interval at level 1 − `alpha`, z
/// and two-sided p.
pub fn compare_ratios(t: &RatioSums, c: &RatioSums, alpha: f64) -> Option<Comparison> {
    let difference = t.ratio()? - c.ratio()?;
    let se = (t.ratio_variance()? + c.ratio_variance()?).sqrt();
    Some(Comparison::new(difference, se, se, alpha))
}

/// A treatment rate against the control's.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Comparison {
    /// Treatment rate minus control rate.
    pub difference: f64,
    /// Always-valid confidence sequence of the difference at level
    /// 1 − alpha, the test's level.
    pub ci_low: f64,
    pub ci_high: f64,
    /// The z statistic (difference / standard error).
    pub z: f64,
    /// Always-valid p-value (mSPRT), in 0..1.
    pub p_value: f64,
    /// The fixed-sample two-sided p-value of `z`: valid only when read once,
    /// kept to show what daily reading would do to it (never reported).
    #[serde(skip)]
    pub fixed_p_value: f64,
    /// `p_value` below the report's `alpha` (0.05, Bonferroni-divided by
    /// the number of treatments): exactly when the interval excludes 0.
    pub significant: bool,
}

impl Comparison {
    /// From the difference, its standard error and the one under the null
    /// hypothesis (used only when the first is 0, e.g. rates of 0 and 1).
    /// Interval and test share one standard error and one level, so they
    /// cannot contradict each other; both 0 means no evidence at all.
    pub fn new(difference: f64, se: f64, se_null: f64, alpha: f64) -> Comparison {
        let se = if se > 0.0 { se } else { se_null };
        let z = if se > 0.0 { difference / se } else { 0.0 };
        let fixed_p_value = libm::erfc(z.abs() / std::f64::consts::SQRT_2);
        let test = msprt(difference, se * se, MIXTURE_SD, alpha);
        let (ci_low, ci_high) = (difference - test.half_width, difference + test.half_width);
        Comparison {
            difference,
            ci_low,
            ci_high,
            z,
            p_value: test.p_value,
            fixed_p_value,
            significant: ci_low > 0.0 || ci_high < 0.0,
        }
    }
}

/// Compares `xt/nt` with `xc/nc`; `None` when either side has no trials.
pub fn compare(xt: u64, nt: u64, xc: u64, nc: u64, alpha: f64) -> Option<Comparison> {
    if nt == 0 || nc == 0 {
        return None;
    }
    let (nt_f, nc_f) = (nt as f64, nc as f64);
    let (pt, pc) = (xt as f64 / nt_f, xc as f64 / nc_f);
    let difference = pt - pc;
    let se = (pt * (1.0 - pt) / nt_f + pc * (1.0 - pc) / nc_f).sqrt();
    let pooled = (xt + xc) as f64 / (nt_f + nc_f);
    // Unpooled (Wald) for interval and test alike; the pooled one only
    // when that is 0. Both rates 0 or both 1 make both 0.
    let se0 = (pooled * (1.0 - pooled) * (1.0 / nt_f + 1.0 / nc_f)).sqrt();
    Some(Comparison::new(difference, se, se0, alpha))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() < 5e-5
    }

    #[test]
    fn wilson_by_hand() {
        // 50/100: center 0.5, half-width 1.96·√(0.0025 + 0.000096)/1.0384.
        let (lo, hi) = wilson(50, 100).unwrap();
        assert!(close(lo, 0.40383) && close(hi, 0.59617), "{lo} {hi}");
        // 0/10 still has an upper bound (the "rule of three" neighbourhood).
        let (lo, hi) = wilson(0, 10).unwrap();
        assert!(lo == 0.0 && close(hi, 0.27753), "{lo} {hi}");
        assert_eq!(wilson(0, 0), None);
    }

    #[test]
    fn critical_values_by_level() {
        assert!((z_two_sided(0.05) - Z95).abs() < 1e-9);
        // Two treatments: 0.025, z = 2.241403.
        assert!((z_two_sided(0.025) - 2.241_402_727).abs() < 1e-8);
        assert!((z_two_sided(0.01) - 2.575_829_304).abs() < 1e-8);
    }

    #[test]
    fn two_proportion_test_by_hand() {
        // 12% vs 10% of 1,000 each: se = √(0.12·0.88/1000 + 0.1·0.9/1000)
        // = 0.0139857, z = 1.43004, p = 0.15271; not significant.
        let c = compare(120, 1000, 100, 1000, 0.05).unwrap();
        assert!(close(c.difference, 0.02));
        assert!(close(c.z, 1.43004), "{}", c.z);
        assert!(close(c.fixed_p_value, 0.15271), "{}", c.fixed_p_value);
        assert!(!c.significant && c.p_value > c.fixed_p_value);
        let v = 0.0139857f64.powi(2);
        let seq = msprt(0.02, v, MIXTURE_SD, 0.05);
        assert!(close(c.ci_low, 0.02 - seq.half_width) && close(c.p_value, seq.p_value));
        // Rates 1 and 0 (no variance on either side): the pooled se.
        let all = compare(100, 100, 0, 100, 0.05).unwrap();
        assert!(all.significant && all.ci_low > 0.0);
        // Not yet with ten a side: the always-valid test pays for small samples.
        assert!(!compare(10, 10, 0, 10, 0.05).unwrap().significant);
        // The same rates at 10× the traffic are significant.
        let big = compare(1200, 10_000, 1000, 10_000, 0.05).unwrap();
        assert!(big.significant && big.p_value < 0.01, "{big:?}");
        assert_eq!(compare(0, 10, 0, 10, 0.05).unwrap().p_value, 1.0);
        assert_eq!(compare(1, 0, 0, 10, 0.05), None);
    }

    /// 100 users with one list each, 20 of them clicked.
    fn one_list_each() -> RatioSums {
        RatioSums {
            n: 100,
            x: 100.0,
            y: 20.0,
            xx: 100.0,
            yy: 20.0,
            xy: 20.0,
        }
    }

    #[test]
    fn one_event_per_unit_gives_the_binomial_variance() {
        // 100 users, one list each, 20 clicked: σ²_y = 16/99, σ_x = σ_xy = 0.
        let s = one_list_each();
        assert_eq!(s.ratio(), Some(0.2));
        assert!(close(s.ratio_variance().unwrap(), 16.0 / 99.0 / 100.0));
    }

    #[test]
    fn clustered_events_widen_the_interval() {
        // 10 users with 10 lists each; 2 users click all 10, 8 none. The
        // same 20/100 as independent lists would give se 0.04; by user it
        // is √(17.78/100/10) = 0.1333.
        let s = RatioSums {
            n: 10,
            x: 100.0,
            y: 20.0,
            xx: 1000.0,
            yy: 200.0,
            xy: 200.0,
        };
        assert!(close(s.ratio_variance().unwrap().sqrt(), 0.133_333));
        let flat = one_list_each();
        let same = compare_ratios(&s, &flat, 0.05).unwrap();
        assert_eq!(same.difference, 0.0);
        assert!(!same.significant);
        assert_eq!(RatioSums { n: 1, ..s }.ratio_variance(), None);
    }

    #[test]
    fn interval_and_verdict_agree_at_the_tested_level() {
        for xt in 120..180 {
            for alpha in [0.05, 0.025, 0.0125] {
                let c = compare(xt, 1000, 100, 1000, alpha).unwrap();
                assert_eq!(c.significant, c.ci_low > 0.0 || c.ci_high < 0.0);
                assert_eq!(c.significant, c.p_value < alpha, "{xt} {alpha} {c:?}");
            }
        }
        // A difference a single read would call significant (z = 3) is
        // not yet one that survives reading every day.
        let c = compare(140, 1000, 100, 1000, 0.05).unwrap();
        assert!(
            c.fixed_p_value < 0.01 && !c.significant && c.ci_low < 0.0,
            "{c:?}"
        );
        // More significant at 0.05 than at 0.025 (Bonferroni for two).
        let at = |alpha| compare(160, 1000, 100, 1000, alpha).unwrap();
        assert!(at(0.05).significant && at(0.05).ci_low > at(0.025).ci_low);
    }
}
