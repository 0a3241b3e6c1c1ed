//! Exact top-N over a fixed factor matrix, several times faster than the
//! plain f32 scan of [`top_n`](super::topn::top_n), with the same answer.
//!
//! Built once per model: every row is quantised to `i8` (one scale per row)
//! and keeps a bound on its quantisation error. A query is quantised to
//! `i16`; one integer pass (a quarter of the f32 bytes, so it stays in L2)
//! gives every row an interval that surely holds its exact f32 score. Only
//! rows whose upper bound reaches the n-th best lower bound are rescored
//! with the same f32 `dot` as `top_n`, so items, scores and tie order match
//! a full scan exactly.

use super::factors::Factors;
use super::topindex_scores::{approx_scores, Rows, ScoreParams};
use super::topn::{top_n, Hit, TopK};
use super::vecops::dot;

/// Relative slack covering f32 rounding in the exact `dot` (≤ 64·2⁻²⁴ of
/// `‖q‖‖y‖` for k = 64, scaled by `k` below) and in the bound arithmetic.
const SLACK: f64 = 4.0 / (1u64 << 24) as f64;

/// A quantised copy of a factor matrix for exact top-N queries. Not
/// serialised: rebuild it with [`TopIndex::new`] after loading the factors.
#[derive(Debug, Clone, PartialEq)]
pub struct TopIndex {
    rows: Factors,
    /// Row codes, `kp` per row (`k` rounded up to 16, zero padded).
    codes: Vec<i8>,
    kp: usize,
    /// `ŷᵢ = scale[i] · codes[i]`.
    scale: Vec<f32>,
    /// Upper bound of `‖yᵢ − ŷᵢ‖ + SLACK·k·‖yᵢ‖` (rounding of the exact dot).
    err: Vec<f32>,
    /// Upper bound of `‖ŷᵢ‖`.
    qnorm: Vec<f32>,
    /// False when some factor is not finite: queries then fall back to the
    /// plain scan, whose NaN ordering the bounds cannot reproduce.
    finite: bool,
}

/// `x` rounded away from zero a little, so an f64 quantity turned into f32
/// is still an upper bound.
fn up(x: f64) -> f32 {
    (x * (1.0 + 1e-6) + 1e-37) as f32
}

impl TopIndex {
    /// Quantises every row of `rows` (O(n·k), about a millisecond for 20k × 64).
    pub fn new(rows: &Factors) -> TopIndex {
        let k = rows.k;
        let kp = k.div_ceil(16) * 16;
        let mut codes = vec![0i8; rows.n * kp];
        let mut scale = Vec::with_capacity(rows.n);
        let mut err = Vec::with_capacity(rows.n);
        let mut qnorm = Vec::with_capacity(rows.n);
        let finite = rows.data.iter().all(|v| v.is_finite());
        for (i, code) in codes.chunks_exact_mut(kp.max(1)).take(rows.n).enumerate() {
            let y = rows.row(i);
            let max = y.iter().fold(0f32, |m, v| m.max(v.abs()));
            let s = if finite && max > 0.0 { max / 127.0 } else { 0.0 };
            let (mut e2, mut h2, mut y2) = (0f64, 0f64, 0f64);
            for (c, &v) in code.iter_mut().zip(y) {
                if s > 0.0 {
                    *c = (v / s).round().clamp(-127.0, 127.0) as i8;
                }
                let yh = f64::from(s) * f64::from(*c);
                e2 += (f64::from(v) - yh).powi(2);
                h2 += yh * yh;
                y2 += f64::from(v).powi(2);
            }
            scale.push(s);
            err.push(up(e2.sqrt() + SLACK * k as f64 * y2.sqrt()));
            qnorm.push(up(h2.sqrt()));
        }
        TopIndex {
            rows: rows.clone(),
            codes,
            kp,
            scale,
            err,
            qnorm,
            finite,
        }
    }

    /// The indexed factors.
    pub fn rows(&self) -> &Factors {
        &self.rows
    }

    /// Same result as `top_n(query, self.rows(), n, exclude)`: the `n` rows
    /// with the highest `query · row`, best first, ties to the lower index.
    pub fn top_n(&self, query: &[f32], n: usize, exclude: impl Fn(u32) -> bool + Sync) -> Vec<(u32, f32)> {
        assert_eq!(query.len(), self.rows.k, "query has the wrong dimension");
        let qmax = query.iter().fold(0f32, |m, v| m.max(v.abs()));
        // Zero or non-finite queries (and factors) make every bound useless
        // or wrong; they are rare, so the plain scan handles them.
        if n == 0 || !self.finite || !qmax.is_finite() || qmax == 0.0 || self.rows.n == 0 {
            return top_n(query, &self.rows, n, exclude);
        }
        let t = qmax / 32767.0;
        let mut qq = vec![0i16; self.kp];
        let (mut q2, mut e2) = (0f64, 0f64);
        for (c, &v) in qq.iter_mut().zip(query) {
            *c = (v / t).round().clamp(-32767.0, 32767.0) as i16;
            q2 += f64::from(v).powi(2);
            e2 += (f64::from(v) - f64::from(t) * f64::from(*c)).powi(2);
        }
        let params = ScoreParams {
            kp: self.kp,
            t,
            // |q·y − q̂·ŷ| ≤ ‖q‖·‖y − ŷ‖ + ‖q − q̂‖·‖ŷ‖, both stored rounded up;
            // the 1 + 4·SLACK covers the f32 products forming the bound.
            qn: up(q2.sqrt() * (1.0 + 4.0 * SLACK)),
            en: up(e2.sqrt() * (1.0 + 4.0 * SLACK)),
        };
        // Bounds buffers are reused per thread: every entry is overwritten,
        // so a request pays neither the allocation nor the zeroing.
        BOUNDS.with_borrow_mut(|(lo, hi)| {
            lo.resize(self.rows.n, 0.0);
            hi.resize(self.rows.n, 0.0);
            let rows = Rows {
                codes: &self.codes,
                scale: &self.scale,
                err: &self.err,
                qnorm: &self.qnorm,
            };
            approx_scores(rows, &qq, &params, lo, hi);
            self.rescore(query, n, lo, hi, &exclude)
        })
    }

    /// Exact f32 scores for the rows whose upper bound reaches the n-th best
    /// lower bound.
    fn rescore(
        &self,
        query: &[f32],
        n: usize,
        lo: &[f32],
        hi: &[f32],
        exclude: &impl Fn(u32) -> bool,
    ) -> Vec<(u32, f32)> {
        let floor = nth_lower_bound(lo, n, exclude);
        let mut top = TopK::new(n);
        for (b, block) in hi.chunks(BLOCK).enumerate() {
            if block.iter().fold(f32::NEG_INFINITY, |m, &v| m.max(v)) < floor {
                continue;
            }
            for (o, &h) in block.iter().enumerate() {
                let i = (b * BLOCK + o) as u32;
                if h >= floor && !exclude(i) {
                    let hit = Hit(dot(query, self.rows.row(i as usize)), i);
                    if top.admits(hit) {
                        top.push(hit);
                    }
                }
            }
        }
        top.into_sorted()
    }
}

thread_local! {
    static BOUNDS: std::cell::RefCell<(Vec<f32>, Vec<f32>)> = const { std::cell::RefCell::new((Vec::new(), Vec::new())) };
}

/// Rows per block in the scalar passes: a block is skipped after one
/// vectorisable max when none of its rows can matter.
const BLOCK: usize = 32;

/// The n-th largest of `lo` over rows not excluded (−∞ if there are fewer):
/// at least `n` eligible rows score at least this, so a row whose upper
/// bound is below it cannot be in the top `n`.
fn nth_lower_bound(lo: &[f32], n: usize, exclude: &impl Fn(u32) -> bool) -> f32 {
    let mut top = TopK::new(n);
    let mut floor = f32::NEG_INFINITY;
    for (b, block) in lo.chunks(BLOCK).enumerate() {
        if block.iter().fold(f32::NEG_INFINITY, |m, &v| m.max(v)) < floor {
            continue;
        }
        for (o, &l) in block.iter().enumerate() {
            let i = (b * BLOCK + o) as u32;
            let h = Hit(l, i);
            if l >= floor && top.admits(h) && !exclude(i) {
                top.push(h);
                if top.is_full() {
                    floor = top.min_score();
                }
            }
        }
    }
    floor
}
