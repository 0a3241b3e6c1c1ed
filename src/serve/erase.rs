//! Erasure from a snapshot: a copy without some users. The learner table
//! drops their row from every per-learner column at once, and the segment
//! sizes are recounted from the rows left, so a persisted snapshot never
//! keeps an erased user until newer trainings replace it.

use std::collections::HashSet;
use std::sync::Arc;

use super::snapshot::ModelSnapshot;

impl ModelSnapshot {
    /// This snapshot without the users named in `drop` (same version);
    /// `None` when it holds none of them.
    pub fn without_users(&self, drop: &HashSet<String>) -> Option<ModelSnapshot> {
        let users = self.users.without(drop)?;
        let segments = self.segments.as_ref().map(|s| {
            let mut s = (**s).clone();
            s.recount(users.segment.iter().flatten().copied());
            Arc::new(s)
        });
        let mut out = self.with_courses(self.courses.with_meta(self.courses.meta.clone()));
        out.users = Arc::new(users);
        out.segments = segments;
        Some(out)
    }
}
