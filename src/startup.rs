//! Building and running the application: bind, connect, migrate, start the
//! background tasks, serve until a shutdown signal, then drain.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;

use crate::auth::Keys;
use crate::cluster::Cluster;
use crate::config::Settings;
use crate::demo;
use crate::domain::now_ms;
use crate::http::{self, AppState};
use crate::ingest::impressions::{self, ImpressionWriter};
use crate::metrics::Metrics;
use crate::retrain::Trainer;
use crate::serve::experiments::{Experiments, Running};
use crate::serve::live::LiveLimits;
use crate::serve::Live;
use crate::store::{run_probe, ProbeTiming, Store, StoreHealth};

/// A bound, ready-to-run service. Tests build it on port 0 and read `port()`.
pub struct Application {
    listener: TcpListener,
    state: AppState,
    writers: crate::ingest::writer::Writers,
    impression_writer: ImpressionWriter,
    /// False when the store was unreachable at build: `run_until` keeps
    /// trying in the background while `/healthz` answers.
    started: bool,
}

/// Refuses a public address without keys unless anonymous access is explicit.
pub fn check_exposure(settings: &Settings, addr: &SocketAddr) -> anyhow::Result<()> {
    let has_keys = !settings.auth.keys.is_empty();
    if settings.auth.enabled && !has_keys {
        anyhow::bail!("auth.enabled is true but auth.keys is empty");
    }
    if !addr.ip().is_loopback() && !has_keys && !settings.auth.allow_anonymous {
        anyhow::bail!(
            "refusing to listen on {addr} without API keys: configure auth.keys, or set \
             auth.allow_anonymous = true to serve it unauthenticated"
        );
    }
    Ok(())
}

impl Application {
    pub async fn build(settings: Settings) -> anyhow::Result<Application> {
        let addr = settings.listen_addr()?;
        check_exposure(&settings, &addr)?;
        let store = Store::open(&settings.database)?;
        Application::build_with_store(settings, store).await
    }

    /// Builds on a store pool, which need not be reachable yet: one attempt
    /// to migrate and restore is made here; if it fails the service still
    /// starts (`/readyz` 503) and `run_until` retries with back-off.
    pub async fn build_with_store(settings: Settings, store: Store) -> anyhow::Result<Application> {
        let addr = settings.listen_addr()?;
        check_exposure(&settings, &addr)?;
        let listener = TcpListener::bind(addr)
            .await
            .map_err(|e| anyhow::anyhow!("cannot listen on {addr}: {e}"))?;
        let metrics = Metrics::new();
        metrics.training_interval.set(settings.train.interval_secs as i64);
        let health = Arc::new(StoreHealth::default());
        let (ingest, writers) = crate::ingest::writer::start(
            store.clone(),
            health.clone(),
            metrics.clone(),
            settings.ingest.writer_batch,
        );
        let live = Arc::new(
            Live::with_limits(LiveLimits {
                cache_bytes: settings.serve.cache_bytes,
                max_dirty: settings.serve.max_dirty_users,
            })
            .with_fatigue(settings.serve.fatigue.clone()),
        );
        let cluster = Cluster::new(&settings.cluster, &store)?;
        let trainer = Trainer::new(
            settings.training(),
            store.clone(),
            live.clone(),
            metrics.clone(),
            cluster.clone(),
        );
        let experiments = Arc::new(Experiments::default());
        let (impressions, impression_writer) = impressions::start(store.clone(), metrics.clone());
        let state = AppState {
            keys: Keys::from_settings(&settings.auth),
            settings: Arc::new(settings),
            store,
            metrics,
            ingest,
            live,
            trainer,
            experiments,
            impressions,
            cluster,
            health,
        };
        let started = match bring_up(&state).await {
            Ok(()) => true,
            // Waiting cannot fix a missing database or role: say so and exit.
            Err(e) if crate::store::is_permanent(&e) => {
                return Err(e.context("the store refuses this service"));
            }
            Err(e) => {
                tracing::warn!(
                    error = format!("{e:#}"),
                    "store unreachable at start; will keep retrying"
                );
                false
            }
        };
        Ok(Application {
            listener,
            state,
            writers,
            impression_writer,
            started,
        })
    }

    pub fn port(&self) -> u16 {
        self.listener.local_addr().map(|a| a.port()).unwrap_or(0)
    }

    pub fn state(&self) -> &AppState {
        &self.state
    }

    /// `serve --demo`: fills a store without courses and events with the
    /// demo platform ([`demo::generate`] from [`demo::DEMO_SEED`]), then
    /// trains on it at once. A store with data is left as it is.
    pub async fn load_demo_if_empty(&self) -> anyhow::Result<()> {
        let store = &self.state.store;
        if store.count_events().await? > 0 || !store.list_courses().await?.is_empty() {
            tracing::info!("store is not empty; --demo leaves it as it is");
            return Ok(());
        }
        let data = tokio::task::spawn_blocking(|| {
            demo::generate(demo::DEMO_SEED, &demo::DemoSize::default(), now_ms())
        })
        .await?;
        tracing::info!(
            courses = data.courses.len(),
            users = data.users.len(),
            events = data.events.len(),
            track_learners = data.tracks.learners.len(),
            track_events = data.tracks.events.len(),
            "loading demo data"
        );
        store.upsert_courses(&data.courses).await?;
        store.put_users(&data.users).await?;
        for chunk in data
            .events
            .chunks(50_000)
            .chain(data.tracks.events.chunks(50_000))
        {
            store.bulk_insert_events(chunk).await?;
        }
        load_demo_campaigns(store, &data.campaigns, &data.courses).await?;
        tracing::info!(
            campaigns = data.campaigns.campaigns.len(),
            "demo data loaded; training the first model"
        );
        if let Some(outcome) = self.state.trainer.run_now().await {
            tracing::info!(?outcome, "first training done");
        }
        Ok(())
    }

    /// Serves until `shutdown` resolves; then stops accepting, lets in-flight
    /// requests finish and flushes queued event writes.
    pub async fn run_until(self, shutdown: impl Future<Output = ()> + Send + 'static) -> anyhow::Result<()> {
        let Application {
            listener,
            state,
            writers,
            impression_writer,
            started,
        } = self;
        let store = state.store.clone();
        let db = &state.settings.database;
        let timing = ProbeTiming {
            every: Duration::from_millis(db.probe_interval_ms),
            min: Duration::from_millis(db.probe_backoff_min_ms),
            max: Duration::from_millis(db.probe_backoff_max_ms),
            timeout: Duration::from_millis(db.probe_timeout_ms),
        };
        let probe = {
            let state = state.clone();
            tokio::spawn(async move {
                if !started {
                    retry_bring_up(&state, timing).await;
                }
                run_probe(state.store.clone(), state.health.clone(), timing).await
            })
        };
        let background = state
            .settings
            .train
            .enabled
            .then(|| tokio::spawn(state.trainer.clone().run_loop()));
        let housekeeping = tokio::spawn(crate::housekeeping::run_loop(
            store.clone(),
            state.settings.database.retention_months,
            state.metrics.clone(),
        ));
        let sync = state.cluster.enabled().then(|| {
            tokio::spawn(crate::replica::run_sync(crate::replica::Replica {
                cluster: state.cluster.clone(),
                store: store.clone(),
                live: state.live.clone(),
                trainer: state.trainer.clone(),
                experiments: state.experiments.clone(),
                poll: std::time::Duration::from_millis(state.settings.cluster.poll_ms),
            }))
        });
        tracing::info!(addr = %listener.local_addr()?, backend = store.backend(), "courserec listening");
        let server = &state.settings.server;
        let limits = http::server::ConnLimits {
            header_read_timeout: Duration::from_millis(server.header_read_timeout_ms),
            max_connections: server.max_connections,
            shutdown_timeout: Duration::from_secs(server.shutdown_timeout_secs),
            drain_limit_bytes: server.body_limit_bytes,
        };
        http::server::serve(listener, http::app(state.clone()), limits, shutdown).await;
        for task in [background, sync, Some(probe), Some(housekeeping)]
            .into_iter()
            .flatten()
        {
            task.abort();
        }
        // No request is in flight any more: write what is queued, then stop.
        writers.shutdown().await;
        impression_writer.shutdown().await;
        store.close().await;
        tracing::info!("courserec stopped");
        Ok(())
    }
}

/// Migrates the store and loads what serving needs from it (the persisted
/// model, the running experiment); then marks the store up.
async fn bring_up(state: &AppState) -> anyhow::Result<()> {
    let store = &state.store;
    store.migrate().await?;
    // Indexes an import that died left dropped: rebuilt beside serving.
    // At tens of millions of events this takes minutes, during which
    // writes to the log wait; without them every lookup by learner scans.
    let healing = store.clone();
    tokio::spawn(async move {
        match healing.heal_deferred_indexes().await {
            Ok(0) => {}
            Ok(n) => tracing::info!(
                indexes = n,
                "rebuilt the event-log indexes an import left dropped"
            ),
            Err(e) => tracing::warn!(
                error = format!("{e:#}"),
                "could not rebuild the event-log indexes"
            ),
        }
    });
    let given = crate::store::configured_erasure_key(&state.settings.database.erasure_key_file)?;
    let key = store.resolve_erasure_key(given).await?;
    state.live.set_erasure_key(key.clone());
    let (trainer, experiments) = (&state.trainer, &state.experiments);
    // A restart serves the last persisted model at once.
    match trainer.restore().await {
        Ok(Some(v)) => tracing::info!(version = v, "restored the persisted model"),
        Ok(None) => tracing::info!("no persisted model yet"),
        Err(e) => tracing::warn!(
            error = format!("{e:#}"),
            "could not restore the persisted model; will retrain"
        ),
    }
    if state.live.snapshot().is_none() && trainer.serving().await.is_some() {
        tracing::info!("no persisted model: serving popularity until the first training");
    }
    // Rules shape every list: bring-up fails (and is retried) without them.
    let rules = store.list_rules().await?;
    state.live.rules.set(rules.into_iter().map(|s| s.rule).collect());
    state
        .metrics
        .rules_active
        .set(state.live.rules.active_count(crate::domain::now_ms()) as i64);
    match store.running_experiment().await {
        Ok(running) => experiments.set(running.map(|e| Running {
            id: e.id,
            spec: e.spec,
        })),
        Err(e) => {
            tracing::warn!(error = %e, "could not read the running experiment; serving without one")
        }
    }
    // Erasures the persisted snapshot still holds (from before keyed
    // hashes, or a rewrite cut short by a crash) are scrubbed from it now.
    match trainer.rekey_legacy_erasures(&key).await {
        Ok(0) => {}
        Ok(n) => tracing::info!(users = n, "re-keyed erasures from before keyed hashes"),
        Err(e) => tracing::warn!(error = format!("{e:#}"), "could not re-key old erasures"),
    }
    if let Err(e) = trainer.persist_without(state.live.erased_users()).await {
        tracing::warn!(
            error = format!("{e:#}"),
            "could not scrub erased users from the persisted snapshot"
        );
    }
    state.health.record_success();
    Ok(())
}

/// Retries [`bring_up`] with the probe's back-off until it succeeds.
async fn retry_bring_up(state: &AppState, t: ProbeTiming) {
    let mut wait = t.min;
    for attempt in 1u64.. {
        tokio::time::sleep(wait).await;
        match bring_up(state).await {
            Ok(()) => {
                tracing::info!(attempt, "store reachable; service ready");
                return;
            }
            Err(e) => tracing::warn!(
                attempt,
                retry_in_ms = (wait * 2).min(t.max).as_millis() as u64,
                error = format!("{e:#}"),
                "store still unreachable"
            ),
        }
        wait = (wait * 2).min(t.max);
    }
}

/// Resolves on Ctrl-C or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = term => {},
    }
    tracing::info!("shutdown signal received; draining");
}

/// Stores the demo's past campaigns (members drawn as `POST /campaigns`
/// draws them, with the campaign's seed) and the purchases they caused.
pub async fn load_demo_campaigns(
    store: &crate::store::Store,
    past: &demo::campaigns::PastCampaigns,
    courses: &[crate::domain::Course],
) -> anyhow::Result<()> {
    use crate::marketing::campaign::{offer_courses, spec::OfferSpec, DrawPlan};
    store.bulk_insert_events(&past.events).await?;
    for d in &past.campaigns {
        let listed = courses.iter().map(|c| (c.id.as_str(), c.category.as_str()));
        let (offered, offer_category) = offer_courses(&OfferSpec::Category(d.category.clone()), listed);
        let c = crate::store::StoredCampaign {
            id: d.id.clone(),
            name: d.name.clone(),
            course_id: None,
            category: Some(d.category.clone()),
            audience: "{}".into(),
            discount_pct: None,
            control_share: d.control_share,
            seed: d.seed() as i64,
            model_version: 0,
            created_ms: d.created_ms,
            ends_ms: d.ends_ms,
            offer_category: Some(offer_category),
            idempotency_key: None,
            request_hash: None,
            held_out_overlap: 0,
            arms: Some(serde_json::to_string(&d.arms)?),
            targeting: "random".into(),
            budget_cents: None,
        };
        let shares = d.arm_shares();
        let plan = DrawPlan {
            seed: d.seed(),
            control_share: d.control_share,
            arm_shares: &shares,
            size: d.size,
            budget: None,
        };
        store.create_campaign(&c, &offered, &d.candidates, &plan).await?;
    }
    Ok(())
}
