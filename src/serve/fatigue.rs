//! Fatigue: a course served to a learner `max_impressions` times within
//! `days` without a positive event on it (click, favourite, cart, watch,
//! rating, purchase) is demoted in that learner's lists.
//!
//! Counts live in memory, per replica: a bounded cache of learners (least
//! useful evicted past `cache_bytes`), each with at most
//! [`MAX_TRACKED`] courses (the oldest window dropped first), so memory is
//! bounded whatever the traffic. A window opens at a course's first
//! impression and lasts `days`; the next impression after it opens a new
//! one. A restart starts counting afresh: fatigue is a nudge, not a record.

use std::sync::{Arc, Mutex};

use crate::domain::DAY_MS;

/// Courses tracked per learner; past it the oldest window is dropped.
pub const MAX_TRACKED: usize = 32;

pub use crate::config::FatigueSettings;

/// One course's impressions in its current window.
#[derive(Debug, Clone, PartialEq)]
pub struct Seen {
    pub course_id: String,
    pub count: u32,
    /// Start of the window (first impression in it), ms since the epoch.
    pub since_ms: i64,
}

/// The courses one learner was served, by window.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Impressions(pub Vec<Seen>);

impl Impressions {
    /// Counts one impression of each of `courses` at `now_ms`.
    pub fn served(&mut self, courses: &[&str], now_ms: i64, window_ms: i64) {
        for &c in courses {
            match self.0.iter_mut().find(|s| s.course_id == c) {
                Some(s) if now_ms - s.since_ms >= window_ms => {
                    s.count = 1;
                    s.since_ms = now_ms;
                }
                Some(s) => s.count += 1,
                None => {
                    if self.0.len() >= MAX_TRACKED {
                        let oldest = (0..self.0.len())
                            .min_by_key(|&i| self.0[i].since_ms)
                            .expect("not empty");
                        self.0.swap_remove(oldest);
                    }
                    self.0.push(Seen {
                        course_id: c.to_string(),
                        count: 1,
                        since_ms: now_ms,
                    });
                }
            }
        }
    }

    /// Forgets a course's count (a positive event on it).
    pub fn engaged(&mut self, course: &str) {
        self.0.retain(|s| s.course_id != course);
    }

    /// The courses at `max` impressions or more in an open window.
    pub fn fatigued(&self, max: u32, now_ms: i64, window_ms: i64) -> impl Iterator<Item = &str> {
        self.0
            .iter()
            .filter(move |s| max > 0 && s.count >= max && now_ms - s.since_ms < window_ms)
            .map(|s| s.course_id.as_str())
    }
}

/// Estimated bytes of one tracked learner when full (fixed, so the cache's
/// bound holds as the list fills).
fn learner_bytes(key: &str) -> u64 {
    (key.len() + MAX_TRACKED * 72 + 160) as u64
}

#[derive(Clone)]
struct Bytes;

impl quick_cache::Weighter<String, Arc<Mutex<Impressions>>> for Bytes {
    fn weight(&self, key: &String, _: &Arc<Mutex<Impressions>>) -> u64 {
        learner_bytes(key)
    }
}

/// Every learner's impression counts on this replica.
pub struct FatigueTracker {
    pub settings: FatigueSettings,
    learners: quick_cache::sync::Cache<String, Arc<Mutex<Impressions>>, Bytes>,
}

impl FatigueTracker {
    pub fn new(settings: FatigueSettings) -> FatigueTracker {
        let per = learner_bytes("a typical learner id");
        let items = (settings.cache_bytes / per).clamp(16, 1 << 22) as usize;
        FatigueTracker {
            learners: quick_cache::sync::Cache::with_weighter(items, settings.cache_bytes.max(1), Bytes),
            settings,
        }
    }

    pub fn enabled(&self) -> bool {
        self.settings.max_impressions > 0
    }

    fn window_ms(&self) -> i64 {
        i64::from(self.settings.days) * DAY_MS
    }

    /// Counts a served list.
    pub fn served(&self, user: &str, courses: &[&str], now_ms: i64) {
        if !self.enabled() || courses.is_empty() {
            return;
        }
        let row = self
            .learners
            .get_or_insert_with(user, || Ok::<_, ()>(Arc::default()))
            .expect("infallible");
        row.lock().unwrap().served(courses, now_ms, self.window_ms());
    }

    /// Clears a course for a learner after a positive event.
    pub fn engaged(&self, user: &str, course: &str) {
        if let Some(row) = self.learners.get(user) {
            row.lock().unwrap().engaged(course);
        }
    }

    /// The learner's fatigued course ids now.
    pub fn fatigued(&self, user: &str, now_ms: i64) -> Vec<String> {
        if !self.enabled() {
            return vec![];
        }
        let Some(row) = self.learners.get(user) else {
            return vec![];
        };
        let row = row.lock().unwrap();
        row.fatigued(self.settings.max_impressions, now_ms, self.window_ms())
            .map(str::to_string)
            .collect()
    }

    /// Forgets a learner (erasure).
    pub fn forget(&self, user: &str) {
        self.learners.remove(user);
    }

    /// Learners tracked.
    pub fn len(&self) -> usize {
        self.learners.len()
    }

    pub fn is_empty(&self) -> bool {
        self.learners.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const W: i64 = 14 * DAY_MS;

    #[test]
    fn a_course_is_fatigued_at_the_limit_within_its_window() {
        let mut imp = Impressions::default();
        for t in 0..4 {
            imp.served(&["a", "b"], t, W);
        }
        assert_eq!(imp.fatigued(5, 10, W).count(), 0);
        imp.served(&["a"], 5, W);
        assert_eq!(imp.fatigued(5, 10, W).collect::<Vec<_>>(), ["a"]);
        // The window closes: no longer fatigued, and the next impression
        // opens a new window.
        assert_eq!(imp.fatigued(5, W, W).count(), 0);
        imp.served(&["a"], W + 1, W);
        assert_eq!(imp.0[0].count, 1);
        // A positive event clears it.
        imp.engaged("b");
        assert_eq!(imp.0.len(), 1);
        assert_eq!(imp.fatigued(0, 10, W).count(), 0, "0 turns it off");
    }

    #[test]
    fn each_learner_tracks_at_most_max_tracked_courses() {
        let mut imp = Impressions::default();
        let ids: Vec<String> = (0..MAX_TRACKED + 5).map(|i| format!("c{i}")).collect();
        for (t, id) in ids.iter().enumerate() {
            imp.served(&[id], t as i64, W);
        }
        assert_eq!(imp.0.len(), MAX_TRACKED);
        assert!(
            !imp.0.iter().any(|s| s.course_id == "c0"),
            "the oldest went first"
        );
    }

    #[test]
    fn the_tracker_stays_within_its_bytes() {
        let t = FatigueTracker::new(FatigueSettings {
            cache_bytes: 64 << 10,
            ..FatigueSettings::default()
        });
        for u in 0..10_000 {
            t.served(&format!("learner-{u}"), &["a"], 0);
        }
        assert!(
            t.len() as u64 * learner_bytes("learner-0000") <= 64 << 10,
            "{}",
            t.len()
        );
        t.served("x", &["a"; 5], 0);
        assert_eq!(t.fatigued("x", 1), ["a"]);
        t.engaged("x", "a");
        assert!(t.fatigued("x", 1).is_empty());
    }
}
