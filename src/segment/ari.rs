//! Adjusted Rand index: agreement of two clusterings, 1 = identical up to
//! renaming, about 0 = chance level.

use std::collections::HashMap;
use std::hash::Hash;

fn pairs(n: u64) -> f64 {
    (n * n.saturating_sub(1)) as f64 / 2.0
}

/// ARI of two labelings of the same points (Hubert & Arabie, 1985).
/// Both labelings having a single cluster (or ≤ 1 point) counts as 1.
pub fn adjusted_rand_index<A, B>(a: &[A], b: &[B]) -> f64
where
    A: Eq + Hash + Copy,
    B: Eq + Hash + Copy,
{
    assert_eq!(a.len(), b.len(), "labelings must cover the same points");
    let mut table: HashMap<(A, B), u64> = HashMap::new();
    let mut rows: HashMap<A, u64> = HashMap::new();
    let mut cols: HashMap<B, u64> = HashMap::new();
    for (&x, &y) in a.iter().zip(b) {
        *table.entry((x, y)).or_default() += 1;
        *rows.entry(x).or_default() += 1;
        *cols.entry(y).or_default() += 1;
    }
    let index: f64 = table.values().map(|&c| pairs(c)).sum();
    let sum_a: f64 = rows.values().map(|&c| pairs(c)).sum();
    let sum_b: f64 = cols.values().map(|&c| pairs(c)).sum();
    let total = pairs(a.len() as u64);
    if total == 0.0 {
        return 1.0;
    }
    let expected = sum_a * sum_b / total;
    let max = (sum_a + sum_b) / 2.0;
    if (max - expected).abs() < 1e-12 {
        // Both are trivial partitions (all one cluster or all singletons).
        return if (index - expected).abs() < 1e-12 {
            1.0
        } else {
            0.0
        };
    }
    (index - expected) / (max - expected)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identical_up_to_renaming_is_one() {
        assert_eq!(
            adjusted_rand_index(&[0, 0, 1, 1, 2], &["b", "b", "a", "a", "c"]),
            1.0
        );
    }

    #[test]
    fn known_value() {
        // sklearn: adjusted_rand_score([0,0,1,1],[0,0,1,2]) = 0.5714285714
        let v = adjusted_rand_index(&[0, 0, 1, 1], &[0, 0, 1, 2]);
        assert!((v - 4.0 / 7.0).abs() < 1e-9, "{v}");
    }

    #[test]
    fn trivial_partitions() {
        assert_eq!(adjusted_rand_index(&[1, 1, 1], &[7, 7, 7]), 1.0);
        assert_eq!(adjusted_rand_index::<u8, u8>(&[], &[]), 1.0);
    }
}
