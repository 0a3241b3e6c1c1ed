//! When the background trainer runs.

use std::time::{Duration, Instant};

use super::Trainer;

impl Trainer {
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
