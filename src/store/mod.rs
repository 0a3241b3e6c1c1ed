//! Storage: Postgres in production, an embedded SQLite file by default. Both run
//! the same SQL (numbered `$N` parameters work in both); where they differ
//! (bulk insert, COPY) each has its own path.

mod bulk;
mod catalog;
mod events;
mod experiments;
mod history;
mod snapshots;

use std::path::Path;
use std::str::FromStr;
use std::time::Duration;

use sqlx::postgres::{PgPool, PgPoolOptions};
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};

pub use catalog::user_hash;
pub use events::InsertOutcome;
pub use experiments::{Impression, PutError, StoredExperiment};
pub use history::TrainingRun;

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

static PG_MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/postgres");
static SQLITE_MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/sqlite");

impl Store {
    /// Connects to `database.url`, or to the SQLite file at `database.sqlite_path`
    /// (created with its folder on first run) when the URL is empty.
    pub async fn connect(s: &DatabaseSettings) -> anyhow::Result<Store> {
        if s.url.starts_with("postgres") {
            let pool = PgPoolOptions::new()
                .max_connections(s.max_connections)
                .acquire_timeout(Duration::from_secs(5))
                .connect(&s.url)
                .await
                .map_err(|e| anyhow::anyhow!("cannot connect to Postgres: {e}"))?;
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
        let opts = opts
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Full)
            .busy_timeout(Duration::from_secs(10));
        let pool = SqlitePoolOptions::new()
            .max_connections(s.max_connections.min(8))
            .acquire_timeout(Duration::from_secs(10))
            .connect_with(opts)
            .await
            .map_err(|e| anyhow::anyhow!("cannot open SQLite database: {e}"))?;
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

/// Milliseconds since the Unix epoch, now.
pub fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}
