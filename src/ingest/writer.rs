//! Group commit: concurrent `POST /events` requests queue their events here and
//! a few writer tasks insert whatever has queued up in one statement, then
//! answer each request. A request is acknowledged only after its commit.

use std::collections::HashSet;
use std::sync::Arc;

use futures::FutureExt;
use tokio::sync::{mpsc, oneshot, watch, Mutex};
use tokio::task::JoinHandle;

use crate::domain::Event;
use crate::error::is_transient;
use crate::metrics::Metrics;
use crate::store::{Store, StoreHealth};

/// Accepted and duplicate counts for one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Written {
    pub accepted: usize,
    pub duplicates: usize,
}

/// Why events were not stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WriteError {
    /// The store is unreachable, full or busy: retry later (503).
    Unavailable,
    /// The store refused the data itself; retrying cannot help (500).
    Refused,
}

struct Job {
    events: Vec<Event>,
    reply: oneshot::Sender<Result<Written, WriteError>>,
}

/// The sending side, cloned into the HTTP state.
#[derive(Clone)]
pub struct IngestQueue {
    tx: mpsc::Sender<Job>,
}

/// The running writer tasks.
pub struct Writers {
    handles: Vec<JoinHandle<()>>,
    stop: watch::Sender<bool>,
}

impl Writers {
    /// Refuses new jobs, writes what is queued, then waits for the writers.
    pub async fn shutdown(self) {
        let _ = self.stop.send(true);
        for h in self.handles {
            let _ = h.await;
        }
    }
}

/// Starts the writers; [`Writers::shutdown`] drains and stops them.
/// While `health` says the store is down, jobs are answered at once with
/// [`WriteError::Unavailable`] instead of waiting on it.
pub fn start(
    store: Store,
    health: Arc<StoreHealth>,
    metrics: Metrics,
    max_events: usize,
) -> (IngestQueue, Writers) {
    let (tx, rx) = mpsc::channel::<Job>(4096);
    let rx = Arc::new(Mutex::new(rx));
    let (stop, stopped) = watch::channel(false);
    // SQLite has one writer anyway; Postgres overlaps a few commits.
    let writers = match store {
        Store::Postgres(_) => 4,
        Store::Sqlite(_) => 1,
    };
    let handles = (0..writers)
        .map(|_| {
            let w = run_writer(
                rx.clone(),
                store.clone(),
                health.clone(),
                metrics.clone(),
                max_events,
                stopped.clone(),
            );
            tokio::spawn(w)
        })
        .collect();
    (IngestQueue { tx }, Writers { handles, stop })
}

impl IngestQueue {
    /// Queues events and waits until they are committed.
    pub async fn write(&self, events: Vec<Event>) -> Result<Written, WriteError> {
        let (reply, answer) = oneshot::channel();
        self.tx
            .send(Job { events, reply })
            .await
            .map_err(|_| WriteError::Unavailable)?;
        answer.await.map_err(|_| WriteError::Unavailable)?
    }
}

async fn run_writer(
    rx: Arc<Mutex<mpsc::Receiver<Job>>>,
    store: Store,
    health: Arc<StoreHealth>,
    metrics: Metrics,
    max_events: usize,
    mut stop: watch::Receiver<bool>,
) {
    loop {
        let jobs = {
            let mut rx = rx.lock().await;
            let first = tokio::select! {
                biased;
                job = rx.recv() => job,
                // A closed queue still hands out what it holds, then None.
                _ = stop.wait_for(|s| *s).map(|_| ()) => {
                    rx.close();
                    rx.recv().await
                }
            };
            let Some(first) = first else { return };
            let mut total = first.events.len();
            let mut jobs = vec![first];
            while total < max_events {
                match rx.try_recv() {
                    Ok(job) => {
                        total += job.events.len();
                        jobs.push(job);
                    }
                    Err(_) => break,
                }
            }
            jobs
        };
        if health.is_up() {
            write_group(jobs, &store, &health, &metrics).await;
        } else {
            metrics.db_errors.with_label_values(&["store_down"]).inc();
            for job in jobs {
                let _ = job.reply.send(Err(WriteError::Unavailable));
            }
        }
    }
}

async fn write_group(jobs: Vec<Job>, store: &Store, health: &StoreHealth, metrics: &Metrics) {
    // An event_id seen earlier in this group is a duplicate of that one.
    let mut seen = HashSet::new();
    let mut rows = Vec::new();
    let mut kept: Vec<Vec<bool>> = Vec::with_capacity(jobs.len());
    for job in &jobs {
        let flags = job
            .events
            .iter()
            .map(|e| {
                let fresh = e.event_id.as_ref().is_none_or(|id| seen.insert(id.clone()));
                if fresh {
                    rows.push(e.clone());
                }
                fresh
            })
            .collect();
        kept.push(flags);
    }
    metrics.ingest_batch_size.observe(rows.len() as f64);
    match store.insert_events(&rows).await {
        Ok(outcome) => {
            for (job, flags) in jobs.into_iter().zip(kept) {
                let mut accepted = 0;
                for (e, fresh) in job.events.iter().zip(flags) {
                    let stored = fresh
                        && e.event_id
                            .as_ref()
                            .is_none_or(|id| outcome.inserted_ids.contains(id));
                    if stored {
                        accepted += 1;
                        metrics
                            .events_ingested
                            .with_label_values(&[e.kind.as_str()])
                            .inc();
                    }
                }
                let duplicates = job.events.len() - accepted;
                metrics.events_duplicate.inc_by(duplicates as u64);
                let _ = job.reply.send(Ok(Written { accepted, duplicates }));
            }
        }
        Err(e) => {
            metrics.db_errors.with_label_values(&["insert_events"]).inc();
            tracing::error!(error = %e, events = rows.len(), "event insert failed");
            let why = if is_transient(&e) {
                health.record_failure();
                WriteError::Unavailable
            } else {
                WriteError::Refused
            };
            for job in jobs {
                let _ = job.reply.send(Err(why));
            }
        }
    }
}
