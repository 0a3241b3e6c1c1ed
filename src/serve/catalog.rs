//! Keeping the course side in step with the catalog between trainings: new
//! courses get a factor from the courses that share their category and tags,
//! so they can be recommended (and find an audience) before their first sale.

use std::collections::HashSet;

use super::snapshot::{CourseMeta, CourseSide};
use crate::domain::Course;
use crate::model::Factors;

/// How much a shared category counts against a shared tag.
const CATEGORY_WEIGHT: f32 = 1.0;
const TAG_WEIGHT: f32 = 2.0;

/// A factor for `course` from the trained courses like it: the mean of their
/// factors weighted by category match plus tag overlap (Jaccard). Zero when
/// nothing is alike.
pub fn content_factor(side: &CourseSide, course: &Course) -> Vec<f32> {
    let k = side.factors.k;
    let tags: HashSet<&str> = course.tags.iter().map(String::as_str).collect();
    let mut acc = vec![0f32; k];
    let mut total = 0f32;
    for (i, m) in side.meta.iter().enumerate() {
        if !m.trained {
            continue;
        }
        let shared = m.tags.iter().filter(|t| tags.contains(t.as_str())).count() as f32;
        let union = (tags.len() + m.tags.len()) as f32 - shared;
        let jaccard = if union > 0.0 { shared / union } else { 0.0 };
        let w = if m.category == course.category {
            CATEGORY_WEIGHT
        } else {
            0.0
        } + TAG_WEIGHT * jaccard;
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

/// Trained courses plus the catalog: metadata from the catalog, courses the
/// catalog lacks are kept (their events trained users) but never served.
pub fn build(ids: Vec<String>, factors: Factors, popularity: Vec<f32>, catalog: &[Course]) -> CourseSide {
    let unlisted = CourseMeta {
        title: String::new(),
        category: String::new(),
        tags: vec![],
        level: crate::domain::Level::Beginner,
        price_cents: 0,
        active: false,
        listed: false,
        trained: true,
    };
    let meta = vec![unlisted; ids.len()];
    with_courses(&CourseSide::new(ids, factors, meta, popularity), catalog)
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
                factors.data.extend_from_slice(&content_factor(side, c));
                factors.n += 1;
                added.insert(c.id.clone(), ids.len() as u32);
                ids.push(c.id.clone());
                meta.push(CourseMeta::from_course(c, false));
                popularity.push(0.0);
            }
        }
    }
    CourseSide::new(ids, factors, meta, popularity)
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
