//! Synthetic profiles and ALS-like factors in planted taste groups, for the
//! segmentation benchmark and tests at sizes where simulating every event
//! would be wasteful.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use super::catalog::CATALOG;
use super::events::weighted;
use super::{GROUPS, GROUP_SIZES};
use crate::segment::profile::{CategoryShare, Profile};

/// Synthetic users: profiles, n × `factor_dim` factors (row-major) and the
/// planted group of each user.
pub struct Synthetic {
    pub profiles: Vec<Profile>,
    pub factors: Vec<f32>,
    pub groups: Vec<usize>,
}

fn normal(rng: &mut ChaCha8Rng) -> f32 {
    let u: f32 = rng.random_range(f32::EPSILON..1.0);
    (-2.0 * u.ln()).sqrt() * (std::f32::consts::TAU * rng.random::<f32>()).cos()
}

/// `n` users over the demo taste groups. Each user's category shares come
/// from 10–60 weighted looks (85% in the group's categories); activity is
/// drawn independently of taste; factors are a group centre plus noise.
pub fn users(n: usize, factor_dim: usize, seed: u64) -> Synthetic {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let cats: Vec<&str> = CATALOG.iter().map(|c| c.0).collect();
    let centres: Vec<f32> = (0..GROUPS.len() * factor_dim).map(|_| normal(&mut rng)).collect();
    let mut out = Synthetic {
        profiles: Vec::with_capacity(n),
        factors: Vec::with_capacity(n * factor_dim),
        groups: Vec::with_capacity(n),
    };
    for u in 0..n {
        let g = weighted(&mut rng, &GROUP_SIZES);
        let favoured = GROUPS[g].1;
        let fw: Vec<f64> = favoured.iter().map(|f| f.1).collect();
        let mut mass = vec![0.0f32; cats.len()];
        for _ in 0..rng.random_range(10..60) {
            let c = if rng.random::<f64>() < 0.85 {
                let name = favoured[weighted(&mut rng, &fw)].0;
                cats.iter().position(|c| *c == name).unwrap_or(0)
            } else {
                rng.random_range(0..cats.len())
            };
            mass[c] += [1.0, 2.0, 8.0][rng.random_range(0..3)];
        }
        let total: f32 = mass.iter().sum();
        let mut interests: Vec<CategoryShare> = cats
            .iter()
            .zip(&mass)
            .filter(|(_, m)| **m > 0.0)
            .map(|(c, m)| CategoryShare {
                category: c.to_string(),
                share: m / total,
            })
            .collect();
        interests.sort_by(|a, b| b.share.total_cmp(&a.share));
        let ev90 = rng.random_range(3..300u32);
        out.profiles.push(Profile {
            user_id: format!("s{u:06}"),
            interests,
            spend_cents: if rng.random::<f64>() < 0.5 {
                0
            } else {
                rng.random_range(1900..200_000)
            },
            recency_days: Some(rng.random_range(0.0..89.0)),
            events_30d: rng.random_range(0..=ev90),
            events_90d: ev90,
            ..Profile::default()
        });
        for j in 0..factor_dim {
            out.factors
                .push(centres[g * factor_dim + j] + 0.8 * normal(&mut rng));
        }
        out.groups.push(g);
    }
    out
}
