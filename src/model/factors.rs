//! Dense row-major factor matrices and their Gram matrix.

use super::vecops::{axpy, axpy4, dispatch, Isa, Kernel};
use rand::Rng;
use rand_chacha::ChaCha8Rng;
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

/// A dense `n × k` row-major factor matrix.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Factors {
    pub n: usize,
    pub k: usize,
    pub data: Vec<f32>,
}

/// Rows `keep` of a row-major matrix `width` wide, in `keep`'s order.
///
/// # Panics
/// If a kept row is past the end of `data`.
pub fn select_rows<T: Clone>(data: &[T], width: usize, keep: &[usize]) -> Vec<T> {
    let mut out = Vec::with_capacity(keep.len() * width);
    for &r in keep {
        out.extend_from_slice(&data[r * width..(r + 1) * width]);
    }
    out
}

impl Factors {
    /// The rows `keep`, in that order.
    pub fn select(&self, keep: &[usize]) -> Factors {
        Factors {
            n: keep.len(),
            k: self.k,
            data: select_rows(&self.data, self.k, keep),
        }
    }

    /// All-zero factors.
    pub fn zeros(n: usize, k: usize) -> Factors {
        Factors {
            n,
            k,
            data: vec![0.0; n * k],
        }
    }

    /// Uniform `[0, 0.01)` values drawn in row order from `rng`, like implicit.
    pub fn random(n: usize, k: usize, rng: &mut ChaCha8Rng) -> Factors {
        let data = (0..n * k).map(|_| rng.random::<f32>() * 0.01).collect();
        Factors { n, k, data }
    }

    /// Row `i`.
    #[inline]
    pub fn row(&self, i: usize) -> &[f32] {
        &self.data[i * self.k..(i + 1) * self.k]
    }

    /// `YᵀY` (k × k, row-major), summed in fixed-size chunks in a fixed
    /// order so the result does not depend on the thread count.
    pub fn gram(&self) -> Vec<f32> {
        let k = self.k;
        // Small enough that ML-100K's 1,682 rows still split across threads.
        const CHUNK: usize = 256;
        let partials: Vec<Vec<f32>> = self
            .data
            .par_chunks(CHUNK * k)
            .map(|rows| gram_chunk(rows, k))
            .collect();
        let mut g = vec![0f32; k * k];
        for p in &partials {
            g.iter_mut().zip(p).for_each(|(a, b)| *a += b);
        }
        g
    }

    /// True when no value is NaN or infinite.
    pub fn all_finite(&self) -> bool {
        self.data
            .par_chunks(4096)
            .all(|c| c.iter().all(|v| v.is_finite()))
    }
}

/// `Σ yᵀy` over a chunk of rows, full (not triangular) so every update is
/// a whole-length vector op; four rows per pass share each load and store
/// of `g`, which stays in L1. AVX2 when the CPU has it, as in `cg_row`.
fn gram_chunk(rows: &[f32], k: usize) -> Vec<f32> {
    dispatch(GramChunk { rows, k })
}

struct GramChunk<'a> {
    rows: &'a [f32],
    k: usize,
}

impl Kernel for GramChunk<'_> {
    type Output = Vec<f32>;
    #[inline(always)]
    fn run<const FMA: bool>(self, _: Isa) -> Vec<f32> {
        let GramChunk { rows, k } = self;
        let mut g = vec![0f32; k * k];
        let mut quads = rows.chunks_exact(4 * k);
        for q in &mut quads {
            let (y0, rest) = q.split_at(k);
            let (y1, rest) = rest.split_at(k);
            let (y2, y3) = rest.split_at(k);
            for (a, ga) in g.chunks_exact_mut(k).enumerate() {
                axpy4::<FMA>([y0[a], y1[a], y2[a], y3[a]], [y0, y1, y2, y3], ga);
            }
        }
        for y in quads.remainder().chunks_exact(k) {
            for (a, ga) in g.chunks_exact_mut(k).enumerate() {
                axpy::<FMA>(y[a], y, ga);
            }
        }
        g
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gram_by_hand() {
        let f = Factors {
            n: 2,
            k: 2,
            data: vec![1.0, 2.0, 3.0, 4.0],
        };
        // [1 2]ᵀ[1 2] + [3 4]ᵀ[3 4] = [[10, 14], [14, 20]].
        assert_eq!(f.gram(), vec![10.0, 14.0, 14.0, 20.0]);
        assert_eq!(f.row(1), &[3.0, 4.0]);
        assert!(f.all_finite());
    }
}
