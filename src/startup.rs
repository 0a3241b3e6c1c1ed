//! Building and running the application: bind, connect, migrate, start the
//! background tasks, serve until a shutdown signal, then drain.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;

use tokio::net::TcpListener;

use crate::auth::Keys;
use crate::cluster::Cluster;
use crate::config::Settings;
use crate::http::{self, AppState};
use crate::ingest::impressions::{self, ImpressionWriter};
use crate::metrics::Metrics;
use crate::retrain::Trainer;
use crate::serve::experiments::{Experiments, Running};
use crate::serve::Live;
use crate::store::Store;

/// A bound, ready-to-run service. Tests build it on port 0 and read `port()`.
pub struct Application {
    listener: TcpListener,
    state: AppState,
    writers: crate::ingest::writer::Writers,
    impression_writer: ImpressionWriter,
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
        let store = Store::connect(&settings.database).await?;
        store.migrate().await?;
        Application::build_with_store(settings, store).await
    }

    /// Builds on an already connected and migrated store.
    pub async fn build_with_store(settings: Settings, store: Store) -> anyhow::Result<Application> {
        let addr = settings.listen_addr()?;
        check_exposure(&settings, &addr)?;
        let listener = TcpListener::bind(addr)
            .await
            .map_err(|e| anyhow::anyhow!("cannot listen on {addr}: {e}"))?;
        let metrics = Metrics::new();
        let (ingest, writers) =
            crate::ingest::writer::start(store.clone(), metrics.clone(), settings.ingest.writer_batch);
        let live = Arc::new(Live::new());
        let cluster = Cluster::new(&settings.cluster, &store)?;
        let trainer = Trainer::new(
            settings.training(),
            store.clone(),
            live.clone(),
            metrics.clone(),
            cluster.clone(),
        );
        // A restart serves the last persisted model at once.
        match trainer.restore().await {
            Ok(Some(v)) => tracing::info!(version = v, "restored the persisted model"),
            Ok(None) => tracing::info!("no persisted model yet"),
            Err(e) => tracing::warn!(
                error = format!("{e:#}"),
                "could not restore the persisted model; will retrain"
            ),
        }
        let experiments = Arc::new(Experiments::default());
        match store.running_experiment().await {
            Ok(running) => experiments.set(running.map(|e| Running {
                id: e.id,
                spec: e.spec,
            })),
            Err(e) => {
                tracing::warn!(error = %e, "could not read the running experiment; serving without one")
            }
        }
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
        };
        Ok(Application {
            listener,
            state,
            writers,
            impression_writer,
        })
    }

    pub fn port(&self) -> u16 {
        self.listener.local_addr().map(|a| a.port()).unwrap_or(0)
    }

    pub fn state(&self) -> &AppState {
        &self.state
    }

    /// Serves until `shutdown` resolves; then stops accepting, lets in-flight
    /// requests finish and flushes queued event writes.
    pub async fn run_until(self, shutdown: impl Future<Output = ()> + Send + 'static) -> anyhow::Result<()> {
        let Application {
            listener,
            state,
            writers,
            impression_writer,
        } = self;
        let store = state.store.clone();
        let background = state
            .settings
            .train
            .enabled
            .then(|| tokio::spawn(state.trainer.clone().run_loop()));
        let sync = state.cluster.enabled().then(|| {
            tokio::spawn(crate::cluster::run_sync(crate::cluster::Replica {
                cluster: state.cluster.clone(),
                store: store.clone(),
                live: state.live.clone(),
                trainer: state.trainer.clone(),
                experiments: state.experiments.clone(),
                poll: std::time::Duration::from_millis(state.settings.cluster.poll_ms),
            }))
        });
        tracing::info!(addr = %listener.local_addr()?, backend = store.backend(), "courserec listening");
        axum::serve(listener, http::app(state))
            .with_graceful_shutdown(shutdown)
            .await?;
        for task in [background, sync].into_iter().flatten() {
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
