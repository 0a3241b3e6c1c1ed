//! Several replicas on one Postgres database. One replica trains at a time
//! (a session advisory lock); the winner persists its snapshot and says so
//! on a LISTEN/NOTIFY channel, and every replica loads it. Catalog edits,
//! user changes and experiment changes travel the same channel. This module
//! is the messaging; what a replica does with a change, and the poll that
//! catches what a dropped notification missed, is the `replica` module.

mod listen;
mod protocol;

use std::sync::Arc;

use sqlx::postgres::PgPool;
use sqlx::{Connection, PgConnection};

pub use listen::Inbox;
pub use protocol::{Change, CHANNEL, TRAIN_LOCK};

use crate::config::ClusterSettings;
use crate::store::Store;

/// Handle cloned into the HTTP state and the trainer; inert on one node.
#[derive(Clone, Default)]
pub struct Cluster {
    inner: Option<Arc<Inner>>,
}

struct Inner {
    pool: PgPool,
    /// Tells this replica's own notifications apart.
    instance: String,
}

/// Held while training; dropping it closes its connection, which releases
/// the lock even if the training panicked.
pub struct TrainLock {
    conn: Option<PgConnection>,
}

impl TrainLock {
    pub async fn release(mut self) {
        if let Some(c) = self.conn.take() {
            let _ = c.close().await;
        }
    }
}

impl Cluster {
    /// `None` settings or a disabled cluster give the single-node handle.
    pub fn new(settings: &ClusterSettings, store: &Store) -> anyhow::Result<Cluster> {
        if !settings.enabled {
            return Ok(Cluster::default());
        }
        let Store::Postgres(pool) = store else {
            anyhow::bail!("cluster.enabled needs a Postgres database (database.url = \"postgres://…\")");
        };
        Ok(Cluster {
            inner: Some(Arc::new(Inner {
                pool: pool.clone(),
                instance: uuid::Uuid::new_v4().to_string(),
            })),
        })
    }

    pub fn enabled(&self) -> bool {
        self.inner.is_some()
    }

    /// Tells the other replicas; a failure is logged, not returned: the
    /// change is stored, and their poll catches models and events anyway.
    pub async fn notify(&self, change: Change) {
        let Some(i) = &self.inner else { return };
        let payload = protocol::encode(&i.instance, change);
        let sent = sqlx::query("SELECT pg_notify($1, $2)")
            .bind(CHANNEL)
            .bind(&payload)
            .execute(&i.pool)
            .await;
        if let Err(e) = sent {
            tracing::warn!(error = %e, payload, "could not notify the other replicas");
        }
    }

    /// The training lock: `Some` when this replica may train (always on one
    /// node), `None` while another replica holds it.
    pub async fn try_train_lock(&self) -> sqlx::Result<Option<TrainLock>> {
        let Some(i) = &self.inner else {
            return Ok(Some(TrainLock { conn: None }));
        };
        let mut conn = i.pool.acquire().await?;
        let got: bool = sqlx::query_scalar("SELECT pg_try_advisory_lock($1)")
            .bind(TRAIN_LOCK)
            .fetch_one(&mut *conn)
            .await?;
        // The lock is tied to the session: a won lock keeps its connection
        // out of the pool until released; a lost try returns it as is.
        Ok(got.then(|| TrainLock {
            conn: Some(conn.detach()),
        }))
    }
}
