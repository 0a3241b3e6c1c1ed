//! Small dense vector kernels written so LLVM auto-vectorises them.
//!
//! Sixteen independent accumulators break the floating-point add dependency
//! chain; fixed-size array chunks remove bounds checks. Summation order is
//! fixed, so results are bit-for-bit reproducible on any thread count.

/// Runs `f` compiled with AVX2 + FMA when the CPU has them: the body is
/// compiled once for baseline x86-64 and once under the features (via
/// `pulp`, which owns the `unsafe` feature check), picked per call.
#[inline(always)]
pub(super) fn dispatch<R>(f: impl FnOnce() -> R) -> R {
    #[cfg(target_arch = "x86_64")]
    if let Some(simd) = pulp::x86::V3::try_new() {
        return simd.vectorize(f);
    }
    f()
}

/// Dot product of two equal-length slices.
#[inline(always)]
pub fn dot(a: &[f32], b: &[f32]) -> f32 {
    debug_assert_eq!(a.len(), b.len());
    let mut acc = [0.0f32; 16];
    let (ca, ra) = a.as_chunks::<16>();
    let (cb, rb) = b.as_chunks::<16>();
    for (x, y) in ca.iter().zip(cb) {
        for j in 0..16 {
            acc[j] += x[j] * y[j];
        }
    }
    let mut tail = 0.0f32;
    for (x, y) in ra.iter().zip(rb) {
        tail += x * y;
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
pub fn dot4(x: [&[f32]; 4], v: &[f32]) -> [f32; 4] {
    let n = v.len();
    let (cv, rv) = v.as_chunks::<8>();
    let split = |r: usize| x[r][..n].as_chunks::<8>();
    let ((c0, t0), (c1, t1), (c2, t2), (c3, t3)) = (split(0), split(1), split(2), split(3));
    let mut acc = [[0.0f32; 8]; 4];
    for ((((a, b), c), d), z) in c0.iter().zip(c1).zip(c2).zip(c3).zip(cv) {
        for j in 0..8 {
            acc[0][j] += a[j] * z[j];
            acc[1][j] += b[j] * z[j];
            acc[2][j] += c[j] * z[j];
            acc[3][j] += d[j] * z[j];
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
        out[0] += t0[j] * z;
        out[1] += t1[j] * z;
        out[2] += t2[j] * z;
        out[3] += t3[j] * z;
    }
    out
}

/// `y += a * x`.
#[inline(always)]
pub fn axpy(a: f32, x: &[f32], y: &mut [f32]) {
    debug_assert_eq!(x.len(), y.len());
    let (cy, ry) = y.as_chunks_mut::<16>();
    let (cx, rx) = x.as_chunks::<16>();
    for (yc, xc) in cy.iter_mut().zip(cx) {
        // Whole-chunk copies: after inlining LLVM cannot always prove `x`
        // and `y` disjoint and would emit scalar code; on copies the
        // vector form is legal either way.
        let (xv, mut yv) = (*xc, *yc);
        for j in 0..16 {
            yv[j] += a * xv[j];
        }
        *yc = yv;
    }
    for (yi, xi) in ry.iter_mut().zip(rx) {
        *yi += a * xi;
    }
}

/// `y += Σᵣ a[r] * x[r]`, summed left to right (the same bits as four
/// `axpy` calls), in one pass over `y`.
#[inline(always)]
pub fn axpy4(a: [f32; 4], x: [&[f32]; 4], y: &mut [f32]) {
    let n = y.len();
    let split = |r: usize| x[r][..n].as_chunks::<16>();
    let ((c0, t0), (c1, t1), (c2, t2), (c3, t3)) = (split(0), split(1), split(2), split(3));
    let (cy, ty) = y.as_chunks_mut::<16>();
    for ((((yc, p), q), r), s) in cy.iter_mut().zip(c0).zip(c1).zip(c2).zip(c3) {
        // Copies, as in `axpy`, keep the vector form legal under aliasing.
        let (p, q, r, s, mut w) = (*p, *q, *r, *s, *yc);
        for j in 0..16 {
            w[j] = (((w[j] + a[0] * p[j]) + a[1] * q[j]) + a[2] * r[j]) + a[3] * s[j];
        }
        *yc = w;
    }
    for (j, w) in ty.iter_mut().enumerate() {
        *w = (((*w + a[0] * t0[j]) + a[1] * t1[j]) + a[2] * t2[j]) + a[3] * t3[j];
    }
}

/// `out = m * v` for a symmetric row-major `k × k` matrix `m`, computed as
/// `Σⱼ vⱼ · m[j, :]` (column form, valid because `m = mᵀ`): vertical
/// multiply-adds into 32-float register blocks, with no horizontal
/// reductions, which dominated the row-dot form.
#[inline(always)]
pub fn symv(m: &[f32], v: &[f32], out: &mut [f32]) {
    let k = v.len();
    debug_assert_eq!(m.len(), k * k);
    const B: usize = 32;
    let mut start = 0;
    while start + B <= k {
        let mut acc = [0.0f32; B];
        for (j, &vj) in v.iter().enumerate() {
            let row: &[f32; B] = m[j * k + start..j * k + start + B].try_into().unwrap();
            for l in 0..B {
                acc[l] += vj * row[l];
            }
        }
        out[start..start + B].copy_from_slice(&acc);
        start += B;
    }
    if start < k {
        out[start..].iter_mut().for_each(|o| *o = 0.0);
        for (j, &vj) in v.iter().enumerate() {
            axpy(vj, &m[j * k + start..(j + 1) * k], &mut out[start..]);
        }
    }
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
            let got = dot4([&rows[0], &rows[1], &rows[2], &rows[3]], &v);
            for r in 0..4 {
                let want = dot(&rows[r], &v);
                assert!((got[r] - want).abs() <= 1e-4 * (1.0 + want.abs()), "{n} {r}");
            }
        }
    }

    #[test]
    fn axpy_and_symv_by_hand() {
        let mut y = vec![1.0, 2.0];
        axpy(2.0, &[3.0, 4.0], &mut y);
        assert_eq!(y, vec![7.0, 10.0]);
        let mut out = vec![0.0; 2];
        symv(&[1.0, 2.0, 2.0, 5.0], &[1.0, 1.0], &mut out);
        assert_eq!(out, vec![3.0, 7.0]);
        // k = 40 exercises one 32-block plus the remainder.
        let k = 40;
        let m: Vec<f32> = (0..k * k).map(|i| ((i / k) + (i % k)) as f32).collect();
        let v: Vec<f32> = (0..k).map(|i| i as f32 * 0.5).collect();
        let mut out = vec![0.0; k];
        symv(&m, &v, &mut out);
        for (r, o) in out.iter().enumerate() {
            let want: f32 = (0..k).map(|c| ((r + c) as f32) * v[c]).sum();
            assert!((o - want).abs() < 1e-3 * want.abs().max(1.0));
        }
    }
}
