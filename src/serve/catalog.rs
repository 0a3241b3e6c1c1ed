//! Keeping the course side in step with the catalog between trainings: new
//! courses get a factor from the courses that share their category and tags,
//! so they can be recommended (and find an audience) before their first sale.

use std::collections::{HashMap, HashSet};

use super::content::ContentIndex;
use super::snapshot::{CourseMeta, CourseSide};
use crate::domain::Course;
use crate::model::Factors;

/// How much a shared category counts against a shared tag.
pub(super) const CATEGORY_WEIGHT: f32 = 1.0;
pub(super) const TAG_WEIGHT: f32 = 2.0;

/// How alike a course with `category` and `tags` is to `m`: category match
/// plus tag overlap (Jaccard), 0 to 3.
fn alike(category: &str, tags: &HashSet<&str>, m: &CourseMeta) -> f32 {
    let shared = m.tags.iter().filter(|t| tags.contains(t.as_str())).count() as f32;
    let union = (tags.len() + m.tags.len()) as f32 - shared;
    let jaccard = if union > 0.0 { shared / union } else { 0.0 };
    let category = if m.category == category {
        CATEGORY_WEIGHT
    } else {
        0.0
    };
    category + TAG_WEIGHT * jaccard
}

/// Courses like course `i` by category and tags alone, scored 0..1 (the
/// weights of the content factor over their maximum), the more popular
/// first among equals: neighbours when factors say nothing. Never `i`
/// itself, courses with nothing in common, nor `exclude`d ones.
pub fn content_neighbours(
    side: &CourseSide,
    i: u32,
    n: usize,
    exclude: impl Fn(u32) -> bool,
) -> Vec<(u32, f32)> {
    let me = &side.meta[i as usize];
    let tags: HashSet<&str> = me.tags.iter().map(String::as_str).collect();
    let mut hits: Vec<(u32, f32)> = (0..side.meta.len() as u32)
        .filter(|&j| j != i && !exclude(j))
        .map(|j| {
            (
                j,
                alike(&me.category, &tags, &side.meta[j as usize]) / (CATEGORY_WEIGHT + TAG_WEIGHT),
            )
        })
        .filter(|h| h.1 > 0.0)
        .collect();
    let pop = |j: u32| side.popularity.get(j as usize).copied().unwrap_or(0.0);
    hits.sort_by(|a, b| {
        b.1.total_cmp(&a.1)
            .then(pop(b.0).total_cmp(&pop(a.0)))
            .then(a.0.cmp(&b.0))
    });
    hits.truncate(n);
    hits
}

/// Learners at which the content factor counts as much as the learned one.
const PRIOR_LEARNERS: f32 = 5.0;
/// From this many learners on, a course's factor is its learned one alone.
const CONTENT_UNTIL: u32 = 50;

/// Share of the content factor in a course's factor given its `learners`:
/// 1 with none, then m/(n + m) (m = 5) tapered linearly to 0 at 50, so the
/// factor moves from content to learned as evidence arrives, never in a jump.
pub fn content_share(learners: u32) -> f32 {
    let n = learners as f32;
    let taper = (1.0 - n / CONTENT_UNTIL as f32).max(0.0);
    PRIOR_LEARNERS / (n + PRIOR_LEARNERS) * taper
}

/// [`build`] for a fresh fit: `learners[i]` is course i's evidence (users
/// with a positive interaction). A course without any is not trained: its
/// factor is its content factor, refreshed from this fit (zero when no
/// trained course is alike); one with a few blends content and learned
/// factors by [`content_share`] (learned alone when nothing is alike).
pub fn build_blended(
    ids: Vec<String>,
    learned: Factors,
    learners: &[u32],
    popularity: Vec<f32>,
    catalog: &[Course],
) -> CourseSide {
    let side = build(ids, learned, popularity, catalog);
    let mut meta = side.meta.clone();
    for (m, &n) in meta.iter_mut().zip(learners) {
        m.trained = n > 0;
    }
    let side = side.with_meta(meta);
    let mut factors = side.factors.clone();
    let index = ContentIndex::new(&side);
    let mut shared = vec![0u32; side.meta.len()];
    for (i, &n) in learners.iter().enumerate() {
        let share = content_share(n);
        if share <= 0.0 {
            continue;
        }
        let content = index.factor_of(&side, i, &mut shared);
        if n > 0 && content.iter().all(|&c| c == 0.0) {
            continue; // nothing alike: the learned factor is all there is
        }
        let k = factors.k;
        for (f, c) in factors.data[i * k..(i + 1) * k].iter_mut().zip(content) {
            *f = (1.0 - share) * *f + share * c;
        }
    }
    CourseSide::new(
        side.ids.clone(),
        factors,
        side.meta.clone(),
        side.popularity.clone(),
    )
}

/// Trained courses plus the catalog: metadata from the catalog, courses the
/// catalog lacks are kept (their events trained users) but never served.
pub fn build(ids: Vec<String>, factors: Factors, popularity: Vec<f32>, catalog: &[Course]) -> CourseSide {
    let meta = vec![unlisted(); ids.len()];
    with_courses(&CourseSide::new(ids, factors, meta, popularity), catalog)
}

/// A trained course the catalog lacks: kept, never served.
fn unlisted() -> CourseMeta {
    CourseMeta {
        title: String::new(),
        category: String::new(),
        tags: vec![],
        level: crate::domain::Level::Beginner,
        price_cents: 0,
        active: false,
        listed: false,
        trained: true,
        prerequisites: vec![],
    }
}

/// The metadata [`build`] gives `ids` when the catalog holds no course
/// outside them (as in a training, whose interactions index every catalog
/// course), without building the side: one entry per id, in order.
pub fn meta_of(ids: &[String], catalog: &[Course]) -> Vec<CourseMeta> {
    let by_id: HashMap<&str, &Course> = catalog.iter().map(|c| (c.id.as_str(), c)).collect();
    ids.iter()
        .map(|id| match by_id.get(id.as_str()) {
            Some(c) => CourseMeta::from_course(c, true),
            None => unlisted(),
        })
        .collect()
}

/// A copy of `side` with `courses` created or updated.
pub fn with_courses(side: &CourseSide, courses: &[Course]) -> CourseSide {
    if courses.iter().all(|c| side.index.contains_key(&c.id)) {
        // Metadata only: the factors and every index stay as they are.
        let mut meta = side.meta.clone();
        for c in courses {
            let i = side.index[&c.id] as usize;
            meta[i] = CourseMeta::from_course(c, meta[i].trained);
        }
        return side.with_meta(meta);
    }
    let (mut ids, mut factors) = (side.ids.clone(), side.factors.clone());
    let (mut meta, mut popularity) = (side.meta.clone(), side.popularity.clone());
    let mut added = std::collections::HashMap::new();
    for c in courses {
        match side.index.get(&c.id).or_else(|| added.get(&c.id)) {
            Some(&i) => {
                let trained = meta[i as usize].trained;
                meta[i as usize] = CourseMeta::from_course(c, trained);
            }
            None => {
                factors.data.extend(std::iter::repeat_n(0.0, factors.k));
                factors.n += 1;
                added.insert(c.id.clone(), ids.len() as u32);
                ids.push(c.id.clone());
                meta.push(CourseMeta::from_course(c, false));
                popularity.push(0.0);
            }
        }
    }
    // New courses are untrained: their content factors come from the
    // trained ones, as at training ([`ContentIndex`]).
    let mut out = CourseSide::new(ids, factors, meta, popularity);
    let index = ContentIndex::new(&out);
    let mut shared = vec![0u32; out.ids.len()];
    let fresh: Vec<(usize, Vec<f32>)> = added
        .values()
        .map(|&j| (j as usize, index.factor_of(&out, j as usize, &mut shared)))
        .collect();
    let mut factors = out.factors.clone();
    let k = factors.k;
    for (j, f) in fresh {
        factors.data[j * k..(j + 1) * k].copy_from_slice(&f);
    }
    out = CourseSide::new(out.ids.clone(), factors, out.meta.clone(), out.popularity.clone());
    out
}

/// `side` made to match the whole `catalog`: its courses created or
/// updated, and listed courses it no longer has unlisted (deleted while
/// this process was down, or through another replica).
pub fn matching_catalog(side: &CourseSide, catalog: &[Course]) -> CourseSide {
    let out = with_courses(side, catalog);
    let present: HashSet<&str> = catalog.iter().map(|c| c.id.as_str()).collect();
    let gone: Vec<usize> = (0..out.ids.len())
        .filter(|&i| out.meta[i].listed && !present.contains(out.ids[i].as_str()))
        .collect();
    if gone.is_empty() {
        return out;
    }
    let mut meta = out.meta.clone();
    for i in gone {
        meta[i].listed = false;
    }
    out.with_meta(meta)
}

/// A copy of `side` where course `id` is no longer listed; `None` if unknown.
pub fn without_course(side: &CourseSide, id: &str) -> Option<CourseSide> {
    let &i = side.index.get(id)?;
    let mut meta = side.meta.clone();
    meta[i as usize].listed = false;
    Some(side.with_meta(meta))
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::domain::Level;

    fn course(id: &str, category: &str, tags: &[&str]) -> Course {
        Course {
            id: id.into(),
            title: id.to_uppercase(),
            category: category.into(),
            tags: tags.iter().map(|t| t.to_string()).collect(),
            level: Level::Beginner,
            price_cents: 1000,
            active: true,
            prerequisites: vec![],
        }
    }

    fn side() -> CourseSide {
        let factors = Factors {
            n: 3,
            k: 2,
            data: vec![1.0, 0.0, 0.0, 1.0, 1.0, 1.0],
        };
        let catalog = [
            course("a", "rust", &["web"]),
            course("b", "go", &[]),
            course("c", "rust", &[]),
        ];
        build(
            vec!["a".into(), "b".into(), "c".into()],
            factors,
            vec![3.0, 2.0, 1.0],
            &catalog,
        )
    }

    #[test]
    fn metadata_edits_share_the_indexes() {
        let s = side();
        let mut edited = course("b", "go", &["cli"]);
        edited.active = false;
        let updated = with_courses(&s, &[edited]);
        assert!(Arc::ptr_eq(
            updated.top.as_ref().unwrap(),
            s.top.as_ref().unwrap()
        ));
        assert!(Arc::ptr_eq(&updated.gram, &s.gram));
        assert!(!updated.meta[1].active && updated.meta[1].trained);
        let removed = without_course(&s, "a").unwrap();
        assert!(Arc::ptr_eq(&removed.index, &s.index));
        assert!(!removed.meta[0].listed && s.meta[0].listed);
        assert!(without_course(&s, "zzz").is_none());
    }

    #[test]
    fn matching_the_catalog_unlists_what_it_lost() {
        let s = side();
        let now = matching_catalog(&s, &[course("a", "rust", &["web"]), course("c", "rust", &[])]);
        let listed: Vec<bool> = now.meta.iter().map(|m| m.listed).collect();
        assert_eq!(listed, [true, false, true]);
        assert!(Arc::ptr_eq(&now.gram, &s.gram));
    }

    #[test]
    fn a_new_course_gets_a_content_factor_and_fresh_indexes() {
        let s = side();
        let grown = with_courses(&s, &[course("d", "rust", &["web"])]);
        assert!(!Arc::ptr_eq(&grown.index, &s.index));
        assert_eq!(grown.index["d"], 3);
        assert!(!grown.meta[3].trained);
        // a: category 1 + tags 2·1 = 3; c: category 1; b: nothing alike.
        // (3·[1, 0] + 1·[1, 1]) / 4 = [1, 0.25].
        assert_eq!(grown.factors.row(3), &[1.0, 0.25]);
        assert_eq!(grown.factors.n, 4);
    }
}

#[cfg(test)]
mod blend_tests {
    use super::*;
    use crate::domain::Level;

    fn course(id: &str, category: &str) -> Course {
        Course {
            id: id.into(),
            title: id.into(),
            category: category.into(),
            tags: vec![],
            level: Level::Beginner,
            price_cents: 1000,
            active: true,
            prerequisites: vec![],
        }
    }

    #[test]
    fn evidence_moves_a_factor_from_content_to_learned() {
        assert_eq!(content_share(0), 1.0);
        // 5 learners: m/(n+m) = 1/2, tapered by 1 − 5/50.
        assert!((content_share(5) - 0.45).abs() < 1e-6);
        assert_eq!(content_share(50), 0.0);
        let shares: Vec<f32> = (0..=50).map(content_share).collect();
        assert!(shares.windows(2).all(|w| w[0] > w[1] || w[1] == 0.0));
        // a, b: rust, learned from 10 and 60 learners; c: rust, no learner,
        // its fitted residue [9, 9] must go; d: go, one learner.
        let learned = Factors {
            n: 4,
            k: 2,
            data: vec![1.0, 0.0, 0.0, 1.0, 9.0, 9.0, 0.0, 2.0],
        };
        let ids = ["a", "b", "c", "d"].map(String::from).to_vec();
        let catalog = [
            course("a", "rust"),
            course("b", "rust"),
            course("c", "rust"),
            course("d", "go"),
        ];
        let side = build_blended(ids, learned, &[10, 60, 0, 1], vec![0.0; 4], &catalog);
        assert_eq!(
            side.meta.iter().map(|m| m.trained).collect::<Vec<_>>(),
            [true, true, false, true]
        );
        // c is the mean of a and b (both rust), from the learned factors.
        assert_eq!(side.factors.row(2), &[0.5, 0.5]);
        // a leans towards b, its only trained neighbour; b is learned alone.
        let s = content_share(10);
        assert_eq!(side.factors.row(0), &[1.0 - s, s]);
        assert_eq!(side.factors.row(1), &[0.0, 1.0]);
        // d has nothing alike: its learned factor stays as it is.
        assert_eq!(side.factors.row(3), &[0.0, 2.0]);
        // By content, c's neighbours are a and b (rust) and never d.
        assert_eq!(
            content_neighbours(&side, 2, 5, |_| false),
            vec![(0, 1.0 / 3.0), (1, 1.0 / 3.0)]
        );
        assert!(content_neighbours(&side, 3, 5, |_| false).is_empty());
    }
}

#[cfg(test)]
mod content_index_tests {
    use rand::{Rng, SeedableRng};

    use super::super::content::ContentIndex;
    use super::*;

    /// The direct weighted mean the index must equal (a reference, O(catalog)).
    fn content_of(side: &CourseSide, category: &str, tags: &[String], skip: Option<usize>) -> Vec<f32> {
        let k = side.factors.k;
        let tags: HashSet<&str> = tags.iter().map(String::as_str).collect();
        let mut acc = vec![0f32; k];
        let mut total = 0f32;
        for (i, m) in side.meta.iter().enumerate() {
            if !m.trained || skip == Some(i) {
                continue;
            }
            let w = alike(category, &tags, m);
            if w > 0.0 {
                for (a, f) in acc.iter_mut().zip(side.factors.row(i)) {
                    *a += w * f;
                }
                total += w;
            }
        }
        if total > 0.0 {
            acc.iter_mut().for_each(|a| *a /= total);
        }
        acc
    }

    /// The indexed content factor equals the direct weighted mean for every
    /// course of a random catalog (some untrained, repeated tags, shared
    /// categories, courses alike to nothing).
    #[test]
    fn indexed_content_factor_matches_the_direct_mean() {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(7);
        let (n, k) = (60, 4);
        let tags = ["web", "async", "db", "ml", "cli"];
        let meta: Vec<CourseMeta> = (0..n)
            .map(|i| CourseMeta {
                title: format!("c{i}"),
                category: ["rust", "go", "py", "solo"][if i == 0 { 3 } else { rng.random_range(0..3) }]
                    .into(),
                tags: (0..rng.random_range(0..4))
                    .map(|_| tags[rng.random_range(0..tags.len())].to_string())
                    .filter(|_| i != 0)
                    .collect(),
                level: crate::domain::Level::Beginner,
                price_cents: 100,
                active: true,
                listed: true,
                trained: rng.random_bool(0.7),
                prerequisites: vec![],
            })
            .collect();
        let factors = Factors {
            n,
            k,
            data: (0..n * k).map(|_| rng.random_range(-1.0..1.0)).collect(),
        };
        let side = CourseSide::new(
            (0..n).map(|i| format!("c{i}")).collect(),
            factors,
            meta,
            vec![0.0; n],
        );
        let index = ContentIndex::new(&side);
        let mut shared = vec![0u32; n];
        for j in 0..n {
            let m = &side.meta[j];
            let direct = content_of(&side, &m.category, &m.tags, Some(j));
            let indexed = index.factor_of(&side, j, &mut shared);
            for (a, b) in direct.iter().zip(&indexed) {
                assert!((a - b).abs() < 1e-5, "course {j}: {direct:?} vs {indexed:?}");
            }
        }
        assert!(shared.iter().all(|&s| s == 0), "scratch left clean");
        // Course 0 is alone in its category and has no tags.
        assert!(index.factor_of(&side, 0, &mut shared).iter().all(|&v| v == 0.0));
    }
}
