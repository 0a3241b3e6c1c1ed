//! Applies active rules and fatigue to one ranked candidate pool.
//!
//! Relevance is the model score min–max normalised over the pool (0..1),
//! so a rule's weight means the same for factor scores and popularity:
//! boost adds its weight, bury and fatigue subtract theirs, and the pool is
//! re-sorted. Pins then place one course each at their position. Courses
//! the caller does not allow (owned, inactive, dismissed, excluded,
//! blocked) never enter, whatever a rule says.

use std::collections::{HashMap, HashSet};

use super::{Action, Rule};

/// An active rule with the course indices it names (for a pin, in the
/// order it gives them, best first).
#[derive(Debug, Clone)]
pub struct Resolved<'r> {
    pub rule: &'r Rule,
    pub courses: Vec<u32>,
}

/// The active rules for one audience, compiled once against a catalog so
/// that a list pays a hash lookup per candidate, not a scan of every rule.
#[derive(Debug, Clone, Default)]
pub struct Compiled {
    /// Rule ids; [`Ranked::rule`] indexes this.
    pub ids: Vec<String>,
    /// Course → (summed boost − bury weight, the strongest such rule).
    effects: HashMap<u32, (f32, usize)>,
    blocked: HashSet<u32>,
    /// Boosted and pinned courses, which join the candidates when allowed.
    extra: Vec<u32>,
    /// (position, rule, courses in order), by position then rule id.
    pins: Vec<(u32, usize, Vec<u32>)>,
    /// A bury rule is active: fetch room for what it pushes out.
    pub has_bury: bool,
}

impl Compiled {
    pub fn new(resolved: &[Resolved]) -> Compiled {
        let mut c = Compiled {
            ids: resolved.iter().map(|r| r.rule.id.clone()).collect(),
            ..Compiled::default()
        };
        let mut strongest: HashMap<u32, f64> = HashMap::new();
        for (i, r) in resolved.iter().enumerate() {
            let sign = match r.rule.action {
                Action::Boost => 1.0,
                Action::Bury => {
                    c.has_bury = true;
                    -1.0
                }
                Action::Block => {
                    c.blocked.extend(r.courses.iter().copied());
                    continue;
                }
                Action::Pin => {
                    c.pins.push((r.rule.position, i, r.courses.clone()));
                    c.extra.extend(r.courses.iter().copied());
                    continue;
                }
            };
            if sign > 0.0 {
                c.extra.extend(r.courses.iter().copied());
            }
            for &course in &r.courses {
                let e = c.effects.entry(course).or_insert((0.0, i));
                e.0 += (sign * r.rule.weight) as f32;
                let best = strongest.entry(course).or_insert(0.0);
                if r.rule.weight > *best {
                    *best = r.rule.weight;
                    e.1 = i;
                }
            }
        }
        c.pins
            .sort_by(|a, b| a.0.cmp(&b.0).then(c.ids[a.1].cmp(&c.ids[b.1])));
        c.extra.sort_unstable();
        c.extra.dedup();
        c
    }

    pub fn is_empty(&self) -> bool {
        self.ids.is_empty()
    }

    pub fn blocks(&self, course: u32) -> bool {
        self.blocked.contains(&course)
    }
}

/// A candidate after rules: its model score, the relevance it is ranked
/// by, and the rule that moved or placed it (index into [`Compiled::ids`]).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Ranked {
    pub course: u32,
    pub score: f32,
    pub relevance: f32,
    pub rule: Option<usize>,
    /// Demoted for fatigue.
    pub fatigued: bool,
    /// Placed by a pin: never replaced by exploration.
    pub pinned: bool,
}

/// Fatigue as the engine sees it: sorted course indices and the relevance
/// they lose.
#[derive(Debug, Clone, Copy, Default)]
pub struct Fatigue<'a> {
    pub courses: &'a [u32],
    pub penalty: f32,
}

/// The pool (model scores, best first) re-ranked by boost, bury and
/// fatigue. Boosted and pinned courses outside the pool join it with
/// `score_of` when `allowed`; blocked courses leave it.
pub fn adjust(
    pool: &[(u32, f32)],
    rules: &Compiled,
    fatigue: Fatigue,
    allowed: impl Fn(u32) -> bool,
    score_of: impl Fn(u32) -> f32,
) -> Vec<Ranked> {
    let mut cands: Vec<(u32, f32)> = pool.iter().copied().filter(|&(c, _)| !rules.blocks(c)).collect();
    for &c in &rules.extra {
        if allowed(c) && !rules.blocks(c) && !cands.iter().any(|h| h.0 == c) {
            cands.push((c, score_of(c)));
        }
    }
    let (lo, hi) = cands
        .iter()
        .fold((f32::MAX, f32::MIN), |(lo, hi), h| (lo.min(h.1), hi.max(h.1)));
    let span = hi - lo;
    let mut out: Vec<Ranked> = cands
        .into_iter()
        .map(|(course, score)| {
            let mut relevance = if span > 1e-12 { (score - lo) / span } else { 1.0 };
            let mut rule = None;
            if let Some(&(delta, i)) = rules.effects.get(&course) {
                relevance += delta;
                rule = Some(i);
            }
            let fatigued = fatigue.courses.binary_search(&course).is_ok();
            if fatigued {
                relevance -= fatigue.penalty;
            }
            Ranked {
                course,
                score,
                relevance,
                rule,
                fatigued,
                pinned: false,
            }
        })
        .collect();
    // Stable: ties keep the model's order.
    out.sort_by(|a, b| b.relevance.total_cmp(&a.relevance));
    out
}

/// `list` cut to `n` with each pin's course at its position (1-based,
/// lowest position first; a position past the list's end appends). A pin
/// places the first of its courses that is allowed and not placed by an
/// earlier pin, taking it out of wherever the ranking had it.
pub fn place_pins(
    mut list: Vec<Ranked>,
    rules: &Compiled,
    n: usize,
    allowed: impl Fn(u32) -> bool,
    score_of: impl Fn(u32) -> f32,
) -> Vec<Ranked> {
    let mut placed: Vec<u32> = Vec::new();
    for (position, i, courses) in &rules.pins {
        let Some(&course) = courses
            .iter()
            .find(|&&c| allowed(c) && !rules.blocks(c) && !placed.contains(&c))
        else {
            continue;
        };
        let from = list.iter().position(|x| x.course == course);
        let item = match from {
            Some(at) => list.remove(at),
            None => Ranked {
                course,
                score: score_of(course),
                relevance: 0.0,
                rule: None,
                fatigued: false,
                pinned: false,
            },
        };
        placed.push(course);
        // Pins come in position order, so an earlier pin sits above; one
        // at the same position keeps its place and this one goes below it.
        let mut at = (*position as usize - 1).min(list.len());
        while list.get(at).is_some_and(|x| x.pinned) {
            at += 1;
        }
        list.insert(
            at,
            Ranked {
                rule: Some(*i),
                pinned: true,
                ..item
            },
        );
    }
    list.truncate(n);
    list
}

#[cfg(test)]
mod tests {
    use super::super::{Rule, Target};
    use super::*;

    fn rule(id: &str, action: Action, weight: f64, position: u32) -> Rule {
        Rule {
            id: id.into(),
            action,
            target: Target::Courses(vec![]),
            weight,
            position,
            segments: vec![],
            starts_ms: None,
            ends_ms: None,
        }
    }

    fn order(r: &[Ranked]) -> Vec<u32> {
        r.iter().map(|x| x.course).collect()
    }

    /// Scores 10, 8, 6, 4, 2 over courses 0..5: relevance 1, .75, .5, .25, 0.
    const POOL: [(u32, f32); 5] = [(0, 10.0), (1, 8.0), (2, 6.0), (3, 4.0), (4, 2.0)];

    #[test]
    fn boost_and_bury_move_by_normalised_relevance() {
        let boost = rule("b", Action::Boost, 0.3, 0);
        let bury = rule("y", Action::Bury, 0.6, 0);
        let rules = [
            Resolved {
                rule: &boost,
                courses: vec![2],
            },
            Resolved {
                rule: &bury,
                courses: vec![0],
            },
        ];
        let out = adjust(
            &POOL,
            &Compiled::new(&rules),
            Fatigue::default(),
            |_| true,
            |_| 0.0,
        );
        // 2: .5 + .3 = .8 > 1's .75; 0: 1 − .6 = .4 between 2's and 3's.
        assert_eq!(order(&out), [2, 1, 0, 3, 4]);
        assert_eq!(out[0].rule, Some(0));
        assert_eq!(out[2].rule, Some(1));
        assert_eq!(out[1].rule, None);
        assert!((out[0].relevance - 0.8).abs() < 1e-6);
        assert_eq!(out[0].score, 6.0, "the model score is kept");
    }

    #[test]
    fn a_boosted_course_outside_the_pool_joins_it_unless_not_allowed() {
        let boost = rule("b", Action::Boost, 1.0, 0);
        let rules = [Resolved {
            rule: &boost,
            courses: vec![7, 8],
        }];
        // 7 scores 0 (relevance 0 on the pool's 0..10 range), +1 ties the top.
        let out = adjust(
            &POOL,
            &Compiled::new(&rules),
            Fatigue::default(),
            |c| c != 8,
            |_| 0.0,
        );
        assert_eq!(order(&out), [0, 7, 1, 2, 3, 4]);
    }

    #[test]
    fn block_removes_and_fatigue_demotes() {
        let block = rule("k", Action::Block, 0.0, 0);
        let rules = [Resolved {
            rule: &block,
            courses: vec![1],
        }];
        let f = Fatigue {
            courses: &[0],
            penalty: 0.6,
        };
        let out = adjust(&POOL, &Compiled::new(&rules), f, |_| true, |_| 0.0);
        assert_eq!(order(&out), [2, 0, 3, 4]);
        assert!(out[1].fatigued && !out[0].fatigued);
    }

    #[test]
    fn pins_place_one_course_each_at_their_position() {
        let list = adjust(&POOL, &Compiled::default(), Fatigue::default(), |_| true, |_| 0.0);
        let p1 = rule("p1", Action::Pin, 0.0, 1);
        let p3 = rule("p3", Action::Pin, 0.0, 3);
        let rules = [
            Resolved {
                rule: &p3,
                courses: vec![9, 4],
            },
            Resolved {
                rule: &p1,
                courses: vec![3],
            },
        ];
        // 9 is not allowed, so p3 places 4; p1 places 3 first.
        let out = place_pins(list, &Compiled::new(&rules), 4, |c| c != 9, |_| 0.0);
        assert_eq!(order(&out), [3, 0, 4, 1]);
        assert_eq!(out[0].rule, Some(1));
        assert_eq!(out[2].rule, Some(0));
        assert!(out[0].pinned && out[2].pinned && !out[1].pinned);
    }

    #[test]
    fn a_pin_past_the_end_appends_and_brings_its_course_in() {
        let p = rule("p", Action::Pin, 0.0, 10);
        let rules = [Resolved {
            rule: &p,
            courses: vec![7],
        }];
        let list = adjust(
            &POOL[..2],
            &Compiled::default(),
            Fatigue::default(),
            |_| true,
            |_| 0.0,
        );
        let out = place_pins(list, &Compiled::new(&rules), 10, |_| true, |_| -1.0);
        assert_eq!(order(&out), [0, 1, 7]);
        assert_eq!(out[2].score, -1.0);
    }
}
