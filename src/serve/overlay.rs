//! What happened to users since the snapshot was trained: newer events
//! (dirty marks), cached fold-ins, erasures; bounded by [`LiveLimits`].

use std::collections::HashMap;
use std::sync::Arc;

use super::live::Live;
use super::snapshot::ModelSnapshot;
use crate::domain::{now_ms, UserAttrs};

/// Cached fold-in of one user against one snapshot.
#[derive(Debug)]
pub struct Folded {
    pub version: i64,
    /// The user's event mark when this was computed; a newer event invalidates it.
    pub mark: i64,
    /// `None` when the user has no usable events.
    pub factor: Option<Vec<f32>>,
    /// Course indices the user took (sorted), excluded from lists.
    pub taken: Vec<u32>,
    /// The same courses in the order taken (oldest first).
    pub order: Vec<u32>,
    /// (course index, weight) the factor was solved from.
    pub history: Vec<(u32, f32)>,
    /// Course indices dismissed since their last positive event (sorted).
    pub dismissed: Vec<u32>,
    pub attrs: Option<UserAttrs>,
}

/// How a request should treat a user.
pub enum UserState {
    /// Trained user, nothing new since: use the snapshot's factor.
    Known(u32),
    /// A cached fold-in is valid.
    Cached(Arc<Folded>),
    /// Needs a fold-in from the store; pass `mark` back to [`Live::cache`].
    NeedsFoldIn { mark: i64 },
}

#[derive(Default)]
pub(super) struct Overlay {
    /// User → time of their latest event seen by this process; at most
    /// `max_dirty` entries.
    dirty: HashMap<String, i64>,
    /// Set when `dirty` overflowed: every user counts as changed since this
    /// time until a snapshot trained after it (correct, only slower: each
    /// user is folded in from the store once).
    all_dirty_since: Option<i64>,
    /// User → erasure time; their trained factor is ignored until a training
    /// that read the data after it. Only users in the snapshot enter, so it
    /// is bounded by the snapshot.
    erased: HashMap<String, i64>,
}

impl Overlay {
    /// The user's change mark: their latest event, or the overflow time.
    fn mark(&self, user: &str) -> Option<i64> {
        self.dirty.get(user).copied().or(self.all_dirty_since)
    }

    fn set_dirty(&mut self, user: &str, at: i64, max: usize) {
        if self.dirty.len() >= max && !self.dirty.contains_key(user) {
            tracing::warn!(
                max,
                "too many users changed since the last model; folding in everyone until the next"
            );
            self.dirty.clear();
            let since = self.all_dirty_since.map_or(at, |s| s.min(at));
            self.all_dirty_since = Some(since);
        }
        self.dirty.insert(user.to_string(), at);
    }

    /// Forgets marks and erasures a snapshot that read the data at `read_at`
    /// covers.
    pub(super) fn drop_before(&mut self, read_at: i64) {
        self.dirty.retain(|_, t| *t >= read_at);
        self.erased.retain(|_, t| *t >= read_at);
        if self.all_dirty_since.is_some_and(|t| t < read_at) {
            self.all_dirty_since = None;
        }
    }
}

/// Byte bounds of the live state (`serve.*` settings).
#[derive(Debug, Clone, Copy)]
pub struct LiveLimits {
    /// Bytes of cached fold-ins (estimated from ids and vectors).
    pub cache_bytes: u64,
    /// Users tracked as changed since the snapshot.
    pub max_dirty: usize,
}

impl Default for LiveLimits {
    fn default() -> Self {
        LiveLimits {
            cache_bytes: 64 << 20,
            max_dirty: 200_000,
        }
    }
}

/// The estimated heap bytes of one cached fold-in, its key included.
#[derive(Clone)]
pub(super) struct FoldedBytes;

impl quick_cache::Weighter<String, Arc<Folded>> for FoldedBytes {
    fn weight(&self, key: &String, f: &Arc<Folded>) -> u64 {
        let attrs = f
            .attrs
            .as_ref()
            .map_or(0, |a| a.interests.iter().map(|i| i.len() + 24).sum::<usize>());
        let vecs = f.factor.as_ref().map_or(0, |v| v.len() * 4)
            + f.taken.len() * 8
            + f.history.len() * 8
            + f.dismissed.len() * 4;
        // Map slot, Arc and struct headers.
        (key.len() + attrs + vecs + 160) as u64
    }
}

pub(super) type FoldCache = quick_cache::sync::Cache<String, Arc<Folded>, FoldedBytes>;

impl Live {
    /// Bytes held by cached fold-ins (estimated), and their number.
    pub fn cache_usage(&self) -> (u64, usize) {
        (self.folded.weight(), self.folded.len())
    }

    /// Users tracked as changed since the snapshot.
    pub fn dirty_len(&self) -> usize {
        self.overlay.lock().unwrap().dirty.len()
    }

    /// True when the user was erased and the snapshot still holds them.
    pub fn is_erased(&self, user: &str) -> bool {
        self.overlay.lock().unwrap().erased.contains_key(user)
    }

    /// Marks users whose events another replica stored, each with the
    /// receipt time of their newest event. Unlike [`Live::note_new_events`]
    /// the mark is the event's time, so seeing the same event twice keeps a
    /// cached fold-in, and a snapshot trained on it clears the mark.
    pub fn note_events_at(&self, users: Vec<(String, i64)>) {
        // A poll that raced a publish may report events the new snapshot
        // already read; `publish` would have cleared those marks.
        let read_at = self
            .current
            .load()
            .as_ref()
            .map_or(i64::MIN, |s| s.data_read_at_ms);
        let mut o = self.overlay.lock().unwrap();
        for (u, at) in users.into_iter().filter(|&(_, at)| at >= read_at) {
            let newer = o.mark(&u).is_none_or(|t| t < at);
            if newer {
                self.folded.remove(&u);
                o.set_dirty(&u, at, self.limits.max_dirty);
            }
        }
    }

    /// Marks users whose events were just stored.
    pub fn note_new_events(&self, users: &[String]) {
        let now = now_ms();
        let mut o = self.overlay.lock().unwrap();
        for u in users {
            o.set_dirty(u, now, self.limits.max_dirty);
            self.folded.remove(u);
        }
    }

    /// Marks users with events newer than the snapshot (after a restart).
    pub fn mark_dirty(&self, users: Vec<String>, at: i64) {
        let mut o = self.overlay.lock().unwrap();
        for u in users {
            o.set_dirty(&u, at, self.limits.max_dirty);
        }
    }

    pub fn user_state(&self, snap: &ModelSnapshot, user: &str) -> UserState {
        let o = self.overlay.lock().unwrap();
        let mark = o.mark(user);
        if let Some(f) = self.folded.get(user) {
            if f.version == snap.version && f.mark == mark.unwrap_or(0) {
                return UserState::Cached(f.clone());
            }
        }
        // A popularity snapshot's factors are zeros: its users are folded
        // (taken courses, interests), never ranked on them.
        match (snap.users.index.get(user), mark, o.erased.contains_key(user)) {
            (Some(&i), None, false) if snap.is_model() => UserState::Known(i),
            _ => UserState::NeedsFoldIn {
                mark: mark.unwrap_or(0),
            },
        }
    }

    /// Caches a fold-in unless the user changed while it was computed.
    /// A user with nothing stored (no events, no attributes) is not cached:
    /// made-up ids must not fill memory. Returns the cached count.
    pub fn cache(&self, user: &str, folded: Arc<Folded>) -> usize {
        let nothing = folded.history.is_empty()
            && folded.taken.is_empty()
            && folded.dismissed.is_empty()
            && folded.attrs.is_none();
        let o = self.overlay.lock().unwrap();
        if !nothing && o.mark(user).unwrap_or(0) == folded.mark {
            self.folded.insert(user.to_string(), folded);
        }
        self.folded.len()
    }

    /// Erases the user from live state; true if anything of them was live
    /// (a user already erased from the model does not count again).
    pub fn forget_user(&self, user: &str) -> bool {
        let in_model = self
            .current
            .load()
            .as_ref()
            .is_some_and(|s| s.users.index.contains_key(user));
        self.fatigue.forget(user);
        let mut o = self.overlay.lock().unwrap();
        let cached = self.folded.remove(user).is_some();
        let dirty = o.dirty.remove(user).is_some();
        let known = in_model && !o.erased.contains_key(user);
        if in_model {
            o.erased.insert(user.to_string(), now_ms());
        }
        known || cached || dirty
    }

    /// Forgets every trained user whose id hashes to one of `hashes` (erased
    /// while this process was down, or through another replica).
    pub fn forget_hashed(&self, hashes: &[i64]) -> usize {
        if hashes.is_empty() {
            return 0;
        }
        let Some(snap) = self.snapshot() else { return 0 };
        let Some(key) = self.erasure_key() else {
            tracing::error!("erasures seen before the erasure key was loaded");
            return 0;
        };
        let wanted: std::collections::HashSet<i64> = hashes.iter().copied().collect();
        let users: Vec<&String> = snap
            .users
            .ids
            .iter()
            .filter(|u| wanted.contains(&key.hash(u)))
            .collect();
        for u in &users {
            self.forget_user(u);
        }
        users.len()
    }

    /// Users erased since the snapshot was trained (still in its factors).
    pub fn erased_users(&self) -> std::collections::HashSet<String> {
        self.overlay.lock().unwrap().erased.keys().cloned().collect()
    }
}
