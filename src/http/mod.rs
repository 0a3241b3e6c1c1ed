//! The HTTP API: routes grouped by the scope they need, and the tower stack
//! around them (request ids, tracing, metrics, timeout, load shedding).

mod audiences;
mod campaigns;
mod console;
mod courses;
mod events;
mod experiments;
mod guard;
mod middleware;
mod ops;
mod recommend;
mod segments;
pub mod server;
mod users;

use std::sync::Arc;
use std::time::Duration;

use axum::error_handling::HandleErrorLayer;
use axum::extract::DefaultBodyLimit;
use axum::http::HeaderName;
use axum::response::IntoResponse;
use axum::Router;
use tower::ServiceBuilder;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};

use crate::auth::{self, Keys, Scope};
use crate::cluster::Cluster;
use crate::config::Settings;
use crate::error::ApiError;
use crate::ingest::impressions::ImpressionLog;
use crate::ingest::IngestQueue;
use crate::metrics::Metrics;
use crate::retrain::Trainer;
use crate::serve::experiments::Experiments;
use crate::serve::Live;
use crate::store::{Store, StoreHealth};

/// What every handler can reach. Cheap to clone.
#[derive(Clone)]
pub struct AppState {
    pub settings: Arc<Settings>,
    pub store: Store,
    pub metrics: Metrics,
    pub keys: Keys,
    pub ingest: IngestQueue,
    pub live: Arc<Live>,
    pub trainer: Trainer,
    pub experiments: Arc<Experiments>,
    pub impressions: ImpressionLog,
    pub cluster: Cluster,
    /// The store's last known state (circuit breaker).
    pub health: Arc<StoreHealth>,
}

pub use crate::domain::CourseBody;
pub use console::ASSETS as CONSOLE_ASSETS;

const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

fn scoped(router: Router<AppState>, state: &AppState, scope: Scope) -> Router<AppState> {
    router.route_layer(axum::middleware::from_fn_with_state(
        (state.keys.clone(), scope),
        auth::require,
    ))
}

/// What every route gets, whoever answers: a panic becomes a JSON 500 (the
/// connection is kept), and every 4xx/5xx has the JSON error shape, with
/// `Retry-After` on 503.
pub fn error_layers<S: Clone + Send + Sync + 'static>(router: Router<S>) -> Router<S> {
    router
        .layer(tower_http::catch_panic::CatchPanicLayer::custom(
            guard::panic_response,
        ))
        .layer(axum::middleware::from_fn(guard::json_errors))
}

/// The whole application as a router, ready to serve.
pub fn app(state: AppState) -> Router {
    let s = &state.settings.server;
    let api = Router::new()
        .merge(scoped(events::router(), &state, Scope::Ingest))
        .merge(scoped(
            courses::read_router()
                .merge(recommend::router())
                .merge(segments::router())
                .merge(users::read_router())
                .merge(audiences::router())
                .merge(campaigns::read_router())
                .merge(console::read_router()),
            &state,
            Scope::Read,
        ))
        .merge(scoped(
            courses::admin_router()
                .merge(users::admin_router())
                .merge(recommend::admin_router())
                .merge(experiments::router())
                .merge(campaigns::admin_router()),
            &state,
            Scope::Admin,
        ))
        .merge(ops::router())
        .merge(console::assets_router())
        .fallback(|| async { ApiError::not_found("not_found", "no such route") })
        .method_not_allowed_fallback(|| async { ApiError::MethodNotAllowed });

    let overload = ServiceBuilder::new()
        .layer(HandleErrorLayer::new(|e: tower::BoxError| async move {
            if e.is::<tower::timeout::error::Elapsed>() {
                ApiError::Unavailable {
                    code: "timeout",
                    message: "the request took too long".into(),
                }
            } else {
                ApiError::Unavailable {
                    code: "overloaded",
                    message: "too many requests in flight; retry later".into(),
                }
            }
            .into_response()
        }))
        .load_shed()
        // Router::layer wraps each route on its own; the global limit shares one
        // semaphore between them.
        .layer(tower::limit::GlobalConcurrencyLimitLayer::new(s.max_in_flight))
        .timeout(Duration::from_millis(s.request_timeout_ms));

    let api = api.layer(axum::middleware::from_fn_with_state(
        state.clone(),
        guard::check_ids,
    ));
    error_layers(api)
        .layer(DefaultBodyLimit::max(s.body_limit_bytes))
        .layer(overload)
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            middleware::observe,
        ))
        .layer(PropagateRequestIdLayer::new(REQUEST_ID))
        .layer(SetRequestIdLayer::new(REQUEST_ID, MakeRequestUuid))
        .with_state(state)
}
