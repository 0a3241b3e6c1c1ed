//! The conjugate-gradient row solver of implicit ALS (Takács et al. 2011;
//! benfred/implicit's `least_squares_cg`): a few CG steps per row, warm
//! started from the previous factors, never forming the per-row matrix.

use super::als::AlsParams;
use super::csr::Csr;
use super::factors::Factors;
use super::vecops::{
    axpy, axpy4, dispatch, dot4, dot4_k, dot_k, dot_m, madd, madd4, symv, symv_k, Isa, Kernel,
};
use rayon::prelude::*;

/// Per-thread scratch vectors so the row update never allocates.
struct Scratch {
    r: Vec<f32>,
    p: Vec<f32>,
    ap: Vec<f32>,
    /// The row's factor vectors, copied contiguously (see [`GATHER_MAX`]).
    block: Vec<f32>,
}

/// Rows whose other-side vectors fit in this many floats (16 MiB) are
/// first copied into a contiguous block: the copy's independent
/// loads overlap their cache misses, and the four CG passes then read
/// from cache instead of paying a miss per scattered row each time.
const GATHER_MAX: usize = 4 * 1024 * 1024;

/// Below this many floats (1 MiB) the whole other side stays in L2, so the
/// copy would only cost time (ML-100K: 1,682 × 64 floats, gathering made
/// the fit about 15% slower).
const GATHER_MIN_SIDE: usize = 256 * 1024;

/// Whether to copy the row's factor vectors into the scratch block.
#[inline(always)]
fn gather(y: &Factors, cols: &[u32]) -> bool {
    y.data.len() > GATHER_MIN_SIDE && cols.len() * y.k <= GATHER_MAX
}

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
fn gather_update<'a, const FMA: bool>(
    row: impl Fn(usize) -> &'a [f32],
    n_rows: usize,
    v: &[f32],
    out: &mut [f32],
    f: impl Fn(usize, f32) -> f32,
) {
    let mut n = 0;
    while n + 3 < n_rows {
        let ys = [row(n), row(n + 1), row(n + 2), row(n + 3)];
        let d = dot4::<FMA>(ys, v);
        let a = [f(n, d[0]), f(n + 1, d[1]), f(n + 2, d[2]), f(n + 3, d[3])];
        axpy4::<FMA>(a, ys, out);
        n += 4;
    }
    while n < n_rows {
        let yn = row(n);
        axpy::<FMA>(f(n, dot_m::<FMA>(yn, v)), yn, out);
        n += 1;
    }
}

/// [`gather_update`] for `K` factors: `out` stays in registers for the
/// whole pass instead of being loaded and stored for every four rows.
#[inline(always)]
fn gather_update_k<'a, const K: usize, const FMA: bool>(
    row: impl Fn(usize) -> &'a [f32; K],
    n_rows: usize,
    v: &[f32; K],
    out: &mut [f32; K],
    isa: Isa,
    f: impl Fn(usize, f32) -> f32,
) {
    let mut acc = *out;
    let mut n = 0;
    while n + 3 < n_rows {
        let ys = [row(n), row(n + 1), row(n + 2), row(n + 3)];
        let d = dot4_k::<K, FMA>(ys, v, isa);
        let a = [f(n, d[0]), f(n + 1, d[1]), f(n + 2, d[2]), f(n + 3, d[3])];
        for j in 0..K {
            acc[j] = madd4::<FMA>(a, [ys[0][j], ys[1][j], ys[2][j], ys[3][j]], acc[j]);
        }
        n += 4;
    }
    while n < n_rows {
        let yn = row(n);
        let a = f(n, dot_k::<K, FMA>(yn, v));
        for j in 0..K {
            acc[j] = madd::<FMA>(a, yn[j], acc[j]);
        }
        n += 1;
    }
    *out = acc;
}

/// Minimises `Σ c(1 − x·y)² + Σ_unobserved (x·y)² + λ‖x‖²` for one row.
///
/// Run through [`dispatch`]: with AVX2 + FMA the multiply-adds are fused,
/// so the bits differ from the baseline build, but each is deterministic.
fn cg_row(g: &[f32], y: &Factors, cols: &[u32], cm1: &[f32], x: &mut [f32], s: &mut Scratch, steps: usize) {
    dispatch(CgRow {
        g,
        y,
        cols,
        cm1,
        x,
        s,
        steps,
    })
}

/// The arguments of [`cg_row`], as a [`Kernel`].
struct CgRow<'a> {
    g: &'a [f32],
    y: &'a Factors,
    cols: &'a [u32],
    cm1: &'a [f32],
    x: &'a mut [f32],
    s: &'a mut Scratch,
    steps: usize,
}

impl Kernel for CgRow<'_> {
    type Output = ();
    #[inline(always)]
    fn run<const FMA: bool>(self, isa: Isa) {
        if self.y.k == 64 {
            cg_row_k::<64, FMA>(self, isa)
        } else {
            cg_row_any::<FMA>(self)
        }
    }
}

/// [`cg_row`] for `K` factors: the CG vectors live in registers.
#[inline(always)]
fn cg_row_k<const K: usize, const FMA: bool>(a: CgRow, isa: Isa) {
    let CgRow {
        g,
        y,
        cols,
        cm1,
        x,
        s,
        steps,
    } = a;
    let (g, _) = g.as_chunks::<K>();
    let (rows, _) = y.data.as_chunks::<K>();
    let block = &mut s.block;
    let gathered = gather(y, cols);
    if gathered {
        block.clear();
        for &i in cols {
            block.extend_from_slice(&rows[i as usize]);
        }
    }
    let (block, _) = block.as_chunks::<K>();
    let row = |n: usize| {
        if gathered {
            &block[n]
        } else {
            &rows[cols[n] as usize]
        }
    };
    let x: &mut [f32; K] = x.try_into().expect("row length is k");
    let mut xv = *x;
    // r = b − A x, with A = G + Σ (c−1) y yᵀ and b = Σ c y.
    let mut r = symv_k::<K, FMA>(g, &xv).map(|v| -v);
    gather_update_k::<K, FMA>(row, cols.len(), &xv, &mut r, isa, |n, yx| {
        madd::<FMA>(-cm1[n], yx, 1.0 + cm1[n])
    });
    let mut p = r;
    let mut rs_old = dot_k::<K, FMA>(&r, &r);
    for _ in 0..steps {
        if rs_old < 1e-20 {
            break;
        }
        let mut ap = symv_k::<K, FMA>(g, &p);
        gather_update_k::<K, FMA>(row, cols.len(), &p, &mut ap, isa, |n, yp| cm1[n] * yp);
        let step = rs_old / dot_k::<K, FMA>(&p, &ap);
        for j in 0..K {
            xv[j] = madd::<FMA>(step, p[j], xv[j]);
            r[j] = madd::<FMA>(-step, ap[j], r[j]);
        }
        let rs_new = dot_k::<K, FMA>(&r, &r);
        let beta = rs_new / rs_old;
        for j in 0..K {
            p[j] = madd::<FMA>(beta, p[j], r[j]);
        }
        rs_old = rs_new;
    }
    *x = xv;
}

/// [`cg_row`] for any factor count.
#[inline(always)]
fn cg_row_any<const FMA: bool>(a: CgRow) {
    let CgRow {
        g,
        y,
        cols,
        cm1,
        x,
        s,
        steps,
    } = a;
    let Scratch { r, p, ap, block } = s;
    let k = y.k;
    let gathered = gather(y, cols);
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
    symv::<FMA>(g, x, r);
    r.iter_mut().for_each(|v| *v = -*v);
    gather_update::<FMA>(row, cols.len(), x, r, |n, yx| {
        madd::<FMA>(-cm1[n], yx, 1.0 + cm1[n])
    });
    p.copy_from_slice(r);
    let mut rs_old = dot_m::<FMA>(r, r);
    for _ in 0..steps {
        if rs_old < 1e-20 {
            break;
        }
        symv::<FMA>(g, p, ap);
        gather_update::<FMA>(row, cols.len(), p, ap, |n, yp| cm1[n] * yp);
        let step = rs_old / dot_m::<FMA>(p, ap);
        axpy::<FMA>(step, p, x);
        axpy::<FMA>(-step, ap, r);
        let rs_new = dot_m::<FMA>(r, r);
        let beta = rs_new / rs_old;
        p.iter_mut()
            .zip(r.iter())
            .for_each(|(pv, rv)| *pv = madd::<FMA>(beta, *pv, *rv));
        rs_old = rs_new;
    }
}
