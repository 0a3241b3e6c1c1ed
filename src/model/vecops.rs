//! Small dense vector kernels written so LLVM auto-vectorises them.
//!
//! Sixteen independent accumulators break the floating-point add dependency
//! chain; fixed-size array chunks remove bounds checks. Summation order is
//! fixed, so results are bit-for-bit reproducible on any thread count.

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

/// Two dot products against the same `v`, sharing its loads and overlapping
/// the two reductions.
#[inline(always)]
pub fn dot2(a: &[f32], b: &[f32], v: &[f32]) -> (f32, f32) {
    let (ca, ra) = a.as_chunks::<16>();
    let (cb, rb) = b.as_chunks::<16>();
    let (cv, rv) = v.as_chunks::<16>();
    let mut acc = [[0.0f32; 16]; 2];
    for ((x, y), z) in ca.iter().zip(cb).zip(cv) {
        for j in 0..16 {
            acc[0][j] += x[j] * z[j];
            acc[1][j] += y[j] * z[j];
        }
    }
    let mut tail = [0.0f32; 2];
    for ((x, y), z) in ra.iter().zip(rb).zip(rv) {
        tail[0] += x * z;
        tail[1] += y * z;
    }
    let acc = std::hint::black_box(acc);
    let mut v4 = [[0.0f32; 4]; 2];
    for r in 0..2 {
        for l in 0..4 {
            v4[r][l] = (acc[r][l] + acc[r][4 + l]) + (acc[r][8 + l] + acc[r][12 + l]);
        }
    }
    let v4 = std::hint::black_box(v4);
    let w = [
        (v4[0][0] + v4[0][2]) + (v4[0][1] + v4[0][3]),
        (v4[1][0] + v4[1][2]) + (v4[1][1] + v4[1][3]),
    ];
    (w[0] + tail[0], w[1] + tail[1])
}

/// `y += a * x`.
#[inline(always)]
pub fn axpy(a: f32, x: &[f32], y: &mut [f32]) {
    debug_assert_eq!(x.len(), y.len());
    let (cy, ry) = y.as_chunks_mut::<16>();
    let (cx, rx) = x.as_chunks::<16>();
    for (yc, xc) in cy.iter_mut().zip(cx) {
        for j in 0..16 {
            yc[j] += a * xc[j];
        }
    }
    for (yi, xi) in ry.iter_mut().zip(rx) {
        *yi += a * xi;
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
