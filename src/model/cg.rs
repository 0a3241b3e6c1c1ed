//! The conjugate-gradient row solver of implicit ALS (Takács et al. 2011;
//! benfred/implicit's `least_squares_cg`): a few CG steps per row, warm
//! started from the previous factors, never forming the per-row matrix.

use super::als::AlsParams;
use super::csr::Csr;
use super::factors::Factors;
use super::vecops::{axpy, axpy4, dispatch, dot, dot4, symv};
use rayon::prelude::*;

/// Per-thread scratch vectors so the row update never allocates.
struct Scratch {
    r: Vec<f32>,
    p: Vec<f32>,
    ap: Vec<f32>,
    /// The row's factor vectors, copied contiguously (see [`GATHER_MAX`]).
    block: Vec<f32>,
}

/// Rows whose other-side vectors fit in this many floats (256 KiB, about
/// L2) are first copied into a contiguous block: the copy's independent
/// loads overlap their cache misses, and the four CG passes then read
/// from cache instead of paying a miss per scattered row each time.
const GATHER_MAX: usize = 4 * 1024 * 1024;

/// One CG half-step: updates every row of `x` against fixed `y`.
pub(crate) fn solve_side(conf: &Csr, x: &mut Factors, y: &Factors, params: &AlsParams) {
    let k = x.k;
    let mut g = y.gram();
    for a in 0..k {
        g[a * k + a] += params.regularization;
    }
    let steps = params.cg_steps;
    x.data.par_chunks_mut(k).enumerate().for_each_init(
        || Scratch {
            r: vec![0.0; k],
            p: vec![0.0; k],
            ap: vec![0.0; k],
            block: Vec::new(),
        },
        |s, (u, xu)| {
            let (cols, cm1) = conf.row(u);
            cg_row(&g, y, cols, cm1, xu, s, steps);
        },
    );
}

/// `out += Σₙ f(n, yₙ·v) · yₙ` over the row's entries `yₙ = row(n)`.
/// Fused so each `yₙ` is loaded once and reused from L1. Always inlined so
/// it is compiled with the caller's target features.
#[inline(always)]
fn gather_update<'a>(
    row: impl Fn(usize) -> &'a [f32],
    n_rows: usize,
    v: &[f32],
    out: &mut [f32],
    f: impl Fn(usize, f32) -> f32,
) {
    let mut n = 0;
    while n + 3 < n_rows {
        let ys = [row(n), row(n + 1), row(n + 2), row(n + 3)];
        let d = dot4(ys, v);
        let a = [f(n, d[0]), f(n + 1, d[1]), f(n + 2, d[2]), f(n + 3, d[3])];
        axpy4(a, ys, out);
        n += 4;
    }
    while n < n_rows {
        let yn = row(n);
        axpy(f(n, dot(yn, v)), yn, out);
        n += 1;
    }
}

/// Minimises `Σ c(1 − x·y)² + Σ_unobserved (x·y)² + λ‖x‖²` for one row.
///
/// Run through [`dispatch`], so the inlined body is also compiled for AVX2
/// and picked at run time when the CPU has it; no FMA contraction happens
/// (Rust never fuses `a * b + c` on its own), so both give the same bits.
fn cg_row(g: &[f32], y: &Factors, cols: &[u32], cm1: &[f32], x: &mut [f32], s: &mut Scratch, steps: usize) {
    dispatch(
        #[inline(always)]
        || cg_row_body(g, y, cols, cm1, x, s, steps),
    )
}

#[inline(always)]
fn cg_row_body(
    g: &[f32],
    y: &Factors,
    cols: &[u32],
    cm1: &[f32],
    x: &mut [f32],
    s: &mut Scratch,
    steps: usize,
) {
    let Scratch { r, p, ap, block } = s;
    let k = y.k;
    let gathered = cols.len() * k <= GATHER_MAX;
    if gathered {
        block.clear();
        for &i in cols {
            block.extend_from_slice(y.row(i as usize));
        }
    }
    let block: &[f32] = block;
    let row = |n: usize| {
        if gathered {
            &block[n * k..(n + 1) * k]
        } else {
            y.row(cols[n] as usize)
        }
    };
    // r = b − A x, with A = G + Σ (c−1) y yᵀ and b = Σ c y.
    symv(g, x, r);
    r.iter_mut().for_each(|v| *v = -*v);
    gather_update(row, cols.len(), x, r, |n, yx| (1.0 + cm1[n]) - cm1[n] * yx);
    p.copy_from_slice(r);
    let mut rs_old = dot(r, r);
    for _ in 0..steps {
        if rs_old < 1e-20 {
            break;
        }
        symv(g, p, ap);
        gather_update(row, cols.len(), p, ap, |n, yp| cm1[n] * yp);
        let step = rs_old / dot(p, ap);
        axpy(step, p, x);
        axpy(-step, ap, r);
        let rs_new = dot(r, r);
        let beta = rs_new / rs_old;
        p.iter_mut()
            .zip(r.iter())
            .for_each(|(pv, rv)| *pv = rv + beta * *pv);
        rs_old = rs_new;
    }
}
