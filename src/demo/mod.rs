//! Demo data for `serve --demo` and the ground truth of segmentation tests:
//! a catalog, users in planted taste groups with varied activity, and their
//! event funnels over the 90 days before `now_ms`. Same seed, same data.

pub mod catalog;
pub mod events;
#[cfg(test)]
mod segment_tests;
pub mod synthetic;
#[cfg(test)]
mod tests;

use std::collections::BTreeMap;

use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

use crate::domain::{Course, Event, TypeAgg, UserAttrs};

/// Seed of the demo data, so every demo shows the same platform.
pub const DEMO_SEED: u64 = 42;

/// Taste groups: name and (category, weight) of the categories it favours.
/// Groups share no category, so they stay separable whatever the activity.
pub const GROUPS: &[(&str, &[(&str, f64)])] = &[
    (
        "systems: rust + go + algorithms",
        &[("rust", 0.4), ("go", 0.35), ("algorithms", 0.25)],
    ),
    (
        "web: javascript + frontend + databases",
        &[("frontend", 0.4), ("javascript", 0.35), ("databases", 0.25)],
    ),
    (
        "data: python + ml + data-engineering",
        &[
            ("machine-learning", 0.4),
            ("python", 0.35),
            ("data-engineering", 0.25),
        ],
    ),
    (
        "ops: devops + cloud + security",
        &[("devops", 0.4), ("cloud", 0.35), ("security", 0.25)],
    ),
    ("mobile: mobile + java", &[("mobile", 0.6), ("java", 0.4)]),
];

/// Relative group sizes: unequal on purpose, like a real platform.
pub const GROUP_SIZES: [f64; 5] = [0.22, 0.25, 0.23, 0.17, 0.13];

/// How much demo data to make.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct DemoSize {
    pub users: usize,
    /// Multiplies every user's number of course looks.
    pub activity: f64,
}

impl Default for DemoSize {
    /// 5,000 users and about 270,000 events over 336 courses.
    fn default() -> Self {
        DemoSize {
            users: 5000,
            activity: 1.0,
        }
    }
}

impl DemoSize {
    /// A few hundred users, for quick tests.
    pub fn small() -> Self {
        DemoSize {
            users: 600,
            activity: 1.0,
        }
    }
}

/// Everything `generate` makes.
#[derive(Debug, Clone, PartialEq)]
pub struct DemoData {
    pub courses: Vec<Course>,
    pub users: Vec<(String, UserAttrs)>,
    /// Sorted by time; event ids "e0000001"… in that order.
    pub events: Vec<Event>,
    /// (user id, group index into `group_names`), in user order.
    pub taste_groups: Vec<(String, usize)>,
    pub group_names: Vec<String>,
}

/// Generates the demo data set.
pub fn generate(seed: u64, size: &DemoSize, now_ms: i64) -> DemoData {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let courses = catalog::courses(&mut rng);
    let shelves = events::Shelves::new(&courses, &mut rng);
    let mut users = Vec::with_capacity(size.users);
    let mut taste_groups = Vec::with_capacity(size.users);
    let mut raw = Vec::new();
    for u in 0..size.users {
        let id = format!("u{u:05}");
        let group = events::weighted(&mut rng, &GROUP_SIZES);
        let (attrs, evs) = events::simulate_user(&mut rng, group, size.activity, &shelves, now_ms);
        raw.extend(evs.into_iter().map(|e| (u, e)));
        users.push((id.clone(), attrs));
        taste_groups.push((id, group));
    }
    // Stable sort: ties keep generation order, so output is reproducible.
    raw.sort_by_key(|(_, e)| e.3);
    let events = raw
        .into_iter()
        .enumerate()
        .map(|(n, (u, (c, kind, value, ts_ms)))| Event {
            event_id: Some(format!("e{:07}", n + 1)),
            user_id: users[u].0.clone(),
            course_id: courses[c].id.clone(),
            kind,
            value,
            ts_ms,
            rec_id: None,
        })
        .collect();
    let group_names = GROUPS.iter().map(|g| g.0.to_string()).collect();
    DemoData {
        courses,
        users,
        events,
        taste_groups,
        group_names,
    }
}

/// Sums events per (user, course, type) as the store does, with 30/90-day
/// counts relative to `now_ms`. Rows come out sorted by that key.
pub fn aggregate(events: &[Event], now_ms: i64) -> Vec<TypeAgg> {
    let mut map: BTreeMap<(&str, &str, crate::domain::EventType), TypeAgg> = BTreeMap::new();
    for e in events {
        let v = e.value.unwrap_or(0.0);
        let a = map
            .entry((&e.user_id, &e.course_id, e.kind))
            .or_insert_with(|| TypeAgg {
                user_id: e.user_id.clone(),
                course_id: e.course_id.clone(),
                kind: e.kind,
                count: 0,
                value_sum: 0.0,
                value_max: f64::NEG_INFINITY,
                first_ts_ms: e.ts_ms,
                last_ts_ms: e.ts_ms,
                count_30d: 0,
                count_90d: 0,
            });
        a.count += 1;
        a.value_sum += v;
        a.value_max = a.value_max.max(v);
        a.first_ts_ms = a.first_ts_ms.min(e.ts_ms);
        a.last_ts_ms = a.last_ts_ms.max(e.ts_ms);
        a.count_30d += u32::from(now_ms - e.ts_ms <= 30 * 86_400_000);
        a.count_90d += u32::from(now_ms - e.ts_ms <= 90 * 86_400_000);
    }
    map.into_values().collect()
}
