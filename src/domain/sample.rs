//! Weighted draws, shared by the demo data and the synthetic marketing data.

use rand::Rng;
use rand_chacha::ChaCha8Rng;

/// Index drawn with probability proportional to `weights`.
pub fn weighted(rng: &mut ChaCha8Rng, weights: &[f64]) -> usize {
    let total: f64 = weights.iter().sum();
    let mut t = rng.random::<f64>() * total;
    for (i, w) in weights.iter().enumerate() {
        t -= w;
        if t < 0.0 {
            return i;
        }
    }
    weights.len() - 1
}
