//! Which courses a learner's softmax normaliser scores: every offered
//! course, or the head by factor norm plus a stratified sample of the rest.

use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

use crate::model::Factors;

/// `[marketing.offer_normaliser]`: when and how the normaliser samples.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct NormaliserSampling {
    /// Catalogues of at most this many offered courses are scored in full.
    pub exact_up_to: usize,
    /// Courses with the largest factor norm, always scored: a course's
    /// score is at most ‖x‖·‖y‖, so these are the ones that can dominate.
    pub head: usize,
    /// Courses sampled from the rest, stratified by category.
    pub sample: usize,
    /// A learner whose sampled normaliser has a larger relative standard
    /// error than this (0..1) is scored in full.
    pub max_relative_error: f32,
}

impl Default for NormaliserSampling {
    fn default() -> Self {
        NormaliserSampling {
            exact_up_to: 4096,
            head: 1024,
            sample: 2048,
            max_relative_error: 0.01,
        }
    }
}

impl NormaliserSampling {
    pub fn validate(&self) -> anyhow::Result<()> {
        if self.sample < 2 * MIN_DRAWN || !(0.0..1.0).contains(&self.max_relative_error) {
            anyhow::bail!(
                "invalid configuration: marketing.offer_normaliser needs sample ≥ {} and max_relative_error in [0, 1)",
                2 * MIN_DRAWN
            );
        }
        Ok(())
    }
}

/// Fewest courses drawn from a category's tail: fewer give no usable
/// variance estimate.
const MIN_DRAWN: usize = 8;

/// A run of columns of one category.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) struct Segment {
    pub category: u32,
    pub start: usize,
    pub end: usize,
    /// Courses the run stands for: `end − start` when scored in full, the
    /// category's tail size when the run is a sample of it.
    pub population: f32,
}

/// The columns scored for every learner and how they add up.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct Plan {
    /// Course indices, in segment order.
    pub columns: Vec<u32>,
    /// Course index → column (`u32::MAX`: not scored).
    pub position: Vec<u32>,
    pub segments: Vec<Segment>,
}

impl Plan {
    /// Every offered course, grouped by category.
    pub fn exact(category: &[u32], offered: &[bool]) -> Plan {
        let mut runs: Vec<Vec<u32>> = Vec::new();
        for c in (0..offered.len()).filter(|&c| offered[c]) {
            let k = category[c] as usize;
            if runs.len() <= k {
                runs.resize(k + 1, Vec::new());
            }
            runs[k].push(c as u32);
        }
        let mut plan = Plan::empty(offered.len());
        for (k, run) in runs.iter().enumerate() {
            plan.push(k as u32, run, run.len());
        }
        plan
    }

    /// The `s.head` offered courses of largest norm in full, and from each
    /// category's other offered courses a seeded simple random sample
    /// proportional to its size (at least `MIN_DRAWN`, at most all of
    /// them). The exact plan when the catalogue is small.
    pub fn sampled(courses: &Factors, category: &[u32], offered: &[bool], s: &NormaliserSampling) -> Plan {
        let mut all: Vec<u32> = (0..offered.len() as u32)
            .filter(|&c| offered[c as usize])
            .collect();
        if all.len() <= s.exact_up_to.max(s.head + s.sample) {
            return Plan::exact(category, offered);
        }
        let norm = |c: u32| courses.row(c as usize).iter().map(|v| v * v).sum::<f32>();
        all.select_nth_unstable_by(s.head, |&a, &b| norm(b).total_cmp(&norm(a)).then(a.cmp(&b)));
        let (head, tail) = all.split_at(s.head);
        let mut plan = Plan::empty(offered.len());
        let head_only: Vec<bool> = {
            let mut v = vec![false; offered.len()];
            head.iter().for_each(|&c| v[c as usize] = true);
            v
        };
        for run in Plan::exact(category, &head_only).runs() {
            plan.push(run.0, &run.1, run.1.len());
        }
        let mut by_category: Vec<Vec<u32>> = Vec::new();
        for &c in tail {
            let k = category[c as usize] as usize;
            if by_category.len() <= k {
                by_category.resize(k + 1, Vec::new());
            }
            by_category[k].push(c);
        }
        let mut rng = ChaCha8Rng::seed_from_u64(0x0ffe_5a3e);
        for (k, members) in by_category.iter_mut().enumerate() {
            if members.is_empty() {
                continue;
            }
            members.sort_unstable();
            let share = s.sample as f64 * members.len() as f64 / tail.len() as f64;
            let n = (share.round() as usize).max(MIN_DRAWN).min(members.len());
            let mut drawn: Vec<u32> = rand::seq::index::sample(&mut rng, members.len(), n)
                .into_iter()
                .map(|i| members[i])
                .collect();
            drawn.sort_unstable();
            plan.push(k as u32, &drawn, members.len());
        }
        plan
    }

    fn empty(n_courses: usize) -> Plan {
        Plan {
            columns: Vec::new(),
            position: vec![u32::MAX; n_courses],
            segments: Vec::new(),
        }
    }

    fn push(&mut self, category: u32, courses: &[u32], population: usize) {
        if courses.is_empty() {
            return;
        }
        let start = self.columns.len();
        for &c in courses {
            self.position[c as usize] = self.columns.len() as u32;
            self.columns.push(c);
        }
        self.segments.push(Segment {
            category,
            start,
            end: self.columns.len(),
            population: population as f32,
        });
    }

    fn runs(&self) -> impl Iterator<Item = (u32, Vec<u32>)> + '_ {
        self.segments
            .iter()
            .map(|s| (s.category, self.columns[s.start..s.end].to_vec()))
    }

    /// Whether every offered course is scored.
    pub fn is_exact(&self) -> bool {
        self.segments
            .iter()
            .all(|s| s.population as usize == s.end - s.start)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_exact_plan_groups_offered_courses_by_category() {
        let plan = Plan::exact(&[1, 0, 1, 0], &[true, true, true, false]);
        assert_eq!(plan.columns, vec![1, 0, 2]);
        assert_eq!(plan.position, vec![1, 0, 2, u32::MAX]);
        assert_eq!(plan.segments.len(), 2);
        assert!(plan.is_exact());
    }

    #[test]
    fn the_sampled_plan_keeps_the_largest_norms_and_samples_each_category() {
        // 100 courses, k = 1, norm = index; categories alternate.
        let courses = Factors {
            n: 100,
            k: 1,
            data: (0..100).map(|c| c as f32).collect(),
        };
        let category: Vec<u32> = (0..100).map(|c| c % 2).collect();
        let offered = vec![true; 100];
        let s = NormaliserSampling {
            exact_up_to: 10,
            head: 10,
            sample: 20,
            max_relative_error: 0.01,
        };
        let plan = Plan::sampled(&courses, &category, &offered, &s);
        assert!(!plan.is_exact());
        let head: Vec<u32> = plan.segments[..2]
            .iter()
            .flat_map(|g| plan.columns[g.start..g.end].to_vec())
            .collect();
        let mut sorted = head.clone();
        sorted.sort_unstable();
        assert_eq!(sorted, (90..100).collect::<Vec<u32>>());
        // 45 tail courses per category, 10 drawn from each.
        for g in &plan.segments[2..] {
            assert_eq!((g.end - g.start, g.population), (10, 45.0));
            assert!(plan.columns[g.start..g.end]
                .iter()
                .all(|&c| c < 90 && category[c as usize] == g.category));
        }
        // Same inputs, same plan.
        assert_eq!(plan, Plan::sampled(&courses, &category, &offered, &s));
        // A catalogue within exact_up_to is scored in full.
        let small = NormaliserSampling {
            exact_up_to: 100,
            ..s
        };
        assert!(Plan::sampled(&courses, &category, &offered, &small).is_exact());
    }
}
