//! Logistic regression on standardized features, fitted with `linfa-logistic`
//! (L-BFGS on the L2-penalized log-likelihood). Kept as plain coefficients so
//! scoring is a dot product and the snapshot does not depend on the crate.

use linfa::prelude::*;
use linfa_logistic::LogisticRegression;
use ndarray::{Array1, Array2};
use serde::{Deserialize, Serialize};

use super::subsample::{fit_rows, MAX_FIT_ROWS};

/// A fitted model: p = σ(b + Σ wᵢ·(xᵢ − μᵢ)/sᵢ) over the features `columns`
/// pick from a full feature row. A model with no weights is a constant rate.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LinearModel {
    pub columns: Vec<usize>,
    pub mean: Vec<f64>,
    pub scale: Vec<f64>,
    pub weights: Vec<f64>,
    pub intercept: f64,
    /// The BG/BB fit its `bgbb_*` columns were computed under, so a kept
    /// model reads them as it was fitted; `None` if it uses none.
    #[serde(default)]
    pub activity: Option<super::bgbb::BgBb>,
}

fn sigmoid(z: f64) -> f64 {
    1.0 / (1.0 + (-z).exp())
}

impl LinearModel {
    /// The positive rate of `y` as a constant model, smoothed by one of each.
    pub fn constant(y: &[bool]) -> LinearModel {
        let pos = y.iter().filter(|&&b| b).count() as f64;
        let p = (pos + 1.0) / (y.len() as f64 + 2.0);
        LinearModel {
            columns: vec![],
            mean: vec![],
            scale: vec![],
            weights: vec![],
            intercept: (p / (1.0 - p)).ln(),
            activity: None,
        }
    }

    /// Whether it reads the BG/BB columns.
    pub fn uses_activity(&self) -> bool {
        self.columns.iter().any(|&c| c >= super::features::BGBB_FIRST)
    }

    /// Probability (0..1) for one full feature row.
    pub fn predict(&self, row: &[f64]) -> f64 {
        let z: f64 = self
            .columns
            .iter()
            .enumerate()
            .map(|(j, &c)| self.weights[j] * (row[c] - self.mean[j]) / self.scale[j])
            .sum();
        sigmoid(self.intercept + z)
    }
}

/// L-BFGS stops once the gradient of the summed loss is below this times
/// the rows: linfa's default (1e-4 in all) made every fit of tens of
/// thousands of rows run to the iteration cap. At this tolerance the
/// backtest AUCs of a 200,000-learner synthetic platform agree with the
/// capped fits to six digits, in two thirds of the time.
const GRADIENT_TOLERANCE_PER_ROW: f64 = 1e-5;

/// Fits on the `columns` of `rows` against `y` with L2 penalty `alpha`,
/// reading at most [`MAX_FIT_ROWS`] rows (a case-control sample, its
/// intercept corrected back to all rows). Falls back to
/// [`LinearModel::constant`] when only one class occurs or the optimizer
/// fails (the caller's backtest then shows it is no better).
pub fn fit<R: AsRef<[f64]>>(rows: &[R], y: &[bool], columns: &[usize], alpha: f64) -> LinearModel {
    let pos = y.iter().filter(|&&b| b).count();
    if pos == 0 || pos == y.len() {
        return LinearModel::constant(y);
    }
    let (picked, shift) = fit_rows(y, MAX_FIT_ROWS);
    let k = columns.len();
    let n = picked.len() as f64;
    let mut mean = vec![0.0; k];
    let mut scale = vec![0.0; k];
    for (j, &c) in columns.iter().enumerate() {
        mean[j] = picked.iter().map(|&i| rows[i].as_ref()[c]).sum::<f64>() / n;
        let var = picked
            .iter()
            .map(|&i| (rows[i].as_ref()[c] - mean[j]).powi(2))
            .sum::<f64>()
            / n;
        // A constant column gets scale 1 so it contributes nothing, not NaN.
        scale[j] = if var > 1e-12 { var.sqrt() } else { 1.0 };
    }
    let x = Array2::from_shape_fn((picked.len(), k), |(i, j)| {
        (rows[picked[i]].as_ref()[columns[j]] - mean[j]) / scale[j]
    });
    let targets: Array1<usize> = picked.iter().map(|&i| usize::from(y[i])).collect();
    let data = Dataset::new(x, targets);
    let fitted = LogisticRegression::default()
        .alpha(alpha)
        .max_iterations(200)
        .gradient_tolerance(GRADIENT_TOLERANCE_PER_ROW * n)
        .fit(&data);
    let Ok(m) = fitted else {
        return LinearModel::constant(y);
    };
    // linfa orders the two labels itself: orient the coefficients so they
    // predict label 1 (true).
    let sign = if m.labels().pos.class == 1 { 1.0 } else { -1.0 };
    LinearModel {
        columns: columns.to_vec(),
        mean,
        scale,
        weights: m.params().iter().map(|w| sign * w).collect(),
        intercept: sign * m.intercept() - shift,
        activity: None,
    }
}
