//! Stable assignment: a user's variant is a pure function of the experiment
//! id and the user id, so every replica and every restart agrees without
//! storing assignments.

use xxhash_rust::xxh3::xxh3_64;

use super::spec::VariantSpec;

/// The index of the variant `user` sees in experiment `experiment`.
/// XXH3 is specified and stable across versions and platforms, unlike
/// std's `DefaultHasher`; the 0x1F separator keeps ("ab", "c") apart from
/// ("a", "bc").
pub fn assign(experiment: &str, user: &str, variants: &[VariantSpec]) -> usize {
    let total: u64 = variants.iter().map(|v| u64::from(v.weight)).sum();
    debug_assert!(total > 0);
    let mut key = Vec::with_capacity(experiment.len() + user.len() + 1);
    key.extend_from_slice(experiment.as_bytes());
    key.push(0x1F);
    key.extend_from_slice(user.as_bytes());
    // Multiply-shift maps the hash to [0, total) without modulo bias
    // worth speaking of (total ≤ 100,000).
    let mut point = ((u128::from(xxh3_64(&key)) * u128::from(total)) >> 64) as u64;
    for (i, v) in variants.iter().enumerate() {
        let w = u64::from(v.weight);
        if point < w {
            return i;
        }
        point -= w;
    }
    variants.len() - 1
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::experiment::Arm;

    fn variants(weights: &[u32]) -> Vec<VariantSpec> {
        weights
            .iter()
            .enumerate()
            .map(|(i, &weight)| VariantSpec {
                name: format!("v{i}"),
                weight,
                arm: Arm::Model,
                diversity: None,
            })
            .collect()
    }

    #[test]
    fn assignment_is_stable_and_follows_the_weights() {
        let v = variants(&[1, 3]);
        let mut counts = [0usize; 2];
        for u in 0..20_000 {
            let user = format!("user-{u}");
            let a = assign("exp", &user, &v);
            assert_eq!(a, assign("exp", &user, &v));
            counts[a] += 1;
        }
        // Expect 5,000 / 15,000; 3 standard deviations is about 184.
        assert!((counts[0] as i64 - 5_000).abs() < 184, "{counts:?}");
    }

    #[test]
    fn experiments_split_users_independently() {
        let v = variants(&[1, 1]);
        let same = (0..10_000)
            .filter(|u| {
                let user = format!("u{u}");
                assign("first", &user, &v) == assign("second", &user, &v)
            })
            .count();
        // Independent halves agree about half the time (σ = 50).
        assert!((same as i64 - 5_000).abs() < 200, "{same}");
    }

    #[test]
    fn the_separator_keeps_ids_apart() {
        let v = variants(&[1, 1]);
        let differ = (0..200)
            .filter(|i| {
                let (e, u) = (format!("e{i}"), format!("x{i}"));
                assign(&e, &u, &v) != assign(&format!("{e}x"), &format!("{i}"), &v)
            })
            .count();
        assert!(differ > 50, "{differ}");
    }
}
