//! The web console (`GET /ui`): static assets compiled into the binary. The
//! page calls the public API like any client.

use axum::http::header;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
use axum::Router;

use super::AppState;

/// The assets, embedded at build time: (path, content type, body).
pub const ASSETS: &[(&str, &str, &str)] = &[
    (
        "/ui",
        "text/html; charset=utf-8",
        include_str!("../../ui/index.html"),
    ),
    (
        "/ui/app.js",
        "text/javascript; charset=utf-8",
        include_str!("../../ui/app.js"),
    ),
    (
        "/ui/charts.js",
        "text/javascript; charset=utf-8",
        include_str!("../../ui/charts.js"),
    ),
    (
        "/ui/format.js",
        "text/javascript; charset=utf-8",
        include_str!("../../ui/format.js"),
    ),
    (
        "/ui/app.css",
        "text/css; charset=utf-8",
        include_str!("../../ui/app.css"),
    ),
];

/// Only this origin's scripts, styles and API: nothing is fetched elsewhere.
const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
                   connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

/// Static assets; no key needed (the data behind them needs one).
pub fn assets_router() -> Router<AppState> {
    let mut r = Router::new().route("/ui/", get(|| async { Redirect::permanent("/ui") }));
    for &(path, kind, body) in ASSETS {
        r = r.route(path, get(move || async move { asset(kind, body) }));
    }
    r
}

fn asset(kind: &'static str, body: &'static str) -> Response {
    (
        [
            (header::CONTENT_TYPE, kind),
            (header::CONTENT_SECURITY_POLICY, CSP),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
            // Revalidated each load so an upgraded binary serves its own assets.
            (header::CACHE_CONTROL, "no-cache"),
        ],
        body,
    )
        .into_response()
}
