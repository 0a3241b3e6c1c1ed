//! `serve --demo`: fill an empty store with the generated course platform,
//! then train on it at once.

use super::{generate, DemoSize};
use crate::domain::now_ms;
use crate::retrain::Trainer;
use crate::store::Store;

/// Seed of the demo data, so every demo shows the same platform.
pub const DEMO_SEED: u64 = 42;

/// Loads the demo data when the store has neither courses nor events.
pub async fn fill_if_empty(store: &Store, trainer: &Trainer) -> anyhow::Result<()> {
    if store.count_events().await? > 0 || !store.list_courses().await?.is_empty() {
        tracing::info!("store is not empty; --demo leaves it as it is");
        return Ok(());
    }
    let data = tokio::task::spawn_blocking(|| generate(DEMO_SEED, &DemoSize::default(), now_ms())).await?;
    tracing::info!(
        courses = data.courses.len(),
        users = data.users.len(),
        events = data.events.len(),
        "loading demo data"
    );
    store.upsert_courses(&data.courses).await?;
    store.put_users(&data.users).await?;
    for chunk in data.events.chunks(50_000) {
        store.bulk_insert_events(chunk).await?;
    }
    tracing::info!("demo data loaded; training the first model");
    if let Some(outcome) = trainer.run_now().await {
        tracing::info!(?outcome, "first training done");
    }
    Ok(())
}
