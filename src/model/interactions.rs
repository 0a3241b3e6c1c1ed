//! Turns per-(user, course, event type) aggregates into one weighted
//! interaction per (user, course), the input of ALS and of the evaluation.

use super::csr::Csr;
use super::ownership::ownership_from_latest;
use crate::domain::{AggView, Course, EventType};
use serde::Deserialize;
use std::collections::HashMap;

/// Event weights, read from `[model.weights]`. A (user, course) weight is the
/// sum of its signals, each decayed by age when `half_life_days` is set.
#[derive(Debug, Clone, PartialEq, Deserialize, serde::Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct Weights {
    pub view: f32,
    pub click: f32,
    pub favorite: f32,
    pub add_to_cart: f32,
    /// Multiplied by the largest watched fraction (0–1).
    pub watch: f32,
    /// A rating means the course was taken: `rating_base + rating_per_star × mean
    /// rating`, so a 1-star rating still counts as a (weaker) positive.
    pub rating_base: f32,
    pub rating_per_star: f32,
    /// Once while the course is owned (see [`super::ownership`]): a
    /// purchase repeated by a retrying client adds nothing.
    pub purchase: f32,
    /// Confidence weight of a dismissal: fold-in treats a dismissed course
    /// as a known negative (preference 0, confidence 1 + α·f(weight)).
    pub dismiss: f32,
    /// Views and clicks count at most this many times: repeats say little more.
    pub max_repeats: u32,
    /// Age half-life of every signal, from its latest event; `None` = no decay.
    pub half_life_days: Option<f64>,
}

impl Default for Weights {
    fn default() -> Self {
        Weights {
            view: 1.0,
            click: 2.0,
            favorite: 3.0,
            add_to_cart: 4.0,
            watch: 5.0,
            rating_base: 4.0,
            rating_per_star: 1.0,
            purchase: 10.0,
            dismiss: 4.0,
            max_repeats: 3,
            half_life_days: None,
        }
    }
}

/// One (user, course) pair with its combined weight.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Interaction {
    pub user: u32,
    pub course: u32,
    pub weight: f32,
    /// Latest event on this pair (ms since the epoch); orders temporal splits.
    pub ts_ms: i64,
    /// When the learner started the course (ms since the epoch): its first
    /// purchase or rating when taken, else its first event. Orders the
    /// courses a learner took, for the learning-path models.
    pub start_ms: i64,
    /// Owned (see [`super::ownership`]) or rated: never recommend it again.
    pub taken: bool,
}

/// Interactions with dense indices for users and courses.
#[derive(Debug, Clone, Default)]
pub struct Interactions {
    pub users: Vec<String>,
    pub courses: Vec<String>,
    pub user_index: HashMap<String, u32>,
    pub course_index: HashMap<String, u32>,
    /// Sorted by (user, course), one entry per pair.
    pub entries: Vec<Interaction>,
    /// (user, course) pairs dismissed after their last positive event,
    /// sorted; their positive weight is dropped (an owned course stays
    /// taken). Only users with entries appear.
    pub dismissed: Vec<(u32, u32)>,
}

fn intern(name: &str, names: &mut Vec<String>, index: &mut HashMap<String, u32>) -> u32 {
    if let Some(&i) = index.get(name) {
        return i;
    }
    let i = names.len() as u32;
    names.push(name.to_owned());
    index.insert(name.to_owned(), i);
    i
}

/// Running totals of one (user, course) pair while aggregating;
/// `i64::MIN` stands for "none" in the time fields.
#[derive(Clone, Copy)]
struct Acc {
    light: f32,
    rating: f32,
    purchase_decay: f32,
    rated: bool,
    last_purchase: i64,
    last_refund: i64,
    /// Latest positive event ([`EventType::is_positive`]) and dismissal.
    last_positive: i64,
    last_dismiss: i64,
    ts: i64,
    /// Earliest event of any type, and earliest purchase or rating.
    first: i64,
    first_taken: i64,
}

impl Acc {
    const EMPTY: Acc = Acc {
        light: 0.0,
        rating: 0.0,
        purchase_decay: 0.0,
        rated: false,
        last_purchase: i64::MIN,
        last_refund: i64::MIN,
        last_positive: i64::MIN,
        last_dismiss: i64::MIN,
        ts: i64::MIN,
        first: i64::MAX,
        first_taken: i64::MAX,
    };

    /// Folds in `later`, a run of the same pair that arrived after this
    /// one: the same result as reading both runs' rows into one total.
    fn merge(&mut self, later: &Acc) {
        self.light += later.light;
        self.rating += later.rating;
        self.rated |= later.rated;
        self.ts = self.ts.max(later.ts);
        self.last_positive = self.last_positive.max(later.last_positive);
        self.last_dismiss = self.last_dismiss.max(later.last_dismiss);
        self.first = self.first.min(later.first);
        self.first_taken = self.first_taken.min(later.first_taken);
        if later.last_purchase != i64::MIN {
            self.last_purchase = later.last_purchase;
            self.purchase_decay = later.purchase_decay;
        }
        if later.last_refund != i64::MIN {
            self.last_refund = later.last_refund;
        }
    }
}

/// `name`'s index, looked up only when it differs from the previous row's
/// (rows come grouped by user, and by course within a user).
fn intern_cached<'a>(
    name: &'a str,
    last: &mut Option<(&'a str, u32)>,
    names: &mut Vec<String>,
    index: &mut HashMap<String, u32>,
) -> u32 {
    match *last {
        Some((n, i)) if n == name => i,
        _ => {
            let i = intern(name, names, index);
            *last = Some((name, i));
            i
        }
    }
}

fn decay(w: &Weights, now_ms: i64, ts_ms: i64) -> f32 {
    match w.half_life_days {
        Some(h) if h > 0.0 => {
            let age_days = (now_ms - ts_ms).max(0) as f64 / 86_400_000.0;
            0.5f64.powf(age_days / h) as f32
        }
        _ => 1.0,
    }
}

impl Interactions {
    /// Combines aggregates (store rows or training views) into
    /// interactions. `catalog` seeds the course list (so courses without
    /// events get an index); `now_ms` is the reference time for age decay.
    /// Pairs with zero weight are kept only when taken, and users only with
    /// at least one pair.
    pub fn build<'a, I>(rows: I, catalog: &[Course], w: &Weights, now_ms: i64) -> Interactions
    where
        I: IntoIterator,
        I::IntoIter: Clone,
        I::Item: Into<AggView<'a>>,
    {
        let rows = rows.into_iter();
        let mut seeded = Interactions::default();
        for c in catalog {
            intern(&c.id, &mut seeded.courses, &mut seeded.course_index);
        }
        // The training's cells come grouped by user: one pass, holding one
        // user's pairs at a time.
        if let Some(out) = seeded
            .clone()
            .fold_by_user(rows.clone().map(Into::into), w, now_ms)
        {
            return out;
        }
        // A user's rows came apart: group them (a stable sort, so each
        // user's rows keep their order), ids indexed as first seen.
        let mut all: Vec<(u32, AggView)> = rows
            .map(|r| {
                let r: AggView = r.into();
                let u = intern(r.user_id, &mut seeded.users, &mut seeded.user_index);
                intern(r.course_id, &mut seeded.courses, &mut seeded.course_index);
                (u, r)
            })
            .collect();
        all.sort_by_key(|(u, _)| *u);
        seeded
            .fold_by_user(all.into_iter().map(|(_, r)| r), w, now_ms)
            .expect("rows grouped by user")
    }

    /// Adds `rows` to these (id-only) interactions, user by user; `None`
    /// when a user's rows are not contiguous. Runs of rows on one pair are
    /// totalled, and runs of a pair that come apart (within its user) are
    /// merged in arrival order after a stable sort.
    fn fold_by_user<'a>(
        mut self,
        rows: impl Iterator<Item = AggView<'a>>,
        w: &Weights,
        now_ms: i64,
    ) -> Option<Interactions> {
        let mut runs: Vec<(u32, Acc)> = Vec::new();
        let mut done = vec![false; self.users.len()];
        let mut current: Option<u32> = None;
        let (mut last_user, mut last_course) = (None, None);
        for r in rows {
            let u = intern_cached(r.user_id, &mut last_user, &mut self.users, &mut self.user_index);
            if current != Some(u) {
                if let Some(prev) = current {
                    self.add_user(prev, &mut runs, w);
                }
                done.resize(self.users.len(), false);
                if std::mem::replace(&mut done[u as usize], true) {
                    return None;
                }
                current = Some(u);
            }
            let c = intern_cached(
                r.course_id,
                &mut last_course,
                &mut self.courses,
                &mut self.course_index,
            );
            if runs.last().is_none_or(|run| run.0 != c) {
                runs.push((c, Acc::EMPTY));
            }
            let e = &mut runs.last_mut().expect("pushed above").1;
            let d = decay(w, now_ms, r.last_ts_ms);
            let reps = r.count.min(w.max_repeats) as f32;
            e.ts = e.ts.max(r.last_ts_ms);
            e.first = e.first.min(r.first_ts_ms);
            if r.count > 0 && matches!(r.kind, EventType::Purchase | EventType::Rating) {
                e.first_taken = e.first_taken.min(r.first_ts_ms);
            }
            if r.count > 0 && r.kind.is_positive() {
                e.last_positive = e.last_positive.max(r.last_ts_ms);
            }
            match r.kind {
                EventType::Dismiss if r.count > 0 => e.last_dismiss = e.last_dismiss.max(r.last_ts_ms),
                EventType::Dismiss => {}
                EventType::View => e.light += w.view * reps * d,
                EventType::Click => e.light += w.click * reps * d,
                EventType::Favorite => e.light += w.favorite * d,
                EventType::AddToCart => e.light += w.add_to_cart * d,
                EventType::Watch => e.light += w.watch * r.value_max.clamp(0.0, 1.0) as f32 * d,
                EventType::Rating if r.count > 0 => {
                    let mean = (r.value_sum / f64::from(r.count)).clamp(1.0, 5.0) as f32;
                    e.rating += (w.rating_base + w.rating_per_star * mean) * d;
                    e.rated = true;
                }
                EventType::Rating => {}
                EventType::Purchase if r.count > 0 => {
                    e.last_purchase = r.last_ts_ms;
                    e.purchase_decay = d;
                }
                EventType::Refund if r.count > 0 => e.last_refund = r.last_ts_ms,
                EventType::Purchase | EventType::Refund => {}
            }
        }
        if let Some(prev) = current {
            self.add_user(prev, &mut runs, w);
        }
        // Growth by doubling can leave up to half of it unused.
        self.entries.shrink_to_fit();
        // Users come in index order (new ones are numbered as they appear).
        debug_assert!(self.entries.is_sorted_by_key(|e| (e.user, e.course)));
        self.drop_users_without_entries();
        Some(self)
    }

    /// Totals user `u`'s `runs` (course, running totals) per course into
    /// entries, and empties `runs`.
    fn add_user(&mut self, u: u32, runs: &mut Vec<(u32, Acc)>, w: &Weights) {
        runs.sort_by_key(|run| run.0);
        for group in runs.chunk_by(|a, b| a.0 == b.0) {
            let (c, mut e) = group[0];
            group[1..].iter().for_each(|later| e.merge(&later.1));
            let some = |t: i64| (t != i64::MIN).then_some(t);
            let owned = ownership_from_latest(some(e.last_purchase), some(e.last_refund), 0).owned;
            // A refund undoes the purchase and the rating that came with taking
            // the course; only the lighter browsing signals survive.
            let refunded_out = e.last_purchase != i64::MIN && !owned;
            let mut weight = e.light;
            if owned {
                weight += w.purchase * e.purchase_decay;
            }
            if !refunded_out {
                weight += e.rating;
            }
            let taken = owned || e.rated;
            // Ties go to the dismissal: it is the learner's explicit word.
            let dismissed = e.last_dismiss != i64::MIN && e.last_dismiss >= e.last_positive;
            if dismissed {
                self.dismissed.push((u, c));
                if !taken {
                    continue;
                }
            }
            if weight > 0.0 || taken {
                self.entries.push(Interaction {
                    user: u,
                    course: c,
                    weight,
                    ts_ms: e.ts,
                    start_ms: if taken && e.first_taken != i64::MAX {
                        e.first_taken
                    } else {
                        e.first.min(e.ts)
                    },
                    taken,
                });
            }
        }
        runs.clear();
    }

    /// Leaves out users none of whose pairs survived (e.g. only a refund of
    /// nothing): a factor fitted on no interaction would pass for a trained
    /// one. Renumbering in order keeps `entries` sorted.
    fn drop_users_without_entries(&mut self) {
        let mut new_index = vec![u32::MAX; self.users.len()];
        let mut users = Vec::new();
        for e in &mut self.entries {
            let old = e.user as usize;
            if new_index[old] == u32::MAX {
                new_index[old] = users.len() as u32;
                users.push(std::mem::take(&mut self.users[old]));
            }
            e.user = new_index[old];
        }
        // A learner with dismissals only is not trained on: fold-in reads
        // their dismissals from the store instead.
        self.dismissed.retain_mut(|d| {
            d.0 = new_index[d.0 as usize];
            d.0 != u32::MAX
        });
        self.user_index = users
            .iter()
            .enumerate()
            .map(|(i, u)| (u.clone(), i as u32))
            .collect();
        self.users = users;
    }

    /// The courses `aggs` (one learner's) dismissed after their last
    /// positive event, as the rule of [`Interactions::dismissed`] says.
    pub fn dismissed_courses<'a, I>(aggs: I) -> Vec<&'a str>
    where
        I: IntoIterator,
        I::Item: Into<AggView<'a>>,
    {
        let mut last: HashMap<&str, (i64, i64)> = HashMap::new();
        for a in aggs {
            let a: AggView = a.into();
            if a.count == 0 {
                continue;
            }
            let e = last.entry(a.course_id).or_insert((i64::MIN, i64::MIN));
            if a.kind == EventType::Dismiss {
                e.0 = e.0.max(a.last_ts_ms);
            } else if a.kind.is_positive() {
                e.1 = e.1.max(a.last_ts_ms);
            }
        }
        let mut out: Vec<&str> = last
            .into_iter()
            .filter(|(_, (d, p))| *d != i64::MIN && d >= p)
            .map(|(c, _)| c)
            .collect();
        out.sort_unstable();
        out
    }

    /// Wraps ready-made interactions (e.g. a dataset); sorts and indexes them.
    pub fn from_parts(
        users: Vec<String>,
        courses: Vec<String>,
        mut entries: Vec<Interaction>,
    ) -> Interactions {
        entries.sort_unstable_by_key(|e| (e.user, e.course));
        let index = |v: &[String]| v.iter().enumerate().map(|(i, s)| (s.clone(), i as u32)).collect();
        Interactions {
            user_index: index(&users),
            course_index: index(&courses),
            users,
            courses,
            entries,
            dismissed: vec![],
        }
    }

    /// The interactions of one user (sorted by course).
    pub fn user_entries(&self, user: u32) -> &[Interaction] {
        let a = self.entries.partition_point(|e| e.user < user);
        let b = self.entries.partition_point(|e| e.user <= user);
        &self.entries[a..b]
    }

    /// True when the user purchased (net of refunds) or rated the course.
    pub fn taken(&self, user: u32, course: u32) -> bool {
        let es = self.user_entries(user);
        es.binary_search_by_key(&course, |e| e.course)
            .is_ok_and(|p| es[p].taken)
    }

    /// The user × course weight matrix.
    pub fn to_csr(&self) -> Csr {
        csr_of(&self.entries, self.users.len(), self.courses.len())
    }
}

/// A user × course weight matrix of any interaction list.
pub fn csr_of(entries: &[Interaction], n_users: usize, n_courses: usize) -> Csr {
    Csr::from_triples_iter(
        n_users,
        n_courses,
        entries.iter().map(|e| (e.user, e.course, e.weight)),
    )
}
