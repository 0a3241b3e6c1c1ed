//! Upkeep of the raw event log, in the background: on Postgres the monthly
//! partitions are created ahead of the events that will fill them, and when
//! `database.retention_months` is set, raw events older than the cutoff are
//! dropped once compaction has put them in the interactions rollup.

use std::time::Duration;

use crate::domain::{now_ms, retention_cutoff_ms, DAY_MS};
use crate::metrics::Metrics;
use crate::store::{Expired, Store};

/// Time between passes.
pub const EVERY: Duration = Duration::from_secs(3600);

/// Days served lists are kept.
const SERVED_LIST_DAYS: i64 = 90;

/// Months created ahead of the current one.
const MONTHS_AHEAD: i64 = 2;

/// One pass as of `now_ms`: creates this month's partition and the next
/// two (Postgres), then, with retention on, compacts and expires raw events
/// before the cutoff. Returns what retention removed. Fails on a store
/// error; the next pass retries, and nothing is half-done (each step is
/// one transaction).
pub async fn run_once(
    store: &Store,
    now_ms: i64,
    retention_months: u32,
    metrics: &Metrics,
) -> sqlx::Result<Expired> {
    let created = store
        .ensure_event_months(now_ms, now_ms + MONTHS_AHEAD * 31 * DAY_MS)
        .await?;
    if created > 0 {
        tracing::info!(created, "event log partitions created");
    }
    // Served lists are read for the off-policy estimate (days) and
    // fatigue; a quarter's worth is plenty.
    let served = store
        .expire_served_lists(now_ms - SERVED_LIST_DAYS * DAY_MS)
        .await?;
    if served > 0 {
        tracing::info!(
            rows = served,
            "served lists older than {SERVED_LIST_DAYS} days expired"
        );
    }
    let Some(cutoff_ms) = retention_cutoff_ms(now_ms, retention_months) else {
        return Ok(Expired::default());
    };
    store.compact_events().await?;
    let expired = store.expire_events_before(cutoff_ms).await?;
    metrics
        .events_expired
        .with_label_values(&["partition"])
        .inc_by(expired.partitions);
    metrics
        .events_expired
        .with_label_values(&["row"])
        .inc_by(expired.rows);
    if expired != Expired::default() {
        tracing::info!(
            cutoff_ms,
            partitions = expired.partitions,
            rows = expired.rows,
            "raw events expired; the rollup keeps their counts"
        );
    }
    Ok(expired)
}

/// After a failed pass (the store down, say), the next comes this soon.
const RETRY: Duration = Duration::from_secs(60);

/// Runs [`run_once`] now and then every [`EVERY`], for as long as the service runs.
pub async fn run_loop(store: Store, retention_months: u32, metrics: Metrics) {
    loop {
        let pause = match run_once(&store, now_ms(), retention_months, &metrics).await {
            Ok(_) => EVERY,
            Err(e) => {
                metrics.db_errors.with_label_values(&["housekeeping"]).inc();
                tracing::warn!(error = %e, "event log housekeeping failed; retrying");
                RETRY
            }
        };
        tokio::time::sleep(pause).await;
    }
}
