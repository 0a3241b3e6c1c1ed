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
