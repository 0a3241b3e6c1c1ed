//! What serves when no training just finished: the newest persisted
//! snapshot after a start, popularity of the store's data before any model.

use std::sync::Arc;
use std::time::{Duration, Instant};

use super::pipeline::{self, TrainInput};
use super::Trainer;
use crate::domain::now_ms;
use crate::serve::snapshot::ModelSnapshot;

impl Trainer {
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
        let trained_seq = i.store.max_event_seq().await?;
        let read_at_ms = now_ms();
        let days = super::run::read_log(&i.store).await?;
        let input = TrainInput {
            trained_seq,
            read_at_ms,
            n_events: days.n_events(),
            catalog,
            days,
            version: 0,
            progress: None,
            campaigns: Vec::new(),
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
        self.restore_as(|snap| snap).await
    }

    /// Loads what a training reads of the newest persisted snapshot
    /// ([`ModelSnapshot::training_basis`]), for a process that trains and
    /// exits (`courserec train`); what it publishes cannot serve lists.
    pub async fn restore_training_basis(&self) -> anyhow::Result<Option<i64>> {
        self.restore_as(|snap| snap.training_basis()).await
    }

    /// Loads and decodes the newest persisted snapshot, keeps `keep` of it,
    /// and publishes that with the catalog and erasures brought up to date.
    async fn restore_as(
        &self,
        keep: impl FnOnce(ModelSnapshot) -> ModelSnapshot + Send + 'static,
    ) -> anyhow::Result<Option<i64>> {
        let i = &self.inner;
        let Some((version, bytes)) = i.store.load_latest_snapshot().await? else {
            return Ok(None);
        };
        let snap = tokio::task::spawn_blocking(move || ModelSnapshot::decode(&bytes).map(keep)).await??;
        let newer = i.store.users_with_events_after(snap.trained_seq).await?;
        // The catalog may have changed while the service was down, and users
        // erased after that training must not come back with it.
        self.publish_fresh(snap).await;
        i.live.mark_dirty(newer, now_ms());
        Ok(Some(version))
    }
}
