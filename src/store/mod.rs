//! Storage: Postgres in production, an embedded SQLite file by default. Both run
//! the same SQL (numbered `$N` parameters work in both); where they differ
//! (bulk insert, COPY) each has its own path.

mod bulk;
mod catalog;
mod copy_cells;
mod erasure;
mod events;
mod experiments;
mod feedback;
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

pub use erasure::{configured_erasure_key, ERASURE_KEY_ENV};
pub use events::InsertOutcome;
pub use experiments::{Impression, PutError, StoredExperiment};
pub use feedback::{ServedItem, ServedList, StoredRule, MAX_LOGGED_LISTS};
pub use health::{run_probe, ProbeTiming, StoreHealth};
pub use history::TrainingRun;
pub use indexes::DeferredIndexes;
pub use marketing::{CampaignCreation, StoredCampaign, StoredMember};
pub use retention::Expired;
pub use rollup::{Compaction, DayCell, DaySink, KeyedCell};

use crate::domain::now_ms;

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
                std::fs::create_dir_all(dir)
                    .map_err(|e| anyhow::anyhow!("cannot create the folder {}: {e}", dir.display()))?;
            }
            SqliteConnectOptions::new().filename(path)
        } else {
            let opts = SqliteConnectOptions::from_str(&s.url)?;
            // A URL names a file the operator placed: its folder must exist
            // (waiting will not create it).
            let file = opts.get_filename();
            if let Some(dir) = file.parent().filter(|d| !d.as_os_str().is_empty()) {
                if file != Path::new(":memory:") && !dir.is_dir() {
                    anyhow::bail!("the folder of the SQLite file {} does not exist", file.display());
                }
            }
            opts
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

/// True for failures that say nothing about the data and may pass by
/// themselves (connection lost, pool exhausted, disk full, lock contention,
/// a database shutting down): these answer 503 with `Retry-After`. Data and
/// constraint errors are permanent for that input and must not.
pub fn is_transient(e: &sqlx::Error) -> bool {
    use sqlx::Error as E;
    match e {
        E::Io(_) | E::Tls(_) | E::PoolTimedOut | E::PoolClosed | E::WorkerCrashed | E::Protocol(_) => true,
        E::Database(db) => {
            let code = db.code().unwrap_or_default();
            if db.try_downcast_ref::<sqlx::sqlite::SqliteError>().is_some() {
                // SQLite primary codes: BUSY, LOCKED, IOERR, FULL, CANTOPEN,
                // READONLY (extended codes keep the primary in the low byte).
                let primary = code.parse::<i64>().unwrap_or(0) & 0xff;
                matches!(primary, 5 | 6 | 8 | 10 | 13 | 14)
            } else {
                // Postgres SQLSTATE classes (five characters, often all
                // digits: never read them as SQLite's numbers): connection
                // exception, insufficient resources (disk full), operator
                // intervention; serialization failure and deadlock.
                code.starts_with("08")
                    || code.starts_with("53")
                    || code.starts_with("57")
                    || code == "40001"
                    || code == "40P01"
            }
        }
        _ => false,
    }
}

/// A store that cannot serve this configuration whatever the wait (an
/// erasure key that does not match, say).
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct Unfit(pub String);

/// Whether a start-up failure means the store is not fit for use at all,
/// not merely out of reach: a missing database or role, a wrong password,
/// a SQLite file that cannot be opened. Waiting will not fix these, so a
/// start ends with the cause instead of retrying.
pub fn is_permanent(e: &anyhow::Error) -> bool {
    e.chain().any(|cause| {
        if cause.is::<Unfit>() {
            return true;
        }
        let db = cause
            .downcast_ref::<sqlx::Error>()
            .or_else(|| match cause.downcast_ref() {
                Some(sqlx::migrate::MigrateError::Execute(e)) => Some(e),
                _ => None,
            });
        match db {
            Some(sqlx::Error::Configuration(_)) => true,
            // SQLITE_CANTOPEN (14) at start: a path that cannot be a file.
            Some(sqlx::Error::Database(d)) if d.code().as_deref() == Some("14") => true,
            Some(e @ sqlx::Error::Database(_)) => !is_transient(e),
            _ => false,
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lost_connections_are_transient_and_bad_data_is_not() {
        assert!(is_transient(&sqlx::Error::PoolTimedOut));
        assert!(is_transient(&sqlx::Error::Io(std::io::Error::other("reset"))));
        assert!(!is_transient(&sqlx::Error::RowNotFound));
        assert!(!is_transient(&sqlx::Error::ColumnNotFound("x".into())));
    }

    #[test]
    fn a_refused_connection_is_worth_waiting_for_and_a_bad_setting_is_not() {
        let refused = anyhow::Error::new(sqlx::Error::Io(std::io::Error::from(
            std::io::ErrorKind::ConnectionRefused,
        )));
        assert!(!is_permanent(&refused));
        let config = anyhow::Error::new(sqlx::Error::Configuration("bad url".into()));
        assert!(is_permanent(&config.context("starting")));
    }
}
