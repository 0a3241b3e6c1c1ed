//! Storage: Postgres in production, an embedded SQLite file by default. Both run
//! the same SQL (numbered `$N` parameters work in both); where they differ
//! (bulk insert, COPY) each has its own path.

mod bulk;
mod catalog;
mod copy_cells;
mod erasure;
mod events;
mod experiments;
mod health;
mod history;
mod indexes;
mod marketing;
mod retention;
mod rollup;
mod snapshots;

use std::path::Path;
use std::str::FromStr;
use std::time::Duration;

use sqlx::postgres::{PgPool, PgPoolOptions};
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};

pub use events::InsertOutcome;
pub use experiments::{Impression, PutError, StoredExperiment};
pub use health::{run_probe, ProbeTiming, StoreHealth};
pub use history::TrainingRun;
pub use indexes::DeferredIndexes;
pub use marketing::{CampaignCreation, StoredCampaign};
pub use retention::Expired;
pub use rollup::{Compaction, DayCell, DaySink, KeyedCell};

// Moved to `domain` and `error`; re-exported for callers not yet updated.
pub use crate::domain::id_hash::{legacy_user_hash, ErasureKey};
pub use crate::domain::now_ms;
pub use crate::error::is_transient;

use crate::config::DatabaseSettings;

/// A connection pool to one of the two supported databases.
#[derive(Clone, Debug)]
pub enum Store {
    Postgres(PgPool),
    Sqlite(SqlitePool),
}

/// Runs the same expression against whichever pool the store holds; the body is
/// type-checked once per backend.
macro_rules! on_pool {
    ($store:expr, $pool:ident => $body:expr) => {
        match $store {
            $crate::store::Store::Postgres($pool) => $body,
            $crate::store::Store::Sqlite($pool) => $body,
        }
    };
}
pub(crate) use on_pool;

/// Runs a write transaction on a connection of its own. On any error the
/// connection is closed, never returned to the pool: a failed `COMMIT` (a
/// full disk, say) can leave it believing it is still inside a transaction,
/// and later "commits" on it would write nothing while holding the lock.
/// The body sees `$tx` (a `Transaction`) and may use `?`.
macro_rules! guarded_tx {
    ($pool:expr, $tx:ident => $body:expr) => {{
        let mut conn = $pool.acquire().await?;
        let result = async {
            let mut $tx = sqlx::Connection::begin(&mut *conn).await?;
            let out = $body;
            $tx.commit().await?;
            Ok::<_, sqlx::Error>(out)
        }
        .await;
        if result.is_err() {
            conn.close_on_drop();
        }
        result
    }};
}
pub(crate) use guarded_tx;

static PG_MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/postgres");
static SQLITE_MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/sqlite");

impl Store {
    /// Connects to `database.url`, or to the SQLite file at `database.sqlite_path`
    /// (created with its folder on first run) when the URL is empty.
    pub async fn connect(s: &DatabaseSettings) -> anyhow::Result<Store> {
        let store = Store::open(s)?;
        if let Store::Postgres(p) = &store {
            p.acquire()
                .await
                .map_err(|e| anyhow::anyhow!("cannot connect to Postgres: {e}"))?;
        }
        Ok(store)
    }

    /// The pool without waiting for the database: Postgres connects on first
    /// use, so a service can start (and answer `/healthz`) while it is down.
    pub fn open(s: &DatabaseSettings) -> anyhow::Result<Store> {
        if s.url.starts_with("postgres") {
            let pool = PgPoolOptions::new()
                .max_connections(s.max_connections)
                .acquire_timeout(Duration::from_millis(s.acquire_timeout_ms))
                .connect_lazy(&s.url)
                .map_err(|e| anyhow::anyhow!("invalid Postgres URL: {e}"))?;
            return Ok(Store::Postgres(pool));
        }
        let opts = if s.url.is_empty() {
            let path = Path::new(&s.sqlite_path);
            if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
                std::fs::create_dir_all(dir)?;
            }
            SqliteConnectOptions::new().filename(path)
        } else {
            SqliteConnectOptions::from_str(&s.url)?
        };
        // WAL lets readers run beside the single writer; FULL sync keeps an
        // acknowledged event durable across power loss, not just a crash.
        let mut opts = opts
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Full)
            .busy_timeout(Duration::from_secs(10));
        if s.sqlite_max_page_count > 0 {
            opts = opts.pragma("max_page_count", s.sqlite_max_page_count.to_string());
        }
        let pool = SqlitePoolOptions::new()
            .max_connections(s.max_connections.min(8))
            .acquire_timeout(Duration::from_secs(10))
            .connect_lazy_with(opts);
        Ok(Store::Sqlite(pool))
    }

    pub async fn migrate(&self) -> anyhow::Result<()> {
        match self {
            Store::Postgres(p) => PG_MIGRATIONS.run(p).await?,
            Store::Sqlite(p) => SQLITE_MIGRATIONS.run(p).await?,
        }
        Ok(())
    }

    /// True when the database answers a trivial query.
    pub async fn ping(&self) -> bool {
        on_pool!(self, p => sqlx::query("SELECT 1").execute(p).await.is_ok())
    }

    pub fn backend(&self) -> &'static str {
        match self {
            Store::Postgres(_) => "postgres",
            Store::Sqlite(_) => "sqlite",
        }
    }

    pub async fn close(&self) {
        on_pool!(self, p => p.close().await)
    }
}
