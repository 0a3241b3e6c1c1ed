//! Several replicas on one Postgres database. One replica trains at a time
//! (a session advisory lock); the winner persists its snapshot and says so
//! on a LISTEN/NOTIFY channel, and every replica loads it. Catalog edits,
//! user changes and experiment changes travel the same channel. A poll
//! every `cluster.poll_ms` catches what a dropped notification missed and
//! marks users with events stored by other replicas, so their fold-in is
//! fresh everywhere.

use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use sqlx::postgres::{PgListener, PgPool};
use sqlx::{Connection, PgConnection};
use tokio::sync::mpsc;

use crate::retrain::Trainer;
use crate::serve::experiments::{Experiments, Running};
use crate::serve::Live;
use crate::store::Store;

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ClusterSettings {
    /// Run as one of several replicas sharing the Postgres database.
    pub enabled: bool,
    /// How often to look for newer models, events and experiments.
    pub poll_ms: u64,
}

impl Default for ClusterSettings {
    fn default() -> Self {
        ClusterSettings {
            enabled: false,
            poll_ms: 1000,
        }
    }
}

pub const CHANNEL: &str = "courserec";
/// The advisory lock key: "coursere" in ASCII.
pub const TRAIN_LOCK: i64 = 0x636f_7572_7365_7265;

/// How long after receipt an event's commit is assumed visible.
const SETTLE_MS: i64 = 3_000;

/// What one replica tells the others.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Change {
    Model {
        version: i64,
    },
    Course {
        id: String,
    },
    /// Many courses changed at once (a bulk upload).
    Catalog,
    User {
        id: String,
    },
    UserErased {
        id: String,
    },
    Experiment,
}

#[derive(Serialize, Deserialize)]
struct Envelope {
    from: String,
    #[serde(flatten)]
    change: Change,
}

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
        let payload = serde_json::to_string(&Envelope {
            from: i.instance.clone(),
            change,
        })
        .expect("changes serialize");
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
    let Some(inner) = r.cluster.inner.clone() else {
        return;
    };
    let (tx, mut rx) = mpsc::channel::<String>(1024);
    // The listener holds a pool connection: it must stop with this task, or
    // closing the pool at shutdown would wait for it forever.
    let _listener = AbortOnDrop(tokio::spawn(listen(inner.pool.clone(), tx)));
    let mut marks = Marks {
        events: r.store.max_event_seq().await.unwrap_or(0),
        // Erasures before this start were applied by `restore`.
        erasures: r.store.erasures_since(0).await.map_or(0, |e| e.1),
        catalog: r.store.catalog_fingerprint().await.unwrap_or_default(),
    };
    let mut tick = tokio::time::interval(r.poll);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            Some(payload) = rx.recv() => {
                match serde_json::from_str::<Envelope>(&payload) {
                    Ok(env) if env.from == inner.instance => {}
                    Ok(env) => apply(&r, env.change).await,
                    Err(e) => tracing::warn!(error = %e, payload, "unreadable cluster notification"),
                }
            }
            _ = tick.tick() => poll(&r, &mut marks).await,
        }
    }
}

struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Forwards notifications; `PgListener` reconnects by itself, and the poll
/// covers whatever was sent while it was away.
async fn listen(pool: PgPool, tx: mpsc::Sender<String>) {
    loop {
        let listener = async {
            let mut l = PgListener::connect_with(&pool).await?;
            l.listen(CHANNEL).await?;
            Ok::<_, sqlx::Error>(l)
        };
        match listener.await {
            Ok(mut l) => loop {
                match l.recv().await {
                    Ok(n) => {
                        if tx.send(n.payload().to_string()).await.is_err() {
                            return;
                        }
                    }
                    Err(e) => {
                        tracing::warn!(error = %e, "cluster listener lost its connection");
                        break;
                    }
                }
            },
            Err(e) => tracing::warn!(error = %e, "cluster listener cannot connect"),
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}

async fn apply(r: &Replica, change: Change) {
    let result: anyhow::Result<()> = async {
        match change {
            Change::Model { .. } => load_newer_model(r).await?,
            Change::Course { id } => match r.store.get_course(&id).await? {
                Some(c) => r.live.note_courses(std::slice::from_ref(&c)),
                None => r.live.remove_course(&id),
            },
            Change::Catalog => r.live.sync_catalog(&r.store.list_courses().await?),
            Change::User { id } => r.live.note_new_events(std::slice::from_ref(&id)),
            Change::UserErased { id } => {
                r.live.forget_user(&id);
            }
            Change::Experiment => load_experiment(r).await?,
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

/// How far the poll has read.
struct Marks {
    events: i64,
    erasures: i64,
    catalog: (i64, i64),
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
            r.live.sync_catalog(&r.store.list_courses().await?);
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
    marks.events = poll_events(r, marks.events).await;
}

/// Marks users with events other replicas stored; returns the new mark.
async fn poll_events(r: &Replica, last_seq: i64) -> i64 {
    let settled = crate::store::now_ms() - SETTLE_MS;
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
