//! Deferred index upkeep for bulk loads on Postgres. Inserting tens of
//! millions of rows into B-trees keyed by text in random order touches a
//! random index page per row; once the indexes outgrow shared buffers every
//! touch is a read, and after each checkpoint a full-page image in the WAL.
//! Building the same index by one sort afterwards writes each page once.
//! The usual bulk-load pattern, then: drop such indexes, load,
//! rebuild (PostgreSQL docs, "Populating a Database", 14.4.3).
//!
//! What was dropped is recorded in `deferred_indexes` in the dropping
//! transaction, and each rebuild deletes its record in the building one, so
//! an import that dies midway leaves exactly the work still to do.

use futures::{StreamExt, TryStreamExt};
use sqlx::pool::PoolConnection;
use sqlx::Postgres;

use super::{now_ms, Store};

/// Session advisory lock held by an import while the indexes are dropped;
/// a rebuild elsewhere waits for it to go ("coursi").
const BULK_LOAD_LOCK: i64 = 0x636f_7572_7369;

/// Index builds run at once: each is one sort, mostly on one core.
const BUILDS_AT_ONCE: usize = 2;

/// Sort memory of one build. Larger sorts spill less; two run at once.
const BUILD_MEMORY: &str = "SET LOCAL maintenance_work_mem = '512MB'";

/// The indexes of the event log and of `event_ids` a bulk load defers:
/// those inserted into at random places. Not unique ones (idempotency needs
/// `event_ids`'s primary key during the load), not those led by `seq` or
/// `received_ms` (both grow with every insert, so each lands on the
/// rightmost page, which stays cached), not partial ones (`rec_id`: few
/// imported events carry one). For a partitioned index `pg_get_indexdef`
/// says `ON ONLY`, which would build the parent alone; the rebuild needs
/// every partition's.
const DEFERRED: &str = "SELECT c.relname::text, \
     replace(pg_get_indexdef(i.indexrelid), ' ON ONLY ', ' ON ') \
     FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid \
     WHERE i.indrelid IN ('events'::regclass, 'event_ids'::regclass) \
     AND NOT i.indisunique AND NOT i.indisprimary AND i.indpred IS NULL \
     AND pg_get_indexdef(i.indexrelid, 1, true) NOT IN ('seq', 'received_ms') ORDER BY 1";

/// Indexes dropped for a bulk load, until [`Store::rebuild_deferred_indexes`].
/// Holds the connection whose session owns the bulk-load lock; dropping
/// this without a rebuild closes it and leaves the record for the next
/// import, `courserec migrate` or service start.
pub struct DeferredIndexes {
    conn: PoolConnection<Postgres>,
    /// The names dropped, sorted.
    pub names: Vec<String>,
}

impl Store {
    /// Rows stored in the event log, as the planner estimates them (0 on
    /// SQLite, and before Postgres first analysed the table).
    pub async fn estimated_events(&self) -> sqlx::Result<i64> {
        let Store::Postgres(pool) = self else {
            return Ok(0);
        };
        sqlx::query_scalar(
            "SELECT COALESCE(sum(GREATEST(c.reltuples, 0)), 0)::BIGINT FROM pg_inherits i \
             JOIN pg_class c ON c.oid = i.inhrelid WHERE i.inhparent = 'events'::regclass",
        )
        .fetch_one(pool)
        .await
    }

    /// Drops the event log's randomly inserted indexes for a bulk load, first
    /// rebuilding any an earlier load left dropped. `None` on SQLite, and
    /// when another bulk load holds them dropped now.
    pub async fn defer_event_indexes(&self) -> anyhow::Result<Option<DeferredIndexes>> {
        let Store::Postgres(pool) = self else {
            return Ok(None);
        };
        let Some(mut conn) = lock_bulk_load(pool).await? else {
            return Ok(None);
        };
        rebuild(pool).await?;
        let mut tx = sqlx::Connection::begin(&mut *conn).await?;
        let found: Vec<(String, String)> = sqlx::query_as(DEFERRED).fetch_all(&mut *tx).await?;
        for (name, definition) in &found {
            sqlx::query("INSERT INTO deferred_indexes (name, definition, dropped_ms) VALUES ($1, $2, $3)")
                .bind(name)
                .bind(definition)
                .bind(now_ms())
                .execute(&mut *tx)
                .await?;
            sqlx::query(&format!("DROP INDEX \"{name}\""))
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        Ok(Some(DeferredIndexes {
            conn,
            names: found.into_iter().map(|(name, _)| name).collect(),
        }))
    }

    /// Rebuilds what [`Store::defer_event_indexes`] dropped and releases the
    /// bulk-load lock; returns how many indexes were built.
    pub async fn rebuild_deferred_indexes(&self, deferred: DeferredIndexes) -> anyhow::Result<usize> {
        let Store::Postgres(pool) = self else {
            return Ok(0);
        };
        let built = rebuild(pool).await?;
        unlock_bulk_load(deferred.conn).await?;
        Ok(built)
    }

    /// Rebuilds the indexes a bulk load that did not finish left dropped,
    /// unless a bulk load runs now (it rebuilds them when done). Returns
    /// how many were built; 0 on SQLite.
    pub async fn heal_deferred_indexes(&self) -> anyhow::Result<usize> {
        let Store::Postgres(pool) = self else {
            return Ok(0);
        };
        let pending: i64 = sqlx::query_scalar("SELECT count(*) FROM deferred_indexes")
            .fetch_one(pool)
            .await?;
        if pending == 0 {
            return Ok(0);
        }
        let Some(conn) = lock_bulk_load(pool).await? else {
            return Ok(0);
        };
        tracing::warn!(
            pending,
            "rebuilding event-log indexes an unfinished import dropped"
        );
        let built = rebuild(pool).await;
        unlock_bulk_load(conn).await?;
        built
    }
}

/// A connection whose session holds the bulk-load lock, or `None` when
/// another session holds it. The connection never goes back to the pool:
/// closing the session releases the lock however the caller ends.
async fn lock_bulk_load(pool: &sqlx::PgPool) -> sqlx::Result<Option<PoolConnection<Postgres>>> {
    let mut conn = pool.acquire().await?;
    conn.close_on_drop();
    let locked: bool = sqlx::query_scalar("SELECT pg_try_advisory_lock($1)")
        .bind(BULK_LOAD_LOCK)
        .fetch_one(&mut *conn)
        .await?;
    Ok(locked.then_some(conn))
}

/// Releases what [`lock_bulk_load`] took, without waiting for the close.
async fn unlock_bulk_load(mut conn: PoolConnection<Postgres>) -> sqlx::Result<()> {
    sqlx::query("SELECT pg_advisory_unlock($1)")
        .bind(BULK_LOAD_LOCK)
        .execute(&mut *conn)
        .await?;
    Ok(())
}

/// Builds every index recorded in `deferred_indexes`, [`BUILDS_AT_ONCE`] at
/// a time, each deleting its record in its own transaction. The caller
/// holds the bulk-load lock.
async fn rebuild(pool: &sqlx::PgPool) -> anyhow::Result<usize> {
    let pending: Vec<(String, String)> =
        sqlx::query_as("SELECT name, definition FROM deferred_indexes ORDER BY name")
            .fetch_all(pool)
            .await?;
    let built = futures::stream::iter(pending)
        .map(|(name, definition)| async move {
            let started = std::time::Instant::now();
            let mut tx = pool.begin().await?;
            sqlx::query(BUILD_MEMORY).execute(&mut *tx).await?;
            // Someone may have rebuilt it by hand meanwhile.
            let definition = definition.replacen("CREATE INDEX ", "CREATE INDEX IF NOT EXISTS ", 1);
            sqlx::query(&definition).execute(&mut *tx).await?;
            sqlx::query("DELETE FROM deferred_indexes WHERE name = $1")
                .bind(&name)
                .execute(&mut *tx)
                .await?;
            tx.commit().await?;
            tracing::info!(
                index = name,
                seconds = started.elapsed().as_secs_f64(),
                "index built"
            );
            Ok::<_, sqlx::Error>(())
        })
        .buffer_unordered(BUILDS_AT_ONCE)
        .try_fold(0usize, |n, ()| async move { Ok(n + 1) })
        .await?;
    Ok(built)
}
