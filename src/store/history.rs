//! The console's read models: a short history of training runs (published
//! versions with their holdout metrics, failures with their reason) and
//! ingested events per hour and type.

use serde::Serialize;

use super::{on_pool, Store};
use crate::eval::metrics::Metrics;

/// Runs kept; older ones are pruned on insert.
const KEEP: i64 = 200;

/// One training run, as `GET /model/history` returns it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TrainingRun {
    /// The published version; `None` for a failed run.
    pub version: Option<i64>,
    /// `published` or `failed`.
    pub status: String,
    /// Why a run failed (the `reason` label of `training_failures_total`).
    pub reason: Option<String>,
    /// When the run ended, Unix milliseconds.
    pub finished_ms: i64,
    pub training_seconds: f64,
    pub n_users: Option<i64>,
    pub n_courses: Option<i64>,
    pub n_events: Option<i64>,
    /// Holdout metrics at K=10 of the model and of the popularity baseline.
    pub metrics: Option<Metrics>,
    pub baseline_metrics: Option<Metrics>,
}

type RunRow = (
    Option<i64>,
    String,
    Option<String>,
    i64,
    f64,
    Option<i64>,
    Option<i64>,
    Option<i64>,
    Option<String>,
    Option<String>,
);

fn from_row(r: RunRow) -> TrainingRun {
    let parse = |s: Option<String>| s.and_then(|s| serde_json::from_str(&s).ok());
    TrainingRun {
        version: r.0,
        status: r.1,
        reason: r.2,
        finished_ms: r.3,
        training_seconds: r.4,
        n_users: r.5,
        n_courses: r.6,
        n_events: r.7,
        metrics: parse(r.8),
        baseline_metrics: parse(r.9),
    }
}

impl Store {
    /// Appends a run and prunes all but the newest `KEEP`.
    pub async fn record_training_run(&self, run: &TrainingRun) -> sqlx::Result<()> {
        let json = |m: &Option<Metrics>| m.as_ref().and_then(|m| serde_json::to_string(m).ok());
        on_pool!(self, p => {
            let mut tx = p.begin().await?;
            sqlx::query(
                "INSERT INTO training_runs (version, status, reason, finished_ms, training_seconds, \
                 n_users, n_courses, n_events, metrics, baseline_metrics) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
            )
            .bind(run.version)
            .bind(&run.status)
            .bind(&run.reason)
            .bind(run.finished_ms)
            .bind(run.training_seconds)
            .bind(run.n_users)
            .bind(run.n_courses)
            .bind(run.n_events)
            .bind(json(&run.metrics))
            .bind(json(&run.baseline_metrics))
            .execute(&mut *tx)
            .await?;
            sqlx::query("DELETE FROM training_runs WHERE seq <= (SELECT MAX(seq) FROM training_runs) - $1")
                .bind(KEEP)
                .execute(&mut *tx)
                .await?;
            tx.commit().await
        })
    }

    /// The newest `limit` runs, newest first.
    pub async fn training_runs(&self, limit: i64) -> sqlx::Result<Vec<TrainingRun>> {
        on_pool!(self, p => {
            let rows: Vec<RunRow> = sqlx::query_as(
                "SELECT version, status, reason, finished_ms, training_seconds, n_users, n_courses, \
                 n_events, metrics, baseline_metrics FROM training_runs ORDER BY seq DESC LIMIT $1",
            )
            .bind(limit)
            .fetch_all(p)
            .await?;
            Ok(rows.into_iter().map(from_row).collect())
        })
    }

    /// Events stored since `since_ms` (by arrival), counted per hour (the
    /// hour's start in Unix milliseconds) and type, oldest hour first.
    pub async fn events_per_hour(&self, since_ms: i64) -> sqlx::Result<Vec<(i64, String, i64)>> {
        on_pool!(self, p => {
            sqlx::query_as(
                "SELECT (received_ms / 3600000) * 3600000 AS hour, type, COUNT(*) FROM events \
                 WHERE received_ms >= $1 GROUP BY hour, type ORDER BY hour, type",
            )
            .bind(since_ms)
            .fetch_all(p)
            .await
        })
    }
}
