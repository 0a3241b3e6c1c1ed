//! Score intervals of `TopIndex` rows from their `i8` codes: the AVX2
//! kernel for k = 64 where the CPU has it, plain Rust (vectorised under
//! [`dispatch`]) otherwise.

use super::vecops::{dispatch, Isa, Kernel};

/// Query-side constants of [`approx_scores`].
pub(super) struct ScoreParams {
    /// Padded row length (a multiple of 16).
    pub kp: usize,
    /// Query scale: `q̂ = t · qq`.
    pub t: f32,
    /// Upper bound of `‖q‖`.
    pub qn: f32,
    /// Upper bound of `‖q − q̂‖`.
    pub en: f32,
}

/// The index's per-row data, as the scoring kernels read it.
#[derive(Clone, Copy)]
pub(super) struct Rows<'a> {
    /// `i8` codes, `kp` per row.
    pub codes: &'a [i8],
    pub scale: &'a [f32],
    pub err: &'a [f32],
    pub qnorm: &'a [f32],
}

impl<'a> Rows<'a> {
    /// The rows after the first `n`.
    fn skip(self, n: usize, kp: usize) -> Rows<'a> {
        Rows {
            codes: &self.codes[n * kp..],
            scale: &self.scale[n..],
            err: &self.err[n..],
            qnorm: &self.qnorm[n..],
        }
    }
}

/// Score intervals of every row: `lo[i] ≤ exact f32 score ≤ hi[i]`, from
/// the integer dot of the row codes with the `i16` query codes `qq`.
pub(super) fn approx_scores(rows: Rows, qq: &[i16], p: &ScoreParams, lo: &mut [f32], hi: &mut [f32]) {
    #[cfg(target_arch = "x86_64")]
    if p.kp == 64 {
        if let Some(simd) = pulp::x86::V3::try_new() {
            let done = simd.vectorize(
                #[inline(always)]
                || super::topindex_avx2::approx_64(simd, rows, qq, p, lo, hi),
            );
            // The kernel handles whole blocks of 8 rows; the rest go below.
            let rest = rows.skip(done, 64);
            return approx_plain(rest, qq, p, &mut lo[done..], &mut hi[done..]);
        }
    }
    approx_plain(rows, qq, p, lo, hi)
}

fn approx_plain(rows: Rows, qq: &[i16], p: &ScoreParams, lo: &mut [f32], hi: &mut [f32]) {
    dispatch(Plain { rows, qq, p, lo, hi })
}

/// The arguments of [`approx_plain`], as a [`Kernel`].
struct Plain<'a> {
    rows: Rows<'a>,
    qq: &'a [i16],
    p: &'a ScoreParams,
    lo: &'a mut [f32],
    hi: &'a mut [f32],
}

impl Kernel for Plain<'_> {
    type Output = ();
    // No `madd`: the bounds must not depend on the instruction set.
    #[inline(always)]
    fn run<const FMA: bool>(self, _: Isa) {
        let Plain { rows, qq, p, lo, hi } = self;
        if p.kp == 64 {
            int_dots::<64>(rows.codes, qq, lo)
        } else {
            int_dots_any(rows.codes, qq, p.kp, lo)
        }
        let bounds = rows.scale.iter().zip(rows.err).zip(rows.qnorm);
        for ((l, h), ((&s, &e), &qh)) in lo.iter_mut().zip(hi.iter_mut()).zip(bounds) {
            let a = *l * (s * p.t);
            let b = p.qn * e + p.en * qh;
            *l = a - b;
            *h = a + b;
        }
    }
}

/// `out[i] = codes_row(i) · qq` (exact in i32; |·| < 2³¹ for k ≤ 512),
/// stored as f32.
#[inline(always)]
fn int_dots<const K: usize>(codes: &[i8], qq: &[i16], out: &mut [f32]) {
    let q: &[i16; K] = qq.try_into().unwrap();
    let (rows, _) = codes.as_chunks::<K>();
    for (r, o) in rows.iter().zip(out.iter_mut()) {
        let d: i32 = r.iter().zip(q).map(|(&c, &w)| i32::from(c) * i32::from(w)).sum();
        *o = d as f32;
    }
}

#[inline(always)]
fn int_dots_any(codes: &[i8], qq: &[i16], kp: usize, out: &mut [f32]) {
    for (r, o) in codes.chunks_exact(kp).zip(out.iter_mut()) {
        let d: i32 = r.iter().zip(qq).map(|(&c, &w)| i32::from(c) * i32::from(w)).sum();
        *o = d as f32;
    }
}
