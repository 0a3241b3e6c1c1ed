//! Keeps this replica in step with the others (`cluster.enabled`): applies
//! their changes as notifications arrive, and polls every `cluster.poll_ms`
//! for what a dropped notification missed, marking users with events stored
//! by other replicas so their fold-in is fresh everywhere.

use std::sync::Arc;
use std::time::Duration;

use crate::cluster::{Change, Cluster};
use crate::domain::now_ms;
use crate::retrain::Trainer;
use crate::serve::experiments::{Experiments, Running};
use crate::serve::Live;
use crate::store::Store;

/// How long after receipt an event's commit is assumed visible.
const SETTLE_MS: i64 = 3_000;

/// What the sync task updates.
pub struct Replica {
    pub cluster: Cluster,
    pub store: Store,
    pub live: Arc<Live>,
    pub trainer: Trainer,
    pub experiments: Arc<Experiments>,
    pub poll: Duration,
}

/// Listens and polls until aborted.
pub async fn run_sync(r: Replica) {
    let Some(mut inbox) = r.cluster.listen() else {
        return;
    };
    let mut marks = Marks {
        events: r.store.max_event_seq().await.unwrap_or(0),
        // Erasures before this start were applied by `restore`.
        erasures: r.store.erasures_since(0).await.map_or(0, |e| e.1),
        catalog: r.store.catalog_fingerprint().await.unwrap_or_default(),
        rules: r.store.rules_fingerprint().await.unwrap_or_default(),
    };
    let mut tick = tokio::time::interval(r.poll);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            Some(change) = inbox.recv() => apply(&r, change).await,
            _ = tick.tick() => poll(&r, &mut marks).await,
        }
    }
}

async fn apply(r: &Replica, change: Change) {
    let result: anyhow::Result<()> = async {
        match change {
            Change::Model { .. } => load_newer_model(r).await?,
            Change::Course { id } => {
                let _edit = r.live.lock_catalog().await;
                match r.store.get_course(&id).await? {
                    Some(c) => {
                        let live = r.live.clone();
                        tokio::task::spawn_blocking(move || live.note_courses(std::slice::from_ref(&c)))
                            .await?
                    }
                    None => r.live.remove_course(&id),
                }
            }
            Change::Catalog => {
                let _edit = r.live.lock_catalog().await;
                let catalog = r.store.list_courses().await?;
                let live = r.live.clone();
                tokio::task::spawn_blocking(move || live.sync_catalog(&catalog)).await?
            }
            Change::User { id } => r.live.note_new_events(std::slice::from_ref(&id)),
            Change::UserErased { id } => {
                r.live.forget_user(&id);
            }
            Change::Experiment => load_experiment(r).await?,
            Change::Rules => load_rules(r).await?,
        }
        Ok(())
    }
    .await;
    if let Err(e) = result {
        tracing::warn!(
            error = format!("{e:#}"),
            "could not apply a change from another replica"
        );
    }
}

async fn load_newer_model(r: &Replica) -> anyhow::Result<()> {
    let stored = r.store.max_snapshot_version().await?;
    if stored > r.live.version().unwrap_or(0) {
        if let Some(v) = r.trainer.restore().await? {
            tracing::info!(version = v, "loaded the model another replica trained");
        }
    }
    Ok(())
}

async fn load_experiment(r: &Replica) -> anyhow::Result<()> {
    let running = r.store.running_experiment().await?;
    let current = r.experiments.current();
    let same = match (&running, &current) {
        (Some(a), Some(b)) => a.id == b.id,
        (None, None) => true,
        _ => false,
    };
    if !same {
        r.experiments.set(running.map(|e| Running {
            id: e.id,
            spec: e.spec,
        }));
    }
    Ok(())
}

async fn load_rules(r: &Replica) -> anyhow::Result<()> {
    let rules = r.store.list_rules().await?;
    r.live.rules.set(rules.into_iter().map(|s| s.rule).collect());
    Ok(())
}

/// How far the poll has read.
struct Marks {
    events: i64,
    erasures: i64,
    catalog: (i64, i64),
    rules: (i64, i64),
}

/// One poll: everything a lost notification could have carried.
async fn poll(r: &Replica, marks: &mut Marks) {
    if let Err(e) = load_newer_model(r).await {
        tracing::warn!(error = format!("{e:#}"), "cluster poll: model check failed");
    }
    if let Err(e) = load_experiment(r).await {
        tracing::warn!(error = format!("{e:#}"), "cluster poll: experiment check failed");
    }
    let catalog = async {
        let now = r.store.catalog_fingerprint().await?;
        if now != marks.catalog {
            let _edit = r.live.lock_catalog().await;
            let catalog = r.store.list_courses().await?;
            let live = r.live.clone();
            tokio::task::spawn_blocking(move || live.sync_catalog(&catalog))
                .await
                .map_err(|e| sqlx::Error::Protocol(format!("catalog sync panicked: {e}")))?;
            marks.catalog = now;
        }
        let (erased, high) = r.store.erasures_since(marks.erasures).await?;
        r.live.forget_hashed(&erased);
        marks.erasures = high;
        Ok::<_, sqlx::Error>(())
    };
    if let Err(e) = catalog.await {
        tracing::warn!(error = %e, "cluster poll: catalog or erasure check failed");
    }
    match r.store.rules_fingerprint().await {
        Ok(now) if now != marks.rules => match load_rules(r).await {
            Ok(()) => marks.rules = now,
            Err(e) => tracing::warn!(error = format!("{e:#}"), "cluster poll: rules reload failed"),
        },
        Ok(_) => {}
        Err(e) => tracing::warn!(error = %e, "cluster poll: rules check failed"),
    }
    marks.events = poll_events(r, marks.events).await;
}

/// Marks users with events other replicas stored; returns the new mark.
async fn poll_events(r: &Replica, last_seq: i64) -> i64 {
    let settled = now_ms() - SETTLE_MS;
    // Events the serving snapshot was trained on need no fold-in.
    let trained = r.live.snapshot().map_or(0, |s| s.trained_seq);
    match r
        .store
        .users_with_events_since(last_seq.max(trained), settled)
        .await
    {
        Ok((users, seq)) => {
            r.live.note_events_at(users);
            seq.max(last_seq)
        }
        Err(e) => {
            tracing::warn!(error = %e, "cluster poll: event check failed");
            last_seq
        }
    }
}
