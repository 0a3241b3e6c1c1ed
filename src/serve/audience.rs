//! Ranking an audience for an offer against the serving snapshot: who may
//! receive it (filters, owners and erased learners left out) and in what
//! order (expected value).

use std::collections::HashMap;
use std::sync::Arc;

use super::snapshot::ModelSnapshot;
use super::Live;
use crate::marketing::audience::{Filter, MarketingModel, Member, Offer};
use crate::store::Store;

/// An audience: what is offered and who may receive it.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct AudienceSpec {
    pub course_id: Option<String>,
    pub category: Option<String>,
    pub filter: Filter,
}

#[derive(Debug, thiserror::Error)]
pub enum AudienceError {
    #[error("no model with predictions has been trained yet")]
    NotReady,
    #[error("no course {0:?}")]
    CourseNotFound(String),
    #[error("no course on sale in category {0:?}")]
    CategoryNotFound(String),
    #[error("no segment {0}")]
    SegmentNotFound(u32),
    #[error(transparent)]
    Store(#[from] sqlx::Error),
}

/// The audience of `spec`, best expected value first, with the snapshot it
/// was ranked on. Ownership of the course is the snapshot's, corrected by
/// purchases, refunds and ratings stored since it was trained.
pub async fn rank(
    live: &Live,
    store: &Store,
    spec: &AudienceSpec,
) -> Result<(Arc<ModelSnapshot>, Vec<Member>), AudienceError> {
    let snap = live.snapshot().ok_or(AudienceError::NotReady)?;
    let mk: &MarketingModel = snap.marketing.as_deref().ok_or(AudienceError::NotReady)?;
    let cols = snap.users.marketing.as_ref().ok_or(AudienceError::NotReady)?;
    let courses = &snap.courses;
    let mut course_ix = None;
    let offer = match (&spec.course_id, &spec.category) {
        (Some(id), _) => {
            let Some(&ci) = courses
                .index
                .get(id)
                .filter(|&&i| courses.meta[i as usize].listed)
            else {
                return Err(AudienceError::CourseNotFound(id.clone()));
            };
            course_ix = Some(ci);
            Offer::Course {
                factor: courses.factors.row(ci as usize),
                price_cents: courses.meta[ci as usize].price_cents,
            }
        }
        (None, Some(cat)) => {
            let index = mk.categories.binary_search(cat).ok().filter(|_| !cat.is_empty());
            let prices: Vec<i64> = courses
                .meta
                .iter()
                .filter(|m| &m.category == cat && m.servable())
                .map(|m| m.price_cents)
                .collect();
            let (Some(index), false) = (index, prices.is_empty()) else {
                return Err(AudienceError::CategoryNotFound(cat.clone()));
            };
            let mean_price_cents = prices.iter().sum::<i64>() as f64 / prices.len() as f64;
            Offer::Category {
                index,
                mean_price_cents,
            }
        }
        (None, None) => Offer::Any,
    };
    let segs = snap.segments.as_deref();
    if let Some(id) = spec.filter.segment {
        if segs.and_then(|s| s.segment(id)).is_none() {
            return Err(AudienceError::SegmentNotFound(id));
        }
    }
    // Owners: taken in the snapshot, unless purchases, refunds or ratings
    // since then say otherwise (ownership in time order).
    let taken_now: HashMap<String, bool> = match &spec.course_id {
        Some(id) => store.taken_changes_after(id, snap.trained_seq).await?,
        None => HashMap::new(),
    };
    let erased = live.erased_users();
    let users = &snap.users;
    let excluded = |u: u32| {
        let id = &users.ids[u as usize];
        let taken_then = || course_ix.is_some_and(|ci| users.taken_row(u).binary_search(&ci).is_ok());
        taken_now.get(id).copied().unwrap_or_else(taken_then) || erased.contains(id)
    };
    let members = mk.rank(
        &users.factors,
        users.segment.as_deref(),
        cols,
        &offer,
        &spec.filter,
        excluded,
    );
    Ok((snap.clone(), members))
}
