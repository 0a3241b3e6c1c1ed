//! Dense row-major factor matrices and their Gram matrix.

use super::vecops::axpy;
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

impl Factors {
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
        const CHUNK: usize = 2048;
        let partials: Vec<Vec<f32>> = self
            .data
            .par_chunks(CHUNK * k)
            .map(|rows| {
                let mut g = vec![0f32; k * k];
                for y in rows.chunks_exact(k) {
                    // Upper triangle only; mirrored below.
                    for a in 0..k {
                        axpy(y[a], &y[a..], &mut g[a * k + a..(a + 1) * k]);
                    }
                }
                g
            })
            .collect();
        let mut g = vec![0f32; k * k];
        for p in &partials {
            g.iter_mut().zip(p).for_each(|(a, b)| *a += b);
        }
        for a in 0..k {
            for b in 0..a {
                g[a * k + b] = g[b * k + a];
            }
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
