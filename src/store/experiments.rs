//! Experiments, the impressions served under them, and the report counts.

use super::{guarded_tx, now_ms, on_pool, Store};
use crate::experiment::{ExperimentSpec, Status, VariantCounts};

/// One stored experiment.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredExperiment {
    pub id: String,
    pub spec: ExperimentSpec,
    pub created_ms: i64,
    pub updated_ms: i64,
}

/// One list served under an experiment.
#[derive(Debug, Clone, PartialEq)]
pub struct Impression {
    pub rec_id: String,
    pub experiment_id: String,
    pub variant: String,
    pub user_id: String,
    pub n_items: i32,
    pub ts_ms: i64,
}

/// Why an experiment could not be saved.
#[derive(Debug, thiserror::Error)]
pub enum PutError {
    #[error("experiment {0:?} is running; stop it first")]
    OtherRunning(String),
    #[error("the variants and control of an existing experiment cannot change")]
    Immutable,
    #[error(transparent)]
    Store(#[from] sqlx::Error),
}

type Row = (String, String, String, i64, i64);

fn from_row(r: Row) -> sqlx::Result<StoredExperiment> {
    let mut spec: ExperimentSpec =
        serde_json::from_str(&r.1).map_err(|e| sqlx::Error::Decode(Box::new(e)))?;
    spec.status = if r.2 == "running" {
        Status::Running
    } else {
        Status::Stopped
    };
    Ok(StoredExperiment {
        id: r.0,
        spec,
        created_ms: r.3,
        updated_ms: r.4,
    })
}

const COLUMNS: &str = "id, spec, status, created_ms, updated_ms";

/// Rows per multi-row insert: 6 binds each stays under SQLite's limit.
const IMPRESSION_CHUNK: usize = 1000;

impl Store {
    /// Creates the experiment, or changes the status of an existing one.
    /// Returns the stored experiment and whether it was created.
    pub async fn put_experiment(
        &self,
        id: &str,
        spec: &ExperimentSpec,
    ) -> Result<(StoredExperiment, bool), PutError> {
        let now = now_ms();
        let status = spec.status.as_str();
        // The status has its own column so the unique index can see it.
        let mut design = spec.clone();
        design.status = Status::Running;
        let json = serde_json::to_string(&design).expect("specs serialize");
        let result: Result<(StoredExperiment, bool), PutError> = async {
            on_pool!(self, p => {
                // Write first: on SQLite a read-then-write transaction can
                // fail with SQLITE_BUSY_SNAPSHOT when the impression writer
                // commits in between, and busy_timeout does not retry that.
                // The connection is closed on error (see `guarded_tx`).
                let mut conn = p.acquire().await?;
                let done: Result<(StoredExperiment, bool), PutError> = async {
                    let mut tx = sqlx::Connection::begin(&mut *conn).await?;
                    let created = sqlx::query(
                        "INSERT INTO experiments (id, spec, status, created_ms, updated_ms) \
                         VALUES ($1, $2, $3, $4, $4) ON CONFLICT (id) DO NOTHING",
                    )
                    .bind(id).bind(&json).bind(status).bind(now).execute(&mut *tx).await?
                    .rows_affected() == 1;
                    let sql = format!("SELECT {COLUMNS} FROM experiments WHERE id = $1");
                    if !created {
                        let old: Row = sqlx::query_as(&sql).bind(id).fetch_one(&mut *tx).await?;
                        if !from_row(old)?.spec.same_design(spec) {
                            return Err(PutError::Immutable);
                        }
                        sqlx::query("UPDATE experiments SET status = $2, updated_ms = $3 WHERE id = $1")
                            .bind(id).bind(status).bind(now).execute(&mut *tx).await?;
                    }
                    let row: Row = sqlx::query_as(&sql).bind(id).fetch_one(&mut *tx).await?;
                    tx.commit().await?;
                    Ok((from_row(row)?, created))
                }
                .await;
                if matches!(done, Err(PutError::Store(_))) {
                    conn.close_on_drop();
                }
                done
            })
        }
        .await;
        match result {
            Err(PutError::Store(e)) if violates_one_running(&e) => {
                let running = self.running_experiment().await?.map(|e| e.id).unwrap_or_default();
                Err(PutError::OtherRunning(running))
            }
            other => other,
        }
    }

    pub async fn get_experiment(&self, id: &str) -> sqlx::Result<Option<StoredExperiment>> {
        let sql = format!("SELECT {COLUMNS} FROM experiments WHERE id = $1");
        let row: Option<Row> = on_pool!(self, p => sqlx::query_as(&sql).bind(id).fetch_optional(p).await)?;
        row.map(from_row).transpose()
    }

    pub async fn list_experiments(&self) -> sqlx::Result<Vec<StoredExperiment>> {
        let sql = format!("SELECT {COLUMNS} FROM experiments ORDER BY created_ms, id");
        let rows: Vec<Row> = on_pool!(self, p => sqlx::query_as(&sql).fetch_all(p).await)?;
        rows.into_iter().map(from_row).collect()
    }

    pub async fn running_experiment(&self) -> sqlx::Result<Option<StoredExperiment>> {
        let sql = format!("SELECT {COLUMNS} FROM experiments WHERE status = 'running'");
        let row: Option<Row> = on_pool!(self, p => sqlx::query_as(&sql).fetch_optional(p).await)?;
        row.map(from_row).transpose()
    }

    /// Records served lists in one transaction (one commit, one fsync).
    pub async fn insert_impressions(&self, rows: &[Impression]) -> sqlx::Result<()> {
        on_pool!(self, p => guarded_tx!(p, tx => {
            for chunk in rows.chunks(IMPRESSION_CHUNK) {
                // QueryBuilder writes `?` on SQLite: sqlx looks up each `$N`
                // by name there, which is quadratic in the parameter count.
                let mut qb = sqlx::QueryBuilder::new(
                    "INSERT INTO impressions (rec_id, experiment_id, variant, user_id, n_items, ts_ms) ",
                );
                qb.push_values(chunk, |mut b, r| {
                    b.push_bind(&r.rec_id)
                        .push_bind(&r.experiment_id)
                        .push_bind(&r.variant)
                        .push_bind(&r.user_id)
                        .push_bind(r.n_items)
                        .push_bind(r.ts_ms);
                });
                qb.build().execute(&mut *tx).await?;
            }
        }))
    }

    /// Per-variant counts and per-user sums. A click or purchase counts for
    /// an impression when it carries the impression's `rec_id` and comes
    /// from the same user; a purchase stops counting once a refund of the
    /// same course by that user follows it (at the same time or later), the
    /// rule of [`crate::model::ownership::ownership`] written in SQL.
    pub async fn experiment_counts(&self, id: &str) -> sqlx::Result<Vec<VariantCounts>> {
        // Postgres sums BIGINTs into NUMERIC; the casts keep both stores
        // returning 64-bit integers.
        const SQL: &str = "
            SELECT variant, COUNT(*),
                   CAST(SUM(imps) AS BIGINT), CAST(SUM(clicks) AS BIGINT),
                   CAST(SUM(bought) AS BIGINT),
                   CAST(SUM(CASE WHEN bought > 0 THEN 1 ELSE 0 END) AS BIGINT),
                   CAST(SUM(imps * imps) AS BIGINT), CAST(SUM(clicks * clicks) AS BIGINT),
                   CAST(SUM(imps * clicks) AS BIGINT)
            FROM (
                SELECT variant, user_id, COUNT(*) AS imps,
                       SUM(clicked) AS clicks, SUM(bought) AS bought
                FROM (
                    SELECT i.variant, i.user_id,
                        CASE WHEN EXISTS (SELECT 1 FROM events e WHERE e.rec_id = i.rec_id
                            AND e.user_id = i.user_id AND e.type = 'click') THEN 1 ELSE 0 END AS clicked,
                        CASE WHEN EXISTS (SELECT 1 FROM events e WHERE e.rec_id = i.rec_id
                            AND e.user_id = i.user_id AND e.type = 'purchase'
                            AND NOT EXISTS (SELECT 1 FROM events r WHERE r.user_id = e.user_id
                                AND r.course_id = e.course_id AND r.type = 'refund'
                                AND r.ts_ms >= e.ts_ms)) THEN 1 ELSE 0 END AS bought
                    FROM impressions i WHERE i.experiment_id = $1
                ) per_impression
                GROUP BY variant, user_id
            ) per_user
            GROUP BY variant";
        type Counts = (String, i64, i64, i64, i64, i64, i64, i64, i64);
        let rows: Vec<Counts> = on_pool!(self, p => sqlx::query_as(SQL).bind(id).fetch_all(p).await)?;
        Ok(rows
            .into_iter()
            .map(|r| VariantCounts {
                variant: r.0,
                users: r.1 as u64,
                impressions: r.2 as u64,
                clicks: r.3 as u64,
                purchases: r.4 as u64,
                buyers: r.5 as u64,
                impressions_sq: r.6 as u64,
                clicks_sq: r.7 as u64,
                impressions_clicks: r.8 as u64,
            })
            .collect())
    }
}

/// The partial unique index that lets one experiment run at a time
/// (Postgres names the constraint; SQLite names the column).
fn violates_one_running(e: &sqlx::Error) -> bool {
    matches!(e, sqlx::Error::Database(d) if d.is_unique_violation()
        && (d.constraint() == Some("experiments_one_running") || d.message().contains("experiments.status")))
}
