//! The marketing half of a training, in three steps: [`histories`] and
//! [`prepare`] need only the log and the catalog (so the predictions are
//! fitted beside the ALS fit), [`finish`] adds what needs the fitted
//! factors (the offer shares).

use std::collections::HashMap;

use rayon::prelude::*;

use super::days::DayData;
use crate::domain::DAY_MS;
use crate::learners::Learners;
use crate::marketing::audience::MarketingModel;
use crate::marketing::classifier::LinearModel;
use crate::marketing::columns::MarketingColumns;
use crate::marketing::features::{CourseInfo, DayRow, Histories, History};
use crate::marketing::offer::{Catalogue, OfferShares};
use crate::marketing::predict::{check, predict, Incoherent, LearnerData, PredictionModels, Scores};
use crate::marketing::uplift::fit::{fit_uplift, CampaignOutcomes, UpliftInput, UpliftReport};
use crate::marketing::uplift::{columns as uplift_columns, UpliftColumns, UpliftModel};
use crate::marketing::MarketingSettings;
use crate::serve::snapshot::{CourseMeta, CourseSide, ModelSnapshot};

/// The learners' histories and predictions, before the offer shares.
pub struct Prepared {
    predictions: PredictionModels,
    scores: Scores,
    categories: Vec<String>,
    course_category: Vec<u32>,
    last_active_ms: Vec<i64>,
    today: i32,
    cutoff_ms: i64,
    uplift: Uplift,
}

/// The uplift half: the model that serves (this training's when it
/// passed its gate, else the previous one), this training's report, and
/// every learner's columns under the serving model.
#[derive(Default)]
struct Uplift {
    model: Option<UpliftModel>,
    from_this_training: bool,
    report: Option<UpliftReport>,
    columns: Option<UpliftColumns>,
}

/// Fits the uplift model on `campaigns` (ended, learners by id in `users`)
/// and scores every learner of `data` under the model that will serve.
fn uplift(
    data: &LearnerData,
    categories: &[String],
    campaigns: &[CampaignOutcomes],
    users: &HashMap<String, u32>,
    s: &MarketingSettings,
    (purchase_model, previous): (&LinearModel, Option<&MarketingModel>),
) -> Uplift {
    let keys: Vec<String> = categories
        .iter()
        .map(|c| crate::domain::category_key(c))
        .collect();
    let past: Vec<_> = campaigns.iter().filter_map(|c| c.indexed(users, &keys)).collect();
    let active = s.activity_mask();
    let input = UpliftInput {
        histories: data.histories,
        courses: data.courses,
        n_categories: data.n_categories,
        active: &active,
        campaigns: &past,
        propensity: Some((purchase_model, s.horizon_days)),
    };
    let fitted = fit_uplift(&input, s, 0x7570_6c69_6674);
    let from_this_training = fitted.passed;
    let model = fitted
        .model
        .filter(|_| fitted.passed)
        .or_else(|| previous.and_then(|p| p.uplift.clone()));
    let columns = model.as_ref().map(|m| {
        uplift_columns(
            m,
            data.histories,
            data.courses,
            data.n_categories,
            &active,
            data.today,
        )
    });
    Uplift {
        model,
        from_this_training,
        report: Some(fitted.report),
        columns,
    }
}

/// Predictions and RFM for every learner of `histories` as of the data
/// cutoff `cutoff_ms` (when the log was read); features are computed as of
/// day `today`, the first day not seen in full. `meta[i]` is snapshot
/// course i's metadata.
pub fn prepare(
    histories: Histories,
    meta: &[CourseMeta],
    s: &MarketingSettings,
    (today, cutoff_ms): (i32, i64),
    previous: Option<&MarketingModel>,
    (campaigns, users): (&[CampaignOutcomes], &HashMap<String, u32>),
) -> Prepared {
    let mut categories: Vec<String> = meta.iter().map(|m| m.category.clone()).collect();
    categories.sort_unstable();
    categories.dedup();
    let course_category: Vec<u32> = meta
        .iter()
        .map(|m| categories.binary_search(&m.category).unwrap_or(0) as u32)
        .collect();
    let infos: Vec<CourseInfo> = meta
        .iter()
        .zip(&course_category)
        .map(|(m, &category)| CourseInfo {
            category,
            price_cents: m.price_cents,
        })
        .collect();
    let data = LearnerData {
        histories: &histories,
        courses: &infos,
        n_categories: categories.len(),
        today,
        cutoff_ms,
    };
    let (predictions, scores) = predict(&data, s, previous.map(|p| &p.predictions)).split();
    let uplift = uplift(
        &data,
        &categories,
        campaigns,
        users,
        s,
        (&predictions.purchase_model, previous),
    );
    let active = s.activity_mask();
    let last_active_ms = histories
        .iter()
        .map(|rows| {
            History {
                rows,
                active: &active,
            }
            .last_active_ms(today)
            .unwrap_or(i64::MIN)
        })
        .collect();
    Prepared {
        predictions,
        scores,
        categories,
        course_category,
        last_active_ms,
        today,
        cutoff_ms,
        uplift,
    }
}

/// Per snapshot learner, the cells of `days` of snapshot courses, by day;
/// `users` and `courses` map ids to the snapshot's indices (every learner
/// of the snapshot). The cells' buffer becomes the histories' (mapped in
/// place), so the two never coexist.
pub fn histories(days: DayData, users: &HashMap<String, u32>, courses: &HashMap<String, u32>) -> Histories {
    // Day-store indices to snapshot indices (None: not in the snapshot).
    let user_of: Vec<Option<u32>> = days.user_ids.iter().map(|u| users.get(u).copied()).collect();
    let course_of: Vec<Option<u32>> = days.course_ids.iter().map(|c| courses.get(c).copied()).collect();
    let mut tagged: Vec<(u32, DayRow)> = days
        .rows
        .into_iter()
        .filter_map(|c| {
            let (u, course) = (user_of[c.user as usize]?, course_of[c.course as usize]?);
            let row = DayRow {
                day: c.day,
                course,
                kind: c.kind,
                count: c.count,
                value_max: c.value_max,
                last_ms: (c.last_ts_ms() - i64::from(c.day) * DAY_MS) as i32,
            };
            Some((u, row))
        })
        .collect();
    // (course, type) within a day, as the cells were: a total order.
    tagged.par_sort_unstable_by_key(|(u, r)| (*u, r.day, r.course, r.kind.index()));
    Histories::from_sorted(tagged, users.len())
}

/// The marketing model and the learners' marketing columns: `prepared`
/// plus the offer shares under the fitted factors. `courses` must be the
/// courses `prepare` was given, in order.
pub fn finish(
    prepared: Prepared,
    users: &Learners,
    courses: &CourseSide,
    s: &MarketingSettings,
) -> (MarketingModel, MarketingColumns) {
    debug_assert_eq!(courses.ids.len(), prepared.course_category.len());
    let offered: Vec<bool> = courses.meta.iter().map(|m| m.servable()).collect();
    let catalogue = Catalogue {
        factors: &courses.factors,
        category: &prepared.course_category,
        offered: &offered,
        n_categories: prepared.categories.len(),
    };
    let (offers, audit) = OfferShares::build(
        &users.factors,
        &users.taken,
        &catalogue,
        s.course_softmax_beta,
        &s.offer_normaliser,
    );
    if audit.sampled {
        tracing::info!(
            learners_exact = audit.learners_exact,
            learners_checked = audit.learners_checked,
            median_relative_error = audit.median_relative_error,
            max_relative_error = audit.max_relative_error,
            max_category_error = audit.max_category_error,
            "offer normaliser sampled"
        );
    }
    let model = MarketingModel {
        predictions: prepared.predictions,
        categories: prepared.categories,
        course_category: prepared.course_category,
        today: prepared.today,
        cutoff_ms: prepared.cutoff_ms,
        uplift: prepared.uplift.model,
        uplift_from_this_training: prepared.uplift.from_this_training,
        uplift_report: prepared.uplift.report,
    };
    let columns = MarketingColumns {
        scores: prepared.scores,
        last_active_ms: prepared.last_active_ms,
        offers,
        uplift: prepared.uplift.columns,
    };
    (model, columns)
}

/// The coherence check every published marketing model passes
/// ([`crate::marketing::predict::check`]): a model that fails it is taken
/// out (`snap.marketing` becomes `None`, so audiences answer "not ready"
/// rather than serve it) and the failure returned for the caller to log
/// and count.
pub fn refuse_incoherent(snap: &mut ModelSnapshot) -> Result<(), Incoherent> {
    let (Some(_), Some(cols)) = (&snap.marketing, &snap.users.marketing) else {
        return Ok(());
    };
    let verdict = check(&cols.scores.purchase, &cols.scores.churn);
    if verdict.is_err() {
        snap.marketing = None;
    }
    verdict
}
