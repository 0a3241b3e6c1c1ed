//! The HTTP API: routes grouped by the scope they need, and the tower stack
//! around them (request ids, tracing, metrics, timeout, load shedding).

mod audiences;
mod campaigns;
mod console;
mod courses;
mod events;
mod experiments;
mod export;
pub mod extract;
mod guard;
mod lists;
mod middleware;
mod model;
mod nfc;
pub mod openapi;
mod ops;
mod paths;
mod profile;
mod recommend;
mod rules;
mod segments;
pub mod server;
mod users;
pub mod wire;

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

impl AppState {
    /// Where serving reads a learner from, with the store's time budget.
    pub fn sources(&self) -> crate::serve::user_view::Sources<'_> {
        crate::serve::user_view::Sources {
            live: &self.live,
            store: &self.store,
            health: &self.health,
            metrics: &self.metrics,
            budget: Duration::from_millis(self.settings.database.acquire_timeout_ms),
        }
    }
}

pub use crate::domain::CourseBody;
pub use console::ASSETS as CONSOLE_ASSETS;
use openapi::Group;

const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// Every documented route, grouped by the scopes a key may call it with.
/// `client` (a key inside a web page or app) reaches the lists, course
/// cards and `POST /events`, never what reveals another learner.
pub fn groups() -> Vec<Group> {
    vec![
        Group {
            scopes: &[Scope::Ingest, Scope::Client],
            routes: events::routes(),
        },
        Group {
            scopes: &[Scope::Read, Scope::Client],
            routes: courses::read_routes()
                .merge(recommend::routes())
                .merge(lists::routes())
                .merge(paths::routes()),
        },
        Group {
            scopes: &[Scope::Read],
            routes: model::read_routes()
                .merge(events::read_routes())
                .merge(profile::routes())
                .merge(segments::routes())
                .merge(audiences::routes())
                .merge(campaigns::read_routes()),
        },
        Group {
            scopes: &[Scope::Admin],
            routes: courses::admin_routes()
                .merge(users::routes())
                .merge(model::admin_routes())
                .merge(experiments::routes())
                .merge(rules::routes())
                .merge(export::routes())
                .merge(campaigns::admin_routes()),
        },
        Group {
            scopes: &[],
            routes: ops::routes(),
        },
    ]
}

/// Browser clients from `server.cors_origins` (none by default: no CORS
/// headers, so browsers keep the same-origin rule).
fn cors(origins: &[String]) -> Option<tower_http::cors::CorsLayer> {
    use axum::http::{header, HeaderValue, Method};
    if origins.is_empty() {
        return None;
    }
    let allowed: Vec<HeaderValue> = origins.iter().filter_map(|o| o.parse().ok()).collect();
    Some(
        tower_http::cors::CorsLayer::new()
            .allow_origin(allowed)
            .allow_methods([Method::GET, Method::POST, Method::PUT, Method::DELETE])
            .allow_headers([header::AUTHORIZATION, header::CONTENT_TYPE, header::ACCEPT])
            .expose_headers([header::RETRY_AFTER, REQUEST_ID])
            .max_age(Duration::from_secs(600)),
    )
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
    let (routers, _) = openapi::assemble(groups());
    let mut api = Router::new();
    for (scopes, router) in routers {
        api = api.merge(match scopes {
            [] => router,
            scopes => router.route_layer(axum::middleware::from_fn_with_state(
                (state.keys.clone(), scopes),
                auth::require,
            )),
        });
    }
    let api = api
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
    let app = error_layers(api)
        .layer(DefaultBodyLimit::max(s.body_limit_bytes))
        .layer(overload)
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            middleware::observe,
        ))
        .layer(PropagateRequestIdLayer::new(REQUEST_ID))
        .layer(SetRequestIdLayer::new(REQUEST_ID, MakeRequestUuid));
    // Outermost, so preflights and error responses carry the headers too.
    let app = match cors(&s.cors_origins) {
        Some(layer) => app.layer(layer),
        None => app,
    };
    // Ids in the target are put in NFC before the router extracts them.
    let app = app.with_state(state);
    Router::new().fallback_service(
        ServiceBuilder::new()
            .map_request(nfc::normalize_request)
            .service(app),
    )
}
