//! Swapping a snapshot in: serving state and the model gauges.

use std::sync::Arc;

use super::Trainer;
use crate::serve::snapshot::ModelSnapshot;

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

impl Trainer {
    /// Publishes a snapshot built from data read at `data_read_at_ms` with
    /// what changed since: the catalog as it is now (edits made during the
    /// training survive; deleted and deactivated courses stay out, new ones
    /// in) and the erasures made since, before and after the swap, so an
    /// erasure racing the publish never leaves the new snapshot serving the
    /// learner. A store that fails here costs the freshness, not the publish.
    pub(super) async fn publish_fresh(&self, snap: ModelSnapshot) -> Arc<ModelSnapshot> {
        let i = &self.inner;
        let read_at = snap.data_read_at_ms;
        let _edits = i.live.lock_catalog().await;
        let snap = match i.store.list_courses().await {
            Ok(catalog) => tokio::task::spawn_blocking(move || {
                let side = crate::serve::catalog::matching_catalog(&snap.courses, &catalog);
                snap.with_courses(side)
            })
            .await
            .expect("applying the catalog does not panic"),
            Err(e) => {
                i.metrics.db_errors.with_label_values(&["publish_catalog"]).inc();
                tracing::warn!(error = %e, "catalog not re-read at publish; edits since the training apply later");
                snap
            }
        };
        let before = self.erased_since(read_at).await;
        let snap = Arc::new(snap);
        self.publish(snap.clone());
        i.live.forget_hashed(&before);
        // An erasure committed meanwhile may have reached the old snapshot only.
        i.live.forget_hashed(&self.erased_since(read_at).await);
        snap
    }

    /// Keyed hashes of the learners erased after `ms` (none if the store fails).
    async fn erased_since(&self, ms: i64) -> Vec<i64> {
        let i = &self.inner;
        i.store.erasures_after_ms(ms).await.unwrap_or_else(|e| {
            i.metrics.db_errors.with_label_values(&["publish_erasures"]).inc();
            tracing::warn!(error = %e, "erasures not re-read at publish");
            Vec::new()
        })
    }

    pub(super) fn publish(&self, snap: Arc<ModelSnapshot>) {
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
        if !snap.phases.is_empty() {
            m.training_phase_seconds.reset();
            m.training_phase_peak_rss.reset();
        }
        for p in &snap.phases {
            m.training_phase_seconds
                .with_label_values(&[&p.name])
                .set(p.seconds);
            m.training_phase_peak_rss
                .with_label_values(&[&p.name])
                .set(p.peak_rss_bytes as i64);
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
            let spend = p.spend_backtest.iter();
            for (model, q) in spend.flat_map(|b| [("model", &b.model), ("baseline", &b.baseline)]) {
                for (metric, v) in q.named() {
                    m.marketing_metric
                        .with_label_values(&["spend", model, metric])
                        .set(v);
                }
            }
        }
        self.inner.live.publish(snap);
    }
}
