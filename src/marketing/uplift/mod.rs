//! Uplift targeting, pure: the difference an offer makes to a learner's
//! chance of buying it, learned from the randomised treatment and control
//! groups of past campaigns (Radcliffe 2007; Gutierrez & Gérardy 2017 for
//! the methods). Features are the purchase model's history columns as of
//! each campaign's start plus the offer: discount, the learner's share of
//! events in the offer's category, and whether the offer is a category.
//!
//! [`fit::fit_uplift`] cross-fits the candidate methods, compares their
//! held-out Qini coefficients with propensity ranking's on a paired
//! bootstrap, and returns a model only when it is significantly above
//! zero and above propensity ranking. [`UpliftModel`] then scores every
//! learner at training time into [`UpliftColumns`] (the learner part) and
//! adds the offer part per request.

pub mod fit;
pub mod qini;
#[cfg(test)]
mod tests;

use serde::{Deserialize, Serialize};

use super::classifier::LinearModel;
use super::features::{CourseInfo, History, BGBB_FIRST};
use crate::model::select_rows;

/// History columns used: the purchase model's features before the BG/BB
/// ones (those depend on a per-training activity fit).
pub const HISTORY_COLUMNS: usize = BGBB_FIRST;
/// History columns, then [`OFFER_NAMES`].
pub const N_UPLIFT_FEATURES: usize = HISTORY_COLUMNS + 3;
/// One (learner, offer) row.
pub type UpliftRow = [f64; N_UPLIFT_FEATURES];
/// The offer columns, after the history ones.
pub const OFFER_NAMES: [&str; 3] = ["discount_fraction", "offer_category_share", "category_offer"];

/// Quantile bins per history column: the linear models also read one
/// indicator per bin, so a response may rise and fall along a feature (a
/// persuadable learner is often neither the most nor the least engaged).
pub const BINS: usize = 4;

/// Each history column's inner quantile edges over `rows` (at most
/// `BINS − 1`, repeated values merged).
pub fn bin_edges(rows: &[UpliftRow]) -> Vec<Vec<f64>> {
    (0..HISTORY_COLUMNS)
        .map(|j| {
            let mut v: Vec<f64> = rows.iter().map(|r| r[j]).collect();
            v.sort_by(f64::total_cmp);
            let mut edges: Vec<f64> = (1..BINS)
                .filter_map(|q| v.get(q * v.len() / BINS).copied())
                .collect();
            edges.dedup();
            edges
        })
        .collect()
}

/// The row the linear models read: the history columns, an indicator per
/// bin of each but the lowest (see [`bin_edges`]; the lowest is the
/// reference, so the indicators and the intercept are not collinear), then
/// the offer columns.
pub fn expand(row: &UpliftRow, bins: &[Vec<f64>]) -> Vec<f64> {
    let width = expanded_width(bins);
    let mut x = vec![0.0; width];
    x[..HISTORY_COLUMNS].copy_from_slice(&row[..HISTORY_COLUMNS]);
    let mut at = HISTORY_COLUMNS;
    for (j, edges) in bins.iter().enumerate() {
        let bin = edges.partition_point(|&e| e <= row[j]);
        if bin > 0 {
            x[at + bin - 1] = 1.0;
        }
        at += edges.len();
    }
    x[width - OFFER_NAMES.len()..].copy_from_slice(&row[HISTORY_COLUMNS..]);
    x
}

/// Columns of an expanded row.
pub fn expanded_width(bins: &[Vec<f64>]) -> usize {
    N_UPLIFT_FEATURES + bins.iter().map(Vec::len).sum::<usize>()
}

/// How uplift is estimated.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
#[schema(as = UpliftMethod)]
pub enum Method {
    /// Two logistic models, treated and control; uplift = p_T − p_C.
    TwoModel,
    /// Ridge regression on the transformed outcome Z = Y·(W − e)/(e(1 − e))
    /// (Athey & Imbens 2016), whose expectation is the uplift.
    TransformedOutcome,
}

/// The response types of uplift modelling (Kane, Lo & Zheng 2014).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ResponseGroup {
    /// Buys because of the offer: uplift ≥ the minimum effect.
    Persuadable,
    /// Buys anyway: no effect, control probability above the base rate.
    SureThing,
    /// Buys either way rarely: no effect, control probability below it.
    LostCause,
    /// Buys less when contacted: uplift ≤ −the minimum effect.
    DoNotDisturb,
}

/// A learner's predicted response to one offer.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Response {
    /// P(buying the offer within the campaign window) without it, 0..1.
    pub p_control: f64,
    /// Expected incremental purchase probability, −1..1.
    pub uplift: f64,
}

impl Response {
    /// P(buying) when treated, 0..1.
    pub fn p_treated(&self) -> f64 {
        (self.p_control + self.uplift).clamp(0.0, 1.0)
    }

    /// Expected incremental revenue of offering at `price_cents` with
    /// `discount` (fraction 0..1): what the persuaded pay, less the
    /// discount given to those who would have bought anyway, cents.
    pub fn incremental_value_cents(&self, price_cents: f64, discount: f64) -> f64 {
        price_cents * (self.p_treated() * (1.0 - discount) - self.p_control)
    }

    /// Expected discount cost of offering it, cents.
    pub fn discount_cost_cents(&self, price_cents: f64, discount: f64) -> f64 {
        price_cents * discount * self.p_treated()
    }
}

/// The offer half of a row.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct OfferFeatures {
    /// 0..1.
    pub discount: f64,
    /// Category index of the offer (a course's own category).
    pub category: usize,
    pub category_offer: bool,
}

/// A published uplift model.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct UpliftModel {
    pub method: Method,
    /// The treated-response model (two-model) or the transformed-outcome
    /// regression (its `z` is the uplift).
    pub effect: LinearModel,
    /// P(buying | control): the response groups and p_treated read it.
    pub control: LinearModel,
    /// |uplift| below this is "no effect" in the response groups, 0..1.
    pub min_effect: f64,
    /// Conversion rate of the control groups it learned from, 0..1.
    pub base_rate: f64,
    /// Mean discount of the treated learners it learned from, percent.
    pub mean_discount_pct: f64,
    /// The history columns' bin edges its models read ([`expand`]).
    #[serde(default)]
    pub bins: Vec<Vec<f64>>,
}

fn sigmoid(z: f64) -> f64 {
    1.0 / (1.0 + (-z).exp())
}

/// `m`'s linear predictor over the columns in `range` of `row` (the
/// intercept counts with the range that starts at 0).
fn part(m: &LinearModel, row: &[f64], range: std::ops::Range<usize>) -> f64 {
    let start = if range.start == 0 { m.intercept } else { 0.0 };
    m.columns
        .iter()
        .enumerate()
        .filter(|(_, c)| range.contains(c))
        .map(|(j, &c)| m.weights[j] * (row[c] - m.mean[j]) / m.scale[j])
        .sum::<f64>()
        + start
}

impl UpliftModel {
    /// The prediction for one full row.
    pub fn predict(&self, row: &UpliftRow) -> Response {
        let x = expand(row, &self.bins);
        let all = 0..x.len();
        self.respond(part(&self.effect, &x, all.clone()), part(&self.control, &x, all))
    }

    /// Where the offer columns start in an expanded row, and its width.
    fn offer_range(&self) -> std::ops::Range<usize> {
        let w = expanded_width(&self.bins);
        w - OFFER_NAMES.len()..w
    }

    fn respond(&self, effect_z: f64, control_z: f64) -> Response {
        let p_control = sigmoid(control_z);
        let uplift = match self.method {
            Method::TwoModel => sigmoid(effect_z) - p_control,
            Method::TransformedOutcome => effect_z.clamp(-1.0, 1.0),
        };
        Response { p_control, uplift }
    }

    /// The learner half of both predictors (intercepts included), from
    /// the history columns of a row.
    pub fn learner_part(&self, row: &UpliftRow) -> (f32, f32) {
        let x = expand(row, &self.bins);
        let learner = 0..self.offer_range().start;
        (
            part(&self.effect, &x, learner.clone()) as f32,
            part(&self.control, &x, learner) as f32,
        )
    }

    /// The prediction of learner `u` of `cols` for `offer`; `None` for a
    /// learner with no history to score.
    pub fn score(&self, cols: &UpliftColumns, u: usize, offer: &OfferFeatures) -> Option<Response> {
        let (e, c) = (cols.effect_base[u], cols.control_base[u]);
        if !(e.is_finite() && c.is_finite()) {
            return None;
        }
        let mut row = [0.0; N_UPLIFT_FEATURES];
        offer_columns(&mut row, offer, f64::from(cols.share(u, offer.category)));
        let o = self.offer_range();
        let mut x = vec![0.0; o.end];
        x[o.clone()].copy_from_slice(&row[HISTORY_COLUMNS..]);
        Some(self.respond(
            f64::from(e) + part(&self.effect, &x, o.clone()),
            f64::from(c) + part(&self.control, &x, o),
        ))
    }

    /// The response group of `r`.
    pub fn group(&self, r: &Response) -> ResponseGroup {
        if r.uplift >= self.min_effect {
            ResponseGroup::Persuadable
        } else if r.uplift <= -self.min_effect {
            ResponseGroup::DoNotDisturb
        } else if r.p_control > self.base_rate {
            ResponseGroup::SureThing
        } else {
            ResponseGroup::LostCause
        }
    }
}

/// Writes the offer columns of `row`.
pub fn offer_columns(row: &mut UpliftRow, offer: &OfferFeatures, category_share: f64) {
    row[HISTORY_COLUMNS] = offer.discount;
    row[HISTORY_COLUMNS + 1] = category_share;
    row[HISTORY_COLUMNS + 2] = f64::from(u8::from(offer.category_offer));
}

/// Each category's share of a learner's events before `cutoff` (0 for all
/// when there are none), `n_categories` long.
pub fn category_shares(h: &History, cutoff: i32, courses: &[CourseInfo], n_categories: usize) -> Vec<f64> {
    let mut counts = vec![0.0; n_categories];
    for r in h.before(cutoff) {
        if let Some(c) = counts.get_mut(courses[r.course as usize].category as usize) {
            *c += f64::from(r.count);
        }
    }
    let total: f64 = counts.iter().sum();
    if total > 0.0 {
        counts.iter_mut().for_each(|c| *c /= total);
    }
    counts
}

/// The learner table's uplift columns: each learner's half of the two
/// predictors (NaN without a history) and category shares as of T.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct UpliftColumns {
    pub effect_base: Vec<f32>,
    pub control_base: Vec<f32>,
    pub n_categories: usize,
    /// `n_categories` per learner.
    pub category_share: Vec<f32>,
}

impl UpliftColumns {
    fn share(&self, u: usize, category: usize) -> f32 {
        if category < self.n_categories {
            self.category_share[u * self.n_categories + category]
        } else {
            0.0
        }
    }

    /// Rows per column, for the learner table's length check.
    pub fn lengths(&self) -> Vec<(&'static str, usize)> {
        let shares = match self.n_categories {
            0 if self.category_share.is_empty() => self.effect_base.len(),
            k if k > 0 && self.category_share.len().is_multiple_of(k) => self.category_share.len() / k,
            _ => usize::MAX,
        };
        vec![
            ("uplift_effect_base", self.effect_base.len()),
            ("uplift_control_base", self.control_base.len()),
            ("uplift_category_share", shares),
        ]
    }

    /// The rows `keep`, in that order.
    pub fn select(&self, keep: &[usize]) -> UpliftColumns {
        UpliftColumns {
            effect_base: select_rows(&self.effect_base, 1, keep),
            control_base: select_rows(&self.control_base, 1, keep),
            n_categories: self.n_categories,
            category_share: select_rows(&self.category_share, self.n_categories, keep),
        }
    }
}

/// Every learner's [`UpliftColumns`] under `model`, as of day `today`.
pub fn columns(
    model: &UpliftModel,
    histories: &super::features::Histories,
    courses: &[CourseInfo],
    n_categories: usize,
    active: &[bool; crate::domain::EventType::ALL.len()],
    today: i32,
) -> UpliftColumns {
    use rayon::prelude::*;
    let per: Vec<((f32, f32), Vec<f32>)> = histories
        .par_iter()
        .map(|rows| {
            let h = History { rows, active };
            let shares = category_shares(&h, today, courses, n_categories);
            let base = super::features::features(&h, today, courses, n_categories, None).map_or(
                (f32::NAN, f32::NAN),
                |full| {
                    let mut row = [0.0; N_UPLIFT_FEATURES];
                    row[..HISTORY_COLUMNS].copy_from_slice(&full[..HISTORY_COLUMNS]);
                    model.learner_part(&row)
                },
            );
            (base, shares.into_iter().map(|x| x as f32).collect())
        })
        .collect();
    let mut out = UpliftColumns {
        effect_base: Vec::with_capacity(per.len()),
        control_base: Vec::with_capacity(per.len()),
        n_categories,
        category_share: Vec::with_capacity(per.len() * n_categories),
    };
    for ((e, c), shares) in per {
        out.effect_base.push(e);
        out.control_base.push(c);
        out.category_share.extend(shares);
    }
    out
}
