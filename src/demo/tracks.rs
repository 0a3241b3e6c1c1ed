//! The demo's learning tracks: every topic's intermediate course requires
//! its beginner course and its advanced course the intermediate one, and
//! track learners follow a planted habit per category, an order most of
//! them take without being required to. The habits and each track
//! learner's sequence are kept as ground truth for tests.

use std::collections::HashSet;

use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::domain::{Course, Event, EventType, Level};

const DAY: i64 = 86_400_000;
const MINUTE: i64 = 60_000;
/// Chance that a track learner takes the habit's next course rather than
/// another course of the track they are ready for.
pub const FOLLOW_HABIT: f64 = 0.8;

/// A track learner's planted sequence (course indices, in order).
#[derive(Debug, Clone, PartialEq)]
pub struct TrackLearner {
    pub user_id: String,
    pub category: String,
    pub sequence: Vec<usize>,
}

/// What [`generate`] makes.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Tracks {
    /// (category, the habit's course indices in order), in catalog order.
    pub habits: Vec<(String, Vec<usize>)>,
    pub learners: Vec<TrackLearner>,
    /// Their events, sorted by time, ids "t0000001"…; before `now_ms`.
    pub events: Vec<Event>,
}

/// Sets the prerequisites of `courses` (the demo catalog: each topic's
/// beginner, intermediate and advanced courses in a row).
pub fn add_prerequisites(courses: &mut [Course]) {
    for i in 0..courses.len() {
        let needs = match courses[i].level {
            Level::Beginner => None,
            _ if i == 0 => None,
            _ => Some(courses[i - 1].id.clone()),
        };
        courses[i].prerequisites = needs.into_iter().collect();
    }
}

/// Each category's habit: the beginner courses of three topics, the
/// intermediate courses of the first two, then the first topic's advanced
/// course (levels never go down, each course comes after its prerequisite,
/// and only the last step is advanced). Topics drawn by `rng`.
fn habits(courses: &[Course], rng: &mut ChaCha8Rng) -> Vec<(String, Vec<usize>)> {
    let mut cats: Vec<&str> = Vec::new();
    for c in courses {
        if !cats.contains(&c.category.as_str()) {
            cats.push(&c.category);
        }
    }
    cats.iter()
        .map(|&cat| {
            // Topics are runs of three (beginner, intermediate, advanced).
            let firsts: Vec<usize> = (0..courses.len())
                .filter(|&i| courses[i].category == cat && courses[i].level == Level::Beginner)
                .filter(|&i| i + 2 < courses.len() && courses[i + 1..=i + 2].iter().all(|c| c.active))
                .filter(|&i| courses[i].active)
                .collect();
            let mut topics = firsts.clone();
            topics.shuffle(rng);
            let (a, b, c) = (topics[0], topics[1], topics[2]);
            (cat.to_string(), vec![a, b, c, a + 1, b + 1, a + 2])
        })
        .collect()
}

/// `n` track learners over `courses` (prerequisites set), each starting 20
/// to 85 days before `now_ms` and taking 2 to 6 courses of one category a
/// few days apart; only what happens before `now_ms` is kept.
pub fn generate(courses: &[Course], n: usize, seed: u64, now_ms: i64) -> Tracks {
    let mut rng = ChaCha8Rng::seed_from_u64(seed ^ 0x7ac5);
    let habits = habits(courses, &mut rng);
    // Some tracks are more popular than others.
    let weights: Vec<f64> = (0..habits.len()).map(|k| 1.0 / (1.0 + k as f64 * 0.3)).collect();
    let index: std::collections::HashMap<&str, usize> = courses
        .iter()
        .enumerate()
        .map(|(i, c)| (c.id.as_str(), i))
        .collect();
    let ready = |i: usize, owned: &HashSet<usize>| {
        courses[i]
            .prerequisites
            .iter()
            .all(|p| index.get(p.as_str()).is_none_or(|j| owned.contains(j)))
    };
    let mut learners = Vec::with_capacity(n);
    let mut raw: Vec<(usize, usize, EventType, Option<f64>, i64)> = Vec::new();
    for u in 0..n {
        let mut urng = ChaCha8Rng::seed_from_u64(seed ^ 0x7ac5);
        urng.set_stream(u as u64 + 1);
        let track = crate::domain::sample::weighted(&mut urng, &weights);
        let (category, habit) = &habits[track];
        let in_track: Vec<usize> = (0..courses.len())
            .filter(|&i| &courses[i].category == category && courses[i].active)
            .collect();
        let steps = urng.random_range(2..=6);
        let mut owned = HashSet::new();
        let mut sequence = Vec::new();
        let mut t = now_ms - urng.random_range(20..=85) * DAY + urng.random_range(0..600) * MINUTE;
        for _ in 0..steps {
            let planned = habit
                .iter()
                .copied()
                .find(|&c| !owned.contains(&c) && ready(c, &owned));
            let others: Vec<usize> = in_track
                .iter()
                .copied()
                .filter(|&c| !owned.contains(&c) && ready(c, &owned) && Some(c) != planned)
                .collect();
            let c = match planned {
                Some(p) if urng.random::<f64>() < FOLLOW_HABIT || others.is_empty() => p,
                _ if !others.is_empty() => others[urng.random_range(0..others.len())],
                _ => break,
            };
            if t >= now_ms {
                break;
            }
            raw.push((u, c, EventType::View, None, t));
            raw.push((u, c, EventType::Click, None, t + 2 * MINUTE));
            raw.push((u, c, EventType::AddToCart, None, t + 10 * MINUTE));
            raw.push((u, c, EventType::Purchase, None, t + 30 * MINUTE));
            let w = t + urng.random_range(1..3) * DAY;
            raw.push((
                u,
                c,
                EventType::Watch,
                Some(urng.random_range(0.5..1.0f64).min(1.0)),
                w,
            ));
            if urng.random::<f64>() < 0.5 {
                raw.push((
                    u,
                    c,
                    EventType::Rating,
                    Some(urng.random_range(4..=5) as f64),
                    w + DAY,
                ));
            }
            owned.insert(c);
            sequence.push(c);
            t += urng.random_range(3..=10) * DAY + urng.random_range(0..600) * MINUTE;
        }
        learners.push(TrackLearner {
            user_id: format!("t{u:05}"),
            category: category.clone(),
            sequence,
        });
    }
    raw.retain(|e| e.4 < now_ms);
    raw.sort_by_key(|e| e.4);
    let events = raw
        .iter()
        .enumerate()
        .map(|(k, &(u, c, kind, value, ts_ms))| Event {
            event_id: Some(format!("t{:07}", k + 1)),
            user_id: learners[u].user_id.clone(),
            course_id: courses[c].id.clone(),
            kind,
            value,
            ts_ms,
            rec_id: None,
        })
        .collect();
    Tracks {
        habits,
        learners,
        events,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn habits_respect_prerequisites_and_levels() {
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        let mut courses = super::super::catalog::courses(&mut rng);
        add_prerequisites(&mut courses);
        let tracks = generate(&courses, 300, 42, 100 * DAY);
        assert_eq!(tracks.habits.len(), 14);
        for (cat, habit) in &tracks.habits {
            let levels: Vec<Level> = habit.iter().map(|&i| courses[i].level).collect();
            assert!(
                levels.windows(2).all(|w| w[0] as u8 <= w[1] as u8),
                "{cat}: {levels:?}"
            );
            for (k, &i) in habit.iter().enumerate() {
                for p in &courses[i].prerequisites {
                    assert!(
                        habit[..k].iter().any(|&j| &courses[j].id == p),
                        "{cat}: {p} before {i}"
                    );
                }
            }
        }
        // Most learners follow the habit's first two steps.
        let followed = tracks
            .learners
            .iter()
            .filter(|l| l.sequence.len() >= 2)
            .filter(|l| {
                let habit = &tracks.habits.iter().find(|h| h.0 == l.category).unwrap().1;
                l.sequence[..2] == habit[..2]
            })
            .count();
        let with_two = tracks.learners.iter().filter(|l| l.sequence.len() >= 2).count();
        assert!(
            followed as f64 > 0.5 * with_two as f64,
            "{followed} of {with_two}"
        );
        assert!(tracks.events.windows(2).all(|w| w[0].ts_ms <= w[1].ts_ms));
    }
}
