//! Building one recommendation list from a snapshot: filters first, then the
//! strategy (personalized, fold-in, interests, popular), then optional MMR
//! re-ranking for diversity and "because you took …" reasons.

use std::collections::HashSet;

use serde::Serialize;

use super::paths::plan_data;
use super::snapshot::ModelSnapshot;
use crate::exploration::{explore, Slot, SlotKind};
use crate::model::topn::top_n_scores;
use crate::model::Factors;
use crate::paths::evaluate::BLEND_POOL;
use crate::paths::order::blend_pool;
use crate::rules::engine::{self, Compiled, Fatigue, Ranked};

/// How a list was made: the trained factor, a factor folded in since, the
/// learner's declared interests, or popularity.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Strategy {
    Personalized,
    FoldIn,
    Interests,
    Popular,
}

impl Strategy {
    pub fn as_str(self) -> &'static str {
        match self {
            Strategy::Personalized => "personalized",
            Strategy::FoldIn => "fold_in",
            Strategy::Interests => "interests",
            Strategy::Popular => "popular",
        }
    }
}

/// What the caller asked for.
#[derive(Debug, Default)]
pub struct Query {
    pub n: usize,
    pub category: Option<String>,
    pub exclude: HashSet<String>,
    /// 0: pure relevance; up to 1: more weight on dissimilarity (MMR).
    pub diversity: f32,
    pub explain: bool,
    /// Only courses whose prerequisites the learner owns.
    pub ready_only: bool,
}

/// Who the list is for, as far as the model can tell.
pub enum Who<'a> {
    Factor {
        factor: &'a [f32],
        /// Sorted course indices to leave out (already taken).
        taken: &'a [u32],
        /// Sorted course indices the learner took (owned or rated), the only
        /// courses a reason may cite; kept when `taken` is emptied to let
        /// taken courses come back.
        took: &'a [u32],
        /// The courses the learner took, oldest first: what the order
        /// model reads.
        order: std::borrow::Cow<'a, [u32]>,
        strategy: Strategy,
    },
    Interests {
        interests: &'a [String],
        taken: &'a [u32],
    },
    Nobody {
        taken: &'a [u32],
    },
}

impl Who<'_> {
    /// The sorted course indices this user already took.
    pub fn taken(&self) -> &[u32] {
        match self {
            Who::Factor { taken, .. } | Who::Interests { taken, .. } | Who::Nobody { taken } => taken,
        }
    }

    /// The sorted course indices the learner owns, for prerequisites: the
    /// taken courses, kept even where `taken` was emptied.
    pub fn took(&self) -> &[u32] {
        match self {
            Who::Factor { took, .. } => took,
            other => other.taken(),
        }
    }
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Pick {
    pub course: u32,
    pub score: f32,
    pub reasons: Vec<u32>,
    /// Prerequisites of the course the learner does not own.
    pub missing: Vec<u32>,
    /// The id of the rule that placed or moved it.
    pub rule: Option<String>,
    /// How the slot was filled, and the probability of this course in it.
    pub slot: SlotKind,
    pub propensity: f64,
    /// Demoted for fatigue (still ranked high enough to be listed).
    pub fatigued: bool,
}

/// What shapes a learner's list beyond the model: their dismissals, the
/// courses they are fatigued of, the active rules for them, and
/// exploration (share of slots, 0..1, and the day's seed).
pub struct Context<'a> {
    /// Sorted course indices never to list.
    pub dismissed: &'a [u32],
    pub fatigue: Fatigue<'a>,
    pub rules: &'a Compiled,
    pub exploration: Option<(f64, u64)>,
}

/// No rules.
static NO_RULES: std::sync::LazyLock<Compiled> = std::sync::LazyLock::new(Compiled::default);

impl Default for Context<'_> {
    fn default() -> Self {
        Context {
            dismissed: &[],
            fatigue: Fatigue::default(),
            rules: &NO_RULES,
            exploration: None,
        }
    }
}

/// How many candidates MMR chooses from, per requested item.
const MMR_POOL: usize = 4;

/// Extra candidates fetched when bury or fatigue may push some out.
const DEMOTION_ROOM: usize = 10;

/// A served list: the picks, the strategy that ranked them, and the size
/// of the exploration pool its slots drew from (0 when none could).
#[derive(Debug, Clone)]
pub struct Listed {
    pub picks: Vec<Pick>,
    pub strategy: Strategy,
    pub pool_size: usize,
}

pub fn recommend(snap: &ModelSnapshot, who: &Who, q: &Query, ctx: &Context) -> Listed {
    let c = &snap.courses;
    let excluded: HashSet<u32> = q
        .exclude
        .iter()
        .filter_map(|id| c.index.get(id).copied())
        .collect();
    let taken = who.taken();
    let owned = who.took();
    let plan = plan_data(c);
    let allowed = |i: u32| {
        let m = &c.meta[i as usize];
        m.servable()
            && q.category.as_ref().is_none_or(|cat| &m.category == cat)
            && taken.binary_search(&i).is_err()
            && ctx.dismissed.binary_search(&i).is_err()
            && !excluded.contains(&i)
            && !ctx.rules.blocks(i)
            && (!q.ready_only || plan.ready(i, owned))
    };
    // Room for what bury and fatigue may push out of the top n.
    let room = match ctx.rules.has_bury {
        true => q.n + DEMOTION_ROOM,
        false => ctx.fatigue.courses.len().min(q.n),
    };
    let pool = if q.diversity > 0.0 { q.n * MMR_POOL } else { q.n } + room;
    let (hits, strategy, took) = candidates(snap, who, pool, &allowed);
    let score_of = |i: u32| match who {
        Who::Factor { factor, .. } => crate::model::topn::dot(factor, c.factors.row(i as usize)),
        _ => c.popularity.get(i as usize).copied().unwrap_or(0.0),
    };
    let mut ranked = engine::adjust(&hits, ctx.rules, ctx.fatigue, allowed, score_of);
    if q.diversity > 0.0 {
        ranked = mmr(snap, ranked, q.n, q.diversity);
    }
    let ranked = engine::place_pins(ranked, ctx.rules, q.n, allowed, score_of);
    let listed: Vec<u32> = ranked.iter().map(|h| h.course).collect();
    let mut pool_size = 0;
    let slots = match ctx.exploration {
        Some((share, seed)) if share > 0.0 => {
            let pool: Vec<u32> = c
                .low_exposure()
                .iter()
                .copied()
                .filter(|&i| allowed(i) && !listed.contains(&i))
                .collect();
            let fixed: Vec<bool> = ranked.iter().map(|r| r.pinned).collect();
            if pool.len() >= listed.len() {
                pool_size = pool.len();
            }
            explore(&listed, &fixed, &pool, share, seed)
        }
        _ => listed
            .iter()
            .zip(&ranked)
            .map(|(&course, r)| Slot {
                course,
                kind: if r.pinned {
                    SlotKind::Fixed
                } else {
                    SlotKind::Ranked
                },
                propensity: 1.0,
            })
            .collect(),
    };
    let served: Vec<u32> = slots.iter().map(|s| s.course).collect();
    let picks = slots
        .iter()
        .zip(&ranked)
        .map(|(s, r)| {
            let (score, rule, fatigued) = match s.kind {
                SlotKind::Explored => (score_of(s.course), None, false),
                _ => (r.score, r.rule.map(|i| ctx.rules.ids[i].clone()), r.fatigued),
            };
            Pick {
                course: s.course,
                score,
                reasons: if q.explain {
                    reasons(snap.courses.cosine().unit(), s.course, took, &served)
                } else {
                    vec![]
                },
                missing: plan.missing(s.course, owned).collect(),
                rule,
                slot: s.kind,
                propensity: s.propensity,
                fatigued,
            }
        })
        .collect();
    Listed {
        picks,
        strategy,
        pool_size,
    }
}

/// The model's best `pool` allowed courses for `who`, the strategy that
/// ranked them, and the courses a reason may cite.
fn candidates<'w>(
    snap: &ModelSnapshot,
    who: &'w Who,
    pool: usize,
    allowed: &(dyn Fn(u32) -> bool + Sync),
) -> (Vec<(u32, f32)>, Strategy, &'w [u32]) {
    let c = &snap.courses;
    match who {
        Who::Factor {
            factor,
            took,
            order,
            strategy,
            ..
        } => {
            let blend = snap
                .paths
                .as_ref()
                .and_then(|p| Some((p, p.serving_blend?)))
                .filter(|_| !order.is_empty());
            let hits = match blend {
                // The order model re-ranks the factor model's candidates and
                // the successors of the learner's latest courses.
                Some((p, lambda)) => {
                    let mut cands = c.top().top_n(factor, pool + BLEND_POOL, |i| !allowed(i));
                    for b in p.transitions.successors(order) {
                        if (b as usize) < c.ids.len() && allowed(b) && !cands.iter().any(|h| h.0 == b) {
                            cands.push((b, crate::model::topn::dot(factor, c.factors.row(b as usize))));
                        }
                    }
                    blend_pool(&mut cands, order, &p.transitions, lambda);
                    cands.truncate(pool);
                    cands
                }
                None => c.top().top_n(factor, pool, |i| !allowed(i)),
            };
            (hits, *strategy, took)
        }
        Who::Interests { interests, .. } => {
            let wanted: HashSet<&str> = interests.iter().map(String::as_str).collect();
            let matches = |i: u32| {
                let m = &c.meta[i as usize];
                wanted.contains(m.category.as_str()) || m.tags.iter().any(|t| wanted.contains(t.as_str()))
            };
            let hits = top_n_scores(&c.popularity, pool, |i| !(allowed(i) && matches(i)));
            if hits.is_empty() {
                (
                    top_n_scores(&c.popularity, pool, |i| !allowed(i)),
                    Strategy::Popular,
                    &[][..],
                )
            } else {
                (hits, Strategy::Interests, &[][..])
            }
        }
        Who::Nobody { .. } => (
            top_n_scores(&c.popularity, pool, |i| !allowed(i)),
            Strategy::Popular,
            &[][..],
        ),
    }
}

/// Maximal marginal relevance: greedily take the candidate with the best
/// (1 − λ)·relevance − λ·(max cosine to what is already taken), relevance
/// as the rules left it.
fn mmr(snap: &ModelSnapshot, cands: Vec<Ranked>, n: usize, lambda: f32) -> Vec<Ranked> {
    let unit = snap.courses.cosine().unit();
    let (lo, hi) = cands.iter().fold((f32::MAX, f32::MIN), |(lo, hi), h| {
        (lo.min(h.relevance), hi.max(h.relevance))
    });
    let span = (hi - lo).max(1e-9);
    let mut left = cands;
    let mut out: Vec<Ranked> = Vec::with_capacity(n);
    while out.len() < n && !left.is_empty() {
        let best = (0..left.len())
            .map(|j| {
                let i = left[j].course;
                let rel = (left[j].relevance - lo) / span;
                let sim = out
                    .iter()
                    .map(|o| crate::model::topn::dot(unit.row(i as usize), unit.row(o.course as usize)))
                    .fold(0f32, f32::max);
                (j, (1.0 - lambda) * rel - lambda * sim)
            })
            .max_by(|a, b| a.1.total_cmp(&b.1))
            .map(|(j, _)| j)
            .expect("left is not empty");
        out.push(left.swap_remove(best));
    }
    out
}

/// Up to two courses the learner took (`took`) closest to `course` by
/// cosine of course factors, never one of the list itself (`listed`): a
/// reason says "because you took X", so X must be taken and not offered.
/// `unit` holds the unit-length course factors.
fn reasons(unit: &Factors, course: u32, took: &[u32], listed: &[u32]) -> Vec<u32> {
    let q = unit.row(course as usize);
    let mut scored: Vec<(u32, f32)> = took
        .iter()
        .filter(|i| **i != course && !listed.contains(i))
        .map(|&i| (i, crate::model::topn::dot(q, unit.row(i as usize))))
        .filter(|(_, s)| *s > 0.0)
        .collect();
    scored.sort_by(|a, b| b.1.total_cmp(&a.1));
    scored.into_iter().take(2).map(|(i, _)| i).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Four unit courses in 2-d: 0 and 1 point the same way, 2 is at 45°,
    /// 3 points away.
    fn unit() -> Factors {
        let h = std::f32::consts::FRAC_1_SQRT_2;
        Factors {
            n: 4,
            k: 2,
            data: vec![1.0, 0.0, 1.0, 0.0, h, h, -1.0, 0.0],
        }
    }

    #[test]
    fn reasons_cite_taken_courses_by_similarity() {
        assert_eq!(reasons(&unit(), 0, &[1, 2, 3], &[0]), [1, 2]);
        // Dissimilar (cosine ≤ 0) courses are no reason.
        assert_eq!(reasons(&unit(), 0, &[3], &[0]), Vec::<u32>::new());
    }

    #[test]
    fn reasons_never_cite_a_course_of_the_same_list_or_one_not_taken() {
        // 1 is listed beside 0 (taken courses may come back when
        // exclude_taken is off): it is not a reason for 0.
        assert_eq!(reasons(&unit(), 0, &[1, 2], &[0, 1]), [2]);
        // Nothing taken, nothing to cite, however close the other courses.
        assert_eq!(reasons(&unit(), 0, &[], &[0]), Vec::<u32>::new());
        // The course itself is never its own reason.
        assert_eq!(reasons(&unit(), 2, &[2], &[]), Vec::<u32>::new());
    }
}
