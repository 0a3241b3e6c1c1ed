//! Demo data for `serve --demo` and the ground truth of segmentation and
//! marketing tests: a catalog, users in planted taste groups and kinds of
//! learner (loyal buyers, bargain hunters, casual, churning, dormant), and
//! their event funnels over the 90 days before `now_ms`, optionally with
//! the future that follows (for tests; never loaded). Same seed, same data.

pub mod campaigns;
pub mod catalog;
pub mod events;
#[cfg(test)]
mod segment_tests;
pub mod synthetic;
#[cfg(test)]
mod tests;
pub mod tracks;
pub mod truth;

use std::collections::BTreeMap;

use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

use crate::domain::{Course, Event, TypeAgg, UserAttrs};
use crate::marketing::learners::KINDS;

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
    /// Days simulated after `now_ms` into [`DemoData::future`] (0: none).
    pub future_days: u32,
    /// Learners who follow a track (see [`tracks`]), besides `users`.
    pub track_learners: usize,
}

impl Default for DemoSize {
    /// 5,000 users and about 250,000 events over 336 courses.
    fn default() -> Self {
        DemoSize {
            users: 5000,
            activity: 1.0,
            future_days: 0,
            track_learners: 800,
        }
    }
}

impl DemoSize {
    /// A few hundred users, for quick tests.
    pub fn small() -> Self {
        DemoSize {
            users: 600,
            track_learners: 300,
            ..DemoSize::default()
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
    /// (user id, index into [`KINDS`]), in user order: ground
    /// truth for tests, never stored or served.
    pub kinds: Vec<(String, usize)>,
    /// What the users do in the `future_days` after `now_ms`, sorted by
    /// time, ids "f0000001"…: ground truth for tests, never loaded.
    pub future: Vec<Event>,
    /// Track learners (ids "t00000"…, not in `users`), their events (loaded
    /// with `events`) and the planted habits.
    pub tracks: tracks::Tracks,
    /// Past campaigns with planted response types, and the purchases they
    /// caused (loaded with `events`).
    pub campaigns: campaigns::PastCampaigns,
}

/// Generates the demo data set. Each user draws from its own random
/// stream, so the past does not depend on `future_days`.
pub fn generate(seed: u64, size: &DemoSize, now_ms: i64) -> DemoData {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut courses = catalog::courses(&mut rng);
    tracks::add_prerequisites(&mut courses);
    let shelves = events::Shelves::new(&courses, &mut rng);
    let kind_shares: Vec<f64> = KINDS.iter().map(|k| k.share).collect();
    let mut users = Vec::with_capacity(size.users);
    let mut taste_groups = Vec::with_capacity(size.users);
    let mut kinds = Vec::with_capacity(size.users);
    let mut raw = Vec::new();
    for u in 0..size.users {
        let mut urng = ChaCha8Rng::seed_from_u64(seed);
        urng.set_stream(u as u64 + 1);
        let id = format!("u{u:05}");
        let group = events::weighted(&mut urng, &GROUP_SIZES);
        let kind = events::weighted(&mut urng, &kind_shares);
        let sim = events::simulate_user(
            &mut urng,
            group,
            &KINDS[kind],
            size.activity,
            &shelves,
            now_ms,
            size.future_days as i32,
        );
        raw.extend(sim.events.into_iter().map(|e| (u, e)));
        users.push((id.clone(), sim.attrs));
        taste_groups.push((id.clone(), group));
        kinds.push((id, kind));
    }
    // Stable sort: ties keep generation order, so output is reproducible.
    raw.sort_by_key(|(_, e)| e.3);
    let split = raw.partition_point(|(_, e)| e.3 < now_ms);
    let to_events = |part: &[(usize, events::RawEvent)], prefix: char| -> Vec<Event> {
        part.iter()
            .enumerate()
            .map(|(n, &(u, (c, kind, value, ts_ms)))| Event {
                event_id: Some(format!("{prefix}{:07}", n + 1)),
                user_id: users[u].0.clone(),
                course_id: courses[c].id.clone(),
                kind,
                value,
                ts_ms,
                rec_id: None,
            })
            .collect()
    };
    let (past, future) = raw.split_at(split);
    let (events, future) = (to_events(past, 'e'), to_events(future, 'f'));
    let group_names = GROUPS.iter().map(|g| g.0.to_string()).collect();
    let tracks = tracks::generate(&courses, size.track_learners, seed, now_ms);
    let campaigns = campaigns::generate(&kinds, &courses, &events, now_ms, seed);
    DemoData {
        tracks,
        campaigns,
        courses,
        users,
        events,
        taste_groups,
        group_names,
        kinds,
        future,
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
