//! Segments, profiles and marketing audiences.

use axum::Router;

use super::AppState;

pub fn router() -> Router<AppState> {
    Router::new()
}
