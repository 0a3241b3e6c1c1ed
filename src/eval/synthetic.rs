//! Seeded synthetic implicit-feedback data with power-law-ish user activity
//! and course popularity, for timing and memory benchmarks.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use std::collections::HashSet;

/// Cumulative weights of `(rank + 10)^-exponent`: a Zipf-like law whose head
/// is flattened a little so the most popular course stays plausible.
fn cdf(n: usize, exponent: f64) -> Vec<f64> {
    let mut acc = 0.0;
    (0..n)
        .map(|i| {
            acc += (i as f64 + 10.0).powf(-exponent);
            acc
        })
        .collect()
}

fn draw(cdf: &[f64], rng: &mut ChaCha8Rng) -> u32 {
    let x = rng.random::<f64>() * cdf[cdf.len() - 1];
    cdf.partition_point(|&c| c < x).min(cdf.len() - 1) as u32
}

/// Exactly `nnz` distinct (user, course, weight) triples, sorted by user then
/// course. Weights mimic the service's events (views 1 … purchases 10).
/// Panics if `nnz` exceeds `n_users × n_items / 2` (sampling would stall).
pub fn generate(n_users: usize, n_items: usize, nnz: usize, seed: u64) -> Vec<(u32, u32, f32)> {
    assert!(nnz <= n_users * n_items / 2, "too dense for rejection sampling");
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let (cu, ci) = (cdf(n_users, 0.5), cdf(n_items, 0.9));
    let mut seen: HashSet<u64> = HashSet::with_capacity(nnz);
    let mut out = Vec::with_capacity(nnz);
    const WEIGHTS: [f32; 6] = [1.0, 1.0, 2.0, 3.0, 5.0, 10.0];
    while out.len() < nnz {
        let (u, i) = (draw(&cu, &mut rng), draw(&ci, &mut rng));
        if seen.insert(u64::from(u) << 32 | u64::from(i)) {
            out.push((u, i, WEIGHTS[rng.random_range(0..WEIGHTS.len())]));
        }
    }
    out.sort_unstable_by_key(|t| (t.0, t.1));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn distinct_seeded_and_skewed() {
        let a = generate(200, 100, 2000, 1);
        assert_eq!(a, generate(200, 100, 2000, 1));
        assert_eq!(a.len(), 2000);
        assert!(a.windows(2).all(|w| (w[0].0, w[0].1) < (w[1].0, w[1].1)));
        let head = a.iter().filter(|t| t.1 < 10).count();
        let tail = a.iter().filter(|t| t.1 >= 90).count();
        assert!(head > 2 * tail, "head {head} tail {tail}");
    }
}
