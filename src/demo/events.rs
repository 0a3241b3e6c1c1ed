//! Simulated users and their event funnels.
//!
//! Each user belongs to a taste group and a kind of learner
//! ([`crate::marketing::learners::KINDS`]), and lives day by day from sign-up: active
//! on a day with the kind's chance (fading before a churner's churn day),
//! and buying on an active day with the kind's chance. A "touch" is one
//! look at a course: views, maybe a click and a cart; on a buying day the
//! last touch ends in a purchase, then watching and a rating, or (rarely)
//! a refund. Bargain hunters buy the cheapest of the courses they compare
//! and leave carts behind; churners watch less, rate lower and stop
//! watching when they stop coming.

use std::collections::HashSet;

use rand::Rng;
use rand_chacha::ChaCha8Rng;

pub use crate::domain::sample::weighted;
use crate::domain::{Course, EventType, Level, UserAttrs};

use super::GROUPS;
use crate::marketing::learners::Kind;

const MINUTE: i64 = 60_000;
const DAY: i64 = 86_400_000;

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
    /// Price of each course (catalog order), cents.
    price_cents: Vec<i64>,
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
            price_cents: courses.iter().map(|c| c.price_cents).collect(),
        }
    }

    fn pick(&self, cat: usize, rng: &mut ChaCha8Rng) -> usize {
        let shelf = &self.by_category[cat];
        shelf[weighted(rng, &self.popularity[..shelf.len()])]
    }

    /// The cheapest of three picks from `cat`: how a bargain hunter buys.
    fn pick_cheap(&self, cat: usize, rng: &mut ChaCha8Rng) -> usize {
        (0..3)
            .map(|_| self.pick(cat, rng))
            .min_by_key(|&c| self.price_cents[c])
            .expect("three picks")
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

/// What one simulated user did: attributes, and events (ts may lie up to
/// `future_days` after `now_ms`; the caller splits past from future).
pub struct Simulated {
    pub attrs: UserAttrs,
    pub events: Vec<RawEvent>,
}

/// Attributes and events of one user of taste `group` and learner `kind`,
/// from sign-up (10–89 days before `now_ms`) to `future_days` after it.
pub fn simulate_user(
    rng: &mut ChaCha8Rng,
    group: usize,
    kind: &Kind,
    activity_scale: f64,
    shelves: &Shelves,
    now_ms: i64,
    future_days: i32,
) -> Simulated {
    let favoured = GROUPS[group].1;
    let cat_ix = |name: &str| shelves.categories.iter().position(|c| c == name).unwrap_or(0);
    // Per-user taste: the group's weights with some personal jitter.
    let prefs: Vec<(usize, f64)> = favoured
        .iter()
        .map(|(c, w)| (cat_ix(c), w * (0.3 * normal(rng)).exp()))
        .collect();
    let pref_weights: Vec<f64> = prefs.iter().map(|p| p.1).collect();
    let explore = rng.random_range(0.10..0.20);
    // Days are counted from now: day −1 is the last full day before it.
    let signup = -rng.random_range(10..=89);
    // Churn days spread over the 60 days before now and the 28 after,
    // however far the simulation runs.
    let churn_day = kind.churn_day(rng, 0, 28);
    let scale = (0.5 * normal(rng)).exp().clamp(0.3, 2.5);
    let (p_click, p_cart) = if kind.bargain { (0.6, 0.6) } else { (0.5, 0.3) };
    let end_ms = now_ms + i64::from(future_days) * DAY;

    let mut events = Vec::new();
    let mut owned = HashSet::new();
    for day in signup..future_days {
        // Everyone is active on sign-up day, looking around a little more.
        let first = day == signup;
        if !first && rng.random::<f64>() >= kind.activity(day, churn_day, scale) {
            continue;
        }
        let buys = rng.random::<f64>() < (kind.buy * scale).min(1.0);
        let base = if first {
            3
        } else {
            1 + usize::from(rng.random::<f64>() < 0.5) + usize::from(rng.random::<f64>() < 0.2)
        };
        let touches = ((base as f64 * activity_scale).round() as usize).max(1);
        // Day start plus a random time of day, minutes apart per touch.
        let mut t = now_ms + i64::from(day) * DAY + rng.random_range(0..20 * 60) * MINUTE;
        for n in 0..touches {
            let liked = first || rng.random::<f64>() >= explore;
            let cat = if liked {
                prefs[weighted(rng, &pref_weights)].0
            } else {
                rng.random_range(0..shelves.categories.len())
            };
            let buying = buys && n + 1 == touches;
            let mut c = if buying && kind.bargain {
                shelves.pick_cheap(cat, rng)
            } else {
                shelves.pick(cat, rng)
            };
            if buying {
                // Look again rather than buy a course owned already.
                for _ in 0..3 {
                    if !owned.contains(&c) {
                        break;
                    }
                    c = shelves.pick(cat, rng);
                }
            }
            for _ in 0..1 + usize::from(rng.random::<f64>() < 0.35) + usize::from(rng.random::<f64>() < 0.1) {
                events.push((c, EventType::View, None, t));
                t += rng.random_range(1..30) * MINUTE;
            }
            if !buying && rng.random::<f64>() >= p_click {
                continue;
            }
            events.push((c, EventType::Click, None, t));
            if rng.random::<f64>() < 0.1 {
                events.push((c, EventType::Favorite, None, t + MINUTE));
            }
            if !buying && rng.random::<f64>() >= p_cart {
                continue;
            }
            t += rng.random_range(1..60) * MINUTE;
            events.push((c, EventType::AddToCart, None, t));
            if !buying || owned.contains(&c) {
                continue;
            }
            t += rng.random_range(1..240) * MINUTE;
            events.push((c, EventType::Purchase, None, t));
            owned.insert(c);
            let refund = if kind.churning { 0.06 } else { 0.02 };
            if rng.random::<f64>() < refund {
                events.push((c, EventType::Refund, None, t + rng.random_range(1..7) * DAY));
                continue;
            }
            // Watching in sessions over the following days; a churner
            // stops watching when they stop coming.
            let (mut w, mut watched) = (t, 0.0);
            for _ in 0..rng.random_range(1..=5) {
                w += rng.random_range(60..5 * 1440) * MINUTE;
                let on = ((w - now_ms).div_euclid(DAY)) as i32;
                if kind.fade(on, churn_day) == 0.0 {
                    break;
                }
                watched = f64::min(1.0, watched + kind.watch * rng.random_range(0.4..1.6));
                events.push((c, EventType::Watch, Some((watched * 100.0f64).round() / 100.0), w));
            }
            if watched > 0.0 && rng.random::<f64>() < 0.5 {
                // Churners are the dissatisfied ones: they rate like strangers.
                let pleased = liked && !kind.churning;
                events.push((c, EventType::Rating, Some(rating(rng, pleased)), w + DAY));
            }
        }
    }
    // Nothing happens after the simulated future.
    events.retain(|e| e.3 < end_ms);

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
    Simulated { attrs, events }
}
