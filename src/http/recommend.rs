//! Recommendations, similar courses, popularity and the model endpoints.

use axum::Router;

use super::AppState;

pub fn router() -> Router<AppState> {
    Router::new()
}

pub fn admin_router() -> Router<AppState> {
    Router::new()
}
