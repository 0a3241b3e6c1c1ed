//! Ranking an audience for an offer against the serving snapshot: who may
//! receive it (filters, owners and erased learners left out) and in what
//! order (expected value).
//!
//! The order is frozen per model version: a spec is ranked once per version
//! (and offer price) and kept in a bounded cache; who has dropped out since
//! (bought the course, was erased) is left out when a page is read. Pages
//! of one version are therefore slices of one list, and a cursor keeps its
//! place when the learner it names drops out.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use super::snapshot::ModelSnapshot;
use super::Live;
use crate::domain::category_key;
use crate::marketing::audience::{Filter, MarketingModel, Member, Offer, Ranking};
use crate::store::Store;

/// An audience: what is offered and who may receive it.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct AudienceSpec {
    pub course_id: Option<String>,
    /// Matched case-insensitively ([`category_key`]), as `/popular` does.
    pub category: Option<String>,
    pub filter: Filter,
    pub ranking: Ranking,
    /// The offer's discount, fraction 0..1: what uplift is predicted at.
    pub discount: f64,
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
    #[error("ranking the audience failed: {0}")]
    Failed(String),
    /// An uplift ranking without an offer to predict the response to.
    #[error("rank_by=uplift needs an offer: give course_id or category")]
    UpliftNeedsOffer,
    /// An uplift ranking before an uplift model serves.
    #[error("{0}")]
    UpliftNotReady(String),
}

/// Bytes of frozen rankings kept (32 bytes a learner: about 2 million
/// ranked learners in all, e.g. ten specs over 200,000 learners).
pub const RANKING_CACHE_BYTES: u64 = 64 << 20;

/// (model version, normalised spec and offer price) → every learner passing
/// the filters, best first, owners included.
pub(super) type RankingCache = quick_cache::sync::Cache<(i64, String), Arc<Vec<Member>>, RankingBytes>;

#[derive(Clone)]
pub(super) struct RankingBytes;

impl quick_cache::Weighter<(i64, String), Arc<Vec<Member>>> for RankingBytes {
    fn weight(&self, key: &(i64, String), v: &Arc<Vec<Member>>) -> u64 {
        (key.1.len() + std::mem::size_of_val(v.as_slice()) + 64) as u64
    }
}

pub(super) fn ranking_cache() -> RankingCache {
    RankingCache::with_weighter(64, RANKING_CACHE_BYTES, RankingBytes)
}

/// The offer resolved against one snapshot, owning what the ranking needs.
#[derive(Debug, Clone, Copy)]
enum Resolved {
    Any,
    Course(u32),
    Category { index: usize, mean_price_cents: f64 },
}

impl Resolved {
    fn offer<'a>(&self, snap: &'a ModelSnapshot) -> Offer<'a> {
        match *self {
            Resolved::Any => Offer::Any,
            Resolved::Course(ci) => Offer::Course {
                factor: snap.courses.factors.row(ci as usize),
                price_cents: snap.courses.meta[ci as usize].price_cents,
                category: snap
                    .marketing
                    .as_deref()
                    .and_then(|m| m.course_category.get(ci as usize))
                    .map_or(usize::MAX, |&c| c as usize),
            },
            Resolved::Category {
                index,
                mean_price_cents,
            } => Offer::Category {
                index,
                mean_price_cents,
            },
        }
    }

    /// What changes the ranked values besides the spec: the offer's price.
    fn price_key(&self, snap: &ModelSnapshot) -> String {
        match *self {
            Resolved::Any => String::new(),
            Resolved::Course(ci) => snap.courses.meta[ci as usize].price_cents.to_string(),
            Resolved::Category { mean_price_cents, .. } => mean_price_cents.to_string(),
        }
    }
}

/// The offer of `spec` on `snap`, and the spec with the catalog's spelling of
/// its category; 404-kind errors when the course or category is not on sale.
fn resolve(
    snap: &ModelSnapshot,
    mk: &MarketingModel,
    spec: &AudienceSpec,
) -> Result<(Resolved, AudienceSpec), AudienceError> {
    let courses = &snap.courses;
    let mut spec = spec.clone();
    let offer = match (&spec.course_id, &spec.category) {
        (Some(id), _) => {
            let Some(&ci) = courses
                .index
                .get(id)
                .filter(|&&i| courses.meta[i as usize].listed)
            else {
                return Err(AudienceError::CourseNotFound(id.clone()));
            };
            Resolved::Course(ci)
        }
        (None, Some(asked)) => {
            let key = category_key(asked);
            let index = mk
                .categories
                .iter()
                .position(|c| !key.is_empty() && category_key(c) == key);
            let name = index.map(|i| mk.categories[i].clone()).unwrap_or_default();
            let prices: Vec<i64> = courses
                .meta
                .iter()
                .filter(|m| m.category == name && m.servable())
                .map(|m| m.price_cents)
                .collect();
            let (Some(index), false) = (index, prices.is_empty()) else {
                return Err(AudienceError::CategoryNotFound(asked.clone()));
            };
            spec.category = Some(name);
            Resolved::Category {
                index,
                mean_price_cents: prices.iter().sum::<i64>() as f64 / prices.len() as f64,
            }
        }
        (None, None) => Resolved::Any,
    };
    if let Some(groups) = spec.filter.rfm.as_mut() {
        groups.sort_by_key(|g| g.as_str());
        groups.dedup();
    }
    Ok((offer, spec))
}

/// An audience as of now: the frozen ranking of the serving model version
/// and who of it may receive the offer now.
pub struct Ranked {
    pub snap: Arc<ModelSnapshot>,
    /// Every learner passing the filters, best expected value first
    /// (ties by user index), owners and erased learners included.
    frozen: Arc<Vec<Member>>,
    /// Positions in `frozen` of the learners who may receive the offer now.
    kept: Vec<u32>,
}

impl Ranked {
    /// Learners in the audience now.
    pub fn len(&self) -> usize {
        self.kept.len()
    }

    pub fn is_empty(&self) -> bool {
        self.kept.is_empty()
    }

    /// The `i`-th learner of the audience now (0-based).
    pub fn get(&self, i: usize) -> &Member {
        &self.frozen[self.kept[i] as usize]
    }

    pub fn iter(&self) -> impl Iterator<Item = &Member> + '_ {
        self.kept.iter().map(|&p| &self.frozen[p as usize])
    }

    /// Where the page after learner `user_id` starts: the number of learners
    /// of the audience now who rank before or at them in the frozen ranking.
    /// Works whether or not they have dropped out since; `None` when the
    /// ranking never held them (another audience's cursor).
    pub fn start_after(&self, user_id: &str) -> Option<usize> {
        let u = *self.snap.users.index.get(user_id)?;
        let at = self.frozen.iter().position(|m| m.user == u)? as u32;
        Some(self.kept.partition_point(|&p| p <= at))
    }

    /// Keeps the best `n` learners of the audience now.
    pub fn truncate(&mut self, n: usize) {
        self.kept.truncate(n);
    }

    /// The members now, in order (what a campaign freezes).
    pub fn into_members(self) -> Vec<Member> {
        self.kept.iter().map(|&p| self.frozen[p as usize]).collect()
    }
}

/// The audience of `spec` now: see [`Ranked`]. Ownership of the course is
/// the snapshot's, corrected by purchases, refunds and ratings stored since
/// it was trained. The ranking runs on the blocking pool (rayon inside),
/// once per model version, offer price and normalised spec.
pub async fn ranked(live: &Live, store: &Store, spec: &AudienceSpec) -> Result<Ranked, AudienceError> {
    let snap = live.snapshot().ok_or(AudienceError::NotReady)?;
    let mk: &MarketingModel = snap.marketing.as_deref().ok_or(AudienceError::NotReady)?;
    snap.users.marketing.as_ref().ok_or(AudienceError::NotReady)?;
    let (offer, spec) = resolve(&snap, mk, spec)?;
    if spec.ranking == Ranking::Uplift {
        let cols = snap.users.marketing.as_ref().ok_or(AudienceError::NotReady)?;
        if matches!(offer, Resolved::Any) {
            return Err(AudienceError::UpliftNeedsOffer);
        }
        if let Some(why) = mk.uplift_unavailable(cols, &offer.offer(&snap)) {
            return Err(AudienceError::UpliftNotReady(why));
        }
    }
    if let Some(id) = spec.filter.segment {
        if snap.segments.as_deref().and_then(|s| s.segment(id)).is_none() {
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
    let filters = serde_json::to_string(&spec.filter).expect("a filter serialises");
    let key = (
        snap.version,
        format!(
            "{:?}|{:?}|{}|{filters}|{:?}|{}",
            spec.course_id,
            spec.category,
            offer.price_key(&snap),
            spec.ranking,
            spec.discount
        ),
    );
    let cache = live.audiences.clone();
    tokio::task::spawn_blocking(move || {
        let frozen = cache
            .get_or_insert_with(&key, || {
                Ok::<_, std::convert::Infallible>(Arc::new(rank_all(&snap, &offer, &spec)))
            })
            .unwrap_or_else(|never| match never {});
        let kept = kept(&snap, &frozen, offer, &taken_now, &erased);
        Ranked { snap, frozen, kept }
    })
    .await
    .map_err(|e| AudienceError::Failed(e.to_string()))
}

/// The audience of `spec` now, best expected value first, with the snapshot
/// it was ranked on.
pub async fn rank(
    live: &Live,
    store: &Store,
    spec: &AudienceSpec,
) -> Result<(Arc<ModelSnapshot>, Vec<Member>), AudienceError> {
    let r = ranked(live, store, spec).await?;
    Ok((r.snap.clone(), r.into_members()))
}

/// Every learner passing the spec's filter, in its ranking for `offer`.
fn rank_all(snap: &ModelSnapshot, offer: &Resolved, spec: &AudienceSpec) -> Vec<Member> {
    let mk = snap.marketing.as_deref().expect("checked before");
    let cols = snap.users.marketing.as_ref().expect("checked before");
    let users = &snap.users;
    mk.rank(
        &users.factors,
        users.segment.as_deref(),
        cols,
        &offer.offer(snap),
        &spec.filter,
        (spec.ranking, spec.discount),
        |_| false,
    )
}

/// Positions in `frozen` of learners who neither own the offered course
/// (`taken_now` overrides the snapshot's ownership) nor were erased.
fn kept(
    snap: &ModelSnapshot,
    frozen: &[Member],
    offer: Resolved,
    taken_now: &HashMap<String, bool>,
    erased: &HashSet<String>,
) -> Vec<u32> {
    let users = &snap.users;
    let excluded = |u: u32| {
        let id = &users.ids[u as usize];
        let taken_then = || match offer {
            Resolved::Course(ci) => users.taken_row(u).binary_search(&ci).is_ok(),
            _ => false,
        };
        taken_now.get(id).copied().unwrap_or_else(taken_then) || erased.contains(id)
    };
    (0..frozen.len() as u32)
        .filter(|&p| !excluded(frozen[p as usize].user))
        .collect()
}
