//! Segmentation at training time and segment lookup at request time, on top
//! of the pure `segment` module.

use super::snapshot::{CourseSide, ModelSnapshot, UserSide};
use crate::domain::TypeAgg;
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
/// user, in order); ids follow `previous` where segments persist.
pub fn build(
    profiles: &[Profile],
    users: &UserSide,
    params: &SegmentParams,
    previous: Option<&ModelSnapshot>,
    seed: u64,
) -> Segmentation {
    let prev = previous.and_then(|p| p.segments.as_deref());
    segment_users(&users.factors.data, users.factors.k, profiles, params, prev, seed)
}

/// One user's profile from their aggregates.
pub fn profile(snap: &ModelSnapshot, user: &str, aggs: &[TypeAgg], now_ms: i64) -> Profile {
    build_profile(user, aggs, &course_index(&snap.courses), now_ms)
}
