//! Layered configuration: built-in `config/default.toml`, an optional file, then
//! `COURSEREC_<SECTION>__<KEY>` environment variables. Invalid values fail at start
//! with a message naming the key.

mod cluster;
mod train;

use std::net::SocketAddr;
use std::path::Path;

use figment::providers::{Env, Format, Serialized, Toml};
use figment::Figment;
use serde::{Deserialize, Serialize};

pub use cluster::ClusterSettings;
pub use train::TrainSettings;

use crate::domain::Scope;

const DEFAULTS: &str = include_str!("../../config/default.toml");

/// `[serve.fatigue]`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct FatigueSettings {
    /// Impressions without a positive event before a course is demoted; 0
    /// turns fatigue off.
    pub max_impressions: u32,
    /// Length of the counting window.
    pub days: u32,
    /// Relevance a fatigued course loses (relevance is 0..1 over the
    /// candidates, as for a bury rule).
    pub penalty: f32,
    /// Memory bound of the counts, in bytes (estimated).
    pub cache_bytes: u64,
}

impl Default for FatigueSettings {
    fn default() -> Self {
        FatigueSettings {
            max_impressions: 5,
            days: 14,
            penalty: 0.5,
            cache_bytes: 32 << 20,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    pub server: ServerSettings,
    pub database: DatabaseSettings,
    pub ingest: IngestSettings,
    pub auth: AuthSettings,
    pub log: LogSettings,
    #[serde(default)]
    pub train: TrainSettings,
    /// `[serve]` (DESIGN calls it `serving`; both names are read).
    #[serde(default, alias = "serving")]
    pub serve: ServeSettings,
    #[serde(default)]
    pub cluster: ClusterSettings,
    #[serde(default)]
    pub marketing: crate::marketing::MarketingSettings,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ServeSettings {
    /// Leave out courses the user took (purchased net of refunds, or rated).
    pub exclude_taken: bool,
    /// Bytes of cached fold-ins (estimated); least useful entries go first.
    pub cache_bytes: u64,
    /// Users tracked as changed since the last model; past it every user is
    /// folded in from the store until the next model.
    pub max_dirty_users: usize,
    /// Share of list slots given to little-exposed courses (0..0.5; 0 off).
    pub exploration: f64,
    /// Days of served lists the off-policy estimate reads at training.
    pub exploration_log_days: u32,
    pub fatigue: FatigueSettings,
}

impl Default for ServeSettings {
    fn default() -> Self {
        ServeSettings {
            exclude_taken: true,
            cache_bytes: 64 << 20,
            max_dirty_users: 200_000,
            exploration: 0.05,
            exploration_log_days: 14,
            fatigue: Default::default(),
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServerSettings {
    pub listen: String,
    pub body_limit_bytes: usize,
    pub request_timeout_ms: u64,
    pub max_in_flight: usize,
    /// Time a client has to send a request's headers, counted from the
    /// connection's start or the end of the previous response: it also
    /// closes idle keep-alive connections.
    pub header_read_timeout_ms: u64,
    /// Open connections at most; at the cap a new client replaces the
    /// connection idle the longest, and waits in the listen backlog only
    /// while every connection has a request in flight.
    pub max_connections: usize,
    /// After SIGTERM, connections still open this long are dropped.
    pub shutdown_timeout_secs: u64,
    /// Longest request target (path and query) answered; longer is 414.
    pub max_uri_bytes: usize,
    /// Origins browsers may call the API from (`https://shop.example`);
    /// empty: no CORS headers, same-origin only.
    #[serde(default)]
    pub cors_origins: Vec<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DatabaseSettings {
    pub url: String,
    pub sqlite_path: String,
    pub max_connections: u32,
    /// Postgres: longest wait for a pooled connection before a request
    /// fails, and for the fold-in read of a recommendation (then served
    /// from the snapshot).
    pub acquire_timeout_ms: u64,
    /// Store health probe: every `probe_interval_ms` while the store is up;
    /// after a failure from `probe_backoff_min_ms` doubling to
    /// `probe_backoff_max_ms`; a ping slower than `probe_timeout_ms` fails.
    pub probe_interval_ms: u64,
    pub probe_backoff_min_ms: u64,
    pub probe_backoff_max_ms: u64,
    pub probe_timeout_ms: u64,
    /// SQLite: cap the file at this many pages (0: no cap), a disk quota.
    pub sqlite_max_page_count: u64,
    /// A file holding the erasure key (64 hex digits), so the key that
    /// hashes erased ids is not kept in the database it protects. The
    /// environment variable `COURSEREC_ERASURE_KEY` takes precedence. Empty
    /// (and no variable): the key is generated and kept in the store.
    #[serde(default)]
    pub erasure_key_file: String,
    /// Raw events are kept for the current UTC month and this many before
    /// it, then dropped once the rollup holds them; 0 keeps them all.
    #[serde(default)]
    pub retention_months: u32,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IngestSettings {
    pub max_batch: usize,
    pub max_future_skew_secs: i64,
    pub writer_batch: usize,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuthSettings {
    pub enabled: bool,
    pub allow_anonymous: bool,
    pub keys: Vec<ApiKeySettings>,
}

#[derive(Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ApiKeySettings {
    pub name: String,
    pub key: String,
    pub scopes: Vec<String>,
}

/// Keys never print, not even in debug output.
impl std::fmt::Debug for ApiKeySettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ApiKey")
            .field("name", &self.name)
            .field("key", &"***")
            .field("scopes", &self.scopes)
            .finish()
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LogSettings {
    pub format: String,
    pub filter: String,
}

/// Command-line values that override every other layer.
#[derive(Debug, Default, Serialize)]
pub struct Overrides {
    pub listen: Option<String>,
    pub database_url: Option<String>,
}

impl Settings {
    /// Loads defaults, then `file`, then the environment, then `overrides`.
    pub fn load(file: Option<&Path>, overrides: &Overrides) -> anyhow::Result<Settings> {
        let mut fig = Figment::from(Toml::string(DEFAULTS));
        if let Some(path) = file {
            if !path.exists() {
                anyhow::bail!("config file {} does not exist", path.display());
            }
            fig = fig.merge(Toml::file(path));
        }
        // Only SECTION__KEY names are settings; other COURSEREC_* variables
        // (test switches, say) are not.
        fig = fig.merge(
            Env::prefixed("COURSEREC_")
                .filter(|k| k.as_str().contains("__"))
                .split("__"),
        );
        if let Ok(url) = std::env::var("DATABASE_URL") {
            fig = fig.merge(Serialized::default("database.url", url));
        }
        if let Some(listen) = &overrides.listen {
            fig = fig.merge(Serialized::default("server.listen", listen));
        }
        if let Some(url) = &overrides.database_url {
            fig = fig.merge(Serialized::default("database.url", url));
        }
        let settings: Settings = fig
            .extract()
            .map_err(|e| anyhow::anyhow!("invalid configuration: {e}"))?;
        settings.validate()?;
        Ok(settings)
    }

    /// The defaults alone (tests start from these).
    pub fn defaults() -> Settings {
        Settings::load(None, &Overrides::default()).expect("built-in defaults are valid")
    }

    fn validate(&self) -> anyhow::Result<()> {
        self.listen_addr()?;
        for o in &self.server.cors_origins {
            let ok = (o.starts_with("http://") || o.starts_with("https://"))
                && !o.ends_with('/')
                && axum::http::HeaderValue::from_str(o).is_ok();
            anyhow::ensure!(
                ok,
                "server.cors_origins: {o:?} is not an origin (scheme://host[:port], no path)"
            );
        }
        let positive = [
            ("server.body_limit_bytes", self.server.body_limit_bytes),
            ("server.max_in_flight", self.server.max_in_flight),
            ("ingest.max_batch", self.ingest.max_batch),
            ("ingest.writer_batch", self.ingest.writer_batch),
            ("database.max_connections", self.database.max_connections as usize),
            ("server.max_connections", self.server.max_connections),
            ("server.max_uri_bytes", self.server.max_uri_bytes),
            (
                "server.header_read_timeout_ms",
                self.server.header_read_timeout_ms as usize,
            ),
            (
                "database.acquire_timeout_ms",
                self.database.acquire_timeout_ms as usize,
            ),
            (
                "database.probe_interval_ms",
                self.database.probe_interval_ms as usize,
            ),
            (
                "database.probe_backoff_min_ms",
                self.database.probe_backoff_min_ms as usize,
            ),
            (
                "database.probe_timeout_ms",
                self.database.probe_timeout_ms as usize,
            ),
        ];
        for (key, value) in positive {
            if value == 0 {
                anyhow::bail!("invalid configuration: {key} must be greater than 0");
            }
        }
        if self.database.probe_backoff_max_ms < self.database.probe_backoff_min_ms {
            anyhow::bail!(
                "invalid configuration: database.probe_backoff_max_ms must be at least probe_backoff_min_ms"
            );
        }
        if !matches!(self.log.format.as_str(), "pretty" | "json") {
            anyhow::bail!("invalid configuration: log.format must be \"pretty\" or \"json\"");
        }
        let url = &self.database.url;
        if !(url.is_empty() || url.starts_with("postgres") || url.starts_with("sqlite:")) {
            anyhow::bail!("invalid configuration: database.url must start with postgres:// or sqlite:");
        }
        for (i, key) in self.auth.keys.iter().enumerate() {
            if key.key.len() < 8 {
                anyhow::bail!("invalid configuration: auth.keys[{i}].key must be at least 8 characters");
            }
            for s in &key.scopes {
                if Scope::parse(s).is_none() {
                    anyhow::bail!(
                        "invalid configuration: auth.keys[{i}].scopes has unknown scope {s:?} ({})",
                        Scope::names().join(", ")
                    );
                }
            }
        }
        let sv = &self.serve;
        anyhow::ensure!(
            (0.0..=0.5).contains(&sv.exploration),
            "invalid configuration: serve.exploration must be from 0 to 0.5"
        );
        anyhow::ensure!(
            sv.fatigue.penalty.is_finite() && sv.fatigue.penalty >= 0.0,
            "invalid configuration: serve.fatigue.penalty must be a number ≥ 0"
        );
        anyhow::ensure!(
            sv.fatigue.max_impressions == 0 || sv.fatigue.days > 0,
            "invalid configuration: serve.fatigue.days must be greater than 0"
        );
        self.train.validate()?;
        self.marketing.validate()?;
        if self.cluster.enabled && !url.starts_with("postgres") {
            anyhow::bail!("invalid configuration: cluster.enabled needs database.url = \"postgres://…\"");
        }
        if self.cluster.poll_ms == 0 {
            anyhow::bail!("invalid configuration: cluster.poll_ms must be greater than 0");
        }
        Ok(())
    }

    /// What a training needs: `[train]` with `[marketing]` beside it.
    pub fn training(&self) -> TrainSettings {
        TrainSettings {
            marketing: self.marketing.clone(),
            exploration: self.serve.exploration,
            exploration_log_days: self.serve.exploration_log_days,
            ..self.train.clone()
        }
    }

    pub fn listen_addr(&self) -> anyhow::Result<SocketAddr> {
        self.server.listen.parse().map_err(|_| {
            anyhow::anyhow!(
                "invalid configuration: server.listen {:?} is not an address like 127.0.0.1:8080",
                self.server.listen
            )
        })
    }
}
