//! Kinds of learner, the behaviours that make marketing measurable: loyal
//! buyers, bargain hunters, casual learners, churning and dormant ones.
//! One table drives both the demo platform (`crate::demo::events`) and the
//! compact day-row simulation of the marketing tests ([`super::synthetic`]),
//! so both plant the same hazards.

use rand::Rng;
use rand_chacha::ChaCha8Rng;

/// Behaviour of a kind of learner.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Kind {
    pub name: &'static str,
    /// Share of learners of this kind.
    pub share: f64,
    /// Chance of activity on a day (before any fading).
    pub active: f64,
    /// Chance of a purchase on an active day.
    pub buy: f64,
    /// Activity fades linearly to nothing over the [`FADE_DAYS`] before a
    /// churn day, and so does watching what was bought.
    pub churning: bool,
    /// Compares prices: buys the cheapest of a few courses it looks at and
    /// leaves carts behind (demo only; the day rows carry no prices).
    pub bargain: bool,
    /// Mean share of a bought course watched per session, 0..1 (demo only).
    pub watch: f64,
}

/// Days over which a churning learner's activity fades to nothing.
pub const FADE_DAYS: f64 = 30.0;

pub const KINDS: [Kind; 5] = [
    Kind {
        name: "loyal_buyer",
        share: 0.15,
        active: 0.45,
        buy: 0.07,
        churning: false,
        bargain: false,
        watch: 0.25,
    },
    Kind {
        name: "bargain_hunter",
        share: 0.2,
        active: 0.25,
        buy: 0.03,
        churning: false,
        bargain: true,
        watch: 0.15,
    },
    Kind {
        name: "casual",
        share: 0.35,
        active: 0.15,
        buy: 0.01,
        churning: false,
        bargain: false,
        watch: 0.15,
    },
    Kind {
        name: "churning",
        share: 0.15,
        active: 0.4,
        buy: 0.03,
        churning: true,
        bargain: false,
        watch: 0.08,
    },
    Kind {
        name: "dormant",
        share: 0.15,
        active: 0.02,
        buy: 0.01,
        churning: false,
        bargain: false,
        watch: 0.1,
    },
];

/// Index into [`KINDS`] of the kind called `name`.
pub fn kind_index(name: &str) -> Option<usize> {
    KINDS.iter().position(|k| k.name == name)
}

impl Kind {
    /// The day a learner of this kind stops for good, drawn from
    /// [today − 60, today + future) for churning kinds (one draw), else
    /// never (`i32::MAX`, no draw).
    pub fn churn_day(&self, rng: &mut ChaCha8Rng, today: i32, future: i32) -> i32 {
        if self.churning {
            today + rng.random_range(-60..future)
        } else {
            i32::MAX
        }
    }

    /// 1 long before `churn_day`, falling linearly to 0 on it.
    pub fn fade(&self, day: i32, churn_day: i32) -> f64 {
        if self.churning {
            (f64::from(churn_day.saturating_sub(day)) / FADE_DAYS).clamp(0.0, 1.0)
        } else {
            1.0
        }
    }

    /// Chance of activity on `day` for a learner whose personal activity
    /// multiplier is `scale`.
    pub fn activity(&self, day: i32, churn_day: i32, scale: f64) -> f64 {
        (self.active * scale * self.fade(day, churn_day)).min(1.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shares_sum_to_one_and_churners_fade() {
        assert!((KINDS.iter().map(|k| k.share).sum::<f64>() - 1.0).abs() < 1e-12);
        let churner = KINDS[kind_index("churning").unwrap()];
        assert_eq!(churner.fade(0, 30), 1.0);
        assert_eq!(churner.fade(15, 30), 0.5);
        assert_eq!(churner.fade(30, 30), 0.0);
        assert_eq!(churner.fade(40, 30), 0.0);
        let loyal = KINDS[kind_index("loyal_buyer").unwrap()];
        assert_eq!(loyal.fade(i32::MAX - 1, i32::MAX), 1.0);
        assert_eq!(loyal.activity(5, i32::MAX, 2.0), 0.9);
        assert!(kind_index("whale").is_none());
    }
}
