//! One learner's list as `/recommend` serves it, with everything beyond
//! the model: dismissals, fatigue, the rules for their segment and
//! exploration seeded per learner and day. The batch export builds the
//! same lists through here.

use super::recommend::{recommend, Context, Listed, Query, Who};
use super::snapshot::ModelSnapshot;
use super::user_view::UserView;
use super::Live;
use crate::domain::DAY_MS;
use crate::exploration::daily_seed;
use crate::rules::engine::Fatigue;

/// How lists are shaped beyond the query.
#[derive(Debug, Clone, Copy)]
pub struct Shaping {
    /// Share of slots explored (0 off).
    pub exploration: f64,
    /// Apply merchandising rules.
    pub rules: bool,
    /// The time the list is for (rule windows, fatigue, the day's seed).
    pub now_ms: i64,
}

/// The learner's list under `q` at `shaping.now_ms`.
pub fn learner_list(
    live: &Live,
    snap: &ModelSnapshot,
    view: &UserView,
    who: &Who,
    user: &str,
    q: &Query,
    shaping: Shaping,
) -> Listed {
    let now_ms = shaping.now_ms;
    let c = &snap.courses;
    let (dismissed, segment): (&[u32], Option<u32>) = match view {
        UserView::Known(i) => (snap.users.dismissed_row(*i), snap.users.segment_of(*i)),
        UserView::Folded(f) => (&f.dismissed, None),
        UserView::Unknown => (&[], None),
    };
    let mut fatigued: Vec<u32> = live
        .fatigue
        .fatigued(user, now_ms)
        .iter()
        .filter_map(|id| c.index.get(id).copied())
        .collect();
    fatigued.sort_unstable();
    let rules = match shaping.rules {
        true => live.rules.compiled(&snap.courses, segment, now_ms),
        false => std::sync::Arc::default(),
    };
    let ctx = Context {
        dismissed,
        fatigue: Fatigue {
            courses: &fatigued,
            penalty: live.fatigue.settings.penalty,
        },
        rules: &rules,
        exploration: (shaping.exploration > 0.0)
            .then(|| (shaping.exploration, daily_seed(user, now_ms.div_euclid(DAY_MS)))),
    };
    recommend(snap, who, q, &ctx)
}
