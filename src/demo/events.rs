//! Simulated users and their event funnels.
//!
//! Each user belongs to a taste group and an activity level. A "touch" is
//! one look at a course: views, maybe a click, cart, purchase, then watch
//! progress and a rating, or (rarely) a refund.

use std::collections::HashSet;

use rand::Rng;
use rand_chacha::ChaCha8Rng;

pub use crate::domain::sample::weighted;
use crate::domain::{Course, EventType, Level, UserAttrs};

use super::GROUPS;

const MINUTE: i64 = 60_000;
const DAY: i64 = 86_400_000;

/// Activity level: how much a user looks around and how readily they buy.
#[derive(Debug, Clone, Copy)]
pub struct Activity {
    pub touches: (u32, u32),
    pub p_click: f64,
    pub p_cart: f64,
    pub p_purchase: f64,
}

/// Casual browsers, regular learners, heavy buyers and their shares.
pub const ACTIVITIES: [(f64, Activity); 3] = [
    (
        0.45,
        Activity {
            touches: (8, 16),
            p_click: 0.35,
            p_cart: 0.15,
            p_purchase: 0.3,
        },
    ),
    (
        0.40,
        Activity {
            touches: (15, 35),
            p_click: 0.5,
            p_cart: 0.3,
            p_purchase: 0.5,
        },
    ),
    (
        0.15,
        Activity {
            touches: (30, 60),
            p_click: 0.65,
            p_cart: 0.5,
            p_purchase: 0.75,
        },
    ),
];

/// One event before ids are attached: (course index, type, value, ts).
pub type RawEvent = (usize, EventType, Option<f64>, i64);

/// Standard normal via Box–Muller (keeps rand_distr out of the build).
fn normal(rng: &mut ChaCha8Rng) -> f64 {
    let u: f64 = rng.random_range(f64::EPSILON..1.0);
    (-2.0 * u.ln()).sqrt() * (std::f64::consts::TAU * rng.random::<f64>()).cos()
}

/// Courses of each category (indices into the catalog), most popular first;
/// popularity within a category falls off like 1/rank.
pub struct Shelves {
    pub categories: Vec<String>,
    pub by_category: Vec<Vec<usize>>,
    popularity: Vec<f64>,
}

impl Shelves {
    pub fn new(courses: &[Course], rng: &mut ChaCha8Rng) -> Shelves {
        let mut categories: Vec<String> = courses.iter().map(|c| c.category.clone()).collect();
        categories.dedup();
        let by_category: Vec<Vec<usize>> = categories
            .iter()
            .map(|cat| {
                let mut v: Vec<usize> = (0..courses.len())
                    .filter(|&i| &courses[i].category == cat)
                    .collect();
                // Shuffle so popularity is not tied to catalog order.
                for i in (1..v.len()).rev() {
                    v.swap(i, rng.random_range(0..=i));
                }
                v
            })
            .collect();
        let longest = by_category.iter().map(Vec::len).max().unwrap_or(0);
        let popularity = (0..longest).map(|r| 1.0 / (r as f64 + 1.0).powf(0.8)).collect();
        Shelves {
            categories,
            by_category,
            popularity,
        }
    }

    fn pick(&self, cat: usize, rng: &mut ChaCha8Rng) -> usize {
        let shelf = &self.by_category[cat];
        shelf[weighted(rng, &self.popularity[..shelf.len()])]
    }
}

/// Rating 1–5: mostly 4–5 in liked categories, spread out elsewhere.
fn rating(rng: &mut ChaCha8Rng, liked: bool) -> f64 {
    let w: &[f64] = if liked {
        &[0.01, 0.02, 0.07, 0.35, 0.55]
    } else {
        &[0.08, 0.15, 0.3, 0.3, 0.17]
    };
    (weighted(rng, w) + 1) as f64
}

/// Attributes and events of one user of taste `group`.
pub fn simulate_user(
    rng: &mut ChaCha8Rng,
    group: usize,
    activity_scale: f64,
    shelves: &Shelves,
    now_ms: i64,
) -> (UserAttrs, Vec<RawEvent>) {
    let (_, act) = ACTIVITIES[weighted(rng, &ACTIVITIES.map(|a| a.0))];
    let favoured = GROUPS[group].1;
    let cat_ix = |name: &str| shelves.categories.iter().position(|c| c == name).unwrap_or(0);
    // Per-user taste: the group's weights with some personal jitter.
    let prefs: Vec<(usize, f64)> = favoured
        .iter()
        .map(|(c, w)| (cat_ix(c), w * (0.3 * normal(rng)).exp()))
        .collect();
    let pref_weights: Vec<f64> = prefs.iter().map(|p| p.1).collect();
    let explore = rng.random_range(0.10..0.20);
    // One in five users has lapsed: their activity ended 40–85 days ago.
    let end = if rng.random::<f64>() < 0.2 {
        now_ms - rng.random_range(40..85) * DAY
    } else {
        now_ms - rng.random_range(0..8 * DAY)
    };
    let start = (end - rng.random_range(10..80) * DAY).max(now_ms - 89 * DAY);
    let touches = (f64::from(rng.random_range(act.touches.0..=act.touches.1)) * activity_scale)
        .round()
        .max(1.0) as u32;

    let mut events = Vec::new();
    let mut owned = HashSet::new();
    for _ in 0..touches {
        let liked = rng.random::<f64>() >= explore;
        let cat = if liked {
            prefs[weighted(rng, &pref_weights)].0
        } else {
            rng.random_range(0..shelves.categories.len())
        };
        let c = shelves.pick(cat, rng);
        let mut t = rng.random_range(start..=end);
        for _ in 0..1 + usize::from(rng.random::<f64>() < 0.35) + usize::from(rng.random::<f64>() < 0.1) {
            events.push((c, EventType::View, None, t));
            t += rng.random_range(1..600) * MINUTE;
        }
        if rng.random::<f64>() >= act.p_click {
            continue;
        }
        events.push((c, EventType::Click, None, t));
        if rng.random::<f64>() < 0.1 {
            events.push((c, EventType::Favorite, None, t + MINUTE));
        }
        if rng.random::<f64>() >= act.p_cart {
            continue;
        }
        t += rng.random_range(1..120) * MINUTE;
        events.push((c, EventType::AddToCart, None, t));
        if owned.contains(&c) || rng.random::<f64>() >= act.p_purchase {
            continue;
        }
        t += rng.random_range(1..2880) * MINUTE;
        events.push((c, EventType::Purchase, None, t));
        owned.insert(c);
        if rng.random::<f64>() < 0.025 {
            events.push((c, EventType::Refund, None, t + rng.random_range(1..7) * DAY));
            continue;
        }
        let mut watched = 0.0;
        for _ in 0..rng.random_range(1..=5) {
            t += rng.random_range(60..5 * 1440) * MINUTE;
            watched = f64::min(1.0, watched + rng.random_range(0.05..0.4));
            events.push((c, EventType::Watch, Some((watched * 100.0f64).round() / 100.0), t));
        }
        if rng.random::<f64>() < 0.5 {
            events.push((c, EventType::Rating, Some(rating(rng, liked)), t + DAY));
        }
    }
    // Follow-ups (watching, refunds) never happen in the future.
    events.iter_mut().for_each(|e| e.3 = e.3.min(now_ms - MINUTE));

    let mut attrs = UserAttrs::default();
    if rng.random::<f64>() < 0.35 {
        let mut by_weight: Vec<&(&str, f64)> = favoured.iter().collect();
        by_weight.sort_by(|a, b| b.1.total_cmp(&a.1));
        let n = rng.random_range(1..=2);
        attrs.interests = by_weight.iter().take(n).map(|(c, _)| c.to_string()).collect();
    }
    if rng.random::<f64>() < 0.5 {
        attrs.level = Some([Level::Beginner, Level::Intermediate, Level::Advanced][rng.random_range(0..3)]);
    }
    (attrs, events)
}
