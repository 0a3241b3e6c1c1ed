//! Proportions with 95% intervals and the two-proportion z-test.

use serde::Serialize;

/// The 97.5% quantile of the standard normal.
pub const Z95: f64 = 1.959_963_984_540_054;

/// Wilson score interval for `x` successes in `n` trials: unlike the Wald
/// interval it stays inside [0, 1] and is honest for small `n` or rates
/// near 0, which click-through rates are.
pub fn wilson(x: u64, n: u64) -> Option<(f64, f64)> {
    if n == 0 {
        return None;
    }
    let (n, p) = (n as f64, x as f64 / n as f64);
    let z2 = Z95 * Z95;
    let denom = 1.0 + z2 / n;
    let center = (p + z2 / (2.0 * n)) / denom;
    let half = Z95 * (p * (1.0 - p) / n + z2 / (4.0 * n * n)).sqrt() / denom;
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
        let (r, v) = (self.ratio()?, self.ratio_variance()?);
        let half = Z95 * v.sqrt();
        Some(((r - half).max(0.0), (r + half).min(1.0)))
    }
}

/// Compares two ratio metrics (treatment `t`, control `c`) with the
/// delta-method variances: difference, 95% interval, z and two-sided p.
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
    /// 95% interval of the difference.
    pub ci_low: f64,
    pub ci_high: f64,
    /// The z statistic and its two-sided p-value.
    pub z: f64,
    pub p_value: f64,
    /// `p_value` below the report's `alpha` (0.05, Bonferroni-divided by
    /// the number of treatments).
    pub significant: bool,
}

impl Comparison {
    /// From the difference, the standard error for its interval and the
    /// one under the null hypothesis for its test (0: no evidence at all).
    fn new(difference: f64, se: f64, se_null: f64, alpha: f64) -> Comparison {
        let z = if se_null > 0.0 { difference / se_null } else { 0.0 };
        let p_value = libm::erfc(z.abs() / std::f64::consts::SQRT_2);
        Comparison {
            difference,
            ci_low: difference - Z95 * se,
            ci_high: difference + Z95 * se,
            z,
            p_value,
            significant: p_value < alpha,
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
    // Unpooled for the interval, pooled under the null for the test; both
    // rates 0 or both 1 make it 0.
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
    fn two_proportion_test_by_hand() {
        // 12% vs 10% of 1,000 each: pooled p 0.11, se0 = √(0.11·0.89·0.002)
        // = 0.013993, z = 1.4293, p = 0.1529; not significant.
        let c = compare(120, 1000, 100, 1000, 0.05).unwrap();
        assert!(close(c.difference, 0.02));
        assert!(close(c.z, 1.42930), "{}", c.z);
        assert!(close(c.p_value, 0.15292), "{}", c.p_value);
        assert!(!c.significant);
        // se = √(0.12·0.88/1000 + 0.1·0.9/1000) = 0.013986.
        assert!(close(c.ci_low, 0.02 - 1.959964 * 0.0139857));
        // The same rates at 10× the traffic are significant.
        let big = compare(1200, 10_000, 1000, 10_000, 0.05).unwrap();
        assert!(big.significant && big.p_value < 0.001);
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
}
