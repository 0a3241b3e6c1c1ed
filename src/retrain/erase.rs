//! Erasure in persisted snapshots: after `DELETE /users/<id>` (and once after
//! the upgrade to keyed erasure hashes) the persisted snapshot is replaced by
//! a copy without the user, and older ones are dropped, so no stored model
//! keeps an erased id or factor until three newer trainings replace it.

use std::collections::HashSet;
use std::sync::atomic::Ordering;

use super::Trainer;
use crate::domain::id_hash::{legacy_user_hash, ErasureKey};

impl Trainer {
    /// Schedules a rewrite of the persisted snapshot without every user
    /// erased since it was trained; rewrites asked for while one is pending
    /// share it.
    pub fn schedule_erasure_rewrite(&self) {
        if self.inner.rewrite_pending.swap(true, Ordering::AcqRel) {
            return;
        }
        let me = self.clone();
        tokio::spawn(async move {
            let _one = me.inner.erase_lock.lock().await;
            me.inner.rewrite_pending.store(false, Ordering::Release);
            let erased = me.inner.live.erased_users();
            drop(_one);
            if let Err(e) = me.persist_without(erased).await {
                me.inner
                    .metrics
                    .db_errors
                    .with_label_values(&["erase_snapshot"])
                    .inc();
                tracing::warn!(
                    error = format!("{e:#}"),
                    "could not re-persist the snapshot without erased users; will retry at the next start"
                );
            }
        });
    }

    /// Re-persists the live snapshot without `users` (when it holds any of
    /// them) and drops the older snapshots. Returns whether it wrote one.
    pub async fn persist_without(&self, users: HashSet<String>) -> anyhow::Result<bool> {
        let i = &self.inner;
        // One rewrite at a time, and never beside a training's own persist.
        let _one = i.erase_lock.lock().await;
        let Some(snap) = i.live.snapshot() else {
            return Ok(false);
        };
        let version = snap.version;
        let bytes =
            tokio::task::spawn_blocking(move || snap.without_users(&users).map(|s| s.encode()).transpose())
                .await??;
        let Some(bytes) = bytes else { return Ok(false) };
        i.store.replace_snapshots(version, &bytes).await?;
        tracing::info!(version, "snapshot re-persisted without erased users");
        Ok(true)
    }

    /// Re-keys erasures recorded before keyed hashes: those matching a user
    /// of the restored snapshot are stored keyed (and that user is forgotten
    /// and scrubbed from the persisted snapshot); the rest named nobody the
    /// snapshot holds and are dropped.
    pub async fn rekey_legacy_erasures(&self, key: &ErasureKey) -> anyhow::Result<usize> {
        let i = &self.inner;
        let legacy = i.store.legacy_erasures().await?;
        if legacy.is_empty() {
            return Ok(0);
        }
        let by_hash: std::collections::HashMap<i64, i64> = legacy.into_iter().collect();
        let users: Vec<(String, i64)> = i.live.snapshot().map_or_else(Vec::new, |s| {
            s.users
                .ids
                .iter()
                .filter_map(|u| by_hash.get(&legacy_user_hash(u)).map(|&at| (u.clone(), at)))
                .collect()
        });
        let rows: Vec<(i64, i64)> = users.iter().map(|(u, at)| (key.hash(u), *at)).collect();
        i.store.rekey_erasures(&rows).await?;
        for (u, _) in &users {
            i.live.forget_user(u);
        }
        self.persist_without(users.iter().map(|(u, _)| u.clone()).collect())
            .await?;
        Ok(users.len())
    }
}
