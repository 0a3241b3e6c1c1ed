//! Exploration with logged propensities (DESIGN "Feedback, merchandising
//! rules and exploration"), and the off-policy estimate it makes possible
//! (`snips`). Pure: no I/O.
//!
//! The policy: each unpinned slot `k` of the ranked list is, with
//! probability `share`, given to the `k`-th course of a random permutation
//! of the exploration pool (little-exposed courses the learner may get that
//! are not in the list), else keeps the ranked course. The ranked course at
//! `k` is therefore served there with probability `1 − share` and a pool
//! course with `share / m` (m = pool size): exact per-slot propensities, so
//! logs of this policy can evaluate any policy that mixes the same ranked
//! list with the same pool differently. With fewer pool courses than slots
//! nothing is explored (every propensity is 1). The randomness is seeded
//! per learner and day: a repeated request gets the same list.

pub mod snips;

use serde::{Deserialize, Serialize};

/// How a slot was filled.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SlotKind {
    /// The ranked course.
    Ranked,
    /// A pool course drawn by exploration.
    Explored,
    /// Placed by a rule (pin): served with certainty, never explored.
    Fixed,
}

/// One served slot.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Slot {
    pub course: u32,
    pub kind: SlotKind,
    /// Probability, under the serving policy, of this course in this slot (0..1].
    pub propensity: f64,
}

/// A small deterministic generator (SplitMix64, Steele et al. 2014): the
/// served list must not change with a dependency's generator.
#[derive(Debug, Clone)]
pub struct SplitMix(u64);

impl SplitMix {
    pub fn new(seed: u64) -> SplitMix {
        SplitMix(seed)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform in [0, 1).
    pub fn next_f64(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    /// Uniform in 0..n (n > 0), by Lemire's multiply-shift (bias < n/2⁶⁴).
    pub fn below(&mut self, n: usize) -> usize {
        ((u128::from(self.next_u64()) * n as u128) >> 64) as usize
    }
}

/// The seed of a learner's lists on one day (xxh3 of id and day number).
pub fn daily_seed(user: &str, day: i64) -> u64 {
    let mut buf = Vec::with_capacity(user.len() + 9);
    buf.extend_from_slice(user.as_bytes());
    buf.push(0);
    buf.extend_from_slice(&day.to_le_bytes());
    xxhash_rust::xxh3::xxh3_64(&buf)
}

/// Serves `ranked` (the list after rules; `fixed[k]` marks pinned slots)
/// with exploration `share` (0..1) over `pool`, courses not in `ranked`.
pub fn explore(ranked: &[u32], fixed: &[bool], pool: &[u32], share: f64, seed: u64) -> Vec<Slot> {
    assert_eq!(ranked.len(), fixed.len(), "one flag per slot");
    let m = pool.len();
    let active = share > 0.0 && m >= ranked.len() && m > 0;
    let mut rng = SplitMix::new(seed);
    // One draw per slot, always, so a slot's fate does not depend on the
    // pool's size or on the other slots.
    let draws: Vec<f64> = ranked.iter().map(|_| rng.next_f64()).collect();
    let mut perm: Vec<u32> = pool.to_vec();
    let mut used = 0;
    ranked
        .iter()
        .zip(fixed)
        .zip(draws)
        .map(|((&course, &fixed), u)| {
            if fixed {
                return Slot {
                    course,
                    kind: SlotKind::Fixed,
                    propensity: 1.0,
                };
            }
            if !active {
                return Slot {
                    course,
                    kind: SlotKind::Ranked,
                    propensity: 1.0,
                };
            }
            if u < share {
                // Partial Fisher–Yates: the next element of a uniform
                // permutation, uniform over the pool for every slot.
                let j = used + rng.below(m - used);
                perm.swap(used, j);
                used += 1;
                Slot {
                    course: perm[used - 1],
                    kind: SlotKind::Explored,
                    propensity: share / m as f64,
                }
            } else {
                Slot {
                    course,
                    kind: SlotKind::Ranked,
                    propensity: 1.0 - share,
                }
            }
        })
        .collect()
}

/// The probability that a policy exploring with `share` over a pool of `m`
/// puts this logged slot's course in its slot, for a slot logged as `kind`
/// (the same ranked list and pool, only the share differs). Exploration
/// needs `m ≥ slots`, as in [`explore`].
pub fn propensity_under(kind: SlotKind, share: f64, m: usize, slots: usize) -> f64 {
    let active = share > 0.0 && m >= slots && m > 0;
    match kind {
        SlotKind::Fixed => 1.0,
        SlotKind::Ranked if !active => 1.0,
        SlotKind::Ranked => 1.0 - share,
        SlotKind::Explored if !active => 0.0,
        SlotKind::Explored => share / m as f64,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_same_seed_gives_the_same_list() {
        let pool: Vec<u32> = (100..140).collect();
        let a = explore(&[1, 2, 3, 4], &[false; 4], &pool, 0.5, 7);
        assert_eq!(a, explore(&[1, 2, 3, 4], &[false; 4], &pool, 0.5, 7));
        assert_ne!(a, explore(&[1, 2, 3, 4], &[false; 4], &pool, 0.5, 8));
    }

    #[test]
    fn propensities_are_the_per_slot_probabilities() {
        let pool: Vec<u32> = (10..20).collect();
        let runs = 40_000;
        let mut explored_at_1 = 0;
        let mut course_12_at_1 = 0;
        for seed in 0..runs {
            let s = explore(&[1, 2, 3], &[true, false, false], &pool, 0.2, seed);
            assert_eq!(
                s[0],
                Slot {
                    course: 1,
                    kind: SlotKind::Fixed,
                    propensity: 1.0
                }
            );
            let distinct: std::collections::HashSet<u32> = s.iter().map(|x| x.course).collect();
            assert_eq!(distinct.len(), 3, "no course twice");
            match s[1].kind {
                SlotKind::Explored => {
                    explored_at_1 += 1;
                    assert!((s[1].propensity - 0.02).abs() < 1e-12);
                    course_12_at_1 += usize::from(s[1].course == 12);
                }
                _ => assert_eq!((s[1].course, s[1].propensity), (2, 0.8)),
            }
        }
        let share = explored_at_1 as f64 / runs as f64;
        assert!((share - 0.2).abs() < 0.01, "{share}");
        let p12 = course_12_at_1 as f64 / runs as f64;
        assert!((p12 - 0.02).abs() < 0.003, "{p12}");
    }

    #[test]
    fn a_pool_smaller_than_the_list_turns_exploration_off() {
        let s = explore(&[1, 2, 3], &[false; 3], &[9, 8], 0.9, 1);
        assert!(s
            .iter()
            .all(|x| x.kind == SlotKind::Ranked && x.propensity == 1.0));
        assert_eq!(propensity_under(SlotKind::Ranked, 0.9, 2, 3), 1.0);
        assert_eq!(propensity_under(SlotKind::Explored, 0.1, 10, 3), 0.01);
        assert_eq!(propensity_under(SlotKind::Explored, 0.0, 10, 3), 0.0);
    }
}
