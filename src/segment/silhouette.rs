//! Silhouette score and the choice of k by silhouette on a sample.
//!
//! The silhouette of n points needs all n² distances, so it runs on a
//! sample whose distance matrix is computed once and shared by every k.

use std::ops::RangeInclusive;

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rayon::prelude::*;

use super::kmeans::{self, sq_dist, KMeans, KMeansParams};

/// Full n × n Euclidean distance matrix of row-major n × d data.
pub fn distance_matrix(data: &[f32], d: usize) -> Vec<f32> {
    let n = data.len() / d.max(1);
    let mut m = vec![0.0f32; n * n];
    m.par_chunks_mut(n.max(1)).enumerate().for_each(|(i, row)| {
        let x = &data[i * d..(i + 1) * d];
        for (j, out) in row.iter_mut().enumerate() {
            *out = sq_dist(x, &data[j * d..(j + 1) * d]).sqrt();
        }
    });
    m
}

/// Mean silhouette of labelled points given their distance matrix.
/// Points in singleton clusters score 0 (Rousseeuw's convention).
pub fn silhouette_from_matrix(dist: &[f32], labels: &[u32], k: usize) -> f32 {
    let n = labels.len();
    if n < 2 || k < 2 {
        return 0.0;
    }
    let mut sizes = vec![0usize; k];
    labels.iter().for_each(|&l| sizes[l as usize] += 1);
    let total: f64 = (0..n)
        .into_par_iter()
        .map(|i| {
            let li = labels[i] as usize;
            if sizes[li] < 2 {
                return 0.0;
            }
            let mut sums = vec![0.0f64; k];
            for (j, &dj) in dist[i * n..(i + 1) * n].iter().enumerate() {
                sums[labels[j] as usize] += f64::from(dj);
            }
            let a = sums[li] / (sizes[li] - 1) as f64;
            let b = (0..k)
                .filter(|&c| c != li && sizes[c] > 0)
                .map(|c| sums[c] / sizes[c] as f64)
                .fold(f64::INFINITY, f64::min);
            if !b.is_finite() || a.max(b) == 0.0 {
                0.0
            } else {
                (b - a) / a.max(b)
            }
        })
        .collect::<Vec<f64>>()
        .iter()
        .sum();
    (total / n as f64) as f32
}

/// Mean silhouette of labelled data (all points; sample first if large).
pub fn silhouette(data: &[f32], d: usize, labels: &[u32], k: usize) -> f32 {
    silhouette_from_matrix(&distance_matrix(data, d), labels, k)
}

/// Outcome of [`choose_k`].
#[derive(Debug, Clone)]
pub struct KSearch {
    pub k: usize,
    /// (k, silhouette) for every k tried, in increasing k.
    pub scores: Vec<(usize, f32)>,
    /// The fit of the chosen k on the sample; a good start for the full fit.
    pub fit: KMeans,
}

/// Settings of [`choose_k`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct KSearchParams {
    /// Points k-means is fitted on for each k.
    pub sample_size: usize,
    /// Points (a prefix of the sample) the silhouette is computed on.
    pub silhouette_size: usize,
    pub n_init: usize,
    pub max_iter: usize,
}

/// Random sample of `m` distinct row indices of `n`, in draw order.
pub fn sample_indices(n: usize, m: usize, rng: &mut ChaCha8Rng) -> Vec<usize> {
    let mut idx: Vec<usize> = (0..n).collect();
    let m = m.min(n);
    for i in 0..m {
        let j = rng.random_range(i..n);
        idx.swap(i, j);
    }
    idx.truncate(m);
    idx
}

/// Picks the k in `range` with the highest silhouette; ties go to the
/// smaller k. k-means runs on a random sample, the silhouette on a prefix
/// of it, and the k values are tried in parallel.
pub fn choose_k(
    data: &[f32],
    d: usize,
    range: RangeInclusive<usize>,
    p: &KSearchParams,
    seed: u64,
) -> KSearch {
    let n = data.len() / d.max(1);
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let idx = sample_indices(n, p.sample_size.max(2), &mut rng);
    let sample: Vec<f32> = idx
        .iter()
        .flat_map(|&i| data[i * d..(i + 1) * d].iter().copied())
        .collect();
    let m = p.silhouette_size.clamp(2, idx.len().max(2)).min(idx.len());
    let dist = distance_matrix(&sample[..m * d], d);
    // A silhouette needs 2 ≤ k ≤ m − 1.
    let lo = (*range.start()).max(2);
    let hi = (*range.end()).min(m.saturating_sub(1)).max(lo);
    let fits: Vec<(usize, f32, KMeans)> = (lo..=hi)
        .into_par_iter()
        .map(|k| {
            let params = KMeansParams {
                k,
                max_iter: p.max_iter,
                n_init: p.n_init,
                tol: 1e-4,
            };
            let fit = kmeans::fit(
                &sample,
                d,
                &params,
                seed ^ (k as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15),
            );
            let score = silhouette_from_matrix(&dist, &fit.assignment[..m], fit.k);
            (k, score, fit)
        })
        .collect();
    let scores = fits.iter().map(|(k, s, _)| (*k, *s)).collect();
    let best = fits
        .into_iter()
        .reduce(|best, cur| if cur.1 > best.1 { cur } else { best })
        .map(|(_, _, f)| f)
        .unwrap_or_else(|| {
            kmeans::fit(
                &sample,
                d,
                &KMeansParams {
                    k: 1,
                    max_iter: 1,
                    n_init: 1,
                    tol: 0.0,
                },
                seed,
            )
        });
    KSearch {
        k: best.k,
        scores,
        fit: best,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::segment::tests::kmeans::blobs;

    #[test]
    fn hand_checkable_silhouette() {
        // Two pairs on a line: a = 1 for all; b = 10.5 for the outer points
        // (mean of 10 and 11) and 9.5 for the inner ones.
        let data = [0.0, 1.0, 10.0, 11.0];
        let s = silhouette(&data, 1, &[0, 0, 1, 1], 2);
        let expected = (9.5 / 10.5 + 8.5 / 9.5) / 2.0;
        assert!((s - expected).abs() < 1e-6, "{s}");
    }

    #[test]
    fn picks_the_planted_k() {
        for planted in [3, 6] {
            let (data, _) = blobs(planted, 150, 10, 1.0, planted as u64);
            let p = KSearchParams {
                sample_size: 600,
                silhouette_size: 400,
                n_init: 3,
                max_iter: 50,
            };
            let s = choose_k(&data, 10, 2..=12, &p, 5);
            assert_eq!(s.k, planted, "{:?}", s.scores);
            assert_eq!(s.scores.len(), 11);
        }
    }
}
