//! Audiences: learners filtered by offer, taste segment, RFM group,
//! propensity, churn risk and recent activity, ranked by expected value.

use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use super::columns::MarketingColumns;
use super::features::active_within;
use super::predict::PredictionModels;
use super::rfm::RfmGroup;
use crate::model::Factors;

/// What a training publishes for marketing besides the per-learner
/// columns (those are [`MarketingColumns`], in the snapshot's learner table).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct MarketingModel {
    pub predictions: PredictionModels,
    /// Category names, indexed as in the offer shares and `course_category`.
    pub categories: Vec<String>,
    /// Category index of each snapshot course.
    pub course_category: Vec<u32>,
    /// T: the first day the training did not see.
    pub today: i32,
    /// The data cutoff (when the training read the log), ms since the
    /// epoch: `active_days` and `inactive_days` count elapsed days back from it.
    pub cutoff_ms: i64,
}

/// What is offered: anything, one course (its factor and price), or a category.
pub enum Offer<'a> {
    Any,
    Course { factor: &'a [f32], price_cents: i64 },
    Category { index: usize, mean_price_cents: f64 },
}

/// The `/audiences` filters other than the offer.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Filter {
    /// Only this taste segment.
    pub segment: Option<u32>,
    /// Only these RFM groups.
    pub rfm: Option<Vec<RfmGroup>>,
    /// 0..1.
    #[schema(minimum = 0.0, maximum = 1.0)]
    pub min_purchase_probability: Option<f64>,
    /// 0..1.
    #[schema(minimum = 0.0, maximum = 1.0)]
    pub min_churn_probability: Option<f64>,
    /// Active within the last N days: elapsed time, N × 24 h back from
    /// the data cutoff of the training.
    #[schema(minimum = 1, maximum = 3650)]
    pub active_days: Option<u32>,
    /// Not active within the last N days (elapsed, as `active_days`).
    #[schema(minimum = 1, maximum = 3650)]
    pub inactive_days: Option<u32>,
}

/// One ranked learner.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Member {
    pub user: u32,
    /// P(buying the offer within the horizon).
    pub purchase: f64,
    pub churn: Option<f64>,
    /// purchase × price of the offer, cents.
    pub value_cents: f64,
}

impl MarketingModel {
    /// What `GET /model` shows: horizon, backtests and where each published
    /// prediction came from.
    pub fn summary(&self) -> serde_json::Value {
        let p = &self.predictions;
        serde_json::json!({
            "horizon_days": p.horizon_days,
            "purchase": p.purchase_gate,
            "churn": p.churn_gate,
            "spend_per_buyer_cents": p.spend_per_buyer_cents.round() as i64,
            "spend": p.spend_backtest,
        })
    }

    /// P(buying `offer` in the horizon) and its expected value for learner `u`.
    fn value(&self, cols: &MarketingColumns, u: usize, x: &[f32], offer: &Offer) -> (f64, f64) {
        let p = &self.predictions;
        let any = f64::from(cols.scores.purchase[u]);
        match offer {
            Offer::Any => (any, any * p.spend_per_buyer_cents),
            Offer::Course { factor, price_cents } => {
                let q = any * f64::from(cols.offers.course_share(u, x, factor));
                (q, q * *price_cents as f64)
            }
            Offer::Category {
                index,
                mean_price_cents,
            } => {
                let q = any * f64::from(cols.offers.category(u, *index));
                (q, q * mean_price_cents)
            }
        }
    }

    /// Learners passing `filter` and not `excluded`, by expected value
    /// (largest first; ties by user index). `users`, `segments` and `cols`
    /// are the learner table's factors, taste segments and marketing columns.
    pub fn rank(
        &self,
        users: &Factors,
        segments: Option<&[u32]>,
        cols: &MarketingColumns,
        offer: &Offer,
        filter: &Filter,
        excluded: impl Fn(u32) -> bool + Sync,
    ) -> Vec<Member> {
        let p = &cols.scores;
        let mut out: Vec<Member> = (0..p.purchase.len())
            .into_par_iter()
            .filter_map(|u| {
                let last = Some(cols.last_active_ms[u]).filter(|&t| t != i64::MIN);
                let within = |n| active_within(last, self.cutoff_ms, n);
                if filter.active_days.is_some_and(|n| !within(n))
                    || filter.inactive_days.is_some_and(within)
                    || filter
                        .segment
                        .is_some_and(|s| segments.and_then(|g| g.get(u)) != Some(&s))
                    || filter.rfm.as_ref().is_some_and(|g| !g.contains(&p.rfm[u].group))
                {
                    return None;
                }
                let churn = Some(f64::from(p.churn[u])).filter(|c| !c.is_nan());
                if filter
                    .min_churn_probability
                    .is_some_and(|m| churn.is_none_or(|c| c < m))
                {
                    return None;
                }
                let (purchase, value_cents) = self.value(cols, u, users.row(u), offer);
                if filter.min_purchase_probability.is_some_and(|m| purchase < m) || excluded(u as u32) {
                    return None;
                }
                Some(Member {
                    user: u as u32,
                    purchase,
                    churn,
                    value_cents,
                })
            })
            .collect();
        out.sort_by(|a, b| b.value_cents.total_cmp(&a.value_cents).then(a.user.cmp(&b.user)));
        out
    }
}
