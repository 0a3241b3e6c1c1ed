//! The merchandising rules in force, held in memory (refreshed from the
//! store on every change, on every replica), compiled against the serving
//! catalog once per audience and reused until the rules, the catalog or
//! an active window change.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use arc_swap::ArcSwap;

use super::snapshot::CourseSide;
use crate::rules::engine::{Compiled, Resolved};
use crate::rules::{Rule, Target};

/// Every stored rule (active or not), swapped whole on change.
#[derive(Default)]
pub struct RuleBook {
    rules: ArcSwap<Vec<Rule>>,
    cache: Mutex<Option<Cache>>,
}

/// Compiled rules for one rule set and one course side, per segment.
struct Cache {
    rules: Arc<Vec<Rule>>,
    courses: Arc<CourseSide>,
    /// The next start or end of a rule's window: past it, recompile.
    valid_until_ms: i64,
    compiled_at_ms: i64,
    by_segment: HashMap<Option<u32>, Arc<Compiled>>,
}

impl RuleBook {
    /// Replaces the rules (a store read after a change).
    pub fn set(&self, rules: Vec<Rule>) {
        self.rules.store(Arc::new(rules));
        *self.cache.lock().unwrap() = None;
    }

    /// Rules in force at `now_ms`.
    pub fn active_count(&self, now_ms: i64) -> usize {
        self.rules.load().iter().filter(|r| r.active_at(now_ms)).count()
    }

    /// The rules in force at `now_ms` for a learner of `segment` (`None`:
    /// no learner), compiled against `courses`.
    pub fn compiled(&self, courses: &Arc<CourseSide>, segment: Option<u32>, now_ms: i64) -> Arc<Compiled> {
        let rules = self.rules.load_full();
        if rules.is_empty() {
            return Arc::default();
        }
        let mut cache = self.cache.lock().unwrap();
        let fresh = cache.as_ref().is_some_and(|c| {
            Arc::ptr_eq(&c.rules, &rules)
                && Arc::ptr_eq(&c.courses, courses)
                && now_ms < c.valid_until_ms
                && now_ms >= c.compiled_at_ms
        });
        if !fresh {
            *cache = Some(Cache {
                valid_until_ms: next_boundary(&rules, now_ms),
                compiled_at_ms: now_ms,
                rules: rules.clone(),
                courses: courses.clone(),
                by_segment: HashMap::new(),
            });
        }
        let c = cache.as_mut().expect("set above");
        c.by_segment
            .entry(segment)
            .or_insert_with(|| Arc::new(Compiled::new(&resolve(&rules, courses, segment, now_ms))))
            .clone()
    }
}

/// The first rule window start or end after `now_ms`.
fn next_boundary(rules: &[Rule], now_ms: i64) -> i64 {
    rules
        .iter()
        .flat_map(|r| [r.starts_ms, r.ends_ms])
        .flatten()
        .filter(|&t| t > now_ms)
        .min()
        .unwrap_or(i64::MAX)
}

/// The rules of `rules` in force at `now_ms` for a learner of `segment`,
/// with the course indices they name in `courses`: a course list in its
/// given order, a category by popularity (best first, what a pin takes).
pub fn resolve<'r>(
    rules: &'r [Rule],
    courses: &CourseSide,
    segment: Option<u32>,
    now_ms: i64,
) -> Vec<Resolved<'r>> {
    rules
        .iter()
        .filter(|r| r.active_at(now_ms) && r.applies_to(segment))
        .map(|rule| {
            let courses = match &rule.target {
                Target::Courses(ids) => ids
                    .iter()
                    .filter_map(|id| courses.index.get(id).copied())
                    .collect(),
                Target::Category(cat) => {
                    let mut of: Vec<u32> = (0..courses.ids.len() as u32)
                        .filter(|&i| &courses.meta[i as usize].category == cat)
                        .collect();
                    let pop = |i: u32| courses.popularity.get(i as usize).copied().unwrap_or(0.0);
                    of.sort_by(|&a, &b| pop(b).total_cmp(&pop(a)).then(a.cmp(&b)));
                    of
                }
            };
            Resolved { rule, courses }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cache_lasts_until_the_next_window_boundary() {
        let rule = |s: Option<i64>, e: Option<i64>| Rule {
            id: "r".into(),
            action: crate::rules::Action::Block,
            target: Target::Category("x".into()),
            weight: 0.0,
            position: 0,
            segments: vec![],
            starts_ms: s,
            ends_ms: e,
        };
        assert_eq!(next_boundary(&[rule(Some(10), Some(20))], 5), 10);
        assert_eq!(next_boundary(&[rule(Some(10), Some(20))], 10), 20);
        assert_eq!(next_boundary(&[rule(None, None)], 10), i64::MAX);
    }
}
