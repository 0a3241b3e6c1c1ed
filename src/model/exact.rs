//! Slow, obviously-correct implicit ALS: every row is solved exactly with a
//! Cholesky factorisation. It is the oracle for the CG solver and the core of
//! fold-in, and `loss` is the objective both minimise.

use super::als::{confidence_matrix, init, AlsModel, AlsParams, Factors, FitError};
use super::csr::Csr;
use nalgebra::{DMatrix, DVector};

/// Solves `(G + Σ cᵢ₋₁ yᵢyᵢᵀ) x = Σ (1 + cᵢ₋₁) yᵢ` for one row, where `g` is
/// `YᵀY + λI` and `cm1` holds the `c − 1` values. `None` if the system is not
/// positive definite (only possible with λ = 0 and too few items).
pub fn solve_row(g: &[f32], y: &Factors, cols: &[u32], cm1: &[f32]) -> Option<Vec<f32>> {
    solve_row_with_negatives(g, y, cols, cm1, &[], &[])
}

/// [`solve_row`] with known negatives: columns `neg` with `c − 1` values
/// `neg_cm1` and preference 0, which add confidence to A but nothing to b
/// (Hu, Koren & Volinsky 2008 allow any p ∈ {0, 1} with any confidence).
pub fn solve_row_with_negatives(
    g: &[f32],
    y: &Factors,
    cols: &[u32],
    cm1: &[f32],
    neg: &[u32],
    neg_cm1: &[f32],
) -> Option<Vec<f32>> {
    let k = y.k;
    // f64 so the oracle is far more precise than the solver it checks.
    let mut a = DMatrix::<f64>::from_fn(k, k, |r, c| f64::from(g[r * k + c]));
    let mut b = DVector::<f64>::zeros(k);
    for (&i, &c) in cols.iter().zip(cm1) {
        let yi = y.row(i as usize);
        let c = f64::from(c);
        for r in 0..k {
            let yr = f64::from(yi[r]);
            b[r] += (1.0 + c) * yr;
            for s in 0..k {
                a[(r, s)] += c * yr * f64::from(yi[s]);
            }
        }
    }
    for (&i, &c) in neg.iter().zip(neg_cm1) {
        let yi = y.row(i as usize);
        let c = f64::from(c);
        for r in 0..k {
            for s in 0..k {
                a[(r, s)] += c * f64::from(yi[r]) * f64::from(yi[s]);
            }
        }
    }
    let x = a.cholesky()?.solve(&b);
    Some(x.iter().map(|&v| v as f32).collect())
}

fn solve_side(conf: &Csr, x: &mut Factors, y: &Factors, reg: f32) -> bool {
    let k = x.k;
    let mut g = y.gram();
    for a in 0..k {
        g[a * k + a] += reg;
    }
    for u in 0..x.n {
        let (cols, cm1) = conf.row(u);
        match solve_row(&g, y, cols, cm1) {
            Some(row) => x.data[u * k..(u + 1) * k].copy_from_slice(&row),
            None => return false,
        }
    }
    true
}

/// Exact ALS with the same initialisation and sweep order as [`super::als::fit`].
/// `after(iteration, model)` sees the model after every iteration.
pub fn fit_exact(
    ui: &Csr,
    params: &AlsParams,
    mut after: impl FnMut(usize, &AlsModel),
) -> Result<AlsModel, FitError> {
    let cu = confidence_matrix(ui, params)?;
    let ci = cu.transpose();
    let mut m = init(ui.n_rows, ui.n_cols, params);
    for it in 0..params.iterations {
        let ok = solve_side(&cu, &mut m.users, &m.items, params.regularization)
            && solve_side(&ci, &mut m.items, &m.users, params.regularization);
        if !ok || m.users.data.iter().chain(&m.items.data).any(|v| !v.is_finite()) {
            return Err(FitError::NonFinite { iteration: it });
        }
        after(it + 1, &m);
    }
    Ok(m)
}

/// The weighted objective `Σᵤᵢ cᵤᵢ(pᵤᵢ − xᵤ·yᵢ)² + λ(‖X‖² + ‖Y‖²)`, in f64.
/// Unobserved cells use `Σ_all (x·y)² = ⟨XᵀX, YᵀY⟩` so it is cheap enough
/// for tests on thousands of rows.
pub fn loss(ui: &Csr, params: &AlsParams, m: &AlsModel) -> f64 {
    let gx = m.users.gram();
    let gy = m.items.gram();
    let mut total: f64 = gx
        .iter()
        .zip(&gy)
        .map(|(a, b)| f64::from(*a) * f64::from(*b))
        .sum();
    for u in 0..ui.n_rows {
        let (cols, vals) = ui.row(u);
        let xu = m.users.row(u);
        for (&i, &w) in cols.iter().zip(vals) {
            if w <= 0.0 {
                continue;
            }
            let s: f64 = xu
                .iter()
                .zip(m.items.row(i as usize))
                .map(|(a, b)| f64::from(*a) * f64::from(*b))
                .sum();
            let c = 1.0 + f64::from(params.confidence_minus_one(w));
            // Replace the unobserved term s² with the observed one.
            total += c * (1.0 - s) * (1.0 - s) - s * s;
        }
    }
    let norm2: f64 = m
        .users
        .data
        .iter()
        .chain(&m.items.data)
        .map(|v| f64::from(*v).powi(2))
        .sum();
    total + f64::from(params.regularization) * norm2
}
