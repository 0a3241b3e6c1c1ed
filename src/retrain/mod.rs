//! The background trainer: the one place where store, model, evaluation,
//! segmentation and serving meet. It reads aggregates, trains on a blocking
//! thread, persists the snapshot and swaps it in; any failure keeps the old
//! model serving.

mod erase;
pub mod marketing;
pub mod pipeline;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use tokio::sync::Notify;

use crate::cluster::{Change, Cluster};
use crate::metrics::Metrics;
use crate::model::{AlsParams, Weights};
use crate::segment::SegmentParams;
use crate::serve::snapshot::{Basis, ModelSnapshot};
use crate::serve::Live;
use crate::store::{now_ms, Store, TrainingRun};
use pipeline::{TrainFailure, TrainInput};

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TrainSettings {
    /// Run the background loop at all (`courserec train` works regardless).
    pub enabled: bool,
    /// Retrain at least this often when there are new events.
    pub interval_secs: u64,
    /// ...or as soon as this many new events arrived.
    pub min_new_events: i64,
    /// How often the loop looks for new events.
    pub check_secs: u64,
    /// Users whose latest interactions are held out for evaluation.
    pub holdout_users: usize,
    pub holdout_fraction: f64,
    /// Publish only when the model beats popularity on the holdout.
    pub require_beat_baseline: bool,
    pub popularity_half_life_days: Option<f64>,
    pub model: AlsParams,
    pub weights: Weights,
    pub segment: SegmentParams,
    /// Set from `[marketing]` by [`crate::config::Settings::training`].
    #[serde(skip)]
    pub marketing: crate::marketing::MarketingSettings,
}

impl Default for TrainSettings {
    fn default() -> Self {
        TrainSettings {
            enabled: true,
            interval_secs: 3600,
            min_new_events: 50_000,
            check_secs: 10,
            holdout_users: 2000,
            holdout_fraction: 0.2,
            require_beat_baseline: true,
            popularity_half_life_days: Some(30.0),
            model: AlsParams::default(),
            weights: Weights::default(),
            segment: SegmentParams::default(),
            marketing: crate::marketing::MarketingSettings::default(),
        }
    }
}

impl TrainSettings {
    pub fn validate(&self) -> anyhow::Result<()> {
        if !(0.0..1.0).contains(&self.holdout_fraction) {
            anyhow::bail!("invalid configuration: train.holdout_fraction must be in [0, 1)");
        }
        if self.model.factors == 0 || self.model.iterations == 0 {
            anyhow::bail!(
                "invalid configuration: train.model.factors and train.model.iterations must be positive"
            );
        }
        if !(self.model.regularization.is_finite() && self.model.alpha.is_finite() && self.model.alpha >= 0.0)
        {
            anyhow::bail!(
                "invalid configuration: train.model.regularization and train.model.alpha must be finite"
            );
        }
        Ok(())
    }
}

/// The evaluation metrics as (gauge label, value).
fn named(m: &crate::eval::metrics::Metrics) -> [(&'static str, f64); 7] {
    [
        ("precision", m.precision),
        ("recall", m.recall),
        ("f1", m.f1),
        ("ndcg", m.ndcg),
        ("map", m.map),
        ("hit_rate", m.hit_rate),
        ("coverage", m.coverage),
    ]
}

/// The history row of one run (`GET /model/history`).
fn run_record(result: &Result<ModelSnapshot, (&'static str, String)>, seconds: f64) -> TrainingRun {
    let finished_ms = now_ms();
    match result {
        Ok(s) => TrainingRun {
            version: Some(s.version),
            status: "published".into(),
            reason: None,
            finished_ms,
            training_seconds: seconds,
            n_users: Some(s.users.ids.len() as i64),
            n_courses: Some(s.courses.ids.len() as i64),
            n_events: Some(s.n_events),
            metrics: s.metrics.clone(),
            baseline_metrics: s.baseline_metrics.clone(),
        },
        Err((reason, _)) => TrainingRun {
            version: None,
            status: "failed".into(),
            reason: Some((*reason).into()),
            finished_ms,
            training_seconds: seconds,
            n_users: None,
            n_courses: None,
            n_events: None,
            metrics: None,
            baseline_metrics: None,
        },
    }
}

/// Handle to the trainer, cloned into the HTTP state.
#[derive(Clone)]
pub struct Trainer {
    inner: Arc<Inner>,
}

struct Inner {
    settings: TrainSettings,
    store: Store,
    live: Arc<Live>,
    metrics: Metrics,
    cluster: Cluster,
    running: AtomicBool,
    fail_next: AtomicBool,
    kick: Notify,
    /// Serializes snapshot persists with erasure rewrites.
    erase_lock: tokio::sync::Mutex<()>,
    rewrite_pending: AtomicBool,
    /// Serialises building the popularity fallback; holds the last attempt.
    fallback: tokio::sync::Mutex<Option<Instant>>,
}

/// What one run did.
#[derive(Debug)]
pub enum Outcome {
    Published(i64),
    Failed(String),
    /// Another replica holds the training lock.
    Skipped(String),
}

impl Trainer {
    pub fn new(
        settings: TrainSettings,
        store: Store,
        live: Arc<Live>,
        metrics: Metrics,
        cluster: Cluster,
    ) -> Trainer {
        let inner = Inner {
            settings,
            store,
            live,
            metrics,
            cluster,
            running: AtomicBool::new(false),
            fail_next: AtomicBool::new(false),
            kick: Notify::new(),
            erase_lock: tokio::sync::Mutex::new(()),
            rewrite_pending: AtomicBool::new(false),
            fallback: tokio::sync::Mutex::new(None),
        };
        Trainer {
            inner: Arc::new(inner),
        }
    }

    pub fn is_running(&self) -> bool {
        self.inner.running.load(Ordering::SeqCst)
    }

    /// Starts a training now in the background; false if one is running.
    pub fn trigger(&self) -> bool {
        if self.inner.running.swap(true, Ordering::SeqCst) {
            return false;
        }
        let me = self.clone();
        tokio::spawn(async move { me.run_claimed().await });
        true
    }

    /// Makes the next run fail as if the fit had (for failure drills and tests).
    pub fn fail_next_run(&self) {
        self.inner.fail_next.store(true, Ordering::SeqCst);
    }

    /// Runs one training and waits for it; `None` if one was already running.
    pub async fn run_now(&self) -> Option<Outcome> {
        if self.inner.running.swap(true, Ordering::SeqCst) {
            return None;
        }
        Some(self.run_claimed().await)
    }

    async fn run_claimed(&self) -> Outcome {
        let out = self.run_once().await;
        self.inner.running.store(false, Ordering::SeqCst);
        self.inner.kick.notify_waiters();
        out
    }

    async fn run_once(&self) -> Outcome {
        let i = &self.inner;
        let lock = match i.cluster.try_train_lock().await {
            Ok(Some(lock)) => lock,
            Ok(None) => {
                tracing::info!("another replica is training; this one waits for its model");
                return Outcome::Skipped("another replica is training".into());
            }
            Err(e) => {
                i.metrics.db_errors.with_label_values(&["training_lock"]).inc();
                i.metrics.training_failures.with_label_values(&["store"]).inc();
                tracing::warn!(error = %e, "cannot take the training lock; the previous model keeps serving");
                return Outcome::Failed(e.to_string());
            }
        };
        // The replica that held the lock may have just published: load its
        // model rather than train again on the same data.
        let out = match self.newer_model_stored().await {
            Ok(Some(v)) => Outcome::Skipped(format!("loaded version {v}, just trained by another replica")),
            _ => self.run_locked().await,
        };
        lock.release().await;
        out
    }

    /// In a cluster, loads a stored model newer than the serving one.
    async fn newer_model_stored(&self) -> anyhow::Result<Option<i64>> {
        let i = &self.inner;
        if !i.cluster.enabled() || i.store.max_snapshot_version().await? <= i.live.version().unwrap_or(0) {
            return Ok(None);
        }
        self.restore().await
    }

    async fn run_locked(&self) -> Outcome {
        let i = &self.inner;
        let started = Instant::now();
        let result = self.train().await;
        i.metrics
            .training_seconds
            .observe(started.elapsed().as_secs_f64());
        let run = run_record(&result, started.elapsed().as_secs_f64());
        if let Err(e) = i.store.record_training_run(&run).await {
            i.metrics.db_errors.with_label_values(&["training_history"]).inc();
            tracing::warn!(error = %e, "training run not added to the history");
        }
        match result {
            Ok(snap) => {
                let version = snap.version;
                if let Basis::Popularity { code, reason } = &snap.basis {
                    // No model published: counted and logged as before, but
                    // fresh popularity serves instead of nothing.
                    i.metrics.training_failures.with_label_values(&[code]).inc();
                    tracing::warn!(
                        reason = code.as_str(),
                        why = reason.as_str(),
                        "no model published; serving popularity"
                    );
                }
                self.publish(Arc::new(snap));
                tracing::info!(
                    version,
                    seconds = started.elapsed().as_secs_f64(),
                    "model published"
                );
                Outcome::Published(version)
            }
            Err((reason, why)) => {
                i.metrics.training_failures.with_label_values(&[reason]).inc();
                tracing::warn!(reason, why, "training failed; the previous model keeps serving");
                Outcome::Failed(why)
            }
        }
    }

    async fn train(&self) -> Result<ModelSnapshot, (&'static str, String)> {
        let i = &self.inner;
        let store_err = |e: sqlx::Error| {
            i.metrics.db_errors.with_label_values(&["training_read"]).inc();
            ("store", e.to_string())
        };
        // The sequence is read first: anything after it is caught by fold-in.
        let trained_seq = i.store.max_event_seq().await.map_err(store_err)?;
        let read_at_ms = now_ms();
        let aggs = i.store.load_aggregates().await.map_err(store_err)?;
        let catalog = i.store.list_courses_newest_first().await.map_err(store_err)?;
        let n_events = i.store.count_events().await.map_err(store_err)?;
        let mut days = marketing::DayData::default();
        i.store
            .load_day_aggregates(|r| days.push(r))
            .await
            .map_err(store_err)?;
        let stored = i.store.max_snapshot_version().await.map_err(store_err)?;
        let version = stored.max(i.live.version().unwrap_or(0)) + 1;
        let input = TrainInput {
            aggs,
            catalog,
            trained_seq,
            read_at_ms,
            n_events,
            version,
            days,
        };
        let settings = i.settings.clone();
        let previous = i.live.snapshot();
        let inject = i.fail_next.swap(false, Ordering::SeqCst);
        let snap = tokio::task::spawn_blocking(move || {
            if inject {
                return Err(TrainFailure::Injected);
            }
            // A pool of its own: request-path work on the global pool never
            // queues behind a training.
            let pool = rayon::ThreadPoolBuilder::new()
                .thread_name(|i| format!("train-{i}"))
                .build()
                .map_err(|e| TrainFailure::Pool(e.to_string()))?;
            pool.install(|| pipeline::train(input, &settings, previous.as_deref()))
        })
        .await
        .map_err(|e| ("panic", e.to_string()))?
        .map_err(|f| (f.reason(), f.to_string()))?;
        // Users erased while this training ran are in its data; they never
        // reach the persisted copy.
        let _one = i.erase_lock.lock().await;
        let erased = match (i.store.erasures_after_ms(read_at_ms).await, i.live.erasure_key()) {
            (Ok(h), Some(key)) if !h.is_empty() => {
                let h: std::collections::HashSet<i64> = h.into_iter().collect();
                snap.users
                    .ids
                    .iter()
                    .filter(|u| h.contains(&key.hash(u)))
                    .cloned()
                    .collect()
            }
            _ => std::collections::HashSet::new(),
        };
        let bytes = match snap.without_users(&erased) {
            Some(clean) => clean.encode(),
            None => snap.encode(),
        }
        .map_err(|e| ("encode", e.to_string()))?;
        if let Err(e) = i.store.save_snapshot(version, &bytes).await {
            // Serving the new model still beats serving the old one; a restart
            // falls back to the last persisted snapshot.
            i.metrics.db_errors.with_label_values(&["save_snapshot"]).inc();
            tracing::warn!(error = %e, version, "snapshot not persisted");
        } else {
            i.cluster.notify(Change::Model { version }).await;
        }
        Ok(snap)
    }

    fn publish(&self, snap: Arc<ModelSnapshot>) {
        let m = &self.inner.metrics;
        m.model_version.set(snap.version);
        m.model_trained_at.set(snap.trained_at_ms / 1000);
        for (name, metrics) in [("model", &snap.metrics), ("popularity", &snap.baseline_metrics)] {
            if let Some(x) = metrics {
                for (metric, v) in named(x) {
                    m.eval_metric.with_label_values(&[name, metric]).set(v);
                }
            }
        }
        if let Some(segs) = &snap.segments {
            m.segmentation_seconds.observe(snap.segmentation_seconds);
            m.segment_users.reset();
            for s in &segs.segments {
                m.segment_users
                    .with_label_values(&[&s.id.to_string()])
                    .set(s.size as i64);
            }
        }
        if let Some(mk) = &snap.marketing {
            let p = &mk.predictions;
            for (name, gate) in [("purchase", &p.purchase_gate), ("churn", &p.churn_gate)] {
                for (model, q) in [
                    ("model", &gate.model),
                    ("baseline", &gate.baseline),
                    ("calibrated", &gate.calibrated),
                ] {
                    for (metric, v) in q.as_ref().map(|q| q.named()).into_iter().flatten() {
                        m.marketing_metric
                            .with_label_values(&[name, model, metric])
                            .set(v);
                    }
                }
            }
            for (model, q) in p
                .spend_backtest
                .iter()
                .flat_map(|b| [("model", &b.model), ("baseline", &b.baseline)])
            {
                for (metric, v) in q.named() {
                    m.marketing_metric
                        .with_label_values(&["spend", model, metric])
                        .set(v);
                }
            }
        }
        self.inner.live.publish(snap);
    }

    /// The serving snapshot; when there is none yet, a popularity snapshot
    /// of the store's data built now and published (newest courses first
    /// when nothing has events), so lists are never empty while the catalog
    /// has courses. `None` when the catalog is empty (one cheap read per
    /// request until it is not) or the store cannot be read; after a store
    /// error a retry waits a second, so a failing store is not hammered.
    pub async fn serving(&self) -> Option<Arc<ModelSnapshot>> {
        let i = &self.inner;
        if let Some(s) = i.live.snapshot() {
            return Some(s);
        }
        let mut last = i.fallback.lock().await;
        if let Some(s) = i.live.snapshot() {
            return Some(s);
        }
        if last.is_some_and(|t| t.elapsed() < Duration::from_secs(1)) {
            return None;
        }
        match self.popularity_now().await {
            Ok(Some(snap)) => {
                let snap = Arc::new(snap);
                self.publish(snap.clone());
                tracing::info!("no model yet: serving popularity from the store");
                Some(snap)
            }
            Ok(None) => None,
            Err(e) => {
                *last = Some(Instant::now());
                i.metrics.db_errors.with_label_values(&["fallback_read"]).inc();
                tracing::warn!(error = %e, "cannot read the store for the popularity fallback");
                None
            }
        }
    }

    /// Version 0 and not persisted: any trained snapshot supersedes it.
    async fn popularity_now(&self) -> Result<Option<ModelSnapshot>, anyhow::Error> {
        let i = &self.inner;
        let catalog = i.store.list_courses_newest_first().await?;
        if catalog.is_empty() {
            return Ok(None);
        }
        let input = TrainInput {
            trained_seq: i.store.max_event_seq().await?,
            read_at_ms: now_ms(),
            aggs: i.store.load_aggregates().await?,
            n_events: i.store.count_events().await?,
            catalog,
            days: Default::default(),
            version: 0,
        };
        let settings = i.settings.clone();
        let snap = tokio::task::spawn_blocking(move || {
            let why = "no model has been trained yet";
            pipeline::popularity_only(input, &settings, "no_model_yet", why)
        })
        .await?;
        Ok(Some(snap))
    }

    /// Loads the newest persisted snapshot so a restart serves at once.
    pub async fn restore(&self) -> anyhow::Result<Option<i64>> {
        let i = &self.inner;
        let Some((version, bytes)) = i.store.load_latest_snapshot().await? else {
            return Ok(None);
        };
        let snap = tokio::task::spawn_blocking(move || ModelSnapshot::decode(&bytes)).await??;
        // The catalog may have changed while the service was down.
        let catalog = i.store.list_courses().await?;
        let snap = snap.with_courses(crate::serve::catalog::matching_catalog(&snap.courses, &catalog));
        let newer = i.store.users_with_events_after(snap.trained_seq).await?;
        let erased = i.store.erasures_after_ms(snap.data_read_at_ms).await?;
        self.publish(Arc::new(snap));
        i.live.mark_dirty(newer, now_ms());
        // Users erased after that training must not come back with it.
        i.live.forget_hashed(&erased);
        Ok(Some(version))
    }

    /// The background loop: trains on a timer or after enough new events.
    /// Without a model yet (nothing, or popularity serving) it tries at
    /// once, then once a minute while new events arrive.
    pub async fn run_loop(self) {
        let i = self.inner.clone();
        let mut last: Option<Instant> = None;
        loop {
            let trained = i.live.snapshot().map(|s| s.trained_seq).unwrap_or(0);
            if let Ok(seq) = i.store.max_event_seq().await {
                let new = seq - trained;
                let wait = if !i.live.snapshot().is_some_and(|s| s.is_model()) {
                    60
                } else {
                    i.settings.interval_secs
                };
                let due = new >= i.settings.min_new_events
                    || (new > 0 && last.is_none_or(|t| t.elapsed().as_secs() >= wait));
                if due && self.trigger() {
                    last = Some(Instant::now());
                }
            }
            tokio::select! {
                _ = tokio::time::sleep(Duration::from_secs(i.settings.check_secs.max(1))) => {}
                _ = i.kick.notified() => { last = Some(Instant::now()); }
            }
        }
    }
}
