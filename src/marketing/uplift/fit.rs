//! Learning uplift from past campaigns: rows as of each campaign's start,
//! candidates cross-fitted (leave one campaign out with three campaigns or
//! more, else five folds of learners), held-out Qini coefficients compared
//! with propensity ranking's on a paired bootstrap, and the gate.

use nalgebra::{DMatrix, DVector};
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use super::qini::{compare, ranked, Estimate, Group, Unit};
use super::{
    bin_edges, category_shares, expand, expanded_width, offer_columns, Method, OfferFeatures, UpliftModel,
    UpliftRow, HISTORY_COLUMNS, N_UPLIFT_FEATURES,
};
use crate::domain::DAY_MS;
use crate::marketing::classifier::{fit, LinearModel};
use crate::marketing::features::{features, Activity, CourseInfo, Histories, History};
use crate::marketing::MarketingSettings;

/// A campaign whose window has ended, as the uplift model reads it.
#[derive(Debug, Clone, PartialEq)]
pub struct PastCampaign {
    pub created_ms: i64,
    /// The offer's category index in the training's category table.
    pub category: usize,
    pub category_offer: bool,
    pub members: Vec<PastMember>,
}

/// An ended campaign as the store gives it: learners by id, the offer's
/// category by name (lower case), each member's outcome.
#[derive(Debug, Clone, PartialEq)]
pub struct CampaignOutcomes {
    pub created_ms: i64,
    pub offer_category: String,
    pub category_offer: bool,
    pub members: Vec<MemberOutcome>,
}

/// A member of an ended campaign.
#[derive(Debug, Clone, PartialEq)]
pub struct MemberOutcome {
    pub user: String,
    /// The arm's discount, percent; `None` for control.
    pub discount_pct: Option<f64>,
    pub converted: bool,
}

impl CampaignOutcomes {
    /// This campaign over the training's indices: members not in `users`
    /// (erased, or no longer in the log) are left out; `None` when the
    /// offer's category is not in `categories` (lower-case names).
    pub fn indexed(
        &self,
        users: &std::collections::HashMap<String, u32>,
        categories: &[String],
    ) -> Option<PastCampaign> {
        let category = categories.iter().position(|c| *c == self.offer_category)?;
        Some(PastCampaign {
            created_ms: self.created_ms,
            category,
            category_offer: self.category_offer,
            members: self
                .members
                .iter()
                .filter_map(|m| {
                    Some(PastMember {
                        user: *users.get(&m.user)?,
                        discount_pct: m.discount_pct,
                        converted: m.converted,
                    })
                })
                .collect(),
        })
    }
}

/// A member of a past campaign.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PastMember {
    /// Learner index in the training's learner table.
    pub user: u32,
    /// The discount of the member's arm, percent; `None` for control.
    pub discount_pct: Option<f64>,
    /// Bought an offered course in the window, by the campaign report's rule.
    pub converted: bool,
}

/// `[marketing.uplift]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct UpliftSettings {
    /// |uplift| below this is "no effect" in response groups, 0..1.
    pub min_effect: f64,
    /// Learn from at most this many of the latest ended campaigns.
    pub max_campaigns: usize,
    /// Bootstrap replicates of the Qini intervals.
    pub bootstrap: usize,
}

impl Default for UpliftSettings {
    fn default() -> Self {
        UpliftSettings {
            min_effect: 0.02,
            max_campaigns: 50,
            bootstrap: 200,
        }
    }
}

impl UpliftSettings {
    pub fn validate(&self) -> anyhow::Result<()> {
        if !(self.min_effect > 0.0 && self.min_effect < 1.0) || self.max_campaigns == 0 || self.bootstrap < 50
        {
            anyhow::bail!(
                "invalid configuration: marketing.uplift.min_effect must be in (0, 1), \
                 max_campaigns at least 1 and bootstrap at least 50"
            );
        }
        Ok(())
    }
}

/// Fewer randomised learners than this in either group, or conversions in
/// all, and no model is fitted.
pub const MIN_PER_GROUP: usize = 100;
pub const MIN_CONVERSIONS: usize = 20;

/// Candidate rankings, in this order in the comparison.
const CANDIDATES: [&str; 3] = ["two_model", "transformed_outcome", "propensity"];
const PROPENSITY: usize = 2;

/// One candidate's held-out Qini coefficient.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct CandidateQini {
    /// `two_model`, `transformed_outcome` or `propensity` (the ranking
    /// propensity targeting uses: P(any purchase) from the purchase model
    /// × the learner's share of events in the offer's category).
    pub method: String,
    /// Incremental conversions per learner above random targeting,
    /// averaged over every depth.
    pub qini: f64,
    /// 95 % paired bootstrap interval.
    pub qini_ci: [f64; 2],
}

/// How the uplift model did for one kind of offer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct OfferKindFit {
    /// `course` or `category`.
    pub offer_kind: String,
    pub campaigns: usize,
    pub learners: usize,
    pub qini: f64,
    pub qini_ci: [f64; 2],
    /// Randomised learners of this kind still needed before the model's
    /// Qini and its gain over propensity would be significant at this
    /// effect size (0: already); null when the estimate is not positive.
    pub learners_needed: Option<u64>,
}

/// What a training learned about uplift, published or not.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct UpliftReport {
    /// `published`, `not_published` or `insufficient_data`.
    pub status: String,
    /// Why not, when not published.
    pub reason: Option<String>,
    pub method: Option<Method>,
    /// `leave_one_campaign_out` (3 campaigns or more) or `learner_folds`.
    pub validation: String,
    pub campaigns: usize,
    pub learners: usize,
    pub treated: usize,
    pub control: usize,
    pub conversions: usize,
    pub candidates: Vec<CandidateQini>,
    /// The chosen method's Qini minus propensity ranking's, with its
    /// paired interval.
    pub gain_over_propensity: Option<CandidateQini>,
    /// Randomised learners still needed to pass the gate at the measured
    /// effect (0 when passed); null when an estimate is not positive.
    pub learners_needed: Option<u64>,
    pub by_offer_kind: Vec<OfferKindFit>,
    pub bootstrap_replicates: usize,
}

impl UpliftReport {
    fn empty(reason: String, campaigns: usize, n: [usize; 3]) -> UpliftReport {
        UpliftReport {
            status: "insufficient_data".into(),
            reason: Some(reason),
            method: None,
            validation: String::new(),
            campaigns,
            learners: n[0] + n[1],
            treated: n[0],
            control: n[1],
            conversions: n[2],
            candidates: Vec::new(),
            gain_over_propensity: None,
            learners_needed: None,
            by_offer_kind: Vec::new(),
            bootstrap_replicates: 0,
        }
    }
}

/// A training's uplift result: the chosen method refitted on every
/// member (`None` without enough data), and whether it passed the gate
/// (only then may it serve).
#[derive(Debug, Clone)]
pub struct UpliftFit {
    pub model: Option<UpliftModel>,
    pub passed: bool,
    pub report: UpliftReport,
}

/// Every learner's history and the catalog, as the purchase model reads them.
pub struct UpliftInput<'a> {
    pub histories: &'a Histories,
    pub courses: &'a [CourseInfo],
    pub n_categories: usize,
    pub active: &'a [bool; crate::domain::EventType::ALL.len()],
    pub campaigns: &'a [PastCampaign],
    /// The published purchase model and its horizon (days): propensity
    /// targeting's ranking, P(any purchase) × the learner's share of
    /// events in the offer's category, as of each campaign's start.
    /// `None`: the control members' out-of-fold response model stands in.
    pub propensity: Option<(&'a LinearModel, u32)>,
}

/// The training rows: one per member with a history before the start.
struct Rows {
    x: Vec<UpliftRow>,
    /// `x` expanded by `bins` ([`expand`]): what the models read.
    xs: Vec<Vec<f64>>,
    bins: Vec<Vec<f64>>,
    y: Vec<bool>,
    treated: Vec<bool>,
    /// Treated share of the member's campaign.
    e: Vec<f64>,
    campaign: Vec<usize>,
    tie: Vec<u64>,
    /// Propensity targeting's score as of the campaign's start.
    propensity: Vec<f64>,
}

/// One member's row: features, converted, treated, tie hash, propensity.
type MemberRow = (UpliftRow, bool, bool, u64, f64);

fn rows(d: &UpliftInput) -> Rows {
    let activity = d
        .propensity
        .and_then(|(m, horizon)| m.activity.map(|a| Activity::new(a, horizon)));
    let per: Vec<Vec<MemberRow>> = d
        .campaigns
        .par_iter()
        .enumerate()
        .map(|(j, c)| {
            let day = c.created_ms.div_euclid(DAY_MS) as i32;
            let treated: Vec<f64> = c.members.iter().filter_map(|m| m.discount_pct).collect();
            let offer_discount = treated.iter().sum::<f64>() / treated.len().max(1) as f64;
            c.members
                .iter()
                .filter_map(|m| {
                    let h = History {
                        rows: d.histories.get(m.user as usize),
                        active: d.active,
                    };
                    let full = features(&h, day, d.courses, d.n_categories, activity.as_ref())?;
                    let mut x = [0.0; N_UPLIFT_FEATURES];
                    x[..HISTORY_COLUMNS].copy_from_slice(&full[..HISTORY_COLUMNS]);
                    let share = category_shares(&h, day, d.courses, d.n_categories)
                        .get(c.category)
                        .copied()
                        .unwrap_or(0.0);
                    let propensity = d.propensity.map_or(0.0, |(m, _)| m.predict(&full) * share);
                    let offer = OfferFeatures {
                        discount: m.discount_pct.unwrap_or(offer_discount) / 100.0,
                        category: c.category,
                        category_offer: c.category_offer,
                    };
                    offer_columns(&mut x, &offer, share);
                    let tie = xxhash_rust::xxh3::xxh3_64_with_seed(&m.user.to_le_bytes(), j as u64);
                    Some((x, m.converted, m.discount_pct.is_some(), tie, propensity))
                })
                .collect()
        })
        .collect();
    let mut r = Rows {
        x: Vec::new(),
        xs: Vec::new(),
        bins: Vec::new(),
        y: Vec::new(),
        treated: Vec::new(),
        e: Vec::new(),
        campaign: Vec::new(),
        tie: Vec::new(),
        propensity: Vec::new(),
    };
    for (j, members) in per.into_iter().enumerate() {
        let e = members.iter().filter(|m| m.2).count() as f64 / members.len().max(1) as f64;
        for (x, y, t, tie, propensity) in members {
            r.propensity.push(propensity);
            r.x.push(x);
            r.y.push(y);
            r.treated.push(t);
            r.e.push(e);
            r.campaign.push(j);
            r.tie.push(tie);
        }
    }
    r.bins = bin_edges(&r.x);
    r.xs = r.x.iter().map(|x| expand(x, &r.bins)).collect();
    r
}

fn pick<T: Copy>(v: &[T], idx: &[usize]) -> Vec<T> {
    idx.iter().map(|&i| v[i]).collect()
}

/// Ridge regression of `z` on standardised columns, as a [`LinearModel`]
/// whose linear predictor is the fitted value.
fn ridge(x: &[Vec<f64>], z: &[f64], l2: f64) -> LinearModel {
    let (n, k) = (x.len(), x.first().map_or(0, Vec::len));
    let nf = n.max(1) as f64;
    let mean: Vec<f64> = (0..k).map(|j| x.iter().map(|r| r[j]).sum::<f64>() / nf).collect();
    let scale: Vec<f64> = (0..k)
        .map(|j| {
            let v = x.iter().map(|r| (r[j] - mean[j]).powi(2)).sum::<f64>() / nf;
            if v > 1e-12 {
                v.sqrt()
            } else {
                1.0
            }
        })
        .collect();
    let zm = z.iter().sum::<f64>() / nf;
    let a = DMatrix::from_fn(n, k, |i, j| (x[i][j] - mean[j]) / scale[j]);
    let b = DVector::from_iterator(n, z.iter().map(|v| v - zm));
    let lhs = a.transpose() * &a + DMatrix::identity(k, k) * l2.max(1e-6);
    let w = lhs
        .cholesky()
        .map(|c| c.solve(&(a.transpose() * b)))
        .unwrap_or_else(|| DVector::zeros(k));
    LinearModel {
        columns: (0..k).collect(),
        mean,
        scale,
        weights: w.iter().copied().collect(),
        intercept: zm,
        activity: None,
    }
}

/// The transformed outcome Z = Y·(W − e)/(e(1 − e)).
fn transformed(y: bool, treated: bool, e: f64) -> f64 {
    let e = e.clamp(0.01, 0.99);
    let w = f64::from(u8::from(treated));
    f64::from(u8::from(y)) * (w - e) / (e * (1.0 - e))
}

/// The models fitted on the rows `idx`: control response, treated
/// response, and the transformed-outcome regression.
struct FoldModels {
    control: LinearModel,
    treated: LinearModel,
    transformed: LinearModel,
}

/// Fits the control model and `methods`' effect models on the rows `idx`
/// (a model not asked for is left constant).
fn fit_models(r: &Rows, idx: &[usize], methods: &[Method], l2: f64) -> FoldModels {
    let (t, c): (Vec<usize>, Vec<usize>) = idx.iter().partition(|&&i| r.treated[i]);
    let columns: Vec<usize> = (0..expanded_width(&r.bins)).collect();
    let rows = |idx: &[usize]| -> Vec<&[f64]> { idx.iter().map(|&i| r.xs[i].as_slice()).collect() };
    let wants = |m: Method| methods.contains(&m);
    let ((control, treated), transformed) = rayon::join(
        || {
            rayon::join(
                || fit(&rows(&c), &pick(&r.y, &c), &columns, l2),
                || match wants(Method::TwoModel) {
                    true => fit(&rows(&t), &pick(&r.y, &t), &columns, l2),
                    false => LinearModel::constant(&[]),
                },
            )
        },
        || match wants(Method::TransformedOutcome) {
            true => {
                let z: Vec<f64> = idx
                    .iter()
                    .map(|&i| transformed(r.y[i], r.treated[i], r.e[i]))
                    .collect();
                let x: Vec<Vec<f64>> = idx.iter().map(|&i| r.xs[i].clone()).collect();
                ridge(&x, &z, l2)
            }
            false => LinearModel::constant(&[]),
        },
    );
    FoldModels {
        control,
        treated,
        transformed,
    }
}

impl FoldModels {
    fn effect(&self, method: Method) -> LinearModel {
        match method {
            Method::TwoModel => self.treated.clone(),
            Method::TransformedOutcome => self.transformed.clone(),
        }
    }
}

fn model(
    method: Method,
    (effect, control): (LinearModel, LinearModel),
    r: &Rows,
    s: &MarketingSettings,
) -> UpliftModel {
    UpliftModel {
        method,
        effect,
        control,
        min_effect: s.uplift.min_effect,
        base_rate: 0.0,
        mean_discount_pct: 0.0,
        bins: r.bins.clone(),
    }
}

/// Out-of-fold scores of every candidate, one vector per candidate. The
/// propensity ranking is the purchase model's (fitted elsewhere) when
/// given, else the control members' response model: who buys without an
/// offer, which is what propensity targeting looks for.
fn cross_fitted(
    r: &Rows,
    folds: &[usize],
    n_folds: usize,
    s: &MarketingSettings,
    purchase_model: bool,
) -> Vec<Vec<f64>> {
    let per_fold: Vec<(Vec<usize>, [Vec<f64>; 3])> = (0..n_folds)
        .into_par_iter()
        .map(|f| {
            let (test, train): (Vec<usize>, Vec<usize>) = (0..r.y.len()).partition(|&i| folds[i] == f);
            let both = [Method::TwoModel, Method::TransformedOutcome];
            let f = fit_models(r, &train, &both, s.l2);
            let of = |m: Method| model(m, (f.effect(m), f.control.clone()), r, s);
            let (two, to) = (of(Method::TwoModel), of(Method::TransformedOutcome));
            let scores = [
                test.iter().map(|&i| two.predict(&r.x[i]).uplift).collect(),
                test.iter().map(|&i| to.predict(&r.x[i]).uplift).collect(),
                test.iter()
                    .map(|&i| {
                        if purchase_model {
                            r.propensity[i]
                        } else {
                            two.predict(&r.x[i]).p_control
                        }
                    })
                    .collect(),
            ];
            (test, scores)
        })
        .collect();
    let mut out = vec![vec![0.0; r.y.len()]; CANDIDATES.len()];
    for (test, scores) in per_fold {
        for (m, s) in scores.iter().enumerate() {
            for (k, &i) in test.iter().enumerate() {
                out[m][i] = s[k];
            }
        }
    }
    out
}

/// Per campaign: its units and each candidate's ranking of them.
fn groups<'a>(
    r: &Rows,
    units: &'a [Unit],
    oof: &[Vec<f64>],
    keep: &[usize],
    campaigns: usize,
) -> Vec<Group<'a>> {
    (0..campaigns)
        .filter(|j| keep.contains(j))
        .filter_map(|j| {
            let idx: Vec<usize> = (0..r.y.len()).filter(|&i| r.campaign[i] == j).collect();
            if idx.is_empty() {
                return None;
            }
            let orders = oof
                .iter()
                .map(|scores| {
                    let local = ranked(&pick(scores, &idx), &pick(&r.tie, &idx));
                    local.into_iter().map(|k| idx[k as usize] as u32).collect()
                })
                .collect();
            Some(Group { units, orders })
        })
        .collect()
}

fn candidate(name: &str, e: &Estimate) -> CandidateQini {
    CandidateQini {
        method: name.into(),
        qini: e.value,
        qini_ci: e.ci,
    }
}

/// Randomised learners still needed before every estimate in `parts`
/// would be significant (its lower 95 % bound above 0) at its current
/// value, with `n` learners now. An interval narrows as 1/√n, so the
/// lower half-width h = value − lower bound needs n·(h / value)² learners;
/// the answer is that less `n`, at least 0 (0 exactly when every lower
/// bound is already above 0). `None` when an estimate is not positive
/// (more data would not show an effect that is not there).
pub fn learners_needed(n: usize, parts: &[&Estimate]) -> Option<u64> {
    let mut need = 0.0f64;
    for e in parts {
        if e.value <= 0.0 {
            return None;
        }
        let half = e.value - e.ci[0];
        need = need.max(n as f64 * (half / e.value).powi(2));
    }
    Some((need - n as f64).max(0.0).ceil() as u64)
}

/// Fits, evaluates and gates the uplift model on `d`'s past campaigns.
pub fn fit_uplift(d: &UpliftInput, s: &MarketingSettings, seed: u64) -> UpliftFit {
    let r = rows(d);
    let treated = r.treated.iter().filter(|&&t| t).count();
    let control = r.y.len() - treated;
    let conversions = r.y.iter().filter(|&&y| y).count();
    let n_campaigns = d.campaigns.len();
    let counts = [treated, control, conversions];
    if treated < MIN_PER_GROUP || control < MIN_PER_GROUP || conversions < MIN_CONVERSIONS {
        let why = format!(
            "past campaigns hold {treated} treated and {control} control learners with {conversions} \
             conversions; at least {MIN_PER_GROUP} in each group and {MIN_CONVERSIONS} conversions are needed"
        );
        return UpliftFit {
            model: None,
            passed: false,
            report: UpliftReport::empty(why, n_campaigns, counts),
        };
    }
    let by_campaign = n_campaigns >= 3;
    let (folds, n_folds): (Vec<usize>, usize) = if by_campaign {
        (r.campaign.clone(), n_campaigns)
    } else {
        (r.tie.iter().map(|t| (t % 5) as usize).collect(), 5)
    };
    let oof = cross_fitted(&r, &folds, n_folds, s, d.propensity.is_some());
    let units: Vec<Unit> = (0..r.y.len())
        .map(|i| Unit {
            treated: r.treated[i],
            converted: r.y[i],
        })
        .collect();
    let everyone: Vec<usize> = (0..n_campaigns).collect();
    let cmp = compare(
        &groups(&r, &units, &oof, &everyone, n_campaigns),
        CANDIDATES.len(),
        s.uplift.bootstrap,
        seed,
    );
    let best = if cmp.candidates[1].value > cmp.candidates[0].value {
        1
    } else {
        0
    };
    let method = [Method::TwoModel, Method::TransformedOutcome][best];
    let gain = cmp.gain_over(best, PROPENSITY);
    let chosen = &cmp.candidates[best];
    let by_offer_kind = [(false, "course"), (true, "category")]
        .iter()
        .filter_map(|&(category_offer, name)| {
            let keep: Vec<usize> = (0..n_campaigns)
                .filter(|&j| d.campaigns[j].category_offer == category_offer)
                .collect();
            let n = r.campaign.iter().filter(|j| keep.contains(j)).count();
            if n == 0 {
                return None;
            }
            let pair = [oof[best].clone(), oof[PROPENSITY].clone()];
            let k = compare(
                &groups(&r, &units, &pair, &keep, n_campaigns),
                2,
                s.uplift.bootstrap / 2,
                seed,
            );
            let g = k.gain_over(0, 1);
            Some(OfferKindFit {
                offer_kind: name.into(),
                campaigns: keep.len(),
                learners: n,
                qini: k.candidates[0].value,
                qini_ci: k.candidates[0].ci,
                learners_needed: learners_needed(n, &[&k.candidates[0], &g]),
            })
        })
        .collect();
    let passed = chosen.positive() && gain.positive();
    let reason = if !chosen.positive() {
        Some(format!(
            "the held-out Qini of {} is {:.5} with interval [{:.5}, {:.5}]: not significantly above zero",
            CANDIDATES[best], chosen.value, chosen.ci[0], chosen.ci[1]
        ))
    } else if !gain.positive() {
        Some(format!(
            "the held-out Qini of {} is not significantly above propensity ranking's \
             (difference {:.5}, interval [{:.5}, {:.5}])",
            CANDIDATES[best], gain.value, gain.ci[0], gain.ci[1]
        ))
    } else {
        None
    };
    let report = UpliftReport {
        status: if passed { "published" } else { "not_published" }.into(),
        reason,
        method: Some(method),
        validation: if by_campaign {
            "leave_one_campaign_out"
        } else {
            "learner_folds"
        }
        .into(),
        campaigns: n_campaigns,
        learners: r.y.len(),
        treated,
        control,
        conversions,
        candidates: CANDIDATES
            .iter()
            .zip(&cmp.candidates)
            .map(|(n, e)| candidate(n, e))
            .collect(),
        gain_over_propensity: Some(candidate(CANDIDATES[best], &gain)),
        learners_needed: learners_needed(r.y.len(), &[chosen, &gain]),
        by_offer_kind,
        bootstrap_replicates: s.uplift.bootstrap,
    };
    let model = Some({
        let all: Vec<usize> = (0..r.y.len()).collect();
        let f = fit_models(&r, &all, &[method], s.l2);
        let mut m = model(method, (f.effect(method), f.control), &r, s);
        let controls: Vec<usize> = all.iter().copied().filter(|&i| !r.treated[i]).collect();
        m.base_rate = controls.iter().filter(|&&i| r.y[i]).count() as f64 / controls.len() as f64;
        let discounts: Vec<f64> = all
            .iter()
            .filter(|&&i| r.treated[i])
            .map(|&i| r.x[i][HISTORY_COLUMNS] * 100.0)
            .collect();
        m.mean_discount_pct = discounts.iter().sum::<f64>() / discounts.len().max(1) as f64;
        m
    });
    UpliftFit {
        model,
        passed,
        report,
    }
}
