//! The store's last known state, as a circuit breaker: after a connection
//! failure, request paths stop waiting on the store (ingest answers 503 at
//! once, `/recommend` serves from memory, `/readyz` answers from this state)
//! until a background probe reaches the store again.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use super::Store;

/// Shared by every clone of the application state. Starts down: the store is
/// up only once it was reached (and migrated).
#[derive(Debug, Default)]
pub struct StoreHealth {
    up: AtomicBool,
    /// Failures seen since the last success (drives the probe back-off).
    failures: AtomicU64,
}

impl StoreHealth {
    /// True when the last contact with the store succeeded.
    pub fn is_up(&self) -> bool {
        self.up.load(Ordering::Acquire)
    }

    /// A request or the probe reached the store.
    pub fn record_success(&self) {
        self.failures.store(0, Ordering::Release);
        if !self.up.swap(true, Ordering::AcqRel) {
            tracing::info!("store reachable again");
        }
    }

    /// A request or the probe found the store unreachable; requests stop
    /// waiting on it until the probe succeeds.
    pub fn record_failure(&self) {
        self.failures.fetch_add(1, Ordering::AcqRel);
        if self.up.swap(false, Ordering::AcqRel) {
            tracing::warn!("store unreachable; serving from memory until it answers again");
        }
    }

    /// The wait before the next probe: `min` doubling with each failure up
    /// to `max`, and `every` while the store is up.
    pub fn next_probe(&self, every: Duration, min: Duration, max: Duration) -> Duration {
        if self.is_up() {
            return every;
        }
        let n = self.failures.load(Ordering::Acquire).min(16) as u32;
        min.saturating_mul(1 << n.saturating_sub(1)).min(max)
    }
}

/// Probe timing, in milliseconds (`database.probe_*`).
#[derive(Debug, Clone, Copy)]
pub struct ProbeTiming {
    /// Between probes while the store is up.
    pub every: Duration,
    /// First back-off after a failure; doubles up to `max`.
    pub min: Duration,
    pub max: Duration,
    /// A ping slower than this counts as a failure.
    pub timeout: Duration,
}

/// Pings the store forever on the timing above, updating `health`.
pub async fn run_probe(store: Store, health: Arc<StoreHealth>, t: ProbeTiming) {
    loop {
        tokio::time::sleep(health.next_probe(t.every, t.min, t.max)).await;
        match tokio::time::timeout(t.timeout, store.ping()).await {
            Ok(true) => health.record_success(),
            _ => health.record_failure(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn probe_backs_off_while_down_and_relaxes_when_up() {
        let h = StoreHealth::default();
        let (every, min, max) = (
            Duration::from_secs(2),
            Duration::from_millis(100),
            Duration::from_millis(1000),
        );
        assert!(!h.is_up(), "down until first reached");
        h.record_failure();
        assert_eq!(h.next_probe(every, min, max), min);
        h.record_failure();
        assert_eq!(h.next_probe(every, min, max), Duration::from_millis(200));
        for _ in 0..10 {
            h.record_failure();
        }
        assert_eq!(h.next_probe(every, min, max), max);
        h.record_success();
        assert!(h.is_up());
        assert_eq!(h.next_probe(every, min, max), every);
    }
}
