//! Implicit-feedback ALS (Hu, Koren & Volinsky 2008) solved with a few
//! conjugate-gradient steps per row (Takács et al. 2011), as in
//! benfred/implicit's `least_squares_cg`.
//!
//! Each observed weight `w > 0` becomes preference 1 with confidence
//! `c = 1 + alpha·f(w)`; every unobserved cell has preference 0 and confidence 1.

use super::cg::solve_side;
use super::csr::Csr;
pub use super::factors::Factors;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

/// How a weight `w` turns into extra confidence `f(w)` (then scaled by `alpha`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Confidence {
    /// `f(w) = w`.
    Linear,
    /// `f(w) = ln(1 + w/eps)`: grows slowly, so one `alpha` suits both the
    /// 0/1 weights of MovieLens and the service's 1–10+ event weights.
    Log,
}

/// Training parameters, read from config (`[model.als]`); missing fields take
/// the defaults.
///
/// Defaults were chosen on validation splits carved out of the ML-100K
/// *training* parts (random and temporal; `examples/tune.rs`), maximising
/// the sum of both NDCG@10s relative to their targets: 64 factors,
/// 15 iterations, 3 CG steps, `regularization` 20, `alpha` 2 with the log
/// confidence (`eps` 1). Strong regularisation mattered most: λ = 0.05 lost
/// about a fifth of the NDCG. λ is not scaled by row length, so it is
/// relative to confidences: ML-100K weight 1 gives c = 1 + 2·ln 2 ≈ 2.4, the
/// service's purchase (10) gives c = 1 + 2·ln 11 ≈ 5.8 and a view (1) 2.4,
/// so both data sets live on the same scale.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AlsParams {
    pub factors: usize,
    pub iterations: usize,
    pub regularization: f32,
    pub alpha: f32,
    pub confidence: Confidence,
    /// Scale of the log confidence; ignored for `Linear`.
    pub eps: f32,
    pub cg_steps: usize,
    pub seed: u64,
}

impl Default for AlsParams {
    fn default() -> Self {
        AlsParams {
            factors: 64,
            iterations: 15,
            regularization: 20.0,
            alpha: 2.0,
            confidence: Confidence::Log,
            eps: 1.0,
            cg_steps: 3,
            seed: 42,
        }
    }
}

impl AlsParams {
    /// `c − 1 = alpha·f(w)` for one weight.
    #[inline]
    pub fn confidence_minus_one(&self, w: f32) -> f32 {
        match self.confidence {
            Confidence::Linear => self.alpha * w,
            Confidence::Log => self.alpha * (w / self.eps).ln_1p(),
        }
    }

    fn validate(&self) -> Result<(), FitError> {
        let ok = self.factors > 0
            && self.regularization.is_finite()
            && self.regularization >= 0.0
            && self.alpha.is_finite()
            && self.alpha >= 0.0
            && (self.confidence == Confidence::Linear || (self.eps.is_finite() && self.eps > 0.0));
        if ok {
            Ok(())
        } else {
            Err(FitError::InvalidParams(format!("{self:?}")))
        }
    }
}

/// Why a fit failed.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum FitError {
    #[error("invalid ALS parameters: {0}")]
    InvalidParams(String),
    #[error("interaction weight at ({row}, {col}) is not finite")]
    NonFiniteInput { row: usize, col: usize },
    #[error("factors became non-finite in iteration {iteration}")]
    NonFinite { iteration: usize },
    #[error("the fold-in system is singular (regularization 0 and too few events?)")]
    Singular,
}

/// Trained user and item factors.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AlsModel {
    pub users: Factors,
    pub items: Factors,
}

/// Turns raw weights into `c − 1` values, dropping entries with `w ≤ 0`
/// (they carry no preference, exactly like unobserved cells).
pub(crate) fn confidence_matrix(ui: &Csr, params: &AlsParams) -> Result<Csr, FitError> {
    // Built row by row (no triple list) to keep peak memory at one extra CSR.
    let mut indptr = Vec::with_capacity(ui.n_rows + 1);
    let mut indices = Vec::with_capacity(ui.nnz());
    let mut data = Vec::with_capacity(ui.nnz());
    indptr.push(0);
    for r in 0..ui.n_rows {
        let (cols, vals) = ui.row(r);
        for (&c, &w) in cols.iter().zip(vals) {
            if !w.is_finite() {
                return Err(FitError::NonFiniteInput {
                    row: r,
                    col: c as usize,
                });
            }
            if w > 0.0 {
                indices.push(c);
                data.push(params.confidence_minus_one(w));
            }
        }
        indptr.push(indices.len());
    }
    Ok(Csr {
        n_rows: ui.n_rows,
        n_cols: ui.n_cols,
        indptr,
        indices,
        data,
    })
}

/// Initial factors for both sides, drawn from the seed (users first).
pub(crate) fn init(n_users: usize, n_items: usize, params: &AlsParams) -> AlsModel {
    let mut rng = ChaCha8Rng::seed_from_u64(params.seed);
    let users = Factors::random(n_users, params.factors, &mut rng);
    let items = Factors::random(n_items, params.factors, &mut rng);
    AlsModel { users, items }
}

/// Fits factors to the user × item weight matrix `ui` from seeded random
/// factors, `params.iterations` times. `progress(done, total)` is called
/// after every iteration.
pub fn fit(ui: &Csr, params: &AlsParams, progress: impl FnMut(usize, usize)) -> Result<AlsModel, FitError> {
    let start = init(ui.n_rows, ui.n_cols, params);
    fit_from(ui, params, start, params.iterations, progress)
}

/// Continues a fit from `start` (n_rows × k users, n_cols × k items, for
/// example a model fitted on a holdout split of the same matrix) for
/// `iterations` alternations: each CG solve starts from the current
/// factors, so a start near the optimum needs a few. A `start` of another
/// shape is replaced by seeded random factors.
pub fn fit_from(
    ui: &Csr,
    params: &AlsParams,
    start: AlsModel,
    iterations: usize,
    mut progress: impl FnMut(usize, usize),
) -> Result<AlsModel, FitError> {
    params.validate()?;
    let cu = confidence_matrix(ui, params)?;
    let ci = cu.transpose();
    let fits = |f: &Factors, n: usize| f.n == n && f.k == params.factors;
    let mut m = if fits(&start.users, ui.n_rows) && fits(&start.items, ui.n_cols) {
        start
    } else {
        init(ui.n_rows, ui.n_cols, params)
    };
    for it in 0..iterations {
        solve_side(&cu, &mut m.users, &m.items, params);
        solve_side(&ci, &mut m.items, &m.users, params);
        // Checked every iteration: once NaN appears it spreads to everything.
        if !m.users.all_finite() || !m.items.all_finite() {
            return Err(FitError::NonFinite { iteration: it });
        }
        progress(it + 1, iterations);
    }
    Ok(m)
}
