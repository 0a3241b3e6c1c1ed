//! Group commit: concurrent `POST /events` requests queue their events here and
//! a few writer tasks insert whatever has queued up in one statement, then
//! answer each request. A request is acknowledged only after its commit.

use std::collections::HashMap;
use std::sync::Arc;

use futures::FutureExt;
use tokio::sync::{mpsc, oneshot, watch, Mutex};
use tokio::task::JoinHandle;

use crate::domain::Event;
use crate::metrics::Metrics;
use crate::store::is_transient;
use crate::store::{Store, StoreHealth};

/// Accepted and duplicate counts for one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Written {
    pub accepted: usize,
    pub duplicates: usize,
}

/// Why events were not stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WriteError {
    /// The store is unreachable, full or busy: retry later (503).
    Unavailable,
    /// The store refused the data itself; retrying cannot help (500).
    Refused,
    /// These positions of the request reuse an `event_id` stored (or sent
    /// earlier) with another body; nothing of the request was stored (409).
    Conflict(Vec<usize>),
}

struct Job {
    events: Vec<Event>,
    /// Per event: the client gave `ts` (a replay without one is stamped anew,
    /// so its time is not compared).
    ts_given: Vec<bool>,
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
    /// Queues events and waits until they are committed. `ts_given[i]`
    /// says whether event `i`'s time came from the client.
    pub async fn write(&self, events: Vec<Event>, ts_given: Vec<bool>) -> Result<Written, WriteError> {
        let (reply, answer) = oneshot::channel();
        self.tx
            .send(Job {
                events,
                ts_given,
                reply,
            })
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

async fn write_group(mut jobs: Vec<Job>, store: &Store, health: &StoreHealth, metrics: &Metrics) {
    // A job refused for a conflict leaves the group; the others are written
    // again without it (each round removes at least one job).
    while !jobs.is_empty() {
        let (rows, ts_given, kept, inside) = plan_group(&jobs);
        if !inside.is_empty() {
            jobs = refuse(jobs, &inside, metrics);
            continue;
        }
        metrics.ingest_batch_size.observe(rows.len() as f64);
        match store.insert_events(&rows, &ts_given).await {
            Ok(outcome) if !outcome.conflicts.is_empty() => {
                let positions: Vec<Vec<usize>> = jobs
                    .iter()
                    .map(|job| conflict_positions(job, |id| outcome.conflicts.contains(id)))
                    .collect();
                jobs = refuse(jobs, &positions, metrics);
            }
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
                return;
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
                    let _ = job.reply.send(Err(why.clone()));
                }
                return;
            }
        }
    }
}

/// The rows to insert (each `event_id` once: its first copy in the group),
/// their `ts_given` flags, which of each job's events are such first copies,
/// and per job the positions that reuse an id of the group with another
/// body (empty everywhere when none does).
type GroupPlan = (Vec<Event>, Vec<bool>, Vec<Vec<bool>>, Vec<Vec<usize>>);

fn plan_group(jobs: &[Job]) -> GroupPlan {
    let mut first: HashMap<&str, (i64, i64)> = HashMap::new();
    let (mut rows, mut ts_given, mut kept, mut inside) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for job in jobs {
        let mut flags = Vec::with_capacity(job.events.len());
        let mut clashes = Vec::new();
        for (i, e) in job.events.iter().enumerate() {
            let given = job.ts_given.get(i).copied().unwrap_or(false);
            let fresh = match e.event_id.as_deref() {
                None => true,
                Some(id) => match first.get(id) {
                    None => {
                        first.insert(id, (e.body_hash(), e.ts_ms));
                        true
                    }
                    Some(&(hash, ts)) => {
                        if hash != e.body_hash() || (given && ts != e.ts_ms) {
                            clashes.push(i);
                        }
                        false
                    }
                },
            };
            if fresh {
                rows.push(e.clone());
                ts_given.push(given);
            }
            flags.push(fresh);
        }
        kept.push(flags);
        inside.push(clashes);
    }
    if inside.iter().all(Vec::is_empty) {
        inside.clear();
    }
    (rows, ts_given, kept, inside)
}

/// Positions of `job` whose id `conflicts`.
fn conflict_positions(job: &Job, conflicts: impl Fn(&str) -> bool) -> Vec<usize> {
    job.events
        .iter()
        .enumerate()
        .filter(|(_, e)| e.event_id.as_deref().is_some_and(&conflicts))
        .map(|(i, _)| i)
        .collect()
}

/// Answers 409 to the jobs with conflicting positions; returns the others.
fn refuse(jobs: Vec<Job>, positions: &[Vec<usize>], metrics: &Metrics) -> Vec<Job> {
    let mut rest = Vec::with_capacity(jobs.len());
    for (job, at) in jobs.into_iter().zip(positions) {
        if at.is_empty() {
            rest.push(job);
        } else {
            metrics
                .events_rejected
                .with_label_values(&["event_id_conflict"])
                .inc_by(job.events.len() as u64);
            let _ = job.reply.send(Err(WriteError::Conflict(at.clone())));
        }
    }
    rest
}
