//! A learner's serving state for one request: the snapshot's factor, a
//! cached fold-in, or a fresh fold-in from the store's aggregates. A store
//! that is down or fails degrades to what the snapshot knows; a request
//! never fails for it.

use std::sync::Arc;

use super::live::{Folded, UserState};
use super::recommend::{Strategy, Who};
use super::snapshot::ModelSnapshot;
use super::{foldin, Live};
use crate::domain::now_ms;
use crate::metrics::Metrics;
use crate::store::{Store, StoreHealth};

/// What serving reads a learner from.
pub struct Sources<'a> {
    pub live: &'a Live,
    pub store: &'a Store,
    pub health: &'a StoreHealth,
    pub metrics: &'a Metrics,
    /// Longest wait on the store for a fold-in (`database.acquire_timeout_ms`).
    pub budget: std::time::Duration,
}

pub enum UserView {
    /// Row of the snapshot's user side.
    Known(u32),
    /// Folded in since the snapshot (or cold, with attributes only).
    Folded(Arc<Folded>),
    /// Nothing known: popularity.
    Unknown,
}

/// The learner's view for `snap`.
pub async fn user_view(src: &Sources<'_>, snap: &ModelSnapshot, user: &str) -> UserView {
    match src.live.user_state(snap, user) {
        UserState::Known(i) => UserView::Known(i),
        UserState::Cached(f) => UserView::Folded(f),
        // While the store is down, requests do not wait on it.
        UserState::NeedsFoldIn { .. } if !src.health.is_up() => from_snapshot(src.live, snap, user),
        UserState::NeedsFoldIn { mark } => {
            let loaded = async {
                Ok::<_, sqlx::Error>((
                    src.store.user_aggregates(user).await?,
                    src.store.get_user(user).await?,
                ))
            };
            // A database that stopped answering (not refusing) costs a
            // request this budget, not a TCP timeout.
            let loaded = tokio::time::timeout(src.budget, loaded)
                .await
                .unwrap_or(Err(sqlx::Error::PoolTimedOut));
            match loaded {
                Ok((aggs, attrs)) => {
                    let f = Arc::new(foldin::fold(snap, &aggs, attrs, mark, now_ms()));
                    let cached = src.live.cache(user, f.clone());
                    src.metrics.fold_in_cache.set(cached as i64);
                    UserView::Folded(f)
                }
                Err(e) => {
                    src.metrics.db_errors.with_label_values(&["fold_in"]).inc();
                    if crate::store::is_transient(&e) {
                        src.health.record_failure();
                    }
                    tracing::warn!(error = %e, "fold-in read failed; serving from the snapshot");
                    from_snapshot(src.live, snap, user)
                }
            }
        }
    }
}

/// What the snapshot alone knows of a user; never an erased user's factor.
fn from_snapshot(live: &Live, snap: &ModelSnapshot, user: &str) -> UserView {
    match snap.users.index.get(user) {
        Some(&i) if !live.is_erased(user) => UserView::Known(i),
        _ => UserView::Unknown,
    }
}

/// Who a list is for: a factor (trained or folded in), declared interests,
/// or nobody. With `exclude_taken` off, taken courses may come back.
pub fn who<'a>(snap: &'a ModelSnapshot, view: &'a UserView, exclude_taken: bool) -> Who<'a> {
    let who = match view {
        UserView::Known(i) => Who::Factor {
            factor: snap.users.factors.row(*i as usize),
            taken: snap.users.taken_row(*i),
            took: snap.users.taken_row(*i),
            order: std::borrow::Cow::Owned(snap.users.taken_in_order(*i)),
            strategy: Strategy::Personalized,
        },
        UserView::Folded(f) => match (&f.factor, &f.attrs) {
            (Some(factor), _) => Who::Factor {
                factor,
                taken: &f.taken,
                took: &f.taken,
                order: std::borrow::Cow::Borrowed(&f.order),
                strategy: Strategy::FoldIn,
            },
            (None, Some(a)) if !a.interests.is_empty() => Who::Interests {
                interests: &a.interests,
                taken: &f.taken,
            },
            _ => Who::Nobody { taken: &f.taken },
        },
        UserView::Unknown => Who::Nobody { taken: &[] },
    };
    if exclude_taken {
        return who;
    }
    match who {
        Who::Factor {
            factor,
            took,
            order,
            strategy,
            ..
        } => Who::Factor {
            factor,
            taken: &[],
            took,
            order,
            strategy,
        },
        Who::Interests { interests, .. } => Who::Interests {
            interests,
            taken: &[],
        },
        // Popularity never repeats what a learner owns.
        nobody => nobody,
    }
}
