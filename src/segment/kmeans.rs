//! k-means: k-means++ seeding and Lloyd iterations, deterministic for a seed.
//!
//! Assignment runs in parallel (rayon, order-preserving collect); centroid
//! updates and inertia sums are sequential so results do not depend on how
//! rayon splits the work.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rayon::prelude::*;

/// Squared Euclidean distance. Eight independent accumulators let the
/// compiler vectorize without reassociating floats itself.
pub fn sq_dist(a: &[f32], b: &[f32]) -> f32 {
    let mut acc = [0.0f32; 8];
    let (ac, bc) = (a.chunks_exact(8), b.chunks_exact(8));
    let (ar, br) = (ac.remainder(), bc.remainder());
    for (x, y) in ac.zip(bc) {
        for l in 0..8 {
            let t = x[l] - y[l];
            acc[l] += t * t;
        }
    }
    let tail: f32 = ar.iter().zip(br).map(|(x, y)| (x - y) * (x - y)).sum();
    acc.iter().sum::<f32>() + tail
}

/// Index of and squared distance to the nearest of `centroids` (k × d).
pub fn nearest(centroids: &[f32], d: usize, x: &[f32]) -> (usize, f32) {
    let mut best = (0, f32::INFINITY);
    for (j, c) in centroids.chunks_exact(d.max(1)).enumerate() {
        let dist = sq_dist(x, c);
        if dist < best.1 {
            best = (j, dist);
        }
    }
    best
}

/// Settings of one k-means fit.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct KMeansParams {
    pub k: usize,
    pub max_iter: usize,
    /// Restarts from different seeds; the lowest inertia wins.
    pub n_init: usize,
    /// Stop when inertia improves by less than this fraction.
    pub tol: f64,
}

/// A fitted clustering.
#[derive(Debug, Clone, PartialEq)]
pub struct KMeans {
    /// k × d row-major.
    pub centroids: Vec<f32>,
    pub k: usize,
    pub dim: usize,
    pub assignment: Vec<u32>,
    /// Sum of squared distances to the assigned centroids.
    pub inertia: f64,
    pub iterations: usize,
}

/// k-means++ seeding: each next centre is drawn with probability
/// proportional to its squared distance from the centres chosen so far.
pub fn kmeans_pp(data: &[f32], d: usize, k: usize, rng: &mut ChaCha8Rng) -> Vec<f32> {
    let n = data.len() / d.max(1);
    let k = k.min(n);
    if k == 0 {
        return Vec::new();
    }
    let row = |i: usize| &data[i * d..(i + 1) * d];
    let mut centroids = Vec::with_capacity(k * d);
    centroids.extend_from_slice(row(rng.random_range(0..n)));
    let mut dist: Vec<f32> = data.par_chunks(d).map(|x| sq_dist(x, &centroids[..d])).collect();
    for _ in 1..k {
        let total: f64 = dist.iter().map(|&x| f64::from(x)).sum();
        let pick = if total > 0.0 {
            let mut target = rng.random::<f64>() * total;
            let mut pick = n - 1;
            for (i, &x) in dist.iter().enumerate() {
                target -= f64::from(x);
                if target < 0.0 {
                    pick = i;
                    break;
                }
            }
            pick
        } else {
            // All points coincide with a centre already: any point will do.
            rng.random_range(0..n)
        };
        let c = row(pick).to_vec();
        dist.par_iter_mut()
            .zip(data.par_chunks(d))
            .for_each(|(m, x)| *m = m.min(sq_dist(x, &c)));
        centroids.extend_from_slice(&c);
    }
    centroids
}

/// Lloyd iterations from given centroids until labels stop changing, the
/// inertia gain drops below `tol`, or `max_iter` updates were made.
pub fn lloyd(data: &[f32], d: usize, mut centroids: Vec<f32>, max_iter: usize, tol: f64) -> KMeans {
    let k = centroids.len() / d.max(1);
    let n = data.len() / d.max(1);
    let mut labels = vec![u32::MAX; n];
    let mut prev_inertia = f64::INFINITY;
    let mut iterations = 0;
    loop {
        let assigned: Vec<(u32, f32)> = data
            .par_chunks(d.max(1))
            .map(|x| {
                let (j, dist) = nearest(&centroids, d, x);
                (j as u32, dist)
            })
            .collect();
        let mut changed = 0usize;
        for (l, (j, _)) in labels.iter_mut().zip(&assigned) {
            changed += usize::from(*l != *j);
            *l = *j;
        }
        let inertia: f64 = assigned.iter().map(|(_, x)| f64::from(*x)).sum();
        let converged = changed == 0 || prev_inertia - inertia <= tol * inertia;
        if converged || iterations >= max_iter || k == 0 {
            return KMeans {
                centroids,
                k,
                dim: d,
                assignment: labels,
                inertia,
                iterations,
            };
        }
        prev_inertia = inertia;
        update_centroids(data, d, &labels, &assigned, &mut centroids);
        iterations += 1;
    }
}

/// Means of the assigned points; an empty cluster takes over the point
/// farthest from its centroid, which is where it lowers inertia most.
fn update_centroids(data: &[f32], d: usize, labels: &[u32], assigned: &[(u32, f32)], centroids: &mut [f32]) {
    let k = centroids.len() / d;
    let mut sums = vec![0.0f64; k * d];
    let mut counts = vec![0usize; k];
    for (x, &l) in data.chunks_exact(d).zip(labels) {
        let l = l as usize;
        counts[l] += 1;
        for (s, v) in sums[l * d..(l + 1) * d].iter_mut().zip(x) {
            *s += f64::from(*v);
        }
    }
    // Sorting by distance is only worth it when some cluster is empty.
    let mut far: Vec<usize> = Vec::new();
    if counts.contains(&0) {
        far = (0..labels.len()).collect();
        far.sort_by(|&a, &b| assigned[b].1.total_cmp(&assigned[a].1).then(a.cmp(&b)));
    }
    let mut far = far.into_iter();
    for j in 0..k {
        let c = &mut centroids[j * d..(j + 1) * d];
        if counts[j] > 0 {
            for (cv, s) in c.iter_mut().zip(&sums[j * d..(j + 1) * d]) {
                *cv = (*s / counts[j] as f64) as f32;
            }
        } else if let Some(i) = far.next() {
            c.copy_from_slice(&data[i * d..(i + 1) * d]);
        }
    }
}

/// k-means with `n_init` k-means++ restarts; keeps the lowest inertia.
pub fn fit(data: &[f32], d: usize, params: &KMeansParams, seed: u64) -> KMeans {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut best: Option<KMeans> = None;
    for _ in 0..params.n_init.max(1) {
        let init = kmeans_pp(data, d, params.k, &mut rng);
        let m = lloyd(data, d, init, params.max_iter, params.tol);
        if best.as_ref().is_none_or(|b| m.inertia < b.inertia) {
            best = Some(m);
        }
    }
    best.unwrap_or(KMeans {
        centroids: Vec::new(),
        k: 0,
        dim: d,
        assignment: Vec::new(),
        inertia: 0.0,
        iterations: 0,
    })
}
