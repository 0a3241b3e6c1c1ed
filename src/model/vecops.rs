//! Small dense vector kernels written so LLVM auto-vectorises them.
//!
//! Sixteen independent accumulators break the floating-point add dependency
//! chain; fixed-size array chunks remove bounds checks. Summation order is
//! fixed, so results are bit-for-bit reproducible on any thread count.

/// A kernel body for [`dispatch`]. Implementations mark `run`
/// `#[inline(always)]` so that it is compiled inside the target-feature
/// function that calls it (a closure there may stay a separate function
/// without the features).
pub(super) trait Kernel {
    type Output;
    /// `FMA` is true only when the body runs with AVX2 + FMA enabled, where
    /// [`madd`] is one fused instruction; elsewhere it is a multiply and an
    /// add. `isa` then also carries the AVX2 token for explicit intrinsics.
    fn run<const FMA: bool>(self, isa: Isa) -> Self::Output;
}

/// The instruction set a [`Kernel`] runs under: the AVX2 + FMA token, if any.
#[derive(Clone, Copy)]
pub(super) struct Isa {
    #[cfg(target_arch = "x86_64")]
    v3: Option<pulp::x86::V3>,
}

impl Isa {
    /// Baseline code, no token.
    fn baseline() -> Isa {
        Isa {
            #[cfg(target_arch = "x86_64")]
            v3: None,
        }
    }
}

/// Runs `kernel` compiled with AVX2 + FMA when the CPU has them (via
/// `pulp`, which owns the `unsafe` feature check), else for baseline x86-64.
/// The two builds differ in rounding where the kernel uses [`madd`]; each
/// is deterministic, whatever the thread count.
#[inline(always)]
pub(super) fn dispatch<K: Kernel>(kernel: K) -> K::Output {
    #[cfg(target_arch = "x86_64")]
    if let Some(simd) = pulp::x86::V3::try_new() {
        return simd.vectorize(Fused(kernel, simd));
    }
    kernel.run::<false>(Isa::baseline())
}

/// Adapts a [`Kernel`] to `pulp`: a plain method call, always inlined,
/// so the body is compiled with the features of pulp's wrapper.
#[cfg(target_arch = "x86_64")]
struct Fused<K>(K, pulp::x86::V3);

#[cfg(target_arch = "x86_64")]
impl<K: Kernel> pulp::NullaryFnOnce for Fused<K> {
    type Output = K::Output;
    #[inline(always)]
    fn call(self) -> K::Output {
        self.0.run::<true>(Isa { v3: Some(self.1) })
    }
}

/// `a * b + c`, fused (one rounding) when `FMA`.
#[inline(always)]
pub(super) fn madd<const FMA: bool>(a: f32, b: f32, c: f32) -> f32 {
    if FMA {
        a.mul_add(b, c)
    } else {
        a * b + c
    }
}

/// Dot product of two equal-length slices, unfused: scores from
/// [`top_n`](super::topn::top_n), `TopIndex` and their callers must agree
/// bit for bit whichever path computed them.
#[inline(always)]
pub fn dot(a: &[f32], b: &[f32]) -> f32 {
    dot_m::<false>(a, b)
}

/// [`dot`] with [`madd`] steps.
#[inline(always)]
pub(super) fn dot_m<const FMA: bool>(a: &[f32], b: &[f32]) -> f32 {
    debug_assert_eq!(a.len(), b.len());
    let mut acc = [0.0f32; 16];
    let (ca, ra) = a.as_chunks::<16>();
    let (cb, rb) = b.as_chunks::<16>();
    for (x, y) in ca.iter().zip(cb) {
        for j in 0..16 {
            acc[j] = madd::<FMA>(x[j], y[j], acc[j]);
        }
    }
    let mut tail = 0.0f32;
    for (x, y) in ra.iter().zip(rb) {
        tail = madd::<FMA>(*x, *y, tail);
    }
    // `black_box` is an identity that hides the reduction from LLVM's SLP
    // vectoriser, which otherwise sizes the main loop's vectors after the
    // reduction tree and emits 2-lane code with scalar loads (checked in the
    // asm). Each costs a 16/64-byte store and reload, far less than the
    // serial scalar sum it replaces.
    let acc = std::hint::black_box(acc);
    let mut v = [0.0f32; 4];
    for l in 0..4 {
        v[l] = (acc[l] + acc[4 + l]) + (acc[8 + l] + acc[12 + l]);
    }
    let v = std::hint::black_box(v);
    let w = [v[0] + v[2], v[1] + v[3]];
    (w[0] + w[1]) + tail
}

/// Four dot products against the same `v`: the rows share each load of `v`,
/// their eight accumulator chains overlap, and the four reductions run
/// side by side (lane-wise adds, then one 4 × 4 transpose-add) instead of
/// one horizontal sum per row.
#[inline(always)]
pub(super) fn dot4<const FMA: bool>(x: [&[f32]; 4], v: &[f32]) -> [f32; 4] {
    let n = v.len();
    let (cv, rv) = v.as_chunks::<8>();
    let split = |r: usize| x[r][..n].as_chunks::<8>();
    let ((c0, t0), (c1, t1), (c2, t2), (c3, t3)) = (split(0), split(1), split(2), split(3));
    let mut acc = [[0.0f32; 8]; 4];
    for ((((a, b), c), d), z) in c0.iter().zip(c1).zip(c2).zip(c3).zip(cv) {
        for j in 0..8 {
            acc[0][j] = madd::<FMA>(a[j], z[j], acc[0][j]);
            acc[1][j] = madd::<FMA>(b[j], z[j], acc[1][j]);
            acc[2][j] = madd::<FMA>(c[j], z[j], acc[2][j]);
            acc[3][j] = madd::<FMA>(d[j], z[j], acc[3][j]);
        }
    }
    let mut q = [[0.0f32; 4]; 4];
    for r in 0..4 {
        for l in 0..4 {
            q[r][l] = acc[r][l] + acc[r][l + 4];
        }
    }
    let mut out = [0.0f32; 4];
    for r in 0..4 {
        out[r] = (q[r][0] + q[r][2]) + (q[r][1] + q[r][3]);
    }
    for (j, z) in rv.iter().enumerate() {
        out[0] = madd::<FMA>(t0[j], *z, out[0]);
        out[1] = madd::<FMA>(t1[j], *z, out[1]);
        out[2] = madd::<FMA>(t2[j], *z, out[2]);
        out[3] = madd::<FMA>(t3[j], *z, out[3]);
    }
    out
}

/// `y += a * x`.
#[inline(always)]
pub(super) fn axpy<const FMA: bool>(a: f32, x: &[f32], y: &mut [f32]) {
    debug_assert_eq!(x.len(), y.len());
    let (cy, ry) = y.as_chunks_mut::<16>();
    let (cx, rx) = x.as_chunks::<16>();
    for (yc, xc) in cy.iter_mut().zip(cx) {
        // Whole-chunk copies: after inlining LLVM cannot always prove `x`
        // and `y` disjoint and would emit scalar code; on copies the
        // vector form is legal either way.
        let (xv, mut yv) = (*xc, *yc);
        for j in 0..16 {
            yv[j] = madd::<FMA>(a, xv[j], yv[j]);
        }
        *yc = yv;
    }
    for (yi, xi) in ry.iter_mut().zip(rx) {
        *yi = madd::<FMA>(a, *xi, *yi);
    }
}

/// `w + Σᵣ a[r] · x[r]`, added left to right.
#[inline(always)]
pub(super) fn madd4<const FMA: bool>(a: [f32; 4], x: [f32; 4], w: f32) -> f32 {
    let w = madd::<FMA>(a[0], x[0], w);
    let w = madd::<FMA>(a[1], x[1], w);
    let w = madd::<FMA>(a[2], x[2], w);
    madd::<FMA>(a[3], x[3], w)
}

/// `y += Σᵣ a[r] * x[r]`, summed left to right (the same bits as four
/// `axpy` calls), in one pass over `y`.
#[inline(always)]
pub(super) fn axpy4<const FMA: bool>(a: [f32; 4], x: [&[f32]; 4], y: &mut [f32]) {
    let n = y.len();
    let split = |r: usize| x[r][..n].as_chunks::<16>();
    let ((c0, t0), (c1, t1), (c2, t2), (c3, t3)) = (split(0), split(1), split(2), split(3));
    let (cy, ty) = y.as_chunks_mut::<16>();
    for ((((yc, p), q), r), s) in cy.iter_mut().zip(c0).zip(c1).zip(c2).zip(c3) {
        // Copies, as in `axpy`, keep the vector form legal under aliasing.
        let (p, q, r, s, mut w) = (*p, *q, *r, *s, *yc);
        for j in 0..16 {
            w[j] = madd4::<FMA>(a, [p[j], q[j], r[j], s[j]], w[j]);
        }
        *yc = w;
    }
    for (j, w) in ty.iter_mut().enumerate() {
        *w = madd4::<FMA>(a, [t0[j], t1[j], t2[j], t3[j]], *w);
    }
}

/// `out = m * v` for a symmetric row-major `k × k` matrix `m`, computed as
/// `Σⱼ vⱼ · m[j, :]` (column form, valid because `m = mᵀ`): vertical
/// multiply-adds into 32-float register blocks, with no horizontal
/// reductions, which dominated the row-dot form.
#[inline(always)]
pub(super) fn symv<const FMA: bool>(m: &[f32], v: &[f32], out: &mut [f32]) {
    let k = v.len();
    debug_assert_eq!(m.len(), k * k);
    const B: usize = 32;
    let mut start = 0;
    while start + B <= k {
        let mut acc = [0.0f32; B];
        for (j, &vj) in v.iter().enumerate() {
            let row: &[f32; B] = m[j * k + start..j * k + start + B].try_into().unwrap();
            for l in 0..B {
                acc[l] = madd::<FMA>(vj, row[l], acc[l]);
            }
        }
        out[start..start + B].copy_from_slice(&acc);
        start += B;
    }
    if start < k {
        out[start..].iter_mut().for_each(|o| *o = 0.0);
        for (j, &vj) in v.iter().enumerate() {
            axpy::<FMA>(vj, &m[j * k + start..(j + 1) * k], &mut out[start..]);
        }
    }
}

// Fixed-length kernels for the common factor count: with `K` known, every
// loop unrolls, vectors stay in registers and there are no tails.
// `K` must be a multiple of 16.

/// Sum of 16 lanes in a fixed tree: halves, then quarters, then pairs
/// (the order of two `hadd`s, see [`reduce16x4`]).
#[inline(always)]
fn reduce16(a: [f32; 16]) -> f32 {
    let h: [f32; 8] = std::array::from_fn(|l| a[l] + a[l + 8]);
    let q: [f32; 4] = std::array::from_fn(|l| h[l] + h[l + 4]);
    (q[0] + q[1]) + (q[2] + q[3])
}

/// [`reduce16`] of four rows, the same bits. LLVM turns the plain form
/// into about sixty scalar adds (seen in the asm), so with AVX2 it is
/// written out: per row two vertical adds, then two `hadd`s for all four.
#[inline(always)]
fn reduce16x4(acc: [[f32; 16]; 4], isa: Isa) -> [f32; 4] {
    #[cfg(target_arch = "x86_64")]
    if let Some(simd) = isa.v3 {
        use core::arch::x86_64::{__m128, __m256};
        let (avx, sse, sse3) = (simd.avx, simd.sse, simd.sse3);
        let q: [__m128; 4] = std::array::from_fn(|r| {
            let (lo, hi) = acc[r].split_at(8);
            let lo = pulp::cast::<[f32; 8], __m256>(lo.try_into().unwrap());
            let hi = pulp::cast::<[f32; 8], __m256>(hi.try_into().unwrap());
            let h = avx._mm256_add_ps(lo, hi);
            sse._mm_add_ps(avx._mm256_castps256_ps128(h), avx._mm256_extractf128_ps::<1>(h))
        });
        let s = sse3._mm_hadd_ps(sse3._mm_hadd_ps(q[0], q[1]), sse3._mm_hadd_ps(q[2], q[3]));
        return pulp::cast::<__m128, [f32; 4]>(s);
    }
    let _ = isa;
    std::array::from_fn(|r| reduce16(acc[r]))
}

/// `a · b` over `K` floats, 16 lanes of [`madd`] then [`reduce16`].
#[inline(always)]
pub(super) fn dot_k<const K: usize, const FMA: bool>(a: &[f32; K], b: &[f32; K]) -> f32 {
    let mut acc = [0.0f32; 16];
    for c in 0..K / 16 {
        for l in 0..16 {
            acc[l] = madd::<FMA>(a[16 * c + l], b[16 * c + l], acc[l]);
        }
    }
    reduce16(acc)
}

/// Four [`dot_k`]s against one `v`, the same bits as four calls.
#[inline(always)]
pub(super) fn dot4_k<const K: usize, const FMA: bool>(x: [&[f32; K]; 4], v: &[f32; K], isa: Isa) -> [f32; 4] {
    let mut acc = [[0.0f32; 16]; 4];
    for c in 0..K / 16 {
        for r in 0..4 {
            for l in 0..16 {
                acc[r][l] = madd::<FMA>(x[r][16 * c + l], v[16 * c + l], acc[r][l]);
            }
        }
    }
    reduce16x4(acc, isa)
}

/// `out = m · v` for a symmetric `K × K` matrix (column form, as [`symv`]).
#[inline(always)]
pub(super) fn symv_k<const K: usize, const FMA: bool>(m: &[[f32; K]], v: &[f32; K]) -> [f32; K] {
    let mut acc = [0.0f32; K];
    for (row, &vj) in m[..K].iter().zip(v) {
        for l in 0..K {
            acc[l] = madd::<FMA>(vj, row[l], acc[l]);
        }
    }
    acc
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dot_matches_naive_for_odd_lengths() {
        for n in [0usize, 1, 7, 16, 17, 64, 70] {
            let a: Vec<f32> = (0..n).map(|i| i as f32 * 0.5).collect();
            let b: Vec<f32> = (0..n).map(|i| 1.0 - i as f32 * 0.25).collect();
            let naive: f32 = a.iter().zip(&b).map(|(x, y)| x * y).sum();
            assert!((dot(&a, &b) - naive).abs() < 1e-3 * (1.0 + naive.abs()));
        }
    }

    #[test]
    fn dot4_matches_dot() {
        for n in [0usize, 5, 16, 64, 70] {
            let rows: Vec<Vec<f32>> = (0..4)
                .map(|r| (0..n).map(|i| (i * (r + 1)) as f32 * 0.25 - 3.0).collect())
                .collect();
            let v: Vec<f32> = (0..n).map(|i| 1.0 - i as f32 * 0.125).collect();
            let got = dot4::<false>([&rows[0], &rows[1], &rows[2], &rows[3]], &v);
            for r in 0..4 {
                let want = dot(&rows[r], &v);
                assert!((got[r] - want).abs() <= 1e-4 * (1.0 + want.abs()), "{n} {r}");
            }
        }
    }

    #[test]
    fn axpy_and_symv_by_hand() {
        let mut y = vec![1.0, 2.0];
        axpy::<false>(2.0, &[3.0, 4.0], &mut y);
        assert_eq!(y, vec![7.0, 10.0]);
        let mut out = vec![0.0; 2];
        symv::<false>(&[1.0, 2.0, 2.0, 5.0], &[1.0, 1.0], &mut out);
        assert_eq!(out, vec![3.0, 7.0]);
        // k = 40 exercises one 32-block plus the remainder.
        let k = 40;
        let m: Vec<f32> = (0..k * k).map(|i| ((i / k) + (i % k)) as f32).collect();
        let v: Vec<f32> = (0..k).map(|i| i as f32 * 0.5).collect();
        let mut out = vec![0.0; k];
        symv::<false>(&m, &v, &mut out);
        for (r, o) in out.iter().enumerate() {
            let want: f32 = (0..k).map(|c| ((r + c) as f32) * v[c]).sum();
            assert!((o - want).abs() < 1e-3 * want.abs().max(1.0));
        }
    }

    /// The fixed-length kernels, run through `dispatch` (fused on this CPU
    /// when it has FMA, so compared with a tolerance, not bits).
    struct Fixed<'a> {
        rows: &'a [[f32; 64]; 4],
        v: &'a [f32; 64],
        m: &'a [[f32; 64]],
    }

    impl Kernel for Fixed<'_> {
        type Output = ([f32; 4], [f32; 4], [f32; 64], [f32; 64]);
        #[inline(always)]
        fn run<const FMA: bool>(self, isa: Isa) -> Self::Output {
            let r = self.rows;
            let four = dot4_k::<64, FMA>([&r[0], &r[1], &r[2], &r[3]], self.v, isa);
            let one = std::array::from_fn(|i| dot_k::<64, FMA>(&r[i], self.v));
            let mut out = [0.0; 64];
            symv::<FMA>(self.m.as_flattened(), self.v, &mut out);
            (four, one, symv_k::<64, FMA>(self.m, self.v), out)
        }
    }

    #[test]
    fn fixed_kernels_match_the_slice_kernels() {
        let rows: [[f32; 64]; 4] =
            std::array::from_fn(|r| std::array::from_fn(|i| ((i * (r + 3)) % 17) as f32 * 0.25 - 2.0));
        let v: [f32; 64] = std::array::from_fn(|i| 1.0 - i as f32 * 0.03);
        // A symmetric matrix.
        let m: Vec<[f32; 64]> = (0..64)
            .map(|a| std::array::from_fn(|b| ((a * b) % 13) as f32 * 0.1 - 0.5))
            .collect();
        let (four, one, sk, s) = dispatch(Fixed {
            rows: &rows,
            v: &v,
            m: &m,
        });
        for r in 0..4 {
            // Same summation tree, so four at once equals one at a time.
            assert_eq!(four[r].to_bits(), one[r].to_bits());
            let want = dot(&rows[r], &v);
            assert!((one[r] - want).abs() <= 1e-4 * (1.0 + want.abs()), "{r}");
        }
        for (a, b) in sk.iter().zip(&s) {
            assert!((a - b).abs() <= 1e-4 * (1.0 + b.abs()));
        }
        let plain: f32 = (0..64).map(|b| m[5][b] * v[b]).sum();
        assert!((sk[5] - plain).abs() <= 1e-4 * (1.0 + plain.abs()));
    }
}
