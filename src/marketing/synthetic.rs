//! Learners with planted purchase and churn hazards, for tests and
//! benchmarks: loyal buyers, bargain hunters, casual, churning and dormant
//! learners, simulated day by day past T so the future is known.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use super::features::{CourseInfo, DayRow};
use crate::domain::EventType;

/// Behaviour of a kind of learner: chance of activity on a day, chance of a
/// purchase on an active day, and whether activity fades to a churn day.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Kind {
    pub name: &'static str,
    pub share: f64,
    pub active: f64,
    pub buy: f64,
    pub churning: bool,
}

pub const KINDS: [Kind; 5] = [
    Kind {
        name: "loyal_buyer",
        share: 0.15,
        active: 0.45,
        buy: 0.07,
        churning: false,
    },
    Kind {
        name: "bargain_hunter",
        share: 0.2,
        active: 0.25,
        buy: 0.03,
        churning: false,
    },
    Kind {
        name: "casual",
        share: 0.35,
        active: 0.15,
        buy: 0.01,
        churning: false,
    },
    Kind {
        name: "churning",
        share: 0.15,
        active: 0.4,
        buy: 0.03,
        churning: true,
    },
    Kind {
        name: "dormant",
        share: 0.15,
        active: 0.02,
        buy: 0.01,
        churning: false,
    },
];

/// A simulated population and its ground truth.
pub struct Planted {
    /// Full histories, including days on and after `today`.
    pub histories: Vec<Vec<DayRow>>,
    pub courses: Vec<CourseInfo>,
    pub n_categories: usize,
    pub today: i32,
    /// Index into [`KINDS`] per learner.
    pub kind: Vec<usize>,
}

impl Planted {
    /// Histories cut at `today`: what the pipeline may see.
    pub fn seen(&self) -> Vec<Vec<DayRow>> {
        self.histories
            .iter()
            .map(|h| h.iter().filter(|r| r.day < self.today).cloned().collect())
            .collect()
    }

    /// The pipeline's input over `histories` (usually [`Planted::seen`]).
    pub fn data<'a>(&'a self, histories: &'a [Vec<DayRow>]) -> super::predict::LearnerData<'a> {
        super::predict::LearnerData {
            histories,
            courses: &self.courses,
            n_categories: self.n_categories,
            today: self.today,
        }
    }
}

/// `n` learners over the `history` days before `today` and `future` after.
pub fn generate(n: usize, seed: u64, today: i32, history: i32, future: i32) -> Planted {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let n_categories = 8;
    let courses: Vec<CourseInfo> = (0..80)
        .map(|c| CourseInfo {
            category: c % n_categories as u32,
            price_cents: 1000 + 500 * i64::from(c % 7),
        })
        .collect();
    let shares: Vec<f64> = KINDS.iter().map(|k| k.share).collect();
    let mut histories = Vec::with_capacity(n);
    let mut kinds = Vec::with_capacity(n);
    for _ in 0..n {
        let k = crate::domain::sample::weighted(&mut rng, &shares);
        let kind = KINDS[k];
        let start = today - rng.random_range(20..=history);
        // Churners fade out linearly over 30 days to a churn day around T.
        let churn_day = if kind.churning {
            today + rng.random_range(-60..future)
        } else {
            i32::MAX
        };
        let taste = rng.random_range(0..n_categories as u32);
        let scale = (0.4 * (rng.random::<f64>() - 0.5)).exp();
        let mut rows = Vec::new();
        for day in start..today + future {
            let fade = if kind.churning {
                (f64::from(churn_day - day) / 30.0).clamp(0.0, 1.0)
            } else {
                1.0
            };
            if rng.random::<f64>() >= kind.active * scale * fade {
                continue;
            }
            let pick = |rng: &mut ChaCha8Rng| {
                let cat = if rng.random::<f64>() < 0.8 {
                    taste
                } else {
                    rng.random_range(0..8)
                };
                cat + 8 * rng.random_range(0..10)
            };
            let c = pick(&mut rng);
            rows.push(DayRow {
                day,
                course: c,
                kind: EventType::View,
                count: rng.random_range(1..4),
                value_max: 0.0,
            });
            if rng.random::<f64>() < kind.buy * scale {
                let c = pick(&mut rng);
                rows.push(DayRow {
                    day,
                    course: c,
                    kind: EventType::AddToCart,
                    count: 1,
                    value_max: 0.0,
                });
                rows.push(DayRow {
                    day,
                    course: c,
                    kind: EventType::Purchase,
                    count: 1,
                    value_max: 0.0,
                });
            } else if rng.random::<f64>() < 0.1 {
                rows.push(DayRow {
                    day,
                    course: c,
                    kind: EventType::AddToCart,
                    count: 1,
                    value_max: 0.0,
                });
            }
        }
        histories.push(rows);
        kinds.push(k);
    }
    Planted {
        histories,
        courses,
        n_categories,
        today,
        kind: kinds,
    }
}
