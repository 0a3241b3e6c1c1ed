//! The AVX2 kernel of `TopIndex` for k = 64: `i8` row codes times the `i16`
//! query with `vpmaddwd`, eight rows at a time so their horizontal sums
//! share one `vphaddd` tree, then the score interval of each row.
//! Safe code: the intrinsics come through `pulp`'s `V3` token, which proves
//! the CPU has AVX2.

use super::topindex_scores::{Rows, ScoreParams};
use core::arch::x86_64::{__m128i, __m256, __m256i};
use pulp::{cast, x86::V3};

/// Rows per block.
const R: usize = 8;

#[inline(always)]
fn load8(v: &[f32]) -> __m256 {
    cast::<[f32; 8], __m256>(v[..8].try_into().unwrap())
}

/// Fills `lo`/`hi` for the first `8·⌊n/8⌋` rows and returns that count.
#[inline(always)]
pub(super) fn approx_64(
    simd: V3,
    rows: Rows,
    qq: &[i16],
    p: &ScoreParams,
    lo: &mut [f32],
    hi: &mut [f32],
) -> usize {
    let (avx, avx2) = (simd.avx, simd.avx2);
    let q: [__m256i; 4] =
        core::array::from_fn(|j| cast::<[i16; 16], __m256i>(qq[16 * j..16 * j + 16].try_into().unwrap()));
    let Rows {
        codes,
        scale,
        err,
        qnorm,
    } = rows;
    let (blocks, _) = codes.as_chunks::<{ 64 * R }>();
    let blocks = &blocks[..lo.len() / R];
    let (t, qn, en) = (
        avx._mm256_set1_ps(p.t),
        avx._mm256_set1_ps(p.qn),
        avx._mm256_set1_ps(p.en),
    );
    for (b, blk) in blocks.iter().enumerate() {
        let s: [__m256i; R] = core::array::from_fn(|r| {
            let row = &blk[64 * r..64 * r + 64];
            let m: [__m256i; 4] = core::array::from_fn(|j| {
                let c = cast::<[i8; 16], __m128i>(row[16 * j..16 * j + 16].try_into().unwrap());
                avx2._mm256_madd_epi16(avx2._mm256_cvtepi8_epi16(c), q[j])
            });
            avx2._mm256_add_epi32(
                avx2._mm256_add_epi32(m[0], m[1]),
                avx2._mm256_add_epi32(m[2], m[3]),
            )
        });
        // hadd twice: lane l of 128-bit half h holds row l's half-h sum.
        let h01 = avx2._mm256_hadd_epi32(s[0], s[1]);
        let h23 = avx2._mm256_hadd_epi32(s[2], s[3]);
        let h45 = avx2._mm256_hadd_epi32(s[4], s[5]);
        let h67 = avx2._mm256_hadd_epi32(s[6], s[7]);
        let h03 = avx2._mm256_hadd_epi32(h01, h23);
        let h47 = avx2._mm256_hadd_epi32(h45, h67);
        let d = avx2._mm256_add_epi32(
            avx2._mm256_permute2x128_si256::<0x20>(h03, h47),
            avx2._mm256_permute2x128_si256::<0x31>(h03, h47),
        );
        let i = b * R;
        let a = avx._mm256_mul_ps(
            avx._mm256_cvtepi32_ps(d),
            avx._mm256_mul_ps(load8(&scale[i..]), t),
        );
        let bound = avx._mm256_add_ps(
            avx._mm256_mul_ps(qn, load8(&err[i..])),
            avx._mm256_mul_ps(en, load8(&qnorm[i..])),
        );
        lo[i..i + R].copy_from_slice(&cast::<__m256, [f32; 8]>(avx._mm256_sub_ps(a, bound)));
        hi[i..i + R].copy_from_slice(&cast::<__m256, [f32; 8]>(avx._mm256_add_ps(a, bound)));
    }
    blocks.len() * R
}
