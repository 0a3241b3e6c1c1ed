//! Receiving: a task holding a `LISTEN` connection forwards the other
//! replicas' changes to an [`Inbox`].

use std::time::Duration;

use sqlx::postgres::{PgListener, PgPool};
use tokio::sync::mpsc;

use super::protocol::{decode, Change, CHANNEL};
use super::Cluster;

/// Changes from the other replicas, in arrival order. Dropping it stops the
/// listener, which holds a pool connection: closing the pool at shutdown
/// would otherwise wait for it forever.
pub struct Inbox {
    rx: mpsc::Receiver<Change>,
    listener: tokio::task::JoinHandle<()>,
}

impl Inbox {
    /// The next change; `None` once the listener stopped.
    pub async fn recv(&mut self) -> Option<Change> {
        self.rx.recv().await
    }
}

impl Drop for Inbox {
    fn drop(&mut self) {
        self.listener.abort();
    }
}

impl Cluster {
    /// Starts listening; `None` on one node.
    pub fn listen(&self) -> Option<Inbox> {
        let i = self.inner.as_ref()?;
        let (tx, rx) = mpsc::channel(1024);
        let listener = tokio::spawn(forward(i.pool.clone(), i.instance.clone(), tx));
        Some(Inbox { rx, listener })
    }
}

/// Forwards notifications not sent by `me`; `PgListener` reconnects by
/// itself, and the poll covers whatever was sent while it was away.
async fn forward(pool: PgPool, me: String, tx: mpsc::Sender<Change>) {
    loop {
        let listener = async {
            let mut l = PgListener::connect_with(&pool).await?;
            l.listen(CHANNEL).await?;
            Ok::<_, sqlx::Error>(l)
        };
        match listener.await {
            Ok(mut l) => loop {
                match l.recv().await {
                    Ok(n) => match decode(n.payload()) {
                        Ok((from, _)) if from == me => {}
                        Ok((_, change)) => {
                            if tx.send(change).await.is_err() {
                                return;
                            }
                        }
                        Err(e) => {
                            tracing::warn!(error = %e, payload = n.payload(), "unreadable cluster notification")
                        }
                    },
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
