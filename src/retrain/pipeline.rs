//! One training, start to finish, as a pure function: aggregates and catalog
//! in, a complete snapshot (or the reason there is none) out. Runs on a
//! blocking thread; no I/O here.

use std::sync::Arc;
use std::time::Instant;

use super::days::DayData;
use super::phases::Phases;
use super::TrainSettings;
use crate::domain::Course;
use crate::eval::evaluate::EvalReport;
use crate::eval::split::{split, Split, SplitKind, SplitParams};
use crate::learners::Learners;
use crate::marketing::features::Histories;
use crate::marketing::uplift::fit::CampaignOutcomes;
use crate::model::als::fit_from;
use crate::model::{fit, Csr, Factors, Interactions, Weights};
use crate::paths::evaluate::NextCourseHoldout;
use crate::paths::order::{category_ids, taken_sequences};
use crate::paths::{NextCourseReport, PathModel};
use crate::segment::profile::{build_profiles, in_order, profiles_by_user};
use crate::segment::Profile;
use crate::serve::snapshot::{Basis, CourseSide, ModelSnapshot};
use crate::serve::{catalog, segments};

/// What the store gave the training.
pub struct TrainInput {
    pub catalog: Vec<Course>,
    pub trained_seq: i64,
    pub read_at_ms: i64,
    pub n_events: i64,
    pub version: i64,
    /// Every cell of the log: the recommender's aggregates
    /// ([`DayData::aggregates`]) and the marketing histories.
    pub days: DayData,
    /// Where the training shows its running phase (`GET /model`).
    pub progress: Option<Arc<super::phases::Progress>>,
    /// Ended campaigns with their members' outcomes: the uplift model's data.
    pub campaigns: Vec<CampaignOutcomes>,
}

impl TrainInput {
    /// The log's weighted (learner, course) interactions as of the read,
    /// every catalog course indexed.
    pub fn interactions(&self, w: &Weights) -> Interactions {
        interactions_of(&self.days, &self.catalog, w, self.read_at_ms)
    }
}

/// The weighted (learner, course) interactions of `days` as of `read_at_ms`,
/// every course of `catalog` indexed.
fn interactions_of(days: &DayData, catalog: &[Course], w: &Weights, read_at_ms: i64) -> Interactions {
    Interactions::build(days.aggregates(read_at_ms), catalog, w, read_at_ms)
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
    #[error("no learner has enough interactions to hold some out, so the model cannot be evaluated")]
    NotEvaluated,
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
            TrainFailure::NotEvaluated => "not_evaluated",
            TrainFailure::Injected => "injected",
            TrainFailure::Pool(_) => "threads",
        }
    }
}

/// Trains, evaluates against popularity on a holdout of each sampled user's
/// latest interactions, then refits on everything and builds the snapshot.
/// The parts that need only the log (profiles, marketing predictions) run
/// beside the ALS fit, so the serial steps of one fill the other's idle core.
///
/// A model that loses to popularity, or that cannot be evaluated (no user
/// has enough interactions for a holdout), is never published. Unless an
/// evaluated model already serves (`previous`), which then keeps serving,
/// a popularity snapshot is returned instead, saying why; so is one when
/// there are no interactions at all (newest courses first).
pub fn train(
    mut input: TrainInput,
    s: &TrainSettings,
    previous: Option<&ModelSnapshot>,
) -> Result<ModelSnapshot, TrainFailure> {
    let started = Instant::now();
    let mut phases = Phases(Vec::new(), input.progress.clone());
    let read_at = input.read_at_ms;
    let days = std::mem::take(&mut input.days);
    let index = crate::segment::course_index(&input.catalog);
    let build_started = phases.begin("build");
    // Both read the log's cells, each on one core.
    let (inter, (by_user, profile_seconds)) = rayon::join(
        || interactions_of(&days, &input.catalog, &s.weights, read_at),
        || timed(|| profiles_by_user(days.aggregates(read_at), &index, read_at)),
    );
    let keeps_model = previous.is_some_and(ModelSnapshot::is_model);
    let fallback = |why: TrainFailure, evaluated: Option<EvalReport>| {
        if keeps_model {
            Err(why)
        } else {
            let basis = Basis::Popularity {
                code: why.reason().to_string(),
                reason: why.to_string(),
            };
            Ok(popularity_snapshot(&input, &inter, s, basis, evaluated, started))
        }
    };
    if inter.entries.is_empty() {
        return fallback(TrainFailure::NoData, None);
    }
    let profiles = in_order(&inter.users, by_user, &index, read_at);
    let histories = super::marketing::histories(days, &inter.user_index, &inter.course_index);
    phases.end("build", build_started);
    phases.begin("evaluate");
    let category = course_categories(&inter, &input.catalog);
    let (als, (marketing, predict_seconds)) = rayon::join(
        || fit_and_evaluate(&inter, &category, s, input.progress.as_deref()),
        || {
            timed(|| {
                let log = (&input.catalog[..], &input.campaigns[..]);
                predictions(histories, &inter, log, s, read_at, previous)
            })
        },
    );
    let als = match als {
        Ok(als) => als,
        Err((why @ TrainFailure::Fit(_), _)) => return Err(why),
        Err((why, report)) => return fallback(why, report.map(|r| *r)),
    };
    phases.record("evaluate", als.evaluate_seconds);
    let log = LogSide {
        profiles,
        marketing,
        profile_seconds,
        predict_seconds,
    };
    Ok(assemble(
        input,
        s,
        previous,
        inter,
        als.fitted,
        als.report,
        als.next_course,
        log,
        phases,
        als.fit_seconds,
        started,
    ))
}

/// The ALS half of a training: the gate's fit and evaluation, then the
/// published model's refit, with the seconds each took.
struct AlsOutcome {
    report: EvalReport,
    /// The next-course holdout (learning paths), on the gate's split.
    next_course: Option<NextCourseReport>,
    fitted: Fitted,
    evaluate_seconds: f64,
    fit_seconds: f64,
}

type GateError = (TrainFailure, Option<Box<EvalReport>>);

fn fit_and_evaluate(
    inter: &Interactions,
    category: &[u32],
    s: &TrainSettings,
    progress: Option<&super::phases::Progress>,
) -> Result<AlsOutcome, GateError> {
    let (n_users, n_courses) = (inter.users.len(), inter.courses.len());
    let evaluate_started = Instant::now();
    let mut evaluated = None;
    let mut next_course = None;
    let report = gate(inter, s, |sp| {
        let held = crate::paths::evaluate::Split {
            train: &sp.train,
            test: &sp.test,
        };
        let next = NextCourseHoldout::prepare(&inter.entries, &held, n_courses, category, s.model.seed);
        let (report, model) =
            crate::eval::evaluate::evaluate_model(n_users, n_courses, sp, &s.model, 10, s.weights.purchase)?;
        next_course = next.map(|h| h.evaluate(&model.users, &model.items, 10));
        evaluated = Some(model);
        Ok(report)
    })?;
    let evaluate_seconds = evaluate_started.elapsed().as_secs_f64();
    if let Some(p) = progress {
        p.mark("fit", 3);
    }
    let fit_started = Instant::now();
    let ui = inter.to_csr();
    let model = match evaluated {
        // The holdout split keeps every index, so the evaluated factors
        // are a start near the optimum on all interactions.
        Some(start) if s.refit_iterations > 0 => {
            fit_from(&ui, &s.model, start, s.refit_iterations, |_, _| {})
        }
        _ => fit(&ui, &s.model, |_, _| {}),
    }
    .map_err(|e| (TrainFailure::Fit(e), None))?;
    Ok(AlsOutcome {
        report,
        next_course,
        fitted: Fitted {
            users: model.users,
            items: model.items,
            history: ui,
        },
        evaluate_seconds,
        fit_seconds: fit_started.elapsed().as_secs_f64(),
    })
}

/// What a training derives from the log and the catalog alone: every
/// learner's profile and the marketing predictions, with the seconds each
/// took (counted into the `segment` and `predict` phases).
pub struct LogSide {
    profiles: Vec<Profile>,
    marketing: super::marketing::Prepared,
    profile_seconds: f64,
    predict_seconds: f64,
}

/// [`LogSide`] of the learners and courses of `inter`, as of `read_at_ms`,
/// one step after the other. `days` is consumed (its buffer becomes the
/// marketing histories).
pub fn log_side(
    days: DayData,
    inter: &Interactions,
    (catalog, campaigns): (&[Course], &[CampaignOutcomes]),
    s: &TrainSettings,
    read_at_ms: i64,
    previous: Option<&ModelSnapshot>,
) -> LogSide {
    let index = crate::segment::course_index(catalog);
    let (profiles, profile_seconds) =
        timed(|| build_profiles(&inter.users, days.aggregates(read_at_ms), &index, read_at_ms));
    let (marketing, predict_seconds) = timed(|| {
        let histories = super::marketing::histories(days, &inter.user_index, &inter.course_index);
        predictions(histories, inter, (catalog, campaigns), s, read_at_ms, previous)
    });
    LogSide {
        profiles,
        marketing,
        profile_seconds,
        predict_seconds,
    }
}

/// The marketing predictions of `inter`'s learners from their histories.
fn predictions(
    histories: Histories,
    inter: &Interactions,
    (catalog, campaigns): (&[Course], &[CampaignOutcomes]),
    s: &TrainSettings,
    read_at_ms: i64,
    previous: Option<&ModelSnapshot>,
) -> super::marketing::Prepared {
    // T is the first day the training has not seen in full: tomorrow.
    let today = (read_at_ms.div_euclid(86_400_000) + 1) as i32;
    super::marketing::prepare(
        histories,
        &catalog::meta_of(&inter.courses, catalog),
        &s.marketing,
        (today, read_at_ms),
        previous.and_then(|p| p.marketing.as_deref()),
        (campaigns, &inter.user_index),
    )
}

/// The gate every published model passes: the latest interactions of up to
/// `holdout_users` learners held out (temporal split, seeded), the candidate
/// scored on them by `score` and compared on NDCG@10 with popularity. The
/// failure says why, with the report when there is one.
pub fn gate(
    inter: &Interactions,
    s: &TrainSettings,
    score: impl FnOnce(Split) -> Result<EvalReport, crate::model::FitError>,
) -> Result<EvalReport, (TrainFailure, Option<Box<EvalReport>>)> {
    let sp = holdout_split(inter, s);
    if sp.test.is_empty() {
        return Err((TrainFailure::NotEvaluated, None));
    }
    let report = score(sp).map_err(|e| (TrainFailure::Fit(e), None))?;
    if s.require_beat_baseline && report.model.ndcg <= report.popularity.ndcg {
        let why = TrainFailure::NotBetter {
            model: report.model.ndcg,
            baseline: report.popularity.ndcg,
        };
        return Err((why, Some(Box::new(report))));
    }
    Ok(report)
}

/// The gate's holdout: the latest `holdout_fraction` of the interactions
/// of up to `holdout_users` seeded-sampled learners with at least 5. The
/// same interactions and settings always give the same split.
pub fn holdout_split(inter: &Interactions, s: &TrainSettings) -> Split {
    let holdout = SplitParams {
        holdout: s.holdout_fraction,
        min_interactions: 5,
        max_test_users: Some(s.holdout_users),
    };
    split(&inter.entries, SplitKind::Temporal, &holdout, s.model.seed)
}

/// The factors of a model over `Interactions`' dense indices.
pub struct Fitted {
    /// One row per learner.
    pub users: Factors,
    /// One row per course.
    pub items: Factors,
    /// The learner × course weight matrix (`Interactions::to_csr`).
    pub history: Csr,
}

/// The snapshot of a model that passed the [`gate`]: courses with few
/// learners are blended with content factors, then segments and offer
/// shares are built from the factors and `log`. The `fit` phase counts
/// `fit_seconds` already spent; `inter` is freed as soon as the last step
/// that reads it is done, so later phases do not carry it.
#[allow(clippy::too_many_arguments)]
pub fn assemble(
    input: TrainInput,
    s: &TrainSettings,
    previous: Option<&ModelSnapshot>,
    inter: Interactions,
    fitted: Fitted,
    report: EvalReport,
    next_course: Option<NextCourseReport>,
    log: LogSide,
    mut phases: Phases,
    fit_seconds: f64,
    started: Instant,
) -> ModelSnapshot {
    let place_started = phases.begin("fit");
    let n_courses = inter.courses.len();
    // Evidence per course: learners with a positive interaction.
    let mut learners = vec![0u32; n_courses];
    for e in inter.entries.iter().filter(|e| e.weight > 0.0) {
        learners[e.course as usize] += 1;
    }
    let courses = catalog::build_blended(
        inter.courses.clone(),
        fitted.items,
        &learners,
        popularity_of(&inter, s, input.read_at_ms),
        &input.catalog,
    );
    let users = user_side(&inter, fitted.users, fitted.history);
    let paths = PathModel::new(
        &inter.entries,
        &course_categories(&inter, &input.catalog),
        next_course,
    );
    drop(inter);
    phases.record("fit", fit_seconds + place_started.elapsed().as_secs_f64());
    // Segments and offer shares both read the factors only: side by side.
    phases.begin("segment");
    let LogSide {
        profiles,
        marketing,
        profile_seconds,
        predict_seconds,
    } = log;
    let (((segs, assignment), segment_seconds), ((marketing, columns), offer_seconds)) = rayon::join(
        || timed(|| segments::build(&profiles, &users, &s.segment, previous, s.model.seed)),
        || timed(|| super::marketing::finish(marketing, &users, &courses, &s.marketing)),
    );
    drop(profiles);
    let segmentation_seconds = profile_seconds + segment_seconds;
    phases.record("segment", segmentation_seconds);
    phases.record("predict", predict_seconds + offer_seconds);
    // Every per-learner column joins the one table (moved, not copied).
    let users = users.with_segments(assignment).with_marketing(columns);
    let mut snap = snapshot(&input, s, users, courses, Some(report), started);
    snap.segments = Some(Arc::new(segs));
    snap.segmentation_seconds = segmentation_seconds;
    snap.marketing = Some(Arc::new(marketing));
    snap.paths = Some(Arc::new(paths));
    snap.phases = phases.0;
    snap
}

/// `f`'s result and the seconds it took.
fn timed<R>(f: impl FnOnce() -> R) -> (R, f64) {
    let started = Instant::now();
    let r = f();
    (r, started.elapsed().as_secs_f64())
}

/// Popularity (learners, time-decayed) of every course of `inter`.
fn popularity_of(inter: &Interactions, s: &TrainSettings, now_ms: i64) -> Vec<f32> {
    crate::model::popularity::popularity(
        &inter.entries,
        inter.courses.len(),
        now_ms,
        s.popularity_half_life_days,
        s.weights.purchase,
    )
}

/// Each course's category id (see [`category_ids`]), by `inter`'s index.
fn course_categories(inter: &Interactions, catalog: &[Course]) -> Vec<u32> {
    let meta = catalog::meta_of(&inter.courses, catalog);
    category_ids(meta.iter().map(|m| m.category.as_str()))
}

/// Users with their factors, history and taken courses (each valued by
/// its rank in the order the learner took them, 1 first).
fn user_side(inter: &Interactions, factors: Factors, history: Csr) -> Learners {
    let mut taken: Vec<(u32, u32, f32)> = Vec::new();
    let users = inter.entries.chunk_by(|a, b| a.user == b.user).map(|g| g[0].user);
    for (u, order) in users.zip(taken_sequences(&inter.entries)) {
        taken.extend(
            order
                .iter()
                .enumerate()
                .map(|(rank, &c)| (u, c, (rank + 1) as f32)),
        );
    }
    let taken = Csr::from_triples(inter.users.len(), inter.courses.len(), &taken);
    let dismissed: Vec<(u32, u32, f32)> = inter.dismissed.iter().map(|&(u, c)| (u, c, 1.0)).collect();
    let dismissed = Csr::from_triples(inter.users.len(), inter.courses.len(), &dismissed);
    Learners::new(inter.users.clone(), factors, history, taken).with_dismissed(dismissed)
}

/// A snapshot that serves popularity only (zero factors), saying why.
/// Segments need factors, so it has none.
fn popularity_snapshot(
    input: &TrainInput,
    inter: &Interactions,
    s: &TrainSettings,
    basis: Basis,
    evaluated: Option<EvalReport>,
    started: Instant,
) -> ModelSnapshot {
    let k = s.model.factors;
    let zeros = |n: usize| Factors {
        n,
        k,
        data: vec![0.0; n * k],
    };
    let (n_users, n_courses) = (inter.users.len(), inter.courses.len());
    let popularity = popularity_of(inter, s, input.read_at_ms);
    let courses = catalog::build(
        inter.courses.clone(),
        zeros(n_courses),
        popularity,
        &input.catalog,
    );
    let users = user_side(inter, zeros(n_users), inter.to_csr());
    let paths = PathModel::new(&inter.entries, &course_categories(inter, &input.catalog), None);
    let mut snap = snapshot(input, s, users, courses, evaluated, started);
    snap.basis = basis;
    snap.paths = Some(Arc::new(paths));
    snap
}

/// A popularity snapshot of the store's data as it is, for a service that
/// has no model yet (`code` and `reason` say so in `/model`).
pub fn popularity_only(input: TrainInput, s: &TrainSettings, code: &str, reason: &str) -> ModelSnapshot {
    let inter = input.interactions(&s.weights);
    let basis = Basis::Popularity {
        code: code.into(),
        reason: reason.into(),
    };
    popularity_snapshot(&input, &inter, s, basis, None, Instant::now())
}

fn snapshot(
    input: &TrainInput,
    s: &TrainSettings,
    users: Learners,
    courses: CourseSide,
    evaluated: Option<EvalReport>,
    started: Instant,
) -> ModelSnapshot {
    let (metrics, baseline_metrics) = match evaluated {
        Some(r) => (Some(r.model), Some(r.popularity)),
        None => (None, None),
    };
    ModelSnapshot {
        version: input.version,
        trained_at_ms: crate::domain::now_ms(),
        trained_seq: input.trained_seq,
        data_read_at_ms: input.read_at_ms,
        training_seconds: started.elapsed().as_secs_f64(),
        n_events: input.n_events,
        params: s.model.clone(),
        weights: s.weights.clone(),
        metrics,
        baseline_metrics,
        users: Arc::new(users),
        courses: Arc::new(courses),
        segments: None,
        segmentation_seconds: 0.0,
        phases: Vec::new(),
        basis: Basis::Model,
        marketing: None,
        paths: None,
        offline_policy: None,
    }
}
