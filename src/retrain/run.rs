//! One training run: take the cluster's training lock, read the store,
//! fit on a blocking thread, persist the snapshot (without users erased
//! meanwhile), record the run in the history.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Instant;

use super::days::DayData;
use super::phases::Phases;
use super::pipeline::{TrainFailure, TrainInput};
use super::{Fit, Outcome, Trainer};
use crate::cluster::Change;
use crate::domain::now_ms;
use crate::marketing::campaign::report::{report, PaymentRow, ReportInput};
use crate::marketing::uplift::fit::{CampaignOutcomes, MemberOutcome};
use crate::serve::snapshot::{Basis, ModelSnapshot};
use crate::store::Store;
use crate::store::TrainingRun;

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

impl Trainer {
    pub(super) async fn run_once(&self, fit: Fit) -> Outcome {
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
            _ => self.run_locked(fit).await,
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

    async fn run_locked(&self, fit: Fit) -> Outcome {
        let i = &self.inner;
        let started = Instant::now();
        let result = self.train(fit).await;
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
                // One line per training: popularity published in place of
                // a model (counted as a failure), or the model.
                let popularity = match &snap.basis {
                    Basis::Popularity { code, reason } => Some((code.clone(), reason.clone())),
                    _ => None,
                };
                let phases = super::phases::summary(&snap.phases);
                self.publish_fresh(snap).await;
                // Milliseconds, not float seconds: no noise in the field.
                let ms = started.elapsed().as_millis() as u64;
                match popularity {
                    Some((code, why)) => {
                        i.metrics.training_failures.with_label_values(&[&code]).inc();
                        tracing::warn!(
                            version,
                            reason = code.as_str(),
                            why = why.as_str(),
                            ms,
                            "no model published; serving fresh popularity"
                        );
                    }
                    None => tracing::info!(version, ms, phases = %phases, "model published"),
                }
                Outcome::Published(version)
            }
            Err((reason, why)) => {
                i.metrics.training_failures.with_label_values(&[reason]).inc();
                tracing::warn!(reason, why, "training failed; the previous model keeps serving");
                Outcome::Failed(why)
            }
        }
    }

    /// The off-policy figures of the served-list log; none (logged) when
    /// the store cannot give it: a training never fails for it.
    async fn offline_policy(&self, read_at_ms: i64) -> Option<crate::exploration::snips::OfflinePolicy> {
        let i = &self.inner;
        let days = i.settings.exploration_log_days;
        match i
            .store
            .logged_lists(read_at_ms - i64::from(days) * crate::domain::DAY_MS)
            .await
        {
            Ok(lists) => crate::exploration::snips::offline_policy(&lists, i.settings.exploration, days),
            Err(e) => {
                tracing::warn!(error = %e, "could not read the served-list log; no off-policy estimate");
                None
            }
        }
    }

    async fn train(&self, fit: Fit) -> Result<ModelSnapshot, (&'static str, String)> {
        let i = &self.inner;
        let store_err = |e: sqlx::Error| {
            i.metrics.db_errors.with_label_values(&["training_read"]).inc();
            ("store", e.to_string())
        };
        let mut phases = Phases(Vec::new(), Some(i.progress.clone()));
        phases
            .run_async("compact", i.store.compact_events())
            .await
            .map_err(store_err)?;
        let read_started = phases.begin("read");
        // The sequence is read first: anything after it is caught by fold-in.
        let trained_seq = i.store.max_event_seq().await.map_err(store_err)?;
        let read_at_ms = now_ms();
        let days = read_log(&i.store).await.map_err(store_err)?;
        let n_events = days.n_events();
        let catalog = i.store.list_courses_newest_first().await.map_err(store_err)?;
        let campaigns = past_campaigns(&i.store, read_at_ms, i.settings.marketing.uplift.max_campaigns)
            .await
            .map_err(store_err)?;
        let stored = i.store.max_snapshot_version().await.map_err(store_err)?;
        phases.end("read", read_started);
        let version = stored.max(i.live.version().unwrap_or(0)) + 1;
        let input = TrainInput {
            catalog,
            trained_seq,
            read_at_ms,
            n_events,
            version,
            days,
            progress: Some(i.progress.clone()),
            campaigns,
        };
        let settings = i.settings.clone();
        let previous = i.live.snapshot();
        let inject = i.fail_next.swap(false, Ordering::SeqCst);
        let mut snap = tokio::task::spawn_blocking(move || {
            if inject {
                return Err(TrainFailure::Injected);
            }
            // A pool of its own: request-path work on the global pool never
            // queues behind a training.
            let pool = rayon::ThreadPoolBuilder::new()
                .thread_name(|i| format!("train-{i}"))
                .build()
                .map_err(|e| TrainFailure::Pool(e.to_string()))?;
            pool.install(|| fit(input, &settings, previous.as_deref()))
        })
        .await
        .map_err(|e| ("panic", e.to_string()))?
        .map_err(|f| (f.reason(), f.to_string()))?;
        snap.offline_policy = self.offline_policy(read_at_ms).await;
        if let Err(why) = super::marketing::refuse_incoherent(&mut snap) {
            i.metrics.marketing_refused.inc();
            tracing::error!(%why, "marketing predictions refused: not published with this model");
        }
        phases.0.append(&mut snap.phases);
        // The persisted copy carries every phase but its own.
        snap.phases = phases.0.clone();
        // Users erased while this training ran are in its data; they never
        // reach the persisted copy. Encoding is CPU work: off the async
        // workers. An erasure committed while the copy was written (by this
        // process or another, `courserec train` say) is checked after the
        // write, and the copy rewritten without it.
        let persist_started = phases.begin("persist");
        let _one = i.erase_lock.lock().await;
        let snap = Arc::new(snap);
        let mut dropped = std::collections::HashSet::new();
        let mut saved = false;
        for _ in 0..3 {
            let erased = self.erased_in(&snap, read_at_ms).await;
            if saved && erased.is_subset(&dropped) {
                break;
            }
            dropped = erased;
            let (copy, drop) = (snap.clone(), dropped.clone());
            let bytes = tokio::task::spawn_blocking(move || match copy.without_users(&drop) {
                Some(clean) => clean.encode(),
                None => copy.encode(),
            })
            .await
            .map_err(|e| ("panic", e.to_string()))?
            .map_err(|e| ("encode", e.to_string()))?;
            if let Err(e) = i.store.save_snapshot(version, &bytes).await {
                // Serving the new model still beats serving the old one; a
                // restart falls back to the last persisted snapshot.
                i.metrics.db_errors.with_label_values(&["save_snapshot"]).inc();
                tracing::warn!(error = %e, version, "snapshot not persisted");
                break;
            }
            saved = true;
        }
        if saved {
            i.cluster.notify(Change::Model { version }).await;
        }
        // The encoders are done, so this is the one reference.
        let mut snap =
            Arc::try_unwrap(snap).map_err(|_| ("internal", "snapshot still shared".to_string()))?;
        phases.end("persist", persist_started);
        snap.phases = phases.0;
        Ok(snap)
    }
}

impl Trainer {
    /// The learners of `snap` erased after `ms` (by keyed hash).
    async fn erased_in(&self, snap: &ModelSnapshot, ms: i64) -> std::collections::HashSet<String> {
        let i = &self.inner;
        match (i.store.erasures_after_ms(ms).await, i.live.erasure_key()) {
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
        }
    }
}

/// Every cell of the log (the rollup plus the events after its watermark),
/// merged and sorted (on a blocking thread); [`DayData::aggregates`] gives
/// the per (user, course, type) sums.
pub async fn read_log(store: &Store) -> sqlx::Result<DayData> {
    let mut days = DayData::default();
    store.read_event_days(&mut days).await?;
    tokio::task::spawn_blocking(move || {
        days.finish();
        days
    })
    .await
    .map_err(|e| sqlx::Error::Protocol(format!("reading the log panicked: {e}")))
}

/// The latest `limit` campaigns ended by `cutoff_ms`, each member with the
/// discount of their arm and whether they converted, by the campaign
/// report's own rule (the same payments, the same ownership test).
pub async fn past_campaigns(
    store: &Store,
    cutoff_ms: i64,
    limit: usize,
) -> sqlx::Result<Vec<CampaignOutcomes>> {
    let mut out = Vec::new();
    for c in store.ended_campaigns(cutoff_ms, limit).await? {
        let arms = crate::marketing::campaign::spec::stored_arms(c.arms.as_deref(), c.discount_pct);
        let payments = store.campaign_payments(&c.id).await?;
        let converted = conversions(&payments, c.created_ms, c.ends_ms);
        let members = store
            .campaign_members(&c.id)
            .await?
            .into_iter()
            .map(|m| MemberOutcome {
                converted: converted.contains(&m.user),
                discount_pct: (!m.control)
                    .then(|| arms.get(m.arm).and_then(|a| a.discount_pct).unwrap_or(0.0)),
                user: m.user,
            })
            .collect();
        out.push(CampaignOutcomes {
            created_ms: c.created_ms,
            offer_category: c.offer_category.unwrap_or_default(),
            category_offer: c.course_id.is_none(),
            members,
        });
    }
    Ok(out)
}

/// Members who converted in [from_ms, to_ms), by [`report`]'s rule.
fn conversions(payments: &[PaymentRow], from_ms: i64, to_ms: i64) -> std::collections::HashSet<String> {
    report(&ReportInput {
        arms: &[],
        control_users: 0,
        control_share: 0.5,
        from_ms,
        to_ms,
        payments,
        covariates: None,
    })
    .converted
}
