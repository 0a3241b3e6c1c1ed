//! The live model: the published snapshot (behind `arc-swap`, so readers never
//! wait), catalog edits applied to it at once, and the per-user overlay of
//! what happened since it was trained (in `overlay`).

use std::sync::{Arc, Mutex};

use arc_swap::ArcSwapOption;

use super::audience::{ranking_cache, RankingCache};
use super::catalog;
use super::fatigue::{FatigueSettings, FatigueTracker};
use super::overlay::{FoldCache, FoldedBytes, Overlay};
pub use super::overlay::{Folded, LiveLimits, UserState};
use super::rulebook::RuleBook;
use super::snapshot::ModelSnapshot;
use crate::domain::id_hash::ErasureKey;
use crate::domain::Course;

pub struct Live {
    pub(super) current: ArcSwapOption<ModelSnapshot>,
    pub(super) overlay: Mutex<Overlay>,
    pub(super) folded: FoldCache,
    pub(super) limits: LiveLimits,
    /// Keys erasure hashes; set once the store was reached.
    pub(super) erasure_key: std::sync::OnceLock<ErasureKey>,
    /// Frozen audience rankings of the serving version (see `audience`).
    pub(super) audiences: Arc<RankingCache>,
    /// Merchandising rules, refreshed from the store on change.
    pub rules: RuleBook,
    /// Impressions per learner and course, for fatigue.
    pub fatigue: FatigueTracker,
    /// Held by a catalog edit from its store write to its live update, and
    /// by a publish from reading the catalog to the swap: an edit made
    /// while a training ran is never undone by that training's snapshot.
    catalog: tokio::sync::Mutex<()>,
}

impl Live {
    pub fn new() -> Live {
        Live::with_limits(LiveLimits::default())
    }

    pub fn with_limits(limits: LiveLimits) -> Live {
        // quick_cache sizes its tables from an item estimate; ~1 KiB each.
        let items = (limits.cache_bytes / 1024).clamp(16, 1 << 20) as usize;
        Live {
            current: ArcSwapOption::empty(),
            overlay: Mutex::new(Overlay::default()),
            folded: FoldCache::with_weighter(items, limits.cache_bytes.max(1), FoldedBytes),
            limits,
            erasure_key: std::sync::OnceLock::new(),
            audiences: Arc::new(ranking_cache()),
            rules: RuleBook::default(),
            fatigue: FatigueTracker::new(FatigueSettings::default()),
            catalog: tokio::sync::Mutex::new(()),
        }
    }

    /// This state with fatigue counted under `settings`.
    pub fn with_fatigue(mut self, settings: FatigueSettings) -> Live {
        self.fatigue = FatigueTracker::new(settings);
        self
    }

    /// Serialises catalog edits with publishes (see the field).
    pub async fn lock_catalog(&self) -> tokio::sync::MutexGuard<'_, ()> {
        self.catalog.lock().await
    }

    /// Sets the installation's erasure key (the first value wins).
    pub fn set_erasure_key(&self, key: ErasureKey) {
        let _ = self.erasure_key.set(key);
    }

    /// The erasure key, once the store was reached.
    pub fn erasure_key(&self) -> Option<&ErasureKey> {
        self.erasure_key.get()
    }

    pub fn snapshot(&self) -> Option<Arc<ModelSnapshot>> {
        self.current.load_full()
    }

    pub fn version(&self) -> Option<i64> {
        self.current.load().as_ref().map(|s| s.version)
    }

    /// Publishes a freshly trained snapshot; drops overlay state it covers.
    pub fn publish(&self, snap: Arc<ModelSnapshot>) {
        let read_at = snap.data_read_at_ms;
        self.current.store(Some(snap));
        let mut o = self.overlay.lock().unwrap();
        self.folded.clear();
        self.audiences.clear();
        o.drop_before(read_at);
    }

    /// Applies created or updated courses to the live snapshot at once.
    pub fn note_courses(&self, courses: &[Course]) {
        self.current.rcu(|cur| {
            cur.as_ref()
                .map(|s| Arc::new(s.with_courses(catalog::with_courses(&s.courses, courses))))
        });
    }

    /// Makes the live course side match the whole catalog (see
    /// [`catalog::matching_catalog`]).
    pub fn sync_catalog(&self, courses: &[Course]) {
        self.current.rcu(|cur| {
            cur.as_ref()
                .map(|s| Arc::new(s.with_courses(catalog::matching_catalog(&s.courses, courses))))
        });
    }

    /// Stops recommending a deleted course at once.
    pub fn remove_course(&self, id: &str) {
        self.current.rcu(|cur| {
            cur.as_ref()
                .map(|s| match catalog::without_course(&s.courses, id) {
                    Some(side) => Arc::new(s.with_courses(side)),
                    None => s.clone(),
                })
        });
    }
}
