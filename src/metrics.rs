//! Prometheus metrics, one registry per application instance so tests running
//! several apps in one process see only their own counts.

use std::sync::Arc;

use prometheus::{
    Encoder, Histogram, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGauge, IntGaugeVec, Opts,
    Registry, TextEncoder,
};

/// Every metric courserec exports, all under the `courserec_` prefix.
/// Cheap to clone: one shared allocation, since the HTTP state (and so this)
/// is cloned for every request.
#[derive(Clone)]
pub struct Metrics(Arc<MetricSet>);

impl std::ops::Deref for Metrics {
    type Target = MetricSet;
    fn deref(&self) -> &MetricSet {
        &self.0
    }
}

pub struct MetricSet {
    pub registry: Registry,
    pub http_requests: IntCounterVec,
    pub http_latency: HistogramVec,
    pub events_ingested: IntCounterVec,
    pub events_rejected: IntCounterVec,
    pub events_duplicate: IntCounter,
    pub db_errors: IntCounterVec,
    pub ingest_batch_size: Histogram,
    pub model_version: IntGauge,
    pub model_trained_at: IntGauge,
    pub training_seconds: Histogram,
    pub training_failures: IntCounterVec,
    pub eval_metric: prometheus::GaugeVec,
    pub recommendations: IntCounterVec,
    /// Items of served lists by how their slot was filled (ranked,
    /// explored, fixed) and what touched them (rule, fatigue).
    pub served_items: IntCounterVec,
    pub fatigue_learners: IntGauge,
    pub rules_active: IntGauge,
    pub fold_in_cache: IntGauge,
    pub segment_users: IntGaugeVec,
    pub segmentation_seconds: Histogram,
    /// The latest published training, per phase.
    pub training_phase_seconds: prometheus::GaugeVec,
    pub training_phase_peak_rss: IntGaugeVec,
    pub experiment_impressions: IntCounterVec,
    pub impressions_dropped: IntCounter,
    /// Backtest of the marketing predictions: prediction, model or baseline, metric.
    pub marketing_metric: prometheus::GaugeVec,
    /// Trainings whose marketing predictions failed the coherence check
    /// (`marketing::predict::check`) and were not published.
    pub marketing_refused: IntCounter,
    pub campaigns_created: IntCounter,
    pub campaign_members: IntCounterVec,
    /// Latest report of each campaign: conversions per arm, uplift.
    pub campaign_conversions: IntGaugeVec,
    pub campaign_uplift: prometheus::GaugeVec,
    /// Raw events removed by retention: `partition` (whole months) or `row`.
    pub events_expired: IntCounterVec,
    /// 1, labelled with the crate version.
    pub build_info: IntGaugeVec,
    /// 1 while the store answers, 0 while requests serve from memory
    /// (set at each scrape from the health breaker).
    pub store_up: IntGaugeVec,
    /// `train.interval_secs`: what the model-age alert compares with.
    pub training_interval: IntGauge,
}

/// Label values every counter below starts with at 0, so an alert on
/// `increase(...) > 0` has a series to compare from the first failure on.
const TRAINING_FAILURE_REASONS: [&str; 8] = [
    "store",
    "fit",
    "threads",
    "injected",
    "panic",
    "no_data",
    "not_evaluated",
    "not_better_than_baseline",
];
const REJECT_REASONS: [&str; 14] = [
    "malformed_json",
    "unsupported_media_type",
    "payload_too_large",
    "invalid_body",
    "empty_batch",
    "batch_too_large",
    "batch_invalid",
    "missing_field",
    "invalid_id",
    "invalid_type",
    "invalid_value",
    "invalid_ts",
    "future_ts",
    "event_id_conflict",
];
const DB_OPS: [&str; 5] = [
    "insert_events",
    "fold_in",
    "store_down",
    "training_read",
    "save_snapshot",
];

fn opts(name: &str, help: &str) -> Opts {
    Opts::new(name, help).namespace("courserec")
}

fn hopts(name: &str, help: &str, buckets: Vec<f64>) -> HistogramOpts {
    HistogramOpts::new(name, help)
        .namespace("courserec")
        .buckets(buckets)
}

impl Metrics {
    pub fn new() -> Metrics {
        let registry = Registry::new();
        let http_buckets = vec![
            0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
        ];
        let train_buckets = vec![0.1, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 900.0];
        let m = MetricSet {
            http_requests: IntCounterVec::new(
                opts(
                    "http_requests_total",
                    "HTTP requests by method, matched route and status.",
                ),
                &["method", "route", "status"],
            )
            .unwrap(),
            http_latency: HistogramVec::new(
                hopts(
                    "http_request_duration_seconds",
                    "HTTP request latency by method, matched route and status.",
                    http_buckets,
                ),
                &["method", "route", "status"],
            )
            .unwrap(),
            events_ingested: IntCounterVec::new(
                opts("events_ingested_total", "Events stored, by type."),
                &["type"],
            )
            .unwrap(),
            events_rejected: IntCounterVec::new(
                opts("events_rejected_total", "Events rejected, by reason."),
                &["reason"],
            )
            .unwrap(),
            events_duplicate: IntCounter::with_opts(opts(
                "events_duplicate_total",
                "Events skipped because their event_id was already stored.",
            ))
            .unwrap(),
            db_errors: IntCounterVec::new(opts("db_errors_total", "Store errors by operation."), &["op"])
                .unwrap(),
            ingest_batch_size: Histogram::with_opts(hopts(
                "ingest_write_batch_events",
                "Events per insert statement of the ingest writer.",
                vec![1.0, 10.0, 50.0, 100.0, 500.0, 1000.0, 5000.0],
            ))
            .unwrap(),
            model_version: IntGauge::with_opts(opts(
                "model_version",
                "Version of the serving model (0: none).",
            ))
            .unwrap(),
            model_trained_at: IntGauge::with_opts(opts(
                "model_trained_at_seconds",
                "Unix time when the serving model was trained.",
            ))
            .unwrap(),
            training_seconds: Histogram::with_opts(hopts(
                "training_duration_seconds",
                "Wall time of a training run.",
                train_buckets.clone(),
            ))
            .unwrap(),
            training_failures: IntCounterVec::new(
                opts(
                    "training_failures_total",
                    "Training runs that did not publish, by reason.",
                ),
                &["reason"],
            )
            .unwrap(),
            eval_metric: prometheus::GaugeVec::new(
                opts(
                    "eval_metric",
                    "Holdout metrics at K=10 of the serving model and of popularity.",
                ),
                &["model", "metric"],
            )
            .unwrap(),
            recommendations: IntCounterVec::new(
                opts(
                    "recommendations_total",
                    "Recommendation lists served, by strategy.",
                ),
                &["strategy"],
            )
            .unwrap(),
            served_items: IntCounterVec::new(
                opts(
                    "served_items_total",
                    "Items of served recommendation lists, by slot (ranked, explored, fixed by a pin) and by what touched them (none, rule, fatigue).",
                ),
                &["slot", "touched"],
            )
            .unwrap(),
            fatigue_learners: IntGauge::with_opts(opts(
                "fatigue_learners",
                "Learners whose served impressions are tracked for fatigue (bounded by serve.fatigue.cache_bytes).",
            ))
            .unwrap(),
            rules_active: IntGauge::with_opts(opts(
                "rules_active",
                "Merchandising rules in force now.",
            ))
            .unwrap(),
            fold_in_cache: IntGauge::with_opts(opts(
                "fold_in_cache_users",
                "Users with a cached fold-in factor.",
            ))
            .unwrap(),
            experiment_impressions: IntCounterVec::new(
                opts(
                    "experiment_impressions_total",
                    "Lists served under an experiment and queued for the impression log, by experiment and variant.",
                ),
                &["experiment", "variant"],
            )
            .unwrap(),
            impressions_dropped: IntCounter::with_opts(opts(
                "impressions_dropped_total",
                "Impressions not logged: queue full or store failure.",
            ))
            .unwrap(),
            segment_users: IntGaugeVec::new(opts("segment_users", "Users per segment."), &["segment"])
                .unwrap(),
            training_phase_seconds: prometheus::GaugeVec::new(
                opts(
                    "training_phase_seconds",
                    "Wall time of each phase of the latest published training (read, build, evaluate, fit, segment, predict, persist); segment and predict partly run beside evaluate and fit, so phases overlap.",
                ),
                &["phase"],
            )
            .unwrap(),
            training_phase_peak_rss: IntGaugeVec::new(
                opts(
                    "training_phase_peak_rss_bytes",
                    "Peak resident memory of the process during each phase of the latest published training.",
                ),
                &["phase"],
            )
            .unwrap(),
            segmentation_seconds: Histogram::with_opts(hopts(
                "segmentation_duration_seconds",
                "Wall time of user segmentation.",
                train_buckets,
            ))
            .unwrap(),
            marketing_metric: prometheus::GaugeVec::new(
                opts(
                    "marketing_backtest",
                    "Backtest of the purchase and churn predictions and their recency-frequency baselines.",
                ),
                &["prediction", "model", "metric"],
            )
            .unwrap(),
            marketing_refused: IntCounter::with_opts(opts(
                "marketing_predictions_refused_total",
                "Trainings whose marketing predictions broke P(purchase) <= 1 - P(churn) or 0..1, not published.",
            ))
            .unwrap(),
            campaigns_created: IntCounter::with_opts(opts("campaigns_created_total", "Campaigns created."))
                .unwrap(),
            campaign_members: IntCounterVec::new(
                opts("campaign_members_total", "Learners frozen into campaigns, by arm."),
                &["arm"],
            )
            .unwrap(),
            campaign_conversions: IntGaugeVec::new(
                opts("campaign_conversions", "Conversions net of refunds at the latest report, by campaign and arm."),
                &["campaign", "arm"],
            )
            .unwrap(),
            campaign_uplift: prometheus::GaugeVec::new(
                opts("campaign_uplift", "Treatment minus control conversion rate at the latest report."),
                &["campaign"],
            )
            .unwrap(),
            events_expired: IntCounterVec::new(
                opts(
                    "events_expired_total",
                    "Raw events dropped by retention after compaction: monthly partitions or single rows.",
                ),
                &["unit"],
            )
            .unwrap(),
            build_info: IntGaugeVec::new(opts("build_info", "1, labelled with the running version."), &["version"])
                .unwrap(),
            store_up: IntGaugeVec::new(
                opts("store_up", "1 while the store answers, 0 while serving from memory."),
                &["store"],
            )
            .unwrap(),
            training_interval: IntGauge::with_opts(opts(
                "training_interval_seconds",
                "The configured train.interval_secs: a model older than a few of these is stale.",
            ))
            .unwrap(),
            registry,
        };
        register_all(&m);
        m.build_info
            .with_label_values(&[env!("CARGO_PKG_VERSION")])
            .set(1);
        for reason in TRAINING_FAILURE_REASONS {
            m.training_failures.with_label_values(&[reason]);
        }
        for reason in REJECT_REASONS {
            m.events_rejected.with_label_values(&[reason]);
        }
        for op in DB_OPS {
            m.db_errors.with_label_values(&[op]);
        }
        for slot in ["ranked", "explored", "fixed"] {
            for touched in ["none", "rule", "fatigue"] {
                m.served_items.with_label_values(&[slot, touched]);
            }
        }
        Metrics(Arc::new(m))
    }

    /// The Prometheus text exposition format.
    pub fn render(&self) -> String {
        let mut buf = Vec::new();
        TextEncoder::new()
            .encode(&self.registry.gather(), &mut buf)
            .expect("text encoding cannot fail");
        String::from_utf8(buf).expect("prometheus text is UTF-8")
    }
}

fn register_all(m: &MetricSet) {
    for c in collectors(m) {
        m.registry.register(c).expect("metric names are unique");
    }
}

impl MetricSet {
    /// Every metric family this instance exports, by full name (a
    /// histogram's `_bucket`, `_sum` and `_count` series under its one
    /// name), whether or not it has a series yet.
    pub fn family_names(&self) -> Vec<String> {
        let mut names: Vec<String> = collectors(self)
            .iter()
            .flat_map(|c| c.desc().into_iter().map(|d| d.fq_name.clone()))
            .collect();
        names.sort();
        names.dedup();
        names
    }
}

fn collectors(m: &MetricSet) -> Vec<Box<dyn prometheus::core::Collector>> {
    vec![
        Box::new(m.http_requests.clone()),
        Box::new(m.http_latency.clone()),
        Box::new(m.events_ingested.clone()),
        Box::new(m.events_rejected.clone()),
        Box::new(m.events_duplicate.clone()),
        Box::new(m.db_errors.clone()),
        Box::new(m.ingest_batch_size.clone()),
        Box::new(m.model_version.clone()),
        Box::new(m.model_trained_at.clone()),
        Box::new(m.training_seconds.clone()),
        Box::new(m.training_failures.clone()),
        Box::new(m.eval_metric.clone()),
        Box::new(m.recommendations.clone()),
        Box::new(m.fold_in_cache.clone()),
        Box::new(m.served_items.clone()),
        Box::new(m.fatigue_learners.clone()),
        Box::new(m.rules_active.clone()),
        Box::new(m.segment_users.clone()),
        Box::new(m.segmentation_seconds.clone()),
        Box::new(m.training_phase_seconds.clone()),
        Box::new(m.training_phase_peak_rss.clone()),
        Box::new(m.experiment_impressions.clone()),
        Box::new(m.impressions_dropped.clone()),
        Box::new(m.marketing_metric.clone()),
        Box::new(m.marketing_refused.clone()),
        Box::new(m.campaigns_created.clone()),
        Box::new(m.campaign_members.clone()),
        Box::new(m.campaign_conversions.clone()),
        Box::new(m.campaign_uplift.clone()),
        Box::new(m.events_expired.clone()),
        Box::new(m.build_info.clone()),
        Box::new(m.store_up.clone()),
        Box::new(m.training_interval.clone()),
        // Resident memory, CPU seconds, open descriptors, start time.
        Box::new(prometheus::process_collector::ProcessCollector::for_self()),
    ]
}
