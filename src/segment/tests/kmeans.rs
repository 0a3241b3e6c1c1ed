//! Unit tests of [`crate::segment::kmeans`].

use crate::segment::ari::adjusted_rand_index;
use crate::segment::kmeans::*;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rand_distr_free::normal;

/// Gaussian blobs around well-separated centres; returns data and truth.
pub(crate) fn blobs(k: usize, per: usize, d: usize, spread: f32, seed: u64) -> (Vec<f32>, Vec<usize>) {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let centres: Vec<f32> = (0..k * d).map(|_| rng.random_range(-10.0..10.0)).collect();
    let mut data = Vec::new();
    let mut truth = Vec::new();
    for i in 0..k * per {
        let g = i % k;
        for j in 0..d {
            data.push(centres[g * d + j] + spread * normal(&mut rng));
        }
        truth.push(g);
    }
    (data, truth)
}

/// Box–Muller, so tests need no extra crate.
mod rand_distr_free {
    use rand::Rng;
    pub fn normal(rng: &mut impl Rng) -> f32 {
        let u1: f32 = rng.random_range(f32::EPSILON..1.0);
        let u2: f32 = rng.random();
        (-2.0 * u1.ln()).sqrt() * (std::f32::consts::TAU * u2).cos()
    }
}

#[test]
fn recovers_separated_blobs_exactly() {
    let (data, truth) = blobs(5, 200, 8, 0.5, 7);
    let p = KMeansParams {
        k: 5,
        max_iter: 100,
        n_init: 4,
        tol: 0.0,
    };
    let m = fit(&data, 8, &p, 42);
    assert_eq!(adjusted_rand_index(&truth, &m.assignment), 1.0);
    assert_eq!(fit(&data, 8, &p, 42), m, "same seed, same result");
}

#[test]
fn hand_checkable_two_clusters() {
    let data = [0.0, 0.0, 0.0, 1.0, 10.0, 10.0, 10.0, 11.0];
    let m = lloyd(&data, 2, vec![0.0, 0.0, 1.0, 1.0], 10, 0.0);
    assert_eq!(m.assignment[0], m.assignment[1]);
    assert_eq!(m.assignment[2], m.assignment[3]);
    assert_ne!(m.assignment[0], m.assignment[2]);
    assert!((m.inertia - 1.0).abs() < 1e-6, "{}", m.inertia);
}

#[test]
fn degenerate_inputs() {
    let same = [1.0f32; 12];
    let m = fit(
        &same,
        2,
        &KMeansParams {
            k: 3,
            max_iter: 10,
            n_init: 2,
            tol: 0.0,
        },
        1,
    );
    assert_eq!(m.k, 3);
    assert_eq!(m.inertia, 0.0);
    let m = fit(
        &[],
        2,
        &KMeansParams {
            k: 3,
            max_iter: 10,
            n_init: 2,
            tol: 0.0,
        },
        1,
    );
    assert_eq!(m.k, 0);
    assert_eq!(sq_dist(&[1.0; 11], &[0.0; 11]), 11.0);
}
