//! The live model: the published snapshot plus what happened since it was
//! trained (fold-in users, catalog changes, erased users).

use std::collections::HashSet;
use std::sync::RwLock;

use arc_swap::ArcSwapOption;

use crate::domain::Course;

/// Placeholder until the snapshot type lands.
pub struct ModelSnapshot {
    pub version: i64,
}

pub struct Live {
    current: ArcSwapOption<ModelSnapshot>,
    dirty: RwLock<HashSet<String>>,
}

impl Live {
    pub fn new() -> Live {
        Live {
            current: ArcSwapOption::empty(),
            dirty: RwLock::new(HashSet::new()),
        }
    }

    pub fn version(&self) -> Option<i64> {
        self.current.load().as_ref().map(|s| s.version)
    }

    pub fn note_new_events(&self, users: &[String]) {
        let mut d = self.dirty.write().unwrap();
        d.extend(users.iter().cloned());
    }

    pub fn note_course(&self, _course: &Course) {}

    pub fn remove_course(&self, _id: &str) {}

    pub fn forget_user(&self, id: &str) -> bool {
        self.dirty.write().unwrap().remove(id)
    }
}
