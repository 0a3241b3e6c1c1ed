//! Platt scaling (Platt 1999): recalibrates a model's probabilities on the
//! latest labelled window, p' = σ(a·logit(p) + b), with the two parameters
//! fitted by `linfa-logistic` on the one feature logit(p).

use linfa::prelude::*;
use linfa_logistic::LogisticRegression;
use ndarray::{Array1, Array2};
use serde::{Deserialize, Serialize};

use super::classifier::LinearModel;
use super::subsample::{fit_rows, MAX_FIT_ROWS};

/// p' = σ(`slope`·logit(p) + `offset`); the identity is slope 1, offset 0.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Platt {
    pub slope: f64,
    pub offset: f64,
}

/// logit(p), p clipped to [1e-9, 1 − 1e-9] so 0 and 1 stay finite.
fn logit(p: f64) -> f64 {
    let p = p.clamp(1e-9, 1.0 - 1e-9);
    (p / (1.0 - p)).ln()
}

impl Platt {
    pub const IDENTITY: Platt = Platt {
        slope: 1.0,
        offset: 0.0,
    };

    /// The recalibrated probability (0..1) of a forecast `p` (0..1).
    pub fn apply(&self, p: f64) -> f64 {
        1.0 / (1.0 + (-(self.slope * logit(p) + self.offset)).exp())
    }

    /// `m` followed by this map, as one linear model: σ(a·(b + w·x) + c) is
    /// σ(a·b + c + a·w·x).
    pub fn compose(&self, m: &LinearModel) -> LinearModel {
        LinearModel {
            weights: m.weights.iter().map(|w| self.slope * w).collect(),
            intercept: self.slope * m.intercept + self.offset,
            ..m.clone()
        }
    }
}

/// Fits the map on forecasts `p` (0..1) and outcomes `y` by maximum
/// likelihood (no penalty), on at most [`MAX_FIT_ROWS`] of them (a
/// case-control sample, the offset corrected back to all rows). The
/// identity when a class is missing or the optimizer fails: there is
/// nothing to correct against.
pub fn fit_platt(p: &[f64], y: &[bool]) -> Platt {
    let pos = y.iter().filter(|&&b| b).count();
    if pos == 0 || pos == y.len() {
        return Platt::IDENTITY;
    }
    let (picked, shift) = fit_rows(y, MAX_FIT_ROWS);
    let x = Array2::from_shape_fn((picked.len(), 1), |(i, _)| logit(p[picked[i]]));
    let targets: Array1<usize> = picked.iter().map(|&i| usize::from(y[i])).collect();
    let fitted = LogisticRegression::default()
        .alpha(0.0)
        .max_iterations(100)
        .fit(&Dataset::new(x, targets));
    let Ok(m) = fitted else {
        return Platt::IDENTITY;
    };
    // linfa picks which label is "positive": orient to predict true.
    let sign = if m.labels().pos.class == 1 { 1.0 } else { -1.0 };
    let out = Platt {
        slope: sign * m.params()[0],
        offset: sign * m.intercept() - shift,
    };
    if out.slope.is_finite() && out.offset.is_finite() {
        out
    } else {
        Platt::IDENTITY
    }
}

/// Out-of-fold recalibrated forecasts: learner i (fold i mod `folds`) gets
/// the map fitted on the other folds, so its outcome never shaped its own
/// probability. The calibration of these is an honest estimate of the
/// recalibrated model's on this window.
pub fn cross_fitted(p: &[f64], y: &[bool], folds: usize) -> Vec<f64> {
    let folds = folds.max(2);
    let mut out = vec![0.0; p.len()];
    for k in 0..folds {
        let (tp, ty): (Vec<f64>, Vec<bool>) = (0..p.len())
            .filter(|i| i % folds != k)
            .map(|i| (p[i], y[i]))
            .unzip();
        let map = fit_platt(&tp, &ty);
        for i in (k..p.len()).step_by(folds) {
            out[i] = map.apply(p[i]);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: f64, b: f64, tol: f64) -> bool {
        (a - b).abs() <= tol
    }

    #[test]
    fn the_identity_and_composition_by_hand() {
        assert!(close(Platt::IDENTITY.apply(0.3), 0.3, 1e-12));
        // slope 2, offset 0: logit 0.25 = −ln 3 → σ(−2 ln 3) = 1/(1+9) = 0.1.
        let m = Platt {
            slope: 2.0,
            offset: 0.0,
        };
        assert!(close(m.apply(0.25), 0.1, 1e-12));
        // σ(0.5 + 1·(x−1)/2) at x = 3 is σ(1.5); composed with the map: σ(3).
        let lin = LinearModel {
            columns: vec![0],
            mean: vec![1.0],
            scale: vec![2.0],
            weights: vec![1.0],
            intercept: 0.5,
            activity: None,
        };
        let row = [3.0; crate::marketing::features::N_FEATURES];
        assert!(close(
            m.compose(&lin).predict(&row),
            m.apply(lin.predict(&row)),
            1e-12
        ));
        assert!(close(
            m.compose(&lin).predict(&row),
            1.0 / (1.0 + (-3.0f64).exp()),
            1e-12
        ));
    }

    #[test]
    fn a_forecast_twice_too_high_comes_back_to_the_observed_rates() {
        // Two groups forecast 0.4 and 0.8 that buy at 0.2 and 0.4: any map
        // σ(a·logit p + b) through both points fits exactly, so the maximum
        // likelihood map sends each forecast to its group's rate.
        let mut p = Vec::new();
        let mut y = Vec::new();
        for (forecast, rate) in [(0.4, 0.2), (0.8, 0.4)] {
            for i in 0..100 {
                p.push(forecast);
                y.push((i as f64) < rate * 100.0);
            }
        }
        let m = fit_platt(&p, &y);
        assert!(close(m.apply(0.4), 0.2, 1e-3), "{m:?}");
        assert!(close(m.apply(0.8), 0.4, 1e-3), "{m:?}");
        // Out of fold, each learner's probability is near its group's rate.
        let cf = cross_fitted(&p, &y, 5);
        assert!(cf[..100].iter().all(|&q| close(q, 0.2, 0.02)));
        assert!(cf[100..].iter().all(|&q| close(q, 0.4, 0.02)));
    }

    #[test]
    fn one_class_leaves_forecasts_alone() {
        assert_eq!(fit_platt(&[0.2, 0.7], &[false, false]), Platt::IDENTITY);
        assert_eq!(fit_platt(&[], &[]), Platt::IDENTITY);
    }
}
