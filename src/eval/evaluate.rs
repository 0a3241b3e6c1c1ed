//! The evaluation protocol: train ALS on a split's training part, rank the full
//! catalogue minus each test user's training items, and score the model and a
//! popularity baseline with the same metrics.

use super::metrics::{Metrics, MetricsAcc};
use super::movielens::{self, LoadError};
use super::split::{split, Split, SplitKind, SplitParams};
use crate::model::als::{fit, AlsModel, AlsParams, FitError};
use crate::model::interactions::csr_of;
use crate::model::popularity::{popularity, top_popular};
use crate::model::topn::top_n;
use crate::model::{fold_in, Csr, Factors, Interaction};
use rayon::prelude::*;
use serde::Serialize;
use std::fmt;
use std::path::Path;
use std::time::Instant;

/// Model and baseline metrics of one evaluation.
#[derive(Debug, Clone, Serialize)]
pub struct EvalReport {
    pub model: Metrics,
    pub popularity: Metrics,
    /// Popularity over the last 7 days of the training part (learners who
    /// started each item then): the "trending" baseline.
    pub trending: Metrics,
    pub fit_seconds: f64,
    pub train_interactions: usize,
}

/// Trains on `s.train` and evaluates at `k` on `s.test`. `full_weight` is
/// the weight at which one learner counts fully in the popularity baseline
/// (see [`popularity`]), the same as serving uses.
pub fn evaluate(
    n_users: usize,
    n_items: usize,
    s: &Split,
    params: &AlsParams,
    k: usize,
    full_weight: f32,
) -> Result<EvalReport, FitError> {
    let ui = csr_of(&s.train, n_users, n_items);
    let held = Heldout::new(&s.train, &s.test, n_items, full_weight);
    fit_and_score(&ui, &held, params, k).map(|(report, _)| report)
}

/// As [`evaluate`], also returning the model fitted on `s.train`
/// (`n_users` × k and `n_items` × k): a start for the fit on everything.
/// Takes the split so its training part is freed once it is a matrix.
pub fn evaluate_model(
    n_users: usize,
    n_items: usize,
    s: Split,
    params: &AlsParams,
    k: usize,
    full_weight: f32,
) -> Result<(EvalReport, AlsModel), FitError> {
    let Split { train, test } = s;
    let ui = csr_of(&train, n_users, n_items);
    let held = Heldout::new(&train, &test, n_items, full_weight);
    drop(train);
    fit_and_score(&ui, &held, params, k)
}

/// What scoring needs of a split besides the training matrix.
struct Heldout<'a> {
    test: &'a [(u32, Vec<u32>)],
    /// Popularity of every item in the training part.
    popularity: Vec<f32>,
    /// Learners who started each item in the training part's last 7 days.
    trending: Vec<f32>,
    train_interactions: usize,
}

impl<'a> Heldout<'a> {
    fn new(train: &[Interaction], test: &'a [(u32, Vec<u32>)], n_items: usize, full_weight: f32) -> Self {
        let end = train.iter().map(|e| e.start_ms).max().unwrap_or(0);
        let mut trending = vec![0f32; n_items];
        for e in train
            .iter()
            .filter(|e| e.start_ms > end - crate::paths::evaluate::TRENDING_MS)
        {
            trending[e.course as usize] += 1.0;
        }
        Heldout {
            test,
            popularity: popularity(train, n_items, 0, None, full_weight),
            trending,
            train_interactions: train.len(),
        }
    }
}

fn fit_and_score(
    ui: &Csr,
    held: &Heldout,
    params: &AlsParams,
    k: usize,
) -> Result<(EvalReport, AlsModel), FitError> {
    let t0 = Instant::now();
    let m = fit(ui, params, |_, _| {})?;
    let fit_seconds = t0.elapsed().as_secs_f64();
    let report = score(ui, &m.users, &m.items, held, k, fit_seconds);
    Ok((report, m))
}

/// Evaluates item factors trained elsewhere (`items`, one row per item):
/// each test user's vector is folded in (see [`fold_in`]) from their
/// training part only, so their held-out items never shape it; then as
/// [`evaluate`]. `fit_seconds` is the fold-in time.
pub fn evaluate_items(
    n_users: usize,
    s: &Split,
    items: &Factors,
    params: &AlsParams,
    k: usize,
    full_weight: f32,
) -> Result<EvalReport, FitError> {
    let ui = csr_of(&s.train, n_users, items.n);
    let t0 = Instant::now();
    let gram = items.gram();
    let rows: Vec<(u32, Vec<f32>)> = s
        .test
        .par_iter()
        .map(|(u, _)| {
            let (cols, vals) = ui.row(*u as usize);
            let events: Vec<(u32, f32)> = cols.iter().copied().zip(vals.iter().copied()).collect();
            fold_in(items, &gram, &events, params).map(|x| (*u, x))
        })
        .collect::<Result<_, _>>()?;
    let mut users = Factors::zeros(n_users, items.k);
    for (u, x) in rows {
        let at = u as usize * items.k;
        users.data[at..at + items.k].copy_from_slice(&x);
    }
    let fit_seconds = t0.elapsed().as_secs_f64();
    let held = Heldout::new(&s.train, &s.test, items.n, full_weight);
    Ok(score(&ui, &users, items, &held, k, fit_seconds))
}

/// Ranks the catalogue minus each test user's training items (rows of
/// `ui`) by `users`·`items` and by popularity, and scores both at `k`.
fn score(
    ui: &Csr,
    users: &Factors,
    items: &Factors,
    held: &Heldout,
    k: usize,
    fit_seconds: f64,
) -> EvalReport {
    let n_items = items.n;
    let pop = &held.popularity;
    // Ranked in parallel, then accumulated in test order so results are stable.
    let ids = |l: Vec<(u32, f32)>| l.into_iter().map(|r| r.0).collect::<Vec<u32>>();
    let recs: Vec<[Vec<u32>; 3]> = held
        .test
        .par_iter()
        .map(|(u, _)| {
            let owned = ui.row(*u as usize).0;
            let excl = |i: u32| owned.binary_search(&i).is_ok();
            [
                ids(top_n(users.row(*u as usize), items, k, excl)),
                ids(top_popular(pop, k, excl)),
                ids(top_popular(&held.trending, k, excl)),
            ]
        })
        .collect();
    let mut acc = [0; 3].map(|_| MetricsAcc::new(k, n_items));
    for ((_, test), lists) in held.test.iter().zip(&recs) {
        for (a, list) in acc.iter_mut().zip(lists) {
            a.add(list, test);
        }
    }
    let [am, ap, at] = acc;
    EvalReport {
        model: am.finish(),
        popularity: ap.finish(),
        trending: at.finish(),
        fit_seconds,
        train_interactions: held.train_interactions,
    }
}

/// Why an offline run failed.
#[derive(Debug, thiserror::Error)]
pub enum OfflineError {
    #[error(transparent)]
    Load(#[from] LoadError),
    #[error(transparent)]
    Fit(#[from] FitError),
}

/// An offline evaluation on a MovieLens-style dataset.
#[derive(Debug, Clone, Serialize)]
pub struct OfflineReport {
    pub dataset: String,
    pub users: usize,
    pub items: usize,
    pub interactions: usize,
    pub split: SplitKind,
    pub seed: u64,
    pub k: usize,
    pub test_users: usize,
    pub params: AlsParams,
    pub report: EvalReport,
    /// The next-course holdout (see [`crate::paths::evaluate`]) on the
    /// same split; meaningful on a temporal one.
    pub next_course: Option<crate::paths::NextCourseReport>,
}

/// Loads `dir`, splits it (20% of each user with ≥5 interactions, seeded),
/// and evaluates: the `courserec evaluate` command.
pub fn run_offline(
    dir: &Path,
    kind: SplitKind,
    k: usize,
    params: &AlsParams,
    seed: u64,
) -> Result<OfflineReport, OfflineError> {
    let data = movielens::load(dir)?;
    let s = split(&data.entries, kind, &SplitParams::default(), seed);
    let (n_users, n_items) = (data.users.len(), data.courses.len());
    // MovieLens has no categories: the order model's tracks are unused.
    let no_category = vec![crate::paths::order::NO_CATEGORY; n_items];
    let held = crate::paths::evaluate::Split {
        train: &s.train,
        test: &s.test,
    };
    let next =
        crate::paths::evaluate::NextCourseHoldout::prepare(&data.entries, &held, n_items, &no_category, seed);
    let test_users = s.test.len();
    // Every MovieLens positive weighs 1: popularity counts raters.
    let (report, model) = evaluate_model(n_users, n_items, s, params, k, 1.0)?;
    let next_course = next.map(|h| h.evaluate(&model.users, &model.items, k));
    Ok(OfflineReport {
        dataset: dir.display().to_string(),
        users: data.users.len(),
        items: data.courses.len(),
        interactions: data.entries.len(),
        split: kind,
        seed,
        k,
        test_users,
        params: params.clone(),
        report,
        next_course,
    })
}

impl fmt::Display for OfflineReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "dataset {} ({} users, {} items, {} interactions)",
            self.dataset, self.users, self.items, self.interactions
        )?;
        writeln!(
            f,
            "split {:?} seed {}, {} test users, K = {}",
            self.split, self.seed, self.test_users, self.k
        )?;
        let p = &self.params;
        writeln!(
            f,
            "ALS {} factors, {} iterations, reg {}, alpha {}, {:?} confidence",
            p.factors, p.iterations, p.regularization, p.alpha, p.confidence
        )?;
        writeln!(
            f,
            "{:<11} {:>9} {:>9} {:>9} {:>9} {:>9} {:>9} {:>9}",
            "", "precision", "recall", "f1", "ndcg", "map", "hit_rate", "coverage"
        )?;
        for (name, m) in [
            ("model", &self.report.model),
            ("popularity", &self.report.popularity),
            ("trending", &self.report.trending),
        ] {
            writeln!(
                f,
                "{:<11} {:>9.4} {:>9.4} {:>9.4} {:>9.4} {:>9.4} {:>9.4} {:>9.4}",
                name, m.precision, m.recall, m.f1, m.ndcg, m.map, m.hit_rate, m.coverage
            )?;
        }
        writeln!(f, "training {:.3} s", self.report.fit_seconds)?;
        if let Some(n) = &self.next_course {
            writeln!(
                f,
                "next course ({} test users, the first held-out item started): HR@{k} and NDCG@{k}",
                n.test_users,
                k = n.k
            )?;
            for c in &n.candidates {
                writeln!(f, "{:<11} {:>9.4} {:>9.4}", c.name, c.hit_rate, c.ndcg)?;
            }
            let t = &n.shuffle_test;
            writeln!(
                f,
                "shuffle test: ordered {:.4}, shuffled {:.4}, p = {:.3}: {}",
                t.ndcg_ordered, t.ndcg_shuffled, t.p_value, t.verdict
            )?;
            write!(
                f,
                "blend weight {} (chosen on half the learners), gain {:+.4} on the other half, p = {:.3}: {}",
                n.blend_weight,
                n.blend_gain,
                n.blend_p_value,
                if n.blend_wins { "serves" } else { "does not serve" }
            )?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ml_100k_model_beats_popularity() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/datasets/ml-100k");
        if !dir.exists() {
            return;
        }
        let p = AlsParams {
            iterations: 5,
            ..AlsParams::default()
        };
        let r = run_offline(&dir, SplitKind::Random, 10, &p, 42).unwrap();
        assert_eq!((r.users, r.items, r.test_users), (943, 1682, 943));
        assert!(r.report.model.ndcg > r.report.popularity.ndcg, "{r}");
        assert!(r.to_string().contains("popularity"));
    }

    #[test]
    fn a_refit_from_the_holdout_model_ranks_as_well_as_a_fit_from_scratch() {
        // The training's flow on ML-100K: a model fitted on all but an
        // inner holdout, continued for 3 iterations on everything, against
        // 15 iterations from random factors; both scored on an outer test.
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/datasets/ml-100k");
        if !dir.exists() {
            return;
        }
        let data = movielens::load(&dir).unwrap();
        let (nu, ni) = (data.users.len(), data.courses.len());
        let outer = split(&data.entries, SplitKind::Temporal, &SplitParams::default(), 1);
        let inner = split(&outer.train, SplitKind::Temporal, &SplitParams::default(), 2);
        let p = AlsParams::default();
        let (_, start) = evaluate_model(nu, ni, inner, &p, 10, 1.0).unwrap();
        let all = csr_of(&outer.train, nu, ni);
        let warm = crate::model::als::fit_from(&all, &p, start, 3, |_, _| {}).unwrap();
        let cold = fit(&all, &p, |_, _| {}).unwrap();
        let held = Heldout::new(&outer.train, &outer.test, ni, 1.0);
        let ndcg = |m: &AlsModel| score(&all, &m.users, &m.items, &held, 10, 0.0).model.ndcg;
        let (warm, cold) = (ndcg(&warm), ndcg(&cold));
        eprintln!("NDCG@10 warm {warm:.4} cold {cold:.4}");
        assert!(warm >= cold * 0.97, "warm {warm:.4} vs cold {cold:.4}");
    }
}
