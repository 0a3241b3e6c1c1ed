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

/// A copy of `side` where course `id` is no longer listed; `None` if unknown.
pub fn without_course(side: &CourseSide, id: &str) -> Option<CourseSide> {
    let &i = side.index.get(id)?;
    let mut meta = side.meta.clone();
    meta[i as usize].listed = false;
    Some(CourseSide::new(
        side.ids.clone(),
        side.factors.clone(),
        meta,
        side.popularity.clone(),
    ))
}
