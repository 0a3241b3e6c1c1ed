//! Segmentation at training time and segment lookup at request time, on top
//! of the pure `segment` module.

use super::snapshot::{CourseMeta, CourseSide, ModelSnapshot, UserSide};
use crate::domain::{AggView, TypeAgg};
use crate::segment::profile::{build_profile, build_profiles, CourseIndex};
use crate::segment::{segment_users, Profile, SegmentParams, Segmentation};

/// Category and price of every listed course, as profiles need them.
pub fn course_index(courses: &CourseSide) -> CourseIndex {
    listed_index(&courses.ids, &courses.meta)
}

/// [`course_index`] of courses `ids` with metadata `meta` (same order).
pub fn listed_index(ids: &[String], meta: &[CourseMeta]) -> CourseIndex {
    ids.iter()
        .zip(meta)
        .filter(|(_, m)| m.listed)
        .map(|(id, m)| {
            (
                id.clone(),
                crate::segment::profile::CourseMeta {
                    category: m.category.clone(),
                    price_cents: m.price_cents,
                },
            )
        })
        .collect()
}

/// The profile of every user of `user_ids` (in order) from the log's
/// aggregates; `courses` as [`listed_index`] gives them.
pub fn profiles<'a, I>(aggs: I, user_ids: &[String], courses: &CourseIndex, now_ms: i64) -> Vec<Profile>
where
    I: IntoIterator,
    I::IntoIter: Clone,
    I::Item: Into<AggView<'a>>,
{
    build_profiles(user_ids, aggs, courses, now_ms)
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
