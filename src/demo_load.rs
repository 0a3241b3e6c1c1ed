//! `serve --demo`: fill an empty store with the generated platform.

use crate::http::AppState;

pub async fn fill_if_empty(_state: &AppState) -> anyhow::Result<()> {
    Ok(())
}
