//! The live model: the published snapshot (behind `arc-swap`, so readers never
//! wait) plus what happened since it was trained: users with newer events,
//! their cached fold-in state, erased users, catalog edits.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use arc_swap::ArcSwapOption;

use super::catalog;
use super::snapshot::ModelSnapshot;
use crate::domain::{Course, UserAttrs};
use crate::store::{now_ms, user_hash};

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
    /// (course index, weight) the factor was solved from.
    pub history: Vec<(u32, f32)>,
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
struct Overlay {
    /// User → time of their latest event seen by this process.
    dirty: HashMap<String, i64>,
    folded: HashMap<String, Arc<Folded>>,
    /// User → erasure time; their trained factor is ignored until a training
    /// that read the data after it.
    erased: HashMap<String, i64>,
}

/// Bound on cached fold-ins; beyond it the cache starts over.
const MAX_CACHED: usize = 200_000;

pub struct Live {
    current: ArcSwapOption<ModelSnapshot>,
    overlay: Mutex<Overlay>,
}

impl Live {
    pub fn new() -> Live {
        Live {
            current: ArcSwapOption::empty(),
            overlay: Mutex::new(Overlay::default()),
        }
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
        o.folded.clear();
        o.dirty.retain(|_, t| *t >= read_at);
        o.erased.retain(|_, t| *t >= read_at);
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
            let newer = o.dirty.get(&u).is_none_or(|&t| t < at);
            if newer {
                o.folded.remove(&u);
                o.dirty.insert(u, at);
            }
        }
    }

    /// Marks users whose events were just stored.
    pub fn note_new_events(&self, users: &[String]) {
        let now = now_ms();
        let mut o = self.overlay.lock().unwrap();
        for u in users {
            o.dirty.insert(u.clone(), now);
            o.folded.remove(u);
        }
    }

    /// Marks users with events newer than the snapshot (after a restart).
    pub fn mark_dirty(&self, users: Vec<String>, at: i64) {
        let mut o = self.overlay.lock().unwrap();
        for u in users {
            o.dirty.insert(u, at);
        }
    }

    pub fn user_state(&self, snap: &ModelSnapshot, user: &str) -> UserState {
        let o = self.overlay.lock().unwrap();
        let mark = o.dirty.get(user).copied();
        if let Some(f) = o.folded.get(user) {
            if f.version == snap.version && f.mark == mark.unwrap_or(0) {
                return UserState::Cached(f.clone());
            }
        }
        match (snap.users.index.get(user), mark, o.erased.contains_key(user)) {
            (Some(&i), None, false) => UserState::Known(i),
            _ => UserState::NeedsFoldIn {
                mark: mark.unwrap_or(0),
            },
        }
    }

    /// Caches a fold-in unless the user changed while it was computed.
    pub fn cache(&self, user: &str, folded: Arc<Folded>) -> usize {
        let mut o = self.overlay.lock().unwrap();
        if o.dirty.get(user).copied().unwrap_or(0) == folded.mark {
            if o.folded.len() >= MAX_CACHED {
                o.folded.clear();
            }
            o.folded.insert(user.to_string(), folded);
        }
        o.folded.len()
    }

    /// Erases the user from live state; true if anything of them was live
    /// (a user already erased from the model does not count again).
    pub fn forget_user(&self, user: &str) -> bool {
        let in_model = self
            .current
            .load()
            .as_ref()
            .is_some_and(|s| s.users.index.contains_key(user));
        let mut o = self.overlay.lock().unwrap();
        let cached = o.folded.remove(user).is_some();
        let dirty = o.dirty.remove(user).is_some();
        let known = in_model && !o.erased.contains_key(user);
        if in_model {
            o.erased.insert(user.to_string(), now_ms());
        }
        known || cached || dirty
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

    /// Forgets every trained user whose id hashes to one of `hashes` (erased
    /// while this process was down, or through another replica).
    pub fn forget_hashed(&self, hashes: &[i64]) -> usize {
        if hashes.is_empty() {
            return 0;
        }
        let Some(snap) = self.snapshot() else { return 0 };
        let wanted: std::collections::HashSet<i64> = hashes.iter().copied().collect();
        let users: Vec<&String> = snap
            .users
            .ids
            .iter()
            .filter(|u| wanted.contains(&user_hash(u)))
            .collect();
        for u in &users {
            self.forget_user(u);
        }
        users.len()
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

    /// Users erased since the snapshot was trained (still in its factors).
    /// True when `user` was erased after the serving model was trained.
    pub fn is_erased(&self, user: &str) -> bool {
        self.overlay.lock().unwrap().erased.contains_key(user)
    }

    pub fn erased_users(&self) -> std::collections::HashSet<String> {
        self.overlay.lock().unwrap().erased.keys().cloned().collect()
    }
}
