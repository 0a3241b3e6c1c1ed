//! Learners with planted purchase and churn hazards, for tests and
//! benchmarks: the kinds of [`super::learners`] (loyal buyers, bargain
//! hunters, casual, churning and dormant learners) as bare day rows,
//! simulated day by day past T so the future is known. The demo platform
//! simulates the same kinds with whole funnels, prices and watching.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use super::features::{CourseInfo, DayRow, Histories};
use crate::domain::EventType;

pub use super::learners::{Kind, KINDS};

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
    pub fn seen(&self) -> Histories {
        Histories::from_nested(
            self.histories
                .iter()
                .map(|h| h.iter().filter(|r| r.day < self.today).cloned().collect())
                .collect(),
        )
    }

    /// The pipeline's input over `histories` (usually [`Planted::seen`]).
    pub fn data<'a>(&'a self, histories: &'a Histories) -> super::predict::LearnerData<'a> {
        super::predict::LearnerData {
            histories,
            courses: &self.courses,
            n_categories: self.n_categories,
            today: self.today,
            // Everything before T is seen: the data end at T's start.
            cutoff_ms: i64::from(self.today) * crate::domain::DAY_MS,
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
        let churn_day = kind.churn_day(&mut rng, today, future);
        let taste = rng.random_range(0..n_categories as u32);
        let scale = (0.4 * (rng.random::<f64>() - 0.5)).exp();
        let mut rows = Vec::new();
        for day in start..today + future {
            if rng.random::<f64>() >= kind.activity(day, churn_day, scale) {
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
                last_ms: 0,
            });
            if rng.random::<f64>() < kind.buy * scale {
                let c = pick(&mut rng);
                rows.push(DayRow {
                    day,
                    course: c,
                    kind: EventType::AddToCart,
                    count: 1,
                    value_max: 0.0,
                    last_ms: 0,
                });
                rows.push(DayRow {
                    day,
                    course: c,
                    kind: EventType::Purchase,
                    count: 1,
                    value_max: 0.0,
                    last_ms: 0,
                });
            } else if rng.random::<f64>() < 0.1 {
                rows.push(DayRow {
                    day,
                    course: c,
                    kind: EventType::AddToCart,
                    count: 1,
                    value_max: 0.0,
                    last_ms: 0,
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

/// Forecasts beside what happened after T, for learners with history
/// before T: purchase (probability, bought in [T, T+H)), churn
/// (probability, no activity in [T, T+H); learners active in the D days
/// before T) and spend (cents forecast over 90 days, cents spent at list
/// price in [T, T+90)).
#[derive(Debug, Default)]
pub struct Outcomes {
    pub purchase: (Vec<f64>, Vec<bool>),
    pub churn: (Vec<f64>, Vec<bool>),
    pub spend: (Vec<f64>, Vec<f64>),
}

/// The published forecasts `p` against the planted future. `index(u)`:
/// where learner `u` of `planted` is in `p` (`None`: not scored).
pub fn outcomes(
    planted: &Planted,
    p: &super::predict::Predictions,
    s: &super::MarketingSettings,
    index: impl Fn(usize) -> Option<usize>,
) -> Outcomes {
    use super::features::{labels, History};
    let active = s.activity_mask();
    let h = s.horizon_days as i32;
    let mut out = Outcomes::default();
    for (u, rows) in planted.histories.iter().enumerate() {
        let full = History {
            rows,
            active: &active,
        };
        let Some(i) = index(u) else { continue };
        if full.last_active(planted.today).is_none() {
            continue;
        }
        let (bought, churned) = labels(
            &full,
            planted.today,
            h,
            s.churn_window_days as i32,
            &planted.courses,
        );
        out.purchase.0.push(f64::from(p.purchase[i]));
        out.purchase.1.push(bought);
        if let Some(c) = churned {
            out.churn.0.push(f64::from(p.churn[i]));
            out.churn.1.push(c);
        }
        let spent = full.purchases_between(planted.today, planted.today + 90, &planted.courses);
        out.spend.0.push(p.spend_cents[i] as f64);
        out.spend.1.push(spent.1 as f64);
    }
    out
}

/// Baselines for the same comparison: the recency–frequency models of
/// [`super::predict::latest_baselines`] as of T, and the trailing 90 days'
/// spend as the spend forecast. Returned in the shape of [`Outcomes`]
/// (outcomes identical, forecasts the baselines').
pub fn baseline_outcomes(planted: &Planted, s: &super::MarketingSettings) -> Outcomes {
    use super::features::{features, labels, History};
    let seen = planted.seen();
    let (purchase, churn) = super::predict::latest_baselines(&planted.data(&seen), s);
    let active = s.activity_mask();
    let (h, window) = (s.horizon_days as i32, s.churn_window_days as i32);
    let mut out = Outcomes::default();
    for rows in &planted.histories {
        let full = History {
            rows,
            active: &active,
        };
        let Some(f) = features(&full, planted.today, &planted.courses, planted.n_categories, None) else {
            continue;
        };
        if full.last_active(planted.today).is_none() {
            continue;
        }
        let (bought, churned) = labels(&full, planted.today, h, window, &planted.courses);
        out.purchase.0.push(purchase.predict(&f));
        out.purchase.1.push(bought);
        if let Some(c) = churned {
            out.churn.0.push(churn.predict(&f));
            out.churn.1.push(c);
        }
        let t = planted.today;
        out.spend
            .0
            .push(full.purchases_between(t - 90, t, &planted.courses).1 as f64);
        out.spend
            .1
            .push(full.purchases_between(t, t + 90, &planted.courses).1 as f64);
    }
    out
}
