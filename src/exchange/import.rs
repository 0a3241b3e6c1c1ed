//! `courserec import-factors`: learner and course factors trained elsewhere,
//! published as a model only through the training's evaluation gate.

use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use serde::Serialize;

use super::factors::{self, FactorFileError, FactorTable};
use crate::eval::evaluate::evaluate_items;
use crate::model::{fold_in, Factors};
use crate::retrain::phases::Phases;
use crate::retrain::pipeline::{assemble, gate, log_side, Fitted, TrainFailure, TrainInput};
use crate::retrain::{Outcome, TrainSettings, Trainer};
use crate::serve::snapshot::ModelSnapshot;

/// How the imported factors met the store's data.
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct ImportCounts {
    /// Factor dimensions.
    pub k: usize,
    /// Learners of the data with imported factors.
    pub users_imported: usize,
    /// Learners of the data without: folded in from their interactions.
    pub users_folded_in: usize,
    /// Learner ids of the file unknown to the store's data: skipped.
    pub users_skipped: usize,
    /// Courses of the data with imported factors.
    pub courses_imported: usize,
    /// Courses of the data without (zero, then blended with content).
    pub courses_missing: usize,
    /// Course ids of the file unknown to the store's data: skipped.
    pub courses_skipped: usize,
}

/// A published import.
#[derive(Debug, Clone, Serialize)]
pub struct ImportReport {
    pub version: i64,
    pub counts: ImportCounts,
    /// NDCG@10 of the imported factors on the holdout, and of popularity.
    pub ndcg: f64,
    pub baseline_ndcg: f64,
    pub seconds: f64,
}

/// Why nothing was published; the serving model is unchanged.
#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    /// A file is missing a column, has ragged, null or non-finite factors,
    /// duplicate ids or no rows, or the two files' dimensions differ. The
    /// store was not touched.
    #[error(transparent)]
    Invalid(#[from] FactorFileError),
    /// The gate refused the model (e.g. it does not beat popularity), or
    /// the store failed; the history records the run.
    #[error("not published: {0}")]
    Refused(String),
    /// A training is running here or on another replica.
    #[error("not imported: {0}")]
    Busy(String),
}

/// Reads and validates `users` and `courses` (see [`factors::read`]), then,
/// like a training under the training lock, reads the store's data and
/// builds a snapshot from the imported factors: learner ids and course ids
/// unknown to the data are skipped and counted, learners without factors are
/// folded in from their interactions, courses without get zero factors
/// (blended with content as for courses with few learners). It is published
/// (persisted, in the history, served) only if it passes the training's gate:
/// NDCG@10 above popularity on the same temporal holdout, each test
/// learner's vector folded in from their training part against the imported
/// course factors. The gate applies even where `require_beat_baseline` is
/// off. Segments and marketing predictions are rebuilt as in a training.
pub async fn import_factors(
    trainer: &Trainer,
    users: &Path,
    courses: &Path,
) -> Result<ImportReport, ImportError> {
    let files = read_files(users, courses).await?;
    publish(trainer, files).await
}

/// Validated learner and course factors, the same dimensions.
#[derive(Debug, Clone)]
pub struct FactorFiles {
    pub users: FactorTable,
    pub courses: FactorTable,
}

/// The validation half of [`import_factors`]: reads both files in full,
/// without touching the store.
pub async fn read_files(users: &Path, courses: &Path) -> Result<FactorFiles, ImportError> {
    let (users, courses) = (users.to_path_buf(), courses.to_path_buf());
    let files = tokio::task::spawn_blocking(move || {
        let u = factors::read(&users)?;
        let c = factors::read(&courses)?;
        if u.k != c.k {
            return Err(FactorFileError::Dimensions {
                users: u.k,
                courses: c.k,
            });
        }
        Ok(FactorFiles { users: u, courses: c })
    })
    .await
    .map_err(|e| ImportError::Refused(format!("reading the files panicked: {e}")))??;
    Ok(files)
}

/// The publishing half of [`import_factors`].
pub async fn publish(trainer: &Trainer, files: FactorFiles) -> Result<ImportReport, ImportError> {
    let started = Instant::now();
    // What the build saw, for the report: counts and both NDCG@10.
    let seen = Arc::new(Mutex::new((ImportCounts::default(), f64::NAN, f64::NAN)));
    let out = seen.clone();
    let fit: crate::retrain::Fit = Box::new(move |input, s, previous| {
        let (snap, counts) = build(input, s, previous, &files.users, &files.courses)?;
        let ndcg = |m: &Option<crate::eval::metrics::Metrics>| m.as_ref().map_or(f64::NAN, |m| m.ndcg);
        *out.lock().unwrap() = (counts, ndcg(&snap.metrics), ndcg(&snap.baseline_metrics));
        Ok(snap)
    });
    match trainer.run_now_with(fit).await {
        Some(Outcome::Published(version)) => {
            let (counts, ndcg, baseline_ndcg) = seen.lock().unwrap().clone();
            Ok(ImportReport {
                version,
                counts,
                ndcg,
                baseline_ndcg,
                seconds: started.elapsed().as_secs_f64(),
            })
        }
        Some(Outcome::Failed(why)) => Err(ImportError::Refused(why)),
        Some(Outcome::Skipped(why)) => Err(ImportError::Busy(why)),
        None => Err(ImportError::Busy("a training is running".into())),
    }
}

/// The snapshot of the imported factors over `input`, if it passes the gate.
fn build(
    mut input: TrainInput,
    s: &TrainSettings,
    previous: Option<&ModelSnapshot>,
    users: &FactorTable,
    courses: &FactorTable,
) -> Result<(ModelSnapshot, ImportCounts), TrainFailure> {
    let started = Instant::now();
    let mut phases = Phases::default();
    let mut s = s.clone();
    s.require_beat_baseline = true;
    s.model.factors = courses.k;
    let inter = phases.run("build", || input.interactions(&s.weights));
    if inter.entries.is_empty() {
        return Err(TrainFailure::NoData);
    }
    let (items, has_item, courses_skipped) = place(courses, &inter.courses, &inter.course_index);
    let (mut learners, has_user, users_skipped) = place(users, &inter.users, &inter.user_index);

    let evaluate_started = phases.begin("evaluate");
    let n_users = inter.users.len();
    let full_weight = s.weights.purchase;
    let report = gate(&inter, &s, |sp| {
        evaluate_items(n_users, &sp, &items, &s.model, 10, full_weight)
    })
    .map_err(|(why, _)| why)?;
    phases.end("evaluate", evaluate_started);
    let days = std::mem::take(&mut input.days);
    let log = log_side(
        days,
        &inter,
        (&input.catalog, &input.campaigns),
        &s,
        input.read_at_ms,
        previous,
    );

    let fit_started = Instant::now();
    let history = inter.to_csr();
    let gram = items.gram();
    for u in (0..n_users).filter(|&u| !has_user[u]) {
        let (cols, vals) = history.row(u);
        let events: Vec<(u32, f32)> = cols.iter().copied().zip(vals.iter().copied()).collect();
        let x = fold_in(&items, &gram, &events, &s.model)?;
        learners.data[u * items.k..(u + 1) * items.k].copy_from_slice(&x);
    }
    let imported = |has: &[bool]| has.iter().filter(|&&h| h).count();
    let counts = ImportCounts {
        k: items.k,
        users_imported: imported(&has_user),
        users_folded_in: n_users - imported(&has_user),
        users_skipped,
        courses_imported: imported(&has_item),
        courses_missing: inter.courses.len() - imported(&has_item),
        courses_skipped,
    };
    let fitted = Fitted {
        users: learners,
        items,
        history,
    };
    let snap = assemble(
        input,
        &s,
        previous,
        inter,
        fitted,
        report,
        None,
        log,
        phases,
        fit_started.elapsed().as_secs_f64(),
        started,
    );
    Ok((snap, counts))
}

/// The rows of `table` placed at the dense indices of `names` (zero rows
/// where it has none), which rows were placed, and how many of its ids
/// `index` does not know.
fn place(
    table: &FactorTable,
    names: &[String],
    index: &std::collections::HashMap<String, u32>,
) -> (Factors, Vec<bool>, usize) {
    let k = table.k;
    let mut f = Factors::zeros(names.len(), k);
    let mut has = vec![false; names.len()];
    let mut unknown = 0;
    for (i, id) in table.ids.iter().enumerate() {
        match index.get(id) {
            Some(&at) => {
                let at = at as usize;
                f.data[at * k..(at + 1) * k].copy_from_slice(table.row(i));
                has[at] = true;
            }
            None => unknown += 1,
        }
    }
    (f, has, unknown)
}
