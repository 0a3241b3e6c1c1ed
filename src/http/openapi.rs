//! The OpenAPI document, generated from the handlers' `#[utoipa::path]`
//! annotations and the router itself (utoipa-axum), so it cannot drift from
//! what is served. Two things are added here for every operation of a group,
//! so they are stated once: the scope the group's auth layer enforces, and
//! the error statuses every route can give (bad id, URI too long, overload,
//! internal error; auth failures on scoped routes; body errors on routes
//! that take one).

use std::sync::OnceLock;

use utoipa::openapi::path::Operation;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityRequirement, SecurityScheme};
use utoipa::openapi::{ContentBuilder, OpenApi, Ref, ResponseBuilder};
use utoipa::OpenApi as _;
use utoipa_axum::router::OpenApiRouter;

use super::AppState;
use crate::auth::Scope;
use crate::error::{ErrorBody, FieldError};

#[derive(utoipa::OpenApi)]
#[openapi(
    info(
        title = "courserec",
        description = "Course recommendations, learner segments and precision marketing. \
                       Errors are `{\"error\": {\"code\", \"message\", \"details\"?}}` with a stable `code`. \
                       Times are RFC 3339; money is in cents; probabilities and shares are in 0..1."
    ),
    components(schemas(ErrorBody, FieldError))
)]
struct Base;

/// The bearer scheme's name in the document.
pub const BEARER: &str = "bearer";

/// A group of routes a key with any one of `scopes` may call (empty: no
/// key needed).
pub struct Group {
    pub scopes: &'static [Scope],
    pub routes: OpenApiRouter<AppState>,
}

/// Adds what a group's routes share to every one of its operations.
pub fn annotate(scopes: &[Scope], doc: &mut OpenApi) {
    for item in doc.paths.paths.values_mut() {
        for op in operations(item) {
            let takes_body = op.request_body.is_some();
            let has_params = op.parameters.as_ref().is_some_and(|p| !p.is_empty());
            if !scopes.is_empty() {
                // Alternatives: one requirement per scope that suffices.
                op.security = Some(
                    scopes
                        .iter()
                        .map(|s| SecurityRequirement::new(BEARER, [s.as_str()]))
                        .collect(),
                );
                add(op, "401", "missing or unknown API key (`unauthorized`)");
                add(op, "403", "the key lacks this operation's scope (`forbidden`)");
            }
            if has_params {
                add(
                    op,
                    "400",
                    "a parameter or id is invalid (`invalid_parameter`, `invalid_id`)",
                );
                if !takes_body {
                    add(
                        op,
                        "422",
                        "an id has leading or trailing whitespace (`invalid_id`), refused rather than trimmed",
                    );
                }
            } else {
                add(op, "400", "the query string is not valid (`invalid_parameter`)");
            }
            if takes_body {
                add(
                    op,
                    "413",
                    "the body is larger than `server.body_limit_bytes` (`payload_too_large`)",
                );
                add(
                    op,
                    "415",
                    "the body is not `application/json` (`unsupported_media_type`)",
                );
                add(
                    op,
                    "422",
                    "the body is well-formed JSON but invalid, or an id has leading or trailing \
                     whitespace (`invalid_id`); `details` lists every field",
                );
                add(op, "400", "the body is not valid JSON (`malformed_json`)");
            }
            add(
                op,
                "414",
                "the request target is longer than `server.max_uri_bytes` (`uri_too_long`)",
            );
            add(
                op,
                "500",
                "an internal error (`internal`); the cause is logged, never sent",
            );
            add(
                op,
                "503",
                "overloaded, timed out or the store is unreachable (`overloaded`, `timeout`, `store_unavailable`); retry after `Retry-After` seconds",
            );
        }
    }
}

fn operations(item: &mut utoipa::openapi::path::PathItem) -> impl Iterator<Item = &mut Operation> {
    [
        item.get.as_mut(),
        item.put.as_mut(),
        item.post.as_mut(),
        item.delete.as_mut(),
        item.patch.as_mut(),
    ]
    .into_iter()
    .flatten()
}

/// An error response with the error body, unless the handler declared one.
fn add(op: &mut Operation, status: &str, description: &str) {
    op.responses
        .responses
        .entry(status.to_string())
        .or_insert_with(|| {
            ResponseBuilder::new()
                .description(description)
                .content(
                    "application/json",
                    ContentBuilder::new()
                        .schema(Some(Ref::from_schema_name("ErrorBody")))
                        .build(),
                )
                .build()
                .into()
        });
}

/// A group's router with the scopes its auth layer accepts.
pub type ScopedRouter = (&'static [Scope], axum::Router<AppState>);

/// The routers of every group with their documents annotated, and the
/// whole document (the groups' merged, with the bearer scheme).
pub fn assemble(groups: Vec<Group>) -> (Vec<ScopedRouter>, OpenApi) {
    let mut doc = Base::openapi();
    let mut routers = Vec::new();
    for g in groups {
        let (router, mut part) = g.routes.split_for_parts();
        annotate(g.scopes, &mut part);
        doc.merge(part);
        routers.push((g.scopes, router));
    }
    let components = doc.components.get_or_insert_with(Default::default);
    components.add_security_scheme(
        BEARER,
        SecurityScheme::Http(
            HttpBuilder::new()
                .scheme(HttpAuthScheme::Bearer)
                .description(Some(
                    "An API key from `auth.keys`, each with scopes `ingest`, `read`, `admin` and/or \
                     `client` (what a web page or app may carry: recommendations, popular, similar, \
                     course cards, `POST /events`). With auth off (the loopback default) no key is needed.",
                ))
                .build(),
        ),
    );
    (routers, doc)
}

/// The document, built once from the routes.
pub fn document() -> &'static str {
    static DOC: OnceLock<String> = OnceLock::new();
    DOC.get_or_init(|| {
        let (_, doc) = assemble(super::groups());
        doc.to_pretty_json().expect("the document serializes")
    })
}
