//! Holdout splits of interactions into a training part and per-user test items.

use crate::model::interactions::Interaction;
use rand::seq::SliceRandom;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

/// Which interactions of a user are held out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SplitKind {
    /// A seeded random subset of each user's interactions.
    Random,
    /// Each user's latest interactions (ties broken by course index).
    Temporal,
}

/// How much to hold out and from whom.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct SplitParams {
    /// Fraction of a user's interactions held out (rounded, at least one).
    pub holdout: f64,
    /// Users with fewer interactions stay entirely in training.
    pub min_interactions: usize,
    /// Evaluate at most this many (seeded-sampled) eligible users; the rest
    /// stay entirely in training. `None` = every eligible user.
    pub max_test_users: Option<usize>,
}

impl Default for SplitParams {
    fn default() -> Self {
        SplitParams {
            holdout: 0.2,
            min_interactions: 5,
            max_test_users: None,
        }
    }
}

/// A training set plus, per test user, the held-out course indices (sorted).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Split {
    pub train: Vec<Interaction>,
    pub test: Vec<(u32, Vec<u32>)>,
}

/// Splits `entries` (sorted by user, as in `Interactions`). The same
/// `seed` always gives the same split.
pub fn split(entries: &[Interaction], kind: SplitKind, p: &SplitParams, seed: u64) -> Split {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let groups: Vec<&[Interaction]> = entries.chunk_by(|a, b| a.user == b.user).collect();
    let mut chosen: Vec<bool> = groups
        .iter()
        .map(|g| g.len() >= p.min_interactions.max(2))
        .collect();
    if let Some(max) = p.max_test_users {
        let mut eligible: Vec<usize> = (0..groups.len()).filter(|&g| chosen[g]).collect();
        if eligible.len() > max {
            eligible.shuffle(&mut rng);
            for &g in &eligible[max..] {
                chosen[g] = false;
            }
        }
    }
    let mut out = Split {
        train: Vec::with_capacity(entries.len()),
        test: Vec::new(),
    };
    for (g, group) in groups.iter().enumerate() {
        if !chosen[g] {
            out.train.extend_from_slice(group);
            continue;
        }
        let n = group.len();
        let n_test = ((n as f64 * p.holdout).round() as usize).clamp(1, n - 1);
        let mut order: Vec<Interaction> = group.to_vec();
        match kind {
            SplitKind::Random => order.shuffle(&mut rng),
            SplitKind::Temporal => order.sort_by_key(|e| (e.ts_ms, e.course)),
        }
        let (keep, held) = match kind {
            SplitKind::Random => {
                let (a, b) = order.split_at(n_test);
                (b, a)
            }
            SplitKind::Temporal => order.split_at(n - n_test),
        };
        out.train.extend_from_slice(keep);
        let mut items: Vec<u32> = held.iter().map(|e| e.course).collect();
        items.sort_unstable();
        out.test.push((group[0].user, items));
    }
    out.train.sort_unstable_by_key(|e| (e.user, e.course));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn user(u: u32, n: u32) -> impl Iterator<Item = Interaction> {
        (0..n).map(move |c| Interaction {
            user: u,
            course: c,
            weight: 1.0,
            ts_ms: i64::from(100 - c),
            start_ms: i64::from(100 - c),
            taken: true,
        })
    }

    #[test]
    fn temporal_holds_out_the_latest_fifth() {
        let e: Vec<_> = user(0, 10).chain(user(1, 4)).collect();
        let s = split(&e, SplitKind::Temporal, &SplitParams::default(), 0);
        // Course c has time 100 − c, so the latest two are courses 0 and 1.
        assert_eq!(s.test, vec![(0, vec![0, 1])]);
        assert_eq!(s.train.len(), 12);
    }

    #[test]
    fn random_is_seeded_and_disjoint() {
        let e: Vec<_> = (0..20).flat_map(|u| user(u, 10)).collect();
        let p = SplitParams::default();
        let a = split(&e, SplitKind::Random, &p, 42);
        assert_eq!(a, split(&e, SplitKind::Random, &p, 42));
        assert_ne!(a.test, split(&e, SplitKind::Random, &p, 43).test);
        assert_eq!(a.test.len(), 20);
        for (u, items) in &a.test {
            assert_eq!(items.len(), 2);
            assert!(a.train.iter().all(|t| t.user != *u || !items.contains(&t.course)));
        }
        let sampled = split(
            &e,
            SplitKind::Temporal,
            &SplitParams {
                max_test_users: Some(3),
                ..p
            },
            1,
        );
        assert_eq!(sampled.test.len(), 3);
        assert_eq!(sampled.train.len(), 200 - 6);
    }
}
