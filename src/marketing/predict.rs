//! The prediction pipeline, pure: fit purchase and churn models on features
//! as of T−2H with labels from [T−2H, T−H), backtest them on T−H against
//! [T−H, T) beside a recency–frequency baseline, keep a model only if it
//! beats the baseline, recalibrate it on that latest window (Platt) and
//! score every learner as of T.

use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use super::bgbb::BgBb;
use super::calibration::{cross_fitted, fit_platt};
use super::classifier::{fit, LinearModel};
use super::features::{
    active_within, bgbb_columns, days_since, features, labels, Activity, CourseInfo, Histories, History, Row,
    BASELINE, BGBB_FIRST, N_FEATURES,
};
use super::metrics::{quality, spend_quality, Quality, SpendQuality};
use super::rfm::{score, Rfm, RfmInput};
use super::MarketingSettings;

/// Every learner's history and the catalog, as of the training.
pub struct LearnerData<'a> {
    /// Per learner (snapshot user order), rows sorted by day.
    pub histories: &'a Histories,
    pub courses: &'a [CourseInfo],
    pub n_categories: usize,
    /// T: the first day not yet seen (today + 1). Features are computed
    /// as of T's start, as the models were fitted (at day boundaries).
    pub today: i32,
    /// The data cutoff (when the log was read), ms since the epoch: the
    /// elapsed-time windows (churn window, RFM recency) end here.
    pub cutoff_ms: i64,
}

/// Where a published prediction's model came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Source {
    /// Fitted now and beat the baseline on the backtest.
    Model,
    /// This training's model did not beat the baseline: the previous one's.
    Previous,
    /// Neither: the recency–frequency baseline itself.
    Baseline,
}

/// The backtest of one prediction: fitted on T−2H, scored on T−H against
/// what happened in [T−H, T). `None` metrics: a class was missing.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Gate {
    /// As fitted: the base rate may have moved between the two windows.
    pub model: Option<Quality>,
    pub baseline: Option<Quality>,
    /// The published model (model or baseline) after Platt recalibration
    /// on [T−H, T), out of fold over 5 folds of learners; `None` when the
    /// previous model is kept.
    #[serde(default)]
    pub calibrated: Option<Quality>,
    pub source: Source,
}

/// Folds of the out-of-fold recalibration estimate.
const FOLDS: usize = 5;

/// What a training publishes: one entry per snapshot user.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Predictions {
    pub horizon_days: u32,
    /// P(any purchase in the next H days), 0..1.
    pub purchase: Vec<f32>,
    /// P(no activity in the next H days); NaN when not active in the last D days.
    pub churn: Vec<f32>,
    /// Expected spend over the next 90 days, cents.
    pub spend_cents: Vec<i64>,
    pub rfm: Vec<Rfm>,
    pub purchase_model: LinearModel,
    pub churn_model: LinearModel,
    pub purchase_gate: Gate,
    pub churn_gate: Gate,
    /// Mean spend in the horizon of learners who bought in it, cents.
    pub spend_per_buyer_cents: f64,
    /// The spend forecast's own backtest; `None` without learners to test on.
    pub spend_backtest: Option<SpendBacktest>,
}

/// The models a training chose, to score every learner with.
#[derive(Debug, Clone)]
pub struct Chosen {
    pub purchase_model: LinearModel,
    pub churn_model: LinearModel,
    pub purchase_gate: Gate,
    pub churn_gate: Gate,
    /// Mean spend in the horizon of learners who bought in it, cents.
    pub spend_per_buyer_cents: f64,
}

/// What a snapshot keeps of a training's predictions: the models, their
/// backtests and the spend per buyer. The per-learner scores live in the
/// snapshot's learner table (`crate::learners`), which restricts them with
/// every other per-learner column.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PredictionModels {
    pub horizon_days: u32,
    pub purchase_model: LinearModel,
    pub churn_model: LinearModel,
    pub purchase_gate: Gate,
    pub churn_gate: Gate,
    /// Mean spend in the horizon of learners who bought in it, cents.
    pub spend_per_buyer_cents: f64,
    pub spend_backtest: Option<SpendBacktest>,
}

/// The per-learner half of [`Predictions`], one entry per learner each.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Scores {
    /// P(any purchase in the next H days), 0..1.
    pub purchase: Vec<f32>,
    /// P(no activity in the next H days); NaN when not active in the last D days.
    pub churn: Vec<f32>,
    /// Expected spend over the next 90 days, cents.
    pub spend_cents: Vec<i64>,
    pub rfm: Vec<Rfm>,
}

impl Predictions {
    /// The models and the per-learner scores, apart (moved, not copied).
    pub fn split(self) -> (PredictionModels, Scores) {
        let Predictions {
            horizon_days,
            purchase,
            churn,
            spend_cents,
            rfm,
            purchase_model,
            churn_model,
            purchase_gate,
            churn_gate,
            spend_per_buyer_cents,
            spend_backtest,
        } = self;
        let models = PredictionModels {
            horizon_days,
            purchase_model,
            churn_model,
            purchase_gate,
            churn_gate,
            spend_per_buyer_cents,
            spend_backtest,
        };
        let scores = Scores {
            purchase,
            churn,
            spend_cents,
            rfm,
        };
        (models, scores)
    }

    /// What scoring needs to repeat this training's scores.
    pub fn chosen(&self) -> Chosen {
        Chosen {
            purchase_model: self.purchase_model.clone(),
            churn_model: self.churn_model.clone(),
            purchase_gate: self.purchase_gate.clone(),
            churn_gate: self.churn_gate.clone(),
            spend_per_buyer_cents: self.spend_per_buyer_cents,
        }
    }
}

/// The backtest of the spend forecast over one horizon: as of T−H, the
/// purchase model fitted on [T−2H, T−H) times that window's spend per
/// buyer, against what each learner spent in [T−H, T); the baseline
/// forecasts the spend of the trailing H days [T−2H, T−H). The published
/// 90-day forecast is the same product scaled by 90/H.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SpendBacktest {
    pub horizon_days: u32,
    pub model: SpendQuality,
    pub baseline: SpendQuality,
}

/// Features and labels of every learner with history before `cutoff`.
struct Sample {
    /// The history index of each row.
    learners: Vec<usize>,
    rows: Vec<Row>,
    bought: Vec<bool>,
    /// (row index, churned) for learners active in the window before the cutoff.
    churn: Vec<(usize, bool)>,
    buyer_spend: (u64, i64),
    /// Cents spent in the horizon after the cutoff, and in as many days before it.
    spend: Vec<i64>,
    trailing: Vec<i64>,
}

/// Learners whose activity summaries fit the BG/BB model: enough to pin
/// four parameters, few enough to keep the fit well under a second.
const BGBB_LEARNERS: usize = 10_000;

/// The BG/BB model fitted on every learner's activity before `cutoff`.
fn activity_model(d: &LearnerData, s: &MarketingSettings, cutoff: i32) -> Option<BgBb> {
    let active = s.activity_mask();
    let rfs: Vec<_> = d
        .histories
        .par_iter()
        .filter_map(|rows| {
            History {
                rows,
                active: &active,
            }
            .rf(cutoff)
        })
        .collect();
    BgBb::fit(&rfs, BGBB_LEARNERS)
}

fn sample(d: &LearnerData, s: &MarketingSettings, cutoff: i32, model: Option<BgBb>) -> Sample {
    let active = s.activity_mask();
    let h = s.horizon_days as i32;
    let activity = model.map(|model| Activity::new(model, s.horizon_days));
    let history = |u: usize| History {
        rows: d.histories.get(u),
        active: &active,
    };
    // Learners with history before the cutoff (those `features` answers
    // for), then their rows written straight into exact-size buffers: the
    // feature rows are the sample's bulk, never held twice.
    let learners: Vec<usize> = (0..d.histories.len())
        .filter(|&u| !history(u).before(cutoff).is_empty())
        .collect();
    let (mut rows, mut outcomes) = (Vec::new(), Vec::new());
    learners
        .par_iter()
        .map(|&u| {
            let hist = history(u);
            let f = features(&hist, cutoff, d.courses, d.n_categories, activity.as_ref())
                .expect("a learner with rows before the cutoff has features");
            let (bought, churned) = labels(&hist, cutoff, h, s.churn_window_days as i32, d.courses);
            let spend = hist.purchases_between(cutoff, cutoff + h, d.courses).1;
            let trailing = hist.purchases_between(cutoff - h, cutoff, d.courses).1;
            (f, (bought, churned, spend, trailing))
        })
        .unzip_into_vecs(&mut rows, &mut outcomes);
    let mut out = Sample {
        learners,
        rows,
        bought: Vec::with_capacity(outcomes.len()),
        churn: Vec::new(),
        buyer_spend: (0, 0),
        spend: Vec::with_capacity(outcomes.len()),
        trailing: Vec::with_capacity(outcomes.len()),
    };
    for (i, (b, c, spend, trailing)) in outcomes.into_iter().enumerate() {
        out.bought.push(b);
        out.spend.push(spend);
        out.trailing.push(trailing);
        if let Some(c) = c {
            out.churn.push((i, c));
        }
        if b {
            out.buyer_spend.0 += 1;
            out.buyer_spend.1 += spend;
        }
    }
    out
}

const ALL: [usize; N_FEATURES] = {
    let mut a = [0; N_FEATURES];
    let mut i = 0;
    while i < N_FEATURES {
        a[i] = i;
        i += 1;
    }
    a
};

/// Fits model and baseline on `train` and compares them on `test` (the
/// latest labelled window). The winner is recalibrated on `test`'s
/// out-of-sample forecasts and published as one linear model, so the
/// published probabilities carry the latest base rate; AUC and lift are
/// those measured (the map is monotone). Also returns the forecasts on
/// `test` of the chosen model before recalibration (out of time).
fn gate(
    train: (&[Row], &[bool]),
    test: (&[Row], &[bool]),
    previous: Option<&LinearModel>,
    fitted: Fitted,
    l2: f64,
) -> (LinearModel, Gate, Vec<f64>) {
    let scores = |m: &LinearModel| -> Vec<f64> { test.0.iter().map(|r| m.predict(r)).collect() };
    let mut model_fit = fit(train.0, train.1, &ALL, l2);
    model_fit.activity = fitted.activity;
    let baseline_fit = fit(train.0, train.1, &BASELINE, l2);
    let (model_p, baseline_p) = (scores(&model_fit), scores(&baseline_fit));
    let (model, baseline) = (quality(&model_p, test.1), quality(&baseline_p, test.1));
    let beats = matches!((&model, &baseline), (Some(m), Some(b)) if m.auc > b.auc);
    let recalibrated = |m: &LinearModel, p: &[f64]| {
        let calibrated = quality(&cross_fitted(p, test.1, FOLDS), test.1);
        (fit_platt(p, test.1).compose(m), calibrated)
    };
    let (published, calibrated, source, forecast) = if beats {
        let (m, q) = recalibrated(&model_fit, &model_p);
        (m, q, Source::Model, model_p)
    } else if let Some(prev) = previous {
        // A kept model reads the BG/BB columns under its own fit.
        let p = if prev.uses_activity() && prev.activity != fitted.activity {
            (fitted.restate)(prev.activity)
                .iter()
                .map(|r| prev.predict(r))
                .collect()
        } else {
            scores(prev)
        };
        (prev.clone(), None, Source::Previous, p)
    } else if baseline.is_some() && baseline_fit.columns == BASELINE {
        let (m, q) = recalibrated(&baseline_fit, &baseline_p);
        (m, q, Source::Baseline, baseline_p)
    } else {
        // Nothing to fit on before the latest window (one class or none):
        // the baseline fitted on that window itself.
        (
            fit(test.0, test.1, &BASELINE, l2),
            None,
            Source::Baseline,
            baseline_p,
        )
    };
    let g = Gate {
        model,
        baseline,
        calibrated,
        source,
    };
    (published, g, forecast)
}

/// The BG/BB fit behind the sample's rows, and the test rows restated
/// under another fit (for a previous model).
struct Fitted<'a> {
    activity: Option<BgBb>,
    restate: &'a dyn Fn(Option<BgBb>) -> Vec<Row>,
}

/// `rows` of the learners `learners` with their BG/BB columns recomputed
/// under `model` as of `cutoff`.
fn restate(
    d: &LearnerData,
    s: &MarketingSettings,
    cutoff: i32,
    learners: &[usize],
    rows: &[Row],
    model: Option<BgBb>,
) -> Vec<Row> {
    let active = s.activity_mask();
    let activity = model.map(|model| Activity::new(model, s.horizon_days));
    learners
        .par_iter()
        .zip(rows)
        .map(|(&u, row)| {
            let hist = History {
                rows: d.histories.get(u),
                active: &active,
            };
            let (a, b) = bgbb_columns(&hist, cutoff, activity.as_ref());
            let mut r = *row;
            r[BGBB_FIRST] = a;
            r[BGBB_FIRST + 1] = b;
            r
        })
        .collect()
}

/// Mean spend of the buyers of a sample, cents (0 without buyers).
fn per_buyer(s: &Sample) -> f64 {
    if s.buyer_spend.0 > 0 {
        s.buyer_spend.1 as f64 / s.buyer_spend.0 as f64
    } else {
        0.0
    }
}

/// The spend forecast's backtest on `recent` (see [`SpendBacktest`]):
/// `p` are the purchase forecasts on `recent`'s rows of the model fitted
/// on `old`.
fn spend_backtest(old: &Sample, recent: &Sample, p: &[f64], horizon_days: u32) -> Option<SpendBacktest> {
    if recent.spend.is_empty() {
        return None;
    }
    let spb = per_buyer(old);
    let forecast: Vec<f64> = p.iter().map(|p| p * spb).collect();
    let actual: Vec<f64> = recent.spend.iter().map(|&c| c as f64).collect();
    let trailing: Vec<f64> = recent.trailing.iter().map(|&c| c as f64).collect();
    Some(SpendBacktest {
        horizon_days,
        model: spend_quality(&forecast, &actual),
        baseline: spend_quality(&trailing, &actual),
    })
}

/// The rows, labels and learners of the churn sample of `s`. Its rows are
/// taken and compacted in place: a second copy of every feature row would
/// be the pipeline's largest buffer.
fn churn_subset(s: &mut Sample) -> (Vec<Row>, Vec<bool>, Vec<usize>) {
    let mut rows = std::mem::take(&mut s.rows);
    let mut keep = vec![false; rows.len()];
    let (mut churned, mut learners) = (
        Vec::with_capacity(s.churn.len()),
        Vec::with_capacity(s.churn.len()),
    );
    for &(i, c) in &s.churn {
        keep[i] = true;
        churned.push(c);
        learners.push(s.learners[i]);
    }
    let mut kept = keep.into_iter();
    rows.retain(|_| kept.next().unwrap_or(false));
    rows.shrink_to_fit();
    (rows, churned, learners)
}

/// Runs the whole pipeline. `previous` are the models now serving.
pub fn predict(d: &LearnerData, s: &MarketingSettings, previous: Option<&PredictionModels>) -> Predictions {
    let h = s.horizon_days as i32;
    let (t0, t1) = (d.today - 2 * h, d.today - h);
    // One BG/BB fit per training, as of T−2H, so its features mean the
    // same at every cutoff the models are fitted, tested and scored at.
    let activity = activity_model(d, s, t0);
    let (mut old, mut recent) = (sample(d, s, t0, activity), sample(d, s, t1, activity));
    let purchase_restate = |m| restate(d, s, t1, &recent.learners, &recent.rows, m);
    let (purchase_model, purchase_gate, purchase_forecast) = gate(
        (&old.rows, &old.bought),
        (&recent.rows, &recent.bought),
        previous.map(|p| &p.purchase_model),
        Fitted {
            activity,
            restate: &purchase_restate,
        },
        s.l2,
    );
    let (old_c, recent_c) = (churn_subset(&mut old), churn_subset(&mut recent));
    let churn_restate = |m| restate(d, s, t1, &recent_c.2, &recent_c.0, m);
    let (churn_model, churn_gate, _) = gate(
        (&old_c.0, &old_c.1),
        (&recent_c.0, &recent_c.1),
        previous.map(|p| &p.churn_model),
        Fitted {
            activity,
            restate: &churn_restate,
        },
        s.l2,
    );
    let spend_per_buyer_cents = per_buyer(&recent);
    let chosen = Chosen {
        purchase_model,
        churn_model,
        purchase_gate,
        churn_gate,
        spend_per_buyer_cents,
    };
    let mut out = score_all(d, s, chosen);
    out.spend_backtest = spend_backtest(&old, &recent, &purchase_forecast, s.horizon_days);
    out
}

/// Scores every learner as of T with the chosen models (the timed part).
pub fn score_all(d: &LearnerData, s: &MarketingSettings, chosen: Chosen) -> Predictions {
    let Chosen {
        purchase_model,
        churn_model,
        purchase_gate,
        churn_gate,
        spend_per_buyer_cents,
    } = chosen;
    let active = s.activity_mask();
    let scale = 90.0 / f64::from(s.horizon_days.max(1));
    let with_horizon = |m: &LinearModel| m.activity.map(|model| Activity::new(model, s.horizon_days));
    let (activity, churn_activity) = (with_horizon(&purchase_model), with_horizon(&churn_model));
    let churn_differs = churn_model.uses_activity() && churn_model.activity != purchase_model.activity;
    let scored: Vec<(f32, f32, i64, RfmInput)> = d
        .histories
        .par_iter()
        .map(|rows| {
            let hist = History {
                rows,
                active: &active,
            };
            let Some(f) = features(&hist, d.today, d.courses, d.n_categories, activity.as_ref()) else {
                let never = RfmInput {
                    recency_days: f64::INFINITY,
                    frequency: 0.0,
                    monetary_cents: 0.0,
                };
                return (0.0, f32::NAN, 0, never);
            };
            let last_active = hist.last_active_ms(d.today);
            // Churn is defined for learners active within the last D days
            // of elapsed time before the data cutoff.
            let churn = if active_within(last_active, d.cutoff_ms, s.churn_window_days) {
                let mut fc = f;
                if churn_differs {
                    let (a, b) = bgbb_columns(&hist, d.today, churn_activity.as_ref());
                    fc[BGBB_FIRST] = a;
                    fc[BGBB_FIRST + 1] = b;
                }
                Some(churn_model.predict(&fc))
            } else {
                None
            };
            let p = within_active(purchase_model.predict(&f), churn);
            let owned = hist.owned(d.today, d.courses);
            let rfm = RfmInput {
                recency_days: days_since(last_active, d.cutoff_ms),
                frequency: f64::from(owned.courses),
                monetary_cents: owned.net_cents as f64,
            };
            let spend = (p * spend_per_buyer_cents * scale).round() as i64;
            (p as f32, churn.map_or(f32::NAN, |c| c as f32), spend, rfm)
        })
        .collect();
    let rfm = score(&scored.iter().map(|x| x.3).collect::<Vec<_>>());
    Predictions {
        horizon_days: s.horizon_days,
        purchase: scored.iter().map(|x| x.0).collect(),
        churn: scored.iter().map(|x| x.1).collect(),
        spend_cents: scored.iter().map(|x| x.2).collect(),
        rfm,
        purchase_model,
        churn_model,
        purchase_gate,
        churn_gate,
        spend_per_buyer_cents,
        spend_backtest: None,
    }
}

/// P(purchase) held within P(active) = 1 − P(churn). Buying is activity,
/// so no learner can be likelier to buy in the horizon than to be active
/// in it; the purchase and churn models are fitted apart and can disagree.
/// The published probability is P(active) × P(purchase | active) with
/// P(purchase | active) = min(1, p̂ / P(active)) from the purchase model's
/// p̂: that is p̂ capped at P(active) (the Fréchet bound), so a learner the
/// two models agree on keeps p̂. `churn`: `None` where churn is undefined
/// (not active in the last D days), and p̂ stands.
pub fn within_active(purchase: f64, churn: Option<f64>) -> f64 {
    churn.map_or(purchase, |c| purchase.min(1.0 - c))
}

/// Slack for f32 storage when [`check`] compares P(purchase) with 1 − P(churn).
const COHERENCE_SLACK: f32 = 1e-6;

/// A published prediction that breaks the rules [`check`] enforces.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Incoherent {
    /// Index of the first learner that breaks them.
    pub learner: usize,
    pub purchase: f32,
    /// NaN where churn is undefined.
    pub churn: f32,
}

impl std::fmt::Display for Incoherent {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "learner {}: P(purchase) {} with P(churn) {} (want both in 0..1 and P(purchase) <= 1 - P(churn))",
            self.learner, self.purchase, self.churn
        )
    }
}

/// Every learner's probabilities (one entry each in `purchase` and
/// `churn`) are in 0..1 (churn may be NaN:
/// undefined) and P(purchase) ≤ 1 − P(churn) where churn is defined. Run
/// on every model a training publishes; the first learner breaking it is
/// the error.
pub fn check(purchase: &[f32], churn: &[f32]) -> Result<(), Incoherent> {
    let unit = |x: f32| (0.0..=1.0).contains(&x);
    let bad = purchase
        .iter()
        .zip(churn)
        .position(|(&p, &c)| !unit(p) || !(c.is_nan() || unit(c) && p <= 1.0 - c + COHERENCE_SLACK));
    match bad {
        None if purchase.len() == churn.len() => Ok(()),
        None => Err(Incoherent {
            learner: purchase.len().min(churn.len()),
            purchase: f32::NAN,
            churn: f32::NAN,
        }),
        Some(learner) => Err(Incoherent {
            learner,
            purchase: purchase[learner],
            churn: churn[learner],
        }),
    }
}

/// The recency–frequency baselines (purchase, churn) fitted on the latest
/// labelled window (features as of T−H, outcomes in [T−H, T)), with no
/// penalty, for comparisons as of T: the strongest form of the baseline,
/// since it is fitted on the newest data and calibrated in sample.
pub fn latest_baselines(d: &LearnerData, s: &MarketingSettings) -> (LinearModel, LinearModel) {
    let mut recent = sample(d, s, d.today - s.horizon_days as i32, None);
    let purchase = fit(&recent.rows, &recent.bought, &BASELINE, 0.0);
    let (rows_c, churned, _) = churn_subset(&mut recent);
    (purchase, fit(&rows_c, &churned, &BASELINE, 0.0))
}
