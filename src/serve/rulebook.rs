//! The merchandising rules in force, held in memory (refreshed from the
//! store on every change, on every replica) and resolved against the
//! serving catalog for one list.

use std::sync::Arc;

use arc_swap::ArcSwap;

use super::snapshot::CourseSide;
use crate::rules::engine::Resolved;
use crate::rules::{Rule, Target};

/// Every stored rule (active or not), swapped whole on change.
#[derive(Default)]
pub struct RuleBook {
    rules: ArcSwap<Vec<Rule>>,
}

impl RuleBook {
    /// Replaces the rules (a store read after a change).
    pub fn set(&self, rules: Vec<Rule>) {
        self.rules.store(Arc::new(rules));
    }

    pub fn current(&self) -> Arc<Vec<Rule>> {
        self.rules.load_full()
    }

    /// Rules in force at `now_ms`.
    pub fn active_count(&self, now_ms: i64) -> usize {
        self.rules.load().iter().filter(|r| r.active_at(now_ms)).count()
    }
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
