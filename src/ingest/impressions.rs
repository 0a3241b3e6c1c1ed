//! The impression log: lists served under an experiment, and every served
//! list's slots and propensities, are queued here and written in batches
//! off the request path. It is analytics, not an
//! acknowledged write: when the queue is full or the store fails, the
//! impression is dropped and counted rather than slowing `/recommend`.

use futures::FutureExt;
use tokio::sync::{mpsc, oneshot, watch};
use tokio::task::JoinHandle;

use crate::metrics::Metrics;
use crate::store::{Impression, ServedList, Store};

enum Msg {
    Row(Impression),
    Served(ServedList),
    /// Answered once everything queued before it is written.
    Flush(oneshot::Sender<()>),
}

#[derive(Clone)]
pub struct ImpressionLog {
    tx: mpsc::Sender<Msg>,
    metrics: Metrics,
}

pub struct ImpressionWriter {
    handle: JoinHandle<()>,
    stop: watch::Sender<bool>,
}

const QUEUE: usize = 65_536;
const MAX_BATCH: usize = 20_000;

pub fn start(store: Store, metrics: Metrics) -> (ImpressionLog, ImpressionWriter) {
    let (tx, rx) = mpsc::channel(QUEUE);
    let (stop, stopped) = watch::channel(false);
    let handle = tokio::spawn(run(rx, store, metrics.clone(), stopped));
    (ImpressionLog { tx, metrics }, ImpressionWriter { handle, stop })
}

impl ImpressionLog {
    /// Queues one impression without waiting.
    pub fn record(&self, imp: Impression) {
        let labels = [imp.experiment_id.as_str(), imp.variant.as_str()];
        let counter = self.metrics.experiment_impressions.with_label_values(&labels);
        match self.tx.try_send(Msg::Row(imp)) {
            Ok(()) => counter.inc(),
            Err(_) => self.metrics.impressions_dropped.inc(),
        }
    }

    /// Queues one served list (slots and propensities) without waiting.
    pub fn served(&self, list: ServedList) {
        if self.tx.try_send(Msg::Served(list)).is_err() {
            self.metrics.impressions_dropped.inc();
        }
    }

    /// Waits until every impression queued so far is written (or dropped).
    pub async fn flush(&self) {
        let (done, wait) = oneshot::channel();
        if self.tx.send(Msg::Flush(done)).await.is_ok() {
            let _ = wait.await;
        }
    }
}

impl ImpressionWriter {
    /// Writes what is queued, then stops.
    pub async fn shutdown(self) {
        let _ = self.stop.send(true);
        let _ = self.handle.await;
    }
}

async fn run(mut rx: mpsc::Receiver<Msg>, store: Store, metrics: Metrics, mut stop: watch::Receiver<bool>) {
    loop {
        let first = tokio::select! {
            biased;
            m = rx.recv() => m,
            // The guard `wait_for` returns is not Send; drop it at once.
            _ = stop.wait_for(|s| *s).map(|_| ()) => {
                rx.close();
                rx.recv().await
            }
        };
        let Some(first) = first else { return };
        let mut rows = Vec::new();
        let mut served = Vec::new();
        let mut waiters = Vec::new();
        let mut next = Some(first);
        while let Some(m) = next {
            match m {
                Msg::Row(r) => rows.push(r),
                Msg::Served(l) => served.push(l),
                Msg::Flush(w) => waiters.push(w),
            }
            next = (rows.len() + served.len() < MAX_BATCH)
                .then(|| rx.try_recv().ok())
                .flatten();
        }
        if !served.is_empty() {
            if let Err(e) = store.insert_served_lists(&served).await {
                metrics.db_errors.with_label_values(&["impressions"]).inc();
                metrics.impressions_dropped.inc_by(served.len() as u64);
                tracing::warn!(error = %e, rows = served.len(), "could not log served lists; dropped");
            }
        }
        if !rows.is_empty() {
            if let Err(e) = store.insert_impressions(&rows).await {
                metrics.db_errors.with_label_values(&["impressions"]).inc();
                metrics.impressions_dropped.inc_by(rows.len() as u64);
                tracing::warn!(error = %e, rows = rows.len(), "could not write impressions; dropped");
            }
        }
        for w in waiters {
            let _ = w.send(());
        }
    }
}
