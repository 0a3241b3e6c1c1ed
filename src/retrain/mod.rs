//! The background trainer: the one place where store, model, evaluation,
//! segmentation and serving meet. It reads aggregates, trains on a blocking
//! thread, persists the snapshot and swaps it in; any failure keeps the old
//! model serving. This file holds the handle; `run` is one training,
//! `publish` swaps a snapshot in, `serving` covers the time before any
//! training, `schedule` is the timer.

pub mod days;
mod erase;
pub mod marketing;
pub mod phases;
pub mod pipeline;
mod publish;
pub mod run;
mod schedule;
mod serving;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Instant;

use tokio::sync::Notify;

use crate::cluster::Cluster;
pub use crate::config::TrainSettings;
use crate::metrics::Metrics;
use crate::serve::Live;
use crate::store::Store;

/// Handle to the trainer, cloned into the HTTP state.
#[derive(Clone)]
pub struct Trainer {
    inner: Arc<Inner>,
}

struct Inner {
    settings: TrainSettings,
    store: Store,
    live: Arc<Live>,
    metrics: Metrics,
    cluster: Cluster,
    running: AtomicBool,
    fail_next: AtomicBool,
    kick: Notify,
    /// Serializes snapshot persists with erasure rewrites.
    erase_lock: tokio::sync::Mutex<()>,
    rewrite_pending: AtomicBool,
    /// Serialises building the popularity fallback; holds the last attempt.
    fallback: tokio::sync::Mutex<Option<Instant>>,
    /// The running training's phase.
    progress: Arc<phases::Progress>,
}

/// What turns the store's data into a snapshot to publish:
/// [`pipeline::train`], or another that passes the same gate.
pub type Fit = Box<
    dyn FnOnce(
            pipeline::TrainInput,
            &TrainSettings,
            Option<&crate::serve::snapshot::ModelSnapshot>,
        ) -> Result<crate::serve::snapshot::ModelSnapshot, pipeline::TrainFailure>
        + Send,
>;

/// What one run did.
#[derive(Debug)]
pub enum Outcome {
    Published(i64),
    Failed(String),
    /// Another replica holds the training lock.
    Skipped(String),
}

impl Trainer {
    /// The store this trainer reads and persists to.
    pub fn store(&self) -> &Store {
        &self.inner.store
    }

    pub fn new(
        settings: TrainSettings,
        store: Store,
        live: Arc<Live>,
        metrics: Metrics,
        cluster: Cluster,
    ) -> Trainer {
        let inner = Inner {
            settings,
            store,
            live,
            metrics,
            cluster,
            running: AtomicBool::new(false),
            fail_next: AtomicBool::new(false),
            kick: Notify::new(),
            erase_lock: tokio::sync::Mutex::new(()),
            rewrite_pending: AtomicBool::new(false),
            fallback: tokio::sync::Mutex::new(None),
            progress: Arc::default(),
        };
        Trainer {
            inner: Arc::new(inner),
        }
    }

    /// The running training's phase: name, seconds in it, phases done.
    pub fn phase(&self) -> Option<(&'static str, f64, usize)> {
        self.inner.progress.current()
    }

    pub fn is_running(&self) -> bool {
        self.inner.running.load(Ordering::SeqCst)
    }

    /// Starts a training now in the background; false if one is running.
    pub fn trigger(&self) -> bool {
        if self.inner.running.swap(true, Ordering::SeqCst) {
            return false;
        }
        let me = self.clone();
        tokio::spawn(async move { me.run_claimed(Box::new(pipeline::train)).await });
        true
    }

    /// Makes the next run fail as if the fit had (for failure drills and tests).
    pub fn fail_next_run(&self) {
        self.inner.fail_next.store(true, Ordering::SeqCst);
    }

    /// Runs one training and waits for it; `None` if one was already running.
    pub async fn run_now(&self) -> Option<Outcome> {
        self.run_now_with(Box::new(pipeline::train)).await
    }

    /// [`Trainer::run_now`] with another way from the store's data to a
    /// snapshot (e.g. imported factors), run like a training: under the
    /// training lock, persisted, recorded in the history and published.
    pub async fn run_now_with(&self, fit: Fit) -> Option<Outcome> {
        if self.inner.running.swap(true, Ordering::SeqCst) {
            return None;
        }
        Some(self.run_claimed(fit).await)
    }

    async fn run_claimed(&self, fit: Fit) -> Outcome {
        let out = self.run_once(fit).await;
        self.inner.progress.clear();
        self.inner.running.store(false, Ordering::SeqCst);
        self.inner.kick.notify_waiters();
        out
    }
}
