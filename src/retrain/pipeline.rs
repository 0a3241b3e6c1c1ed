//! One training, start to finish, as a pure function: aggregates and catalog
//! in, a complete snapshot (or the reason there is none) out. Runs on a
//! blocking thread; no I/O here.

use std::sync::Arc;
use std::time::Instant;

use super::TrainSettings;
use crate::domain::{Course, TypeAgg};
use crate::eval::split::{split, SplitKind, SplitParams};
use crate::model::{fit, Csr, Interactions};
use crate::serve::snapshot::{ModelSnapshot, UserSide};
use crate::serve::{catalog, segments};

/// What the store gave the training.
pub struct TrainInput {
    pub aggs: Vec<TypeAgg>,
    pub catalog: Vec<Course>,
    pub trained_seq: i64,
    pub read_at_ms: i64,
    pub n_events: i64,
    pub version: i64,
    /// Per-day event counts for the marketing predictions.
    pub days: super::marketing::DayData,
}

/// Why a training did not produce a snapshot to publish.
#[derive(Debug, thiserror::Error)]
pub enum TrainFailure {
    #[error("no interactions to train on")]
    NoData,
    #[error("the fit failed: {0}")]
    Fit(#[from] crate::model::FitError),
    #[error("the model (NDCG@10 {model:.4}) does not beat popularity ({baseline:.4}) on the holdout")]
    NotBetter { model: f64, baseline: f64 },
    #[error("injected failure")]
    Injected,
    #[error("cannot start the training threads: {0}")]
    Pool(String),
}

impl TrainFailure {
    /// The `reason` label of `courserec_training_failures_total`.
    pub fn reason(&self) -> &'static str {
        match self {
            TrainFailure::NoData => "no_data",
            TrainFailure::Fit(_) => "fit",
            TrainFailure::NotBetter { .. } => "not_better_than_baseline",
            TrainFailure::Injected => "injected",
            TrainFailure::Pool(_) => "threads",
        }
    }
}

/// Trains, evaluates against popularity on a holdout of each sampled user's
/// latest interactions, then refits on everything and builds the snapshot.
pub fn train(
    input: TrainInput,
    s: &TrainSettings,
    previous: Option<&ModelSnapshot>,
) -> Result<ModelSnapshot, TrainFailure> {
    let started = Instant::now();
    let inter = Interactions::build(&input.aggs, &input.catalog, &s.weights, input.read_at_ms);
    if inter.entries.is_empty() {
        return Err(TrainFailure::NoData);
    }
    let (n_users, n_courses) = (inter.users.len(), inter.courses.len());

    let holdout = SplitParams {
        holdout: s.holdout_fraction,
        min_interactions: 5,
        max_test_users: Some(s.holdout_users),
    };
    let sp = split(&inter.entries, SplitKind::Temporal, &holdout, s.model.seed);
    let (metrics, baseline) = if sp.test.is_empty() {
        (None, None)
    } else {
        let report = crate::eval::evaluate::evaluate(n_users, n_courses, &sp, &s.model, 10)?;
        if s.require_beat_baseline && report.model.ndcg <= report.popularity.ndcg {
            return Err(TrainFailure::NotBetter {
                model: report.model.ndcg,
                baseline: report.popularity.ndcg,
            });
        }
        (Some(report.model), Some(report.popularity))
    };

    let ui = inter.to_csr();
    let model = fit(&ui, &s.model, |_, _| {})?;
    let popularity = crate::model::popularity::popularity(
        &inter.entries,
        n_courses,
        input.read_at_ms,
        s.popularity_half_life_days,
    );
    let taken: Vec<(u32, u32, f32)> = inter
        .entries
        .iter()
        .filter(|e| e.taken)
        .map(|e| (e.user, e.course, 1.0))
        .collect();
    let taken = Csr::from_triples(n_users, n_courses, &taken);
    let courses = catalog::build(inter.courses.clone(), model.items, popularity, &input.catalog);
    let users = UserSide::new(inter.users.clone(), model.users, ui, taken);
    let seg_started = Instant::now();
    let segs = segments::build(
        &input.aggs,
        &users,
        &courses,
        &s.segment,
        previous,
        input.read_at_ms,
        s.model.seed,
    );
    let segmentation_seconds = seg_started.elapsed().as_secs_f64();
    // T is the first day the training has not seen in full: tomorrow.
    let today = (input.read_at_ms.div_euclid(86_400_000) + 1) as i32;
    let marketing = super::marketing::build(
        &input.days,
        &users,
        &courses,
        &s.marketing,
        today,
        previous.and_then(|p| p.marketing.as_deref()),
    );

    Ok(ModelSnapshot {
        version: input.version,
        trained_at_ms: crate::store::now_ms(),
        trained_seq: input.trained_seq,
        data_read_at_ms: input.read_at_ms,
        training_seconds: started.elapsed().as_secs_f64(),
        n_events: input.n_events,
        params: s.model.clone(),
        weights: s.weights.clone(),
        metrics,
        baseline_metrics: baseline,
        users: Arc::new(users),
        courses: Arc::new(courses),
        segments: Some(Arc::new(segs)),
        segmentation_seconds,
        marketing: Some(Arc::new(marketing)),
    })
}
