//! Audiences: learners filtered by offer, taste segment, RFM group,
//! propensity, churn risk and recent activity, ranked by expected value.

use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use super::columns::MarketingColumns;
use super::features::active_within;
use super::predict::PredictionModels;
use super::rfm::RfmGroup;
use super::uplift::fit::UpliftReport;
use super::uplift::{OfferFeatures, Response, UpliftModel};
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
    /// The uplift model that serves; `None` until one passed its gate.
    #[serde(default)]
    pub uplift: Option<UpliftModel>,
    /// Whether `uplift` was fitted by this training (else kept from an earlier one).
    #[serde(default)]
    pub uplift_from_this_training: bool,
    /// This training's uplift fit, published or not.
    #[serde(default)]
    pub uplift_report: Option<UpliftReport>,
}

/// The uplift model as `GET /model` shows it.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct UpliftSummary {
    /// `this_training`, `previous_training` (this one's did not pass its
    /// gate), or null: no uplift model serves.
    pub serving: Option<String>,
    pub serving_method: Option<super::uplift::Method>,
    /// |uplift| below this is "no effect" in response groups, 0..1.
    pub min_effect: Option<f64>,
    /// This training's fit, published or not.
    pub fit: Option<UpliftReport>,
}

/// What is offered: anything, one course (its factor, price and category
/// index), or a category.
pub enum Offer<'a> {
    Any,
    Course {
        factor: &'a [f32],
        price_cents: i64,
        category: usize,
    },
    Category {
        index: usize,
        mean_price_cents: f64,
    },
}

impl Offer<'_> {
    /// The price (a category's mean) and the uplift model's offer columns
    /// at `discount` (fraction 0..1); `None` for no particular offer.
    fn uplift_offer(&self, discount: f64) -> Option<(f64, OfferFeatures)> {
        match *self {
            Offer::Any => None,
            Offer::Course {
                price_cents,
                category,
                ..
            } => Some((
                price_cents as f64,
                OfferFeatures {
                    discount,
                    category,
                    category_offer: false,
                },
            )),
            Offer::Category {
                index,
                mean_price_cents,
            } => Some((
                mean_price_cents,
                OfferFeatures {
                    discount,
                    category: index,
                    category_offer: true,
                },
            )),
        }
    }
}

/// How an audience is ordered.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub enum Ranking {
    /// By expected value: P(buying the offer) × its price.
    #[default]
    ExpectedValue,
    /// By the expected incremental value of the offer, from the uplift
    /// model; learners it cannot score are left out.
    Uplift,
    /// By xxh3(seed, learner): a seeded random order.
    Random { seed: u64 },
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
    /// What the ranking sorts by, cents: purchase × price, or the
    /// expected incremental value with `Ranking::Uplift` (a hash with
    /// `Ranking::Random`).
    pub value_cents: f64,
    /// The offer's price (a category's mean), cents; 0 for no offer.
    pub price_cents: f64,
    /// The predicted response to the offer, with `Ranking::Uplift`.
    pub response: Option<Response>,
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

    /// `marketing.uplift` of `GET /model`: this training's fit and which
    /// model serves.
    pub fn uplift_summary(&self) -> UpliftSummary {
        let serving = match (&self.uplift, self.uplift_from_this_training) {
            (None, _) => None,
            (Some(_), true) => Some("this_training".to_string()),
            (Some(_), false) => Some("previous_training".to_string()),
        };
        UpliftSummary {
            serving,
            serving_method: self.uplift.as_ref().map(|m| m.method),
            min_effect: self.uplift.as_ref().map(|m| m.min_effect),
            fit: self.uplift_report.clone(),
        }
    }

    /// P(buying `offer` in the horizon) and its price for learner `u`.
    fn value(&self, cols: &MarketingColumns, u: usize, x: &[f32], offer: &Offer) -> (f64, f64) {
        let p = &self.predictions;
        let any = f64::from(cols.scores.purchase[u]);
        match offer {
            Offer::Any => (any, p.spend_per_buyer_cents),
            Offer::Course {
                factor, price_cents, ..
            } => (
                any * f64::from(cols.offers.course_share(u, x, factor)),
                *price_cents as f64,
            ),
            Offer::Category {
                index,
                mean_price_cents,
            } => (
                any * f64::from(cols.offers.category(u, *index)),
                *mean_price_cents,
            ),
        }
    }

    /// Why an uplift ranking of `offer` cannot be made now; `None` when it can.
    pub fn uplift_unavailable(&self, cols: &MarketingColumns, offer: &Offer) -> Option<String> {
        if offer.uplift_offer(0.0).is_none() {
            return Some("uplift needs an offer: give course_id or category".into());
        }
        if self.uplift.is_some() && cols.uplift.is_some() {
            return None;
        }
        Some(match self.uplift_report.as_ref().and_then(|r| r.reason.clone()) {
            Some(why) => format!("no uplift model has passed its gate: {why}"),
            None => "no uplift model has been trained: it needs ended campaigns with control groups".into(),
        })
    }

    /// Learners passing `filter` and not `excluded`, by `ranking` (largest
    /// value first; ties by user index). `users`, `segments` and `cols`
    /// are the learner table's factors, taste segments and marketing
    /// columns. Each member carries its response to the offer at
    /// `discount` (fraction 0..1) when an uplift model can score it; with
    /// `Ranking::Uplift` the caller has checked
    /// [`MarketingModel::uplift_unavailable`].
    #[allow(clippy::too_many_arguments)]
    pub fn rank(
        &self,
        users: &Factors,
        segments: Option<&[u32]>,
        cols: &MarketingColumns,
        offer: &Offer,
        filter: &Filter,
        (ranking, discount): (Ranking, f64),
        excluded: impl Fn(u32) -> bool + Sync,
    ) -> Vec<Member> {
        let uplift = match (&self.uplift, &cols.uplift, offer.uplift_offer(discount)) {
            (Some(m), Some(c), Some((_, features))) => Some((m, c, features)),
            _ => None,
        };
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
                let (purchase, price_cents) = self.value(cols, u, users.row(u), offer);
                if filter.min_purchase_probability.is_some_and(|m| purchase < m) || excluded(u as u32) {
                    return None;
                }
                let response = uplift.and_then(|(m, c, features)| m.score(c, u, &features));
                let value_cents = match ranking {
                    Ranking::ExpectedValue => purchase * price_cents,
                    Ranking::Random { seed } => {
                        // Salted apart from the campaign's control and arm draws.
                        xxhash_rust::xxh3::xxh3_64_with_seed(&(u as u64).to_le_bytes(), seed ^ 0x7261_6e64)
                            as f64
                    }
                    Ranking::Uplift => response?.incremental_value_cents(price_cents, discount),
                };
                Some(Member {
                    user: u as u32,
                    purchase,
                    churn,
                    value_cents,
                    price_cents,
                    response,
                })
            })
            .collect();
        out.sort_by(|a, b| b.value_cents.total_cmp(&a.value_cents).then(a.user.cmp(&b.user)));
        out
    }
}
