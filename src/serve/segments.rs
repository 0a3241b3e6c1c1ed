//! Segmentation at training time and segment lookup at request time, on top
//! of the pure `segment` module.

use std::borrow::Cow;
use std::collections::HashSet;

use super::snapshot::{CourseSide, ModelSnapshot};
use crate::domain::TypeAgg;
use crate::learners::Learners;
use crate::segment::profile::{build_profile, CourseIndex, CourseMeta};
use crate::segment::{segment_users, Profile, SegmentParams, Segmentation};

/// Category and price of every listed course, as profiles need them.
pub fn course_index(courses: &CourseSide) -> CourseIndex {
    courses
        .ids
        .iter()
        .zip(&courses.meta)
        .filter(|(_, m)| m.listed)
        .map(|(id, m)| {
            (
                id.clone(),
                CourseMeta {
                    category: m.category.clone(),
                    price_cents: m.price_cents,
                },
            )
        })
        .collect()
}

/// Segments every trained user from their factors and `profiles` (one per
/// user, in order); ids follow `previous` where segments persist. Returns
/// the segments and each user's segment id.
pub fn build(
    profiles: &[Profile],
    users: &Learners,
    params: &SegmentParams,
    previous: Option<&ModelSnapshot>,
    seed: u64,
) -> (Segmentation, Vec<u32>) {
    let prev = previous.and_then(|p| p.segments.as_deref());
    segment_users(&users.factors.data, users.factors.k, profiles, params, prev, seed)
}

/// The snapshot's segments with sizes and shares counting only the
/// learners not in `erased` (users erased since it was trained), so the
/// figures drop with the member lists at once; `None` without segments.
/// (A re-persisted snapshot is recounted by `ModelSnapshot::without_users`.)
pub fn counted<'a>(snap: &'a ModelSnapshot, erased: &HashSet<String>) -> Option<Cow<'a, Segmentation>> {
    let segs = snap.segments.as_deref()?;
    let users = &snap.users;
    let mut gone: Vec<usize> = erased
        .iter()
        .filter_map(|u| users.index.get(u).map(|&i| i as usize))
        .collect();
    if gone.is_empty() {
        return Some(Cow::Borrowed(segs));
    }
    gone.sort_unstable();
    let column = users.segment.as_deref().unwrap_or_default();
    let mut out = segs.clone();
    out.recount(
        column
            .iter()
            .enumerate()
            .filter(|(i, _)| gone.binary_search(i).is_err())
            .map(|(_, &s)| s),
    );
    Some(Cow::Owned(out))
}

/// One user's profile from their aggregates.
pub fn profile(snap: &ModelSnapshot, user: &str, aggs: &[TypeAgg], now_ms: i64) -> Profile {
    build_profile(user, aggs, &course_index(&snap.courses), now_ms)
}
