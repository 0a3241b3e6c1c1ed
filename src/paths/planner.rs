//! Plans from what a learner owns to a goal: a course (its missing
//! prerequisites, then the course) or a category (through the category's
//! levels up to its top level, in the order learners took them). Every
//! step is a course the learner does not own, every prerequisite of a step
//! is owned or an earlier step, and within a category levels never go
//! down unless a declared prerequisite demands it.

use std::collections::HashSet;

use serde::Serialize;

use super::graph::{missing_closure, CycleAt};
use super::order::{Transitions, HISTORY_WEIGHTS};

/// What the planner knows of each course, by course index.
pub struct PlanCourses<'a> {
    /// Prerequisites that count: in the catalog and takeable.
    pub prereqs: &'a [Vec<u32>],
    /// 0 beginner, 1 intermediate, 2 advanced.
    pub level: &'a [u8],
    /// Category index of each course.
    pub category: &'a [u32],
    /// Listed and active: may be a step.
    pub takeable: &'a [bool],
    /// Popularity, to break ties.
    pub popularity: &'a [f32],
    /// How much the learner likes each course (the factor model's scores,
    /// any scale); `None` for popularity. The prior that learned order is
    /// smoothed toward where few learners went before.
    pub affinity: Option<&'a [f32]>,
    /// λ of the next-step score: the weight of learned order against
    /// affinity, 0..1.
    pub order_weight: f32,
}

impl PlanCourses<'_> {
    fn prereqs_of(&self, i: u32) -> &[u32] {
        &self.prereqs[i as usize]
    }
}

/// Where the learner wants to get.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Goal {
    Course(u32),
    Category(u32),
}

/// Why a step is in the plan.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
// Its own schema name: `Reason` is the recommendation item's.
#[schema(as = StepReason)]
pub enum Reason {
    /// A later step (or the goal) requires it.
    Prerequisite,
    /// It takes the learner a level up in its category.
    NextLevel,
    /// Learners who went this way took it here.
    LearnedOrder,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Step {
    pub course: u32,
    pub reason: Reason,
    /// Courses this step builds on: its prerequisites, and the course before
    /// it in its category (owned or an earlier step).
    pub after: Vec<u32>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Plan {
    pub steps: Vec<Step>,
    /// Owned courses of the goal's track: the goal's prerequisite closure
    /// and, for a category goal (or a course goal's category), owned
    /// courses of that category.
    pub already_owned: Vec<u32>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PlanError {
    #[error("the goal cannot be reached within {max_steps} steps; the shortest path has {shortest}")]
    TooLong { shortest: usize, max_steps: usize },
    #[error("the category has no course that can be taken")]
    NothingToTake,
    #[error("the prerequisites of course {0} form a cycle")]
    Cycle(u32),
}

impl From<CycleAt> for PlanError {
    fn from(c: CycleAt) -> PlanError {
        PlanError::Cycle(c.0)
    }
}

/// Plans the way to `goal` for a learner who owns `owned` (sorted) and took
/// `history` (owned courses, oldest first). At most `max_steps` steps.
pub fn plan(
    c: &PlanCourses,
    t: &Transitions,
    owned: &[u32],
    history: &[u32],
    goal: Goal,
    max_steps: usize,
) -> Result<Plan, PlanError> {
    let owns = |i: u32| owned.binary_search(&i).is_ok();
    match goal {
        Goal::Course(g) => {
            let need = missing_closure(g, &|i| c.prereqs_of(i), &owns)?;
            if need.len() > max_steps {
                return Err(PlanError::TooLong {
                    shortest: need.len(),
                    max_steps,
                });
            }
            let ordered = learned_topological(c, t, &need, history);
            let mut track: Vec<u32> = owned_closure(c, g, &owns);
            track.extend(
                owned
                    .iter()
                    .filter(|&&o| c.category[o as usize] == c.category[g as usize]),
            );
            track.sort_unstable();
            track.dedup();
            Ok(Plan {
                steps: explain(c, &ordered, owned, history),
                already_owned: track,
            })
        }
        Goal::Category(cat) => plan_category(c, t, owned, history, cat, max_steps),
    }
}

/// Owned courses in `goal`'s prerequisite closure (walking through owned
/// ones too).
fn owned_closure(c: &PlanCourses, goal: u32, owns: &impl Fn(u32) -> bool) -> Vec<u32> {
    let mut seen = HashSet::new();
    let mut stack = vec![goal];
    let mut out = Vec::new();
    while let Some(i) = stack.pop() {
        for &p in c.prereqs_of(i) {
            if seen.insert(p) {
                if owns(p) {
                    out.push(p);
                }
                stack.push(p);
            }
        }
    }
    out
}

/// `need` (closed under prerequisites, the goal last) in an order that puts
/// prerequisites first and, among the courses that are ready, the lowest
/// level, then the one learners most often took after the course before it
/// in the same category, then the more popular.
fn learned_topological(c: &PlanCourses, t: &Transitions, need: &[u32], history: &[u32]) -> Vec<u32> {
    let set: HashSet<u32> = need.iter().copied().collect();
    let mut placed: HashSet<u32> = HashSet::new();
    let mut out = Vec::with_capacity(need.len());
    let last_in = |cat: u32, out: &[u32]| -> Option<u32> {
        out.iter()
            .rev()
            .chain(history.iter().rev())
            .copied()
            .find(|&i| c.category[i as usize] == cat)
    };
    while out.len() < need.len() {
        let ready = need.iter().copied().filter(|i| {
            !placed.contains(i)
                && c.prereqs_of(*i)
                    .iter()
                    .all(|p| !set.contains(p) || placed.contains(p))
        });
        let best = ready
            .map(|i| {
                let follows = last_in(c.category[i as usize], &out).map_or(0.0, |a| t.track_count(a, i));
                (i, c.level[i as usize], follows, c.popularity[i as usize])
            })
            .min_by(|a, b| {
                a.1.cmp(&b.1)
                    .then(b.2.total_cmp(&a.2))
                    .then(b.3.total_cmp(&a.3))
                    .then(a.0.cmp(&b.0))
            });
        // `need` is closed and acyclic, so something is always ready.
        let Some((i, ..)) = best else { break };
        placed.insert(i);
        out.push(i);
    }
    out
}

/// A category goal: greedily the next course learners took after the
/// learner's latest one in the category (level not below the previous
/// step's, its missing prerequisites first), until the plan reaches the
/// category's top level; where learned order runs out, the shortest way
/// from there to a top-level course completes it. A plan longer than
/// `max_steps` gives way to the shortest way up from what the learner owns.
fn plan_category(
    c: &PlanCourses,
    t: &Transitions,
    owned: &[u32],
    history: &[u32],
    cat: u32,
    max_steps: usize,
) -> Result<Plan, PlanError> {
    let in_cat: Vec<u32> = (0..c.category.len() as u32)
        .filter(|&i| c.category[i as usize] == cat && c.takeable[i as usize])
        .collect();
    let top = in_cat
        .iter()
        .map(|&i| c.level[i as usize])
        .max()
        .ok_or(PlanError::NothingToTake)?;
    let already_owned: Vec<u32> = owned
        .iter()
        .copied()
        .filter(|&o| c.category[o as usize] == cat)
        .collect();
    if already_owned.iter().any(|&o| c.level[o as usize] >= top) {
        return Ok(Plan {
            steps: vec![],
            already_owned,
        });
    }
    let owned_set: HashSet<u32> = owned.iter().copied().collect();
    let (mut steps, have, floor) = learned_prefix(c, t, owned, history, cat, top, &in_cat, max_steps)?;
    if !steps.iter().any(|&s| c.level[s as usize] >= top) {
        let rest = shortest_up(c, &in_cat, top, &have, floor)?;
        steps.extend(learned_topological(c, t, &rest, history));
    }
    if steps.len() > max_steps {
        let shortest = shortest_up(c, &in_cat, top, &owned_set, 0)?;
        if shortest.len() > max_steps {
            return Err(PlanError::TooLong {
                shortest: shortest.len(),
                max_steps,
            });
        }
        steps = learned_topological(c, t, &shortest, history);
    }
    Ok(Plan {
        steps: explain(c, &steps, owned, history),
        already_owned,
    })
}

/// The courses (prerequisites first) that take a learner who has `have`
/// to a course of the category's `top` level: the target whose missing
/// closure keeps every category level at or above `floor` if one does,
/// then the fewest courses, then the most popular target.
fn shortest_up(
    c: &PlanCourses,
    in_cat: &[u32],
    top: u8,
    have: &HashSet<u32>,
    floor: u8,
) -> Result<Vec<u32>, PlanError> {
    let cat = c.category[in_cat[0] as usize];
    let mut best: Option<((bool, usize, f32), Vec<u32>)> = None;
    for &g in in_cat.iter().filter(|&&i| c.level[i as usize] == top) {
        let need = missing_closure(g, &|i| c.prereqs_of(i), &|i| have.contains(&i))?;
        let goes_down = need
            .iter()
            .any(|&i| c.category[i as usize] == cat && c.level[i as usize] < floor);
        let key = (goes_down, need.len(), -c.popularity[g as usize]);
        if best
            .as_ref()
            .is_none_or(|(k, _)| (key.0, key.1) < (k.0, k.1) || ((key.0, key.1) == (k.0, k.1) && key.2 < k.2))
        {
            best = Some((key, need));
        }
    }
    Ok(best.map(|b| b.1).unwrap_or_default())
}

/// The learned-order part of [`plan_category`]: from the learner's latest
/// course in the category, the course most often taken next (with its
/// missing prerequisites), while learned order says something and the top
/// level is not reached. Returns the steps, what the learner then has, and
/// the level floor reached.
#[allow(clippy::too_many_arguments)]
fn learned_prefix(
    c: &PlanCourses,
    t: &Transitions,
    owned: &[u32],
    history: &[u32],
    cat: u32,
    top: u8,
    in_cat: &[u32],
    max_steps: usize,
) -> Result<(Vec<u32>, HashSet<u32>, u8), PlanError> {
    let mut have: HashSet<u32> = owned.iter().copied().collect();
    let mut steps: Vec<u32> = Vec::new();
    // The learner's last two courses in the category, latest first.
    let mut recent: Vec<u32> = history
        .iter()
        .rev()
        .copied()
        .filter(|&i| c.category[i as usize] == cat)
        .take(HISTORY_WEIGHTS.len())
        .collect();
    // Levels never go down along the steps (the first step may be below
    // what the learner took last: learners do go back for a basic course).
    let mut floor = 0u8;
    while steps.len() <= max_steps && !steps.iter().any(|&s| c.level[s as usize] >= top) {
        if recent.is_empty() {
            break;
        }
        let mut open: Vec<(u32, Vec<u32>)> = Vec::new();
        for &b in in_cat {
            if have.contains(&b) || c.level[b as usize] < floor {
                continue;
            }
            let need = missing_closure(b, &|i| c.prereqs_of(i), &|i| have.contains(&i))?;
            if need
                .iter()
                .any(|&i| c.level[i as usize] < floor && c.category[i as usize] == cat)
            {
                continue;
            }
            open.push((b, need));
        }
        let blended = blend_scores(c, t, &recent, &open);
        let mut best: Option<(u32, f32, Vec<u32>)> = None;
        for ((b, need), score) in open.into_iter().zip(blended) {
            // Ties: the lower level, then the more popular.
            let better = best.as_ref().is_none_or(|(j, f, _)| {
                let (bj, jj) = (b as usize, *j as usize);
                score > *f
                    || (score == *f
                        && (c.level[bj], -c.popularity[bj], b) < (c.level[jj], -c.popularity[jj], *j))
            });
            if better {
                best = Some((b, score, need));
            }
        }
        let Some((_, _, need)) = best else { break };
        let need = learned_topological(c, t, &need, history);
        for &i in &need {
            have.insert(i);
            if c.category[i as usize] == cat {
                floor = floor.max(c.level[i as usize]);
            }
        }
        for &i in need.iter().filter(|&&i| c.category[i as usize] == cat) {
            recent.insert(0, i);
        }
        recent.truncate(HISTORY_WEIGHTS.len());
        steps.extend(need);
    }
    Ok((steps, have, floor))
}

/// Each candidate's score for the next step: λ·order + (1 − λ)·affinity,
/// both scaled to 0..1 over the candidates. Order: learners who took the
/// candidate right after each of the learner's latest courses in the track
/// (weights 1, ½, ¼, latest first) plus half a vote from those who took it
/// two after the second latest. Affinity: the learner's factor scores, or
/// popularity. λ is the blend weight the next-course holdout chose.
fn blend_scores(c: &PlanCourses, t: &Transitions, recent: &[u32], open: &[(u32, Vec<u32>)]) -> Vec<f32> {
    let order: Vec<f32> = open
        .iter()
        .map(|&(b, _)| {
            let direct: f32 = recent
                .iter()
                .zip(HISTORY_WEIGHTS)
                .map(|(&a, w)| w * t.track_count(a, b))
                .sum();
            direct + recent.get(1).map_or(0.0, |&p| 0.5 * t.track_skip_count(p, b))
        })
        .collect();
    let affinity: Vec<f32> = open
        .iter()
        .map(|(b, _)| match c.affinity {
            Some(a) => a.get(*b as usize).copied().unwrap_or(0.0),
            None => c.popularity[*b as usize],
        })
        .collect();
    let top = order.iter().copied().fold(0f32, f32::max);
    let (lo, hi) = affinity
        .iter()
        .fold((f32::MAX, f32::MIN), |(l, h), &x| (l.min(x), h.max(x)));
    let lambda = c.order_weight;
    order
        .iter()
        .zip(&affinity)
        .map(|(&o, &a)| {
            let o = if top > 0.0 { o / top } else { 0.0 };
            let a = if hi > lo { (a - lo) / (hi - lo) } else { 0.0 };
            lambda * o + (1.0 - lambda) * a
        })
        .collect()
}

/// Reasons and `after` for an ordered list of steps.
fn explain(c: &PlanCourses, steps: &[u32], owned: &[u32], history: &[u32]) -> Vec<Step> {
    let mut out = Vec::with_capacity(steps.len());
    for (n, &s) in steps.iter().enumerate() {
        let later_needs = steps[n + 1..].iter().any(|&l| c.prereqs_of(l).contains(&s));
        let cat = c.category[s as usize];
        // The course before this one in its category: an earlier step, else
        // the learner's latest owned one.
        let before = steps[..n]
            .iter()
            .rev()
            .chain(history.iter().rev())
            .copied()
            .find(|&i| c.category[i as usize] == cat);
        let level_before = steps[..n]
            .iter()
            .chain(owned.iter())
            .filter(|&&i| c.category[i as usize] == cat)
            .map(|&i| c.level[i as usize])
            .max();
        let reason = if later_needs {
            Reason::Prerequisite
        } else if level_before.is_some_and(|l| c.level[s as usize] > l) {
            Reason::NextLevel
        } else {
            Reason::LearnedOrder
        };
        let mut after: Vec<u32> = c.prereqs_of(s).to_vec();
        if let Some(b) = before {
            if !after.contains(&b) {
                after.push(b);
            }
        }
        out.push(Step {
            course: s,
            reason,
            after,
        });
    }
    out
}

#[cfg(test)]
mod tests;
