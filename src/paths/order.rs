//! The order-aware model: which course learners take next after a course,
//! counted from the order they took courses in (first purchase or rating of
//! each), overall and within a category (a track). Scoring smooths each
//! course's observed successors toward popularity, and [`blend_pool`]
//! mixes them with the factor model's scores, trusting the order less after
//! a rarely taken course. A first-order transition model: on session and
//! course data such simple models often match neural sequence models
//! (Ludewig and Jannach 2018; Kang and McAuley 2018 for SASRec).

use serde::{Deserialize, Serialize};

use super::evaluate::NextCourseReport;
use crate::model::{Csr, Interaction};

/// Successors kept per course (most frequent first); the rest are counted
/// in the course's totals only.
pub const MAX_SUCCESSORS: usize = 64;
/// Pseudo-count of the popularity prior in P(next | course).
pub const PRIOR: f32 = 5.0;
/// Courses back in a learner's history that vote for the next one, and
/// their weights (latest first).
pub const HISTORY_WEIGHTS: [f32; 3] = [1.0, 0.5, 0.25];
/// A category not known for a course.
pub const NO_CATEGORY: u32 = u32::MAX;

/// Dense category ids for courses given their category names, in order:
/// equal names get equal ids, the empty name (a course the catalog does
/// not list) [`NO_CATEGORY`].
pub fn category_ids<'a>(names: impl Iterator<Item = &'a str>) -> Vec<u32> {
    let mut ids: std::collections::HashMap<&str, u32> = std::collections::HashMap::new();
    names
        .map(|n| {
            if n.is_empty() {
                return NO_CATEGORY;
            }
            let next = ids.len() as u32;
            *ids.entry(n).or_insert(next)
        })
        .collect()
}

/// Transition counts between courses, by course index.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Transitions {
    /// Row a: the courses learners took right after a, with how many
    /// learners did (at most [`MAX_SUCCESSORS`], sorted by course index).
    pub next: Csr,
    /// As `next`, but the next course of the same category: the order
    /// within a track.
    pub track_next: Csr,
    /// Learners who took each course.
    pub takers: Vec<u32>,
    /// Learners who took another course after each course (row sums of
    /// `next` before truncation).
    pub followed: Vec<u32>,
    /// Row sums of `track_next` before truncation.
    pub track_followed: Vec<u32>,
    /// As `track_next`, one course further: the course of the same
    /// category taken two steps after (a second vote on the next course,
    /// whose noise is independent of the first's).
    pub track_skip: Csr,
    /// Each course's share of all takes (sums to 1 over taken courses).
    pub take_share: Vec<f32>,
}

/// Each learner's taken courses in the order taken (by start time, then
/// course index), from interactions sorted by learner.
pub fn taken_sequences(entries: &[Interaction]) -> impl Iterator<Item = Vec<u32>> + '_ {
    entries.chunk_by(|a, b| a.user == b.user).map(|group| {
        let mut taken: Vec<(i64, u32)> = group
            .iter()
            .filter(|e| e.taken)
            .map(|e| (e.start_ms, e.course))
            .collect();
        taken.sort_unstable();
        taken.into_iter().map(|t| t.1).collect()
    })
}

/// Keeps the `keep` largest counts of each row of `pairs` ((from, to),
/// count): a CSR with the row totals before truncation.
fn top_rows(n: usize, pairs: std::collections::HashMap<(u32, u32), u32>, keep: usize) -> (Csr, Vec<u32>) {
    let mut rows: Vec<Vec<(u32, u32)>> = vec![Vec::new(); n];
    let mut totals = vec![0u32; n];
    for ((a, b), c) in pairs {
        rows[a as usize].push((b, c));
        totals[a as usize] += c;
    }
    let mut triples = Vec::new();
    for (a, row) in rows.iter_mut().enumerate() {
        row.sort_unstable_by(|x, y| y.1.cmp(&x.1).then(x.0.cmp(&y.0)));
        row.truncate(keep);
        triples.extend(row.iter().map(|&(b, c)| (a as u32, b, c as f32)));
    }
    (Csr::from_triples(n, n, &triples), totals)
}

impl PathModel {
    /// The transitions of every learner of `entries` (sorted by learner)
    /// over courses of `category`, with the holdout's `report`: the blend
    /// serves `/recommend` only when the report says it won.
    pub fn new(entries: &[Interaction], category: &[u32], report: Option<NextCourseReport>) -> PathModel {
        let transitions = Transitions::build(taken_sequences(entries), category.len(), category);
        let serving_blend = report.as_ref().filter(|r| r.blend_wins).map(|r| r.blend_weight);
        PathModel {
            transitions,
            report,
            serving_blend,
        }
    }
}

impl Transitions {
    /// Counts transitions over `sequences` (course indices in the order
    /// taken). `category[i]` is course i's category ([`NO_CATEGORY`] when
    /// unknown: never in a track).
    pub fn build(
        sequences: impl Iterator<Item = Vec<u32>>,
        n_courses: usize,
        category: &[u32],
    ) -> Transitions {
        use std::collections::HashMap;
        let mut next: HashMap<(u32, u32), u32> = HashMap::new();
        let mut track: HashMap<(u32, u32), u32> = HashMap::new();
        let mut skip: HashMap<(u32, u32), u32> = HashMap::new();
        let mut takers = vec![0u32; n_courses];
        // Per category: the last two courses taken in it.
        let mut last_in: HashMap<u32, (Option<u32>, u32)> = HashMap::new();
        for seq in sequences {
            for w in seq.windows(2) {
                *next.entry((w[0], w[1])).or_default() += 1;
            }
            last_in.clear();
            for &c in &seq {
                takers[c as usize] += 1;
                let cat = category.get(c as usize).copied().unwrap_or(NO_CATEGORY);
                if cat == NO_CATEGORY {
                    continue;
                }
                let before = last_in.get(&cat).copied();
                if let Some((two_back, prev)) = before {
                    *track.entry((prev, c)).or_default() += 1;
                    if let Some(p2) = two_back {
                        *skip.entry((p2, c)).or_default() += 1;
                    }
                }
                last_in.insert(cat, (before.map(|b| b.1), c));
            }
        }
        let (next, followed) = top_rows(n_courses, next, MAX_SUCCESSORS);
        let (track_next, track_followed) = top_rows(n_courses, track, MAX_SUCCESSORS);
        let (track_skip, _) = top_rows(n_courses, skip, MAX_SUCCESSORS);
        let total: u64 = takers.iter().map(|&t| u64::from(t)).sum();
        let take_share = takers
            .iter()
            .map(|&t| if total > 0 { t as f32 / total as f32 } else { 0.0 })
            .collect();
        Transitions {
            next,
            track_next,
            takers,
            followed,
            track_followed,
            track_skip,
            take_share,
        }
    }

    pub fn n_courses(&self) -> usize {
        self.takers.len()
    }

    /// Row `a` of `m`; empty for a course newer than these counts (added
    /// to the catalog since they were made).
    fn row(m: &Csr, a: u32) -> (&[u32], &[f32]) {
        if (a as usize) < m.n_rows {
            m.row(a as usize)
        } else {
            (&[], &[])
        }
    }

    fn share(&self, b: u32) -> f32 {
        self.take_share.get(b as usize).copied().unwrap_or(0.0)
    }

    fn followed_of(&self, a: u32) -> f32 {
        self.followed.get(a as usize).copied().unwrap_or(0) as f32
    }

    /// Courses taken right after `a`, with the share of `a`'s learners who
    /// took each next (0..1), most frequent first.
    pub fn next_shares(&self, a: u32) -> Vec<(u32, f32)> {
        let (cols, vals) = Transitions::row(&self.next, a);
        let takers = self.takers.get(a as usize).copied().unwrap_or(0).max(1) as f32;
        let mut out: Vec<(u32, f32)> = cols.iter().zip(vals).map(|(&b, &c)| (b, c / takers)).collect();
        out.sort_by(|x, y| y.1.total_cmp(&x.1).then(x.0.cmp(&y.0)));
        out
    }

    /// How many learners took `b` right after `a` within their track.
    pub fn track_count(&self, a: u32, b: u32) -> f32 {
        let (cols, vals) = Transitions::row(&self.track_next, a);
        cols.binary_search(&b).map_or(0.0, |p| vals[p])
    }

    /// How many learners took `b` two courses after `a` within their track.
    pub fn track_skip_count(&self, a: u32, b: u32) -> f32 {
        let (cols, vals) = Transitions::row(&self.track_skip, a);
        cols.binary_search(&b).map_or(0.0, |p| vals[p])
    }

    /// How far to trust the order after course `a`: n/(n + [`PRIOR`]) for
    /// the n learners who went on from it, 0 for a course never followed.
    pub fn evidence(&self, a: u32) -> f32 {
        let n = self.followed_of(a);
        n / (n + PRIOR)
    }

    /// The order-aware score of every course for a learner whose taken
    /// courses, oldest first, are `history`: Σ_j w_j · P(b | h_j) over the
    /// last three, P(b | a) = (count(a→b) + PRIOR·share(b)) / (followed(a)
    /// + PRIOR). Without history, the take shares.
    pub fn scores(&self, history: &[u32]) -> Vec<f32> {
        let mut out = vec![0f32; self.n_courses()];
        let recent: Vec<u32> = history
            .iter()
            .rev()
            .take(HISTORY_WEIGHTS.len())
            .copied()
            .collect();
        if recent.is_empty() {
            out.copy_from_slice(&self.take_share);
            return out;
        }
        let mut prior = 0f32;
        for (&a, w) in recent.iter().zip(HISTORY_WEIGHTS) {
            let denom = self.followed_of(a) + PRIOR;
            prior += w * PRIOR / denom;
            let (cols, vals) = Transitions::row(&self.next, a);
            for (&b, &c) in cols.iter().zip(vals) {
                out[b as usize] += w * c / denom;
            }
        }
        for (o, s) in out.iter_mut().zip(&self.take_share) {
            *o += prior * s;
        }
        out
    }

    /// The order-aware score of one course `b` (as [`Transitions::scores`]).
    pub fn score_of(&self, history: &[u32], b: u32) -> f32 {
        history
            .iter()
            .rev()
            .zip(HISTORY_WEIGHTS)
            .map(|(&a, w)| {
                let (cols, vals) = Transitions::row(&self.next, a);
                let c = cols.binary_search(&b).map_or(0.0, |p| vals[p]);
                w * (c + PRIOR * self.share(b)) / (self.followed_of(a) + PRIOR)
            })
            .sum::<f32>()
            .max(if history.is_empty() { self.share(b) } else { 0.0 })
    }

    /// Successors of the last courses of `history`: the order model's
    /// candidates beside the factor model's.
    pub fn successors<'a>(&'a self, history: &'a [u32]) -> impl Iterator<Item = u32> + 'a {
        history
            .iter()
            .rev()
            .take(HISTORY_WEIGHTS.len())
            .flat_map(|&a| Transitions::row(&self.next, a).0.iter().copied())
    }
}

/// Re-ranks a candidate `pool` of (course, factor score) for a learner with
/// `history` (taken courses, oldest first): each candidate's score becomes
/// λ'·order + (1 − λ')·factor, both scaled to 0..1 over the pool (order by
/// its maximum, factor min–max), with λ' = `lambda` × the evidence after
/// the learner's latest course ([`Transitions::evidence`]): after a rarely
/// taken course the factor model decides. Sorted best first, ties by index.
pub fn blend_pool(pool: &mut [(u32, f32)], history: &[u32], t: &Transitions, lambda: f32) {
    let Some(&last) = history.last() else { return };
    if pool.is_empty() {
        return;
    }
    let weight = lambda * t.evidence(last);
    let order: Vec<f32> = pool.iter().map(|&(b, _)| t.score_of(history, b)).collect();
    let top = order.iter().copied().fold(0f32, f32::max);
    let (lo, hi) = pool
        .iter()
        .fold((f32::MAX, f32::MIN), |(lo, hi), p| (lo.min(p.1), hi.max(p.1)));
    let span = hi - lo;
    for (p, o) in pool.iter_mut().zip(order) {
        let f = if span > 0.0 { (p.1 - lo) / span } else { 1.0 };
        let o = if top > 0.0 { o / top } else { 0.0 };
        p.1 = weight * o + (1.0 - weight) * f;
    }
    pool.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
}

/// What a snapshot holds of learning paths: the transitions over every
/// learner, how the order-aware model did on the next-course holdout, and
/// the blend weight `/recommend` uses (`None` when the blend did not beat
/// the factor model there, so lists stay the factor model's).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PathModel {
    pub transitions: Transitions,
    pub report: Option<NextCourseReport>,
    pub serving_blend: Option<f32>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn taken(user: u32, course: u32, start_ms: i64) -> Interaction {
        Interaction {
            user,
            course,
            weight: 1.0,
            ts_ms: start_ms,
            start_ms,
            taken: true,
        }
    }

    /// Three learners: 0 → 1 → 2, 0 → 1, 0 → 2 (by start time, not by
    /// index); course 3 is only browsed. Courses 0, 1 are category 0, 2 is 1.
    fn three() -> Transitions {
        let mut e = vec![
            taken(0, 0, 10),
            taken(0, 1, 20),
            taken(0, 2, 30),
            taken(1, 1, 20),
            taken(1, 0, 5),
            taken(2, 2, 9),
            taken(2, 0, 1),
        ];
        e.push(Interaction {
            taken: false,
            ..taken(2, 3, 0)
        });
        e.sort_by_key(|x| (x.user, x.course));
        let seqs: Vec<Vec<u32>> = taken_sequences(&e).collect();
        assert_eq!(seqs, [vec![0, 1, 2], vec![0, 1], vec![0, 2]]);
        Transitions::build(seqs.into_iter(), 4, &[0, 0, 1, NO_CATEGORY])
    }

    #[test]
    fn counts_who_went_where_next() {
        let t = three();
        assert_eq!(t.takers, [3, 2, 2, 0]);
        assert_eq!(t.followed, [3, 1, 0, 0]);
        // Of the 3 learners of course 0, 2 took 1 next and 1 took 2.
        assert_eq!(t.next_shares(0), [(1, 2.0 / 3.0), (2, 1.0 / 3.0)]);
        // Within tracks: 0 → 1 twice (category 0); 2 has no predecessor in 1.
        assert_eq!(t.track_count(0, 1), 2.0);
        assert_eq!(t.track_count(1, 2), 0.0);
        assert_eq!(t.evidence(0), 3.0 / 8.0);
        assert_eq!(t.evidence(2), 0.0);
    }

    #[test]
    fn scores_smooth_successors_toward_popularity() {
        let t = three();
        let s = t.scores(&[0]);
        // P(1 | 0) = (2 + 5 · 2/7) / (3 + 5); P(3 | 0) = 0 (never taken).
        assert!((s[1] - (2.0 + 5.0 * 2.0 / 7.0) / 8.0).abs() < 1e-6);
        assert!((s[0] - 5.0 * 3.0 / 7.0 / 8.0).abs() < 1e-6);
        assert_eq!(s[3], 0.0);
        for b in 0..4 {
            assert!((t.score_of(&[0], b) - s[b as usize]).abs() < 1e-6);
        }
        assert_eq!(t.scores(&[]), t.take_share);
    }

    #[test]
    fn the_blend_trusts_order_by_evidence() {
        let t = three();
        // The factor model prefers 2; after course 0 the order prefers 1.
        let mut pool = vec![(1, 0.5), (2, 0.9)];
        blend_pool(&mut pool, &[0], &t, 1.0);
        // λ' = 3/8: 1 gets 3/8·1 + 5/8·0 = 0.375; 2 gets 3/8·o₂ + 5/8.
        assert_eq!(pool[0].0, 2);
        let mut pool = vec![(1, 0.5), (2, 0.9)];
        let many = Transitions {
            followed: vec![1000, 1, 0, 0],
            ..t.clone()
        };
        blend_pool(&mut pool, &[0], &many, 1.0);
        assert_eq!(pool[0].0, 1, "with much evidence the order wins");
        // After a course nobody went on from, the factor order stays.
        let mut pool = vec![(1, 0.9), (2, 0.5)];
        blend_pool(&mut pool, &[2], &t, 1.0);
        assert_eq!(pool, [(1, 1.0), (2, 0.0)]);
    }
}
