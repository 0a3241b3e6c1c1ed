//! User attributes and erasure: `PUT/DELETE /users/<id>`.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::AppState;
use crate::cluster::Change;
use crate::domain::{valid_id, Level, UserAttrs};
use crate::error::{ApiError, ErrorBody, FieldError, Json, Result};

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(put_user, delete_user))
}

/// A learner's optional attributes, used before they have events.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct UserBody {
    /// Categories or tags (at most 64), stored lowercased.
    #[serde(default)]
    interests: Vec<String>,
    /// `beginner`, `intermediate` or `advanced`.
    #[schema(value_type = Option<Level>)]
    level: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
struct UserInfo {
    user_id: String,
    interests: Vec<String>,
    level: Option<Level>,
}

fn check_id(id: &str) -> Result<()> {
    if valid_id(id) {
        Ok(())
    } else {
        Err(ApiError::invalid(
            "invalid_user",
            "the user id is invalid",
            vec![FieldError::new("id", "must be a string of 1 to 128 characters")],
        ))
    }
}

/// Set a learner's attributes (cold start: interests pick the first lists).
#[utoipa::path(
    put,
    path = "/users/{id}",
    tag = "users",
    params(("id" = String, Path, description = "The learner's id")),
    request_body = UserBody,
    responses(
        (status = 200, description = "Stored", body = UserInfo),
        (status = 422, description = "Invalid attributes (`invalid_user`)", body = ErrorBody),
    )
)]
async fn put_user(
    State(app): State<AppState>,
    Path(id): Path<String>,
    Json(body): Json<UserBody>,
) -> Result<Json<UserInfo>> {
    check_id(&id)?;
    let mut errs = Vec::new();
    let interests: Vec<String> = body.interests.iter().map(|s| s.trim().to_lowercase()).collect();
    if interests.len() > 64 || interests.iter().any(|s| !valid_id(s)) {
        errs.push(FieldError::new(
            "interests",
            "at most 64 strings of 1 to 128 characters",
        ));
    }
    let level = match body.level.as_deref() {
        None => None,
        Some(l) => {
            let parsed = Level::parse(l);
            if parsed.is_none() {
                errs.push(FieldError::new(
                    "level",
                    "must be beginner, intermediate or advanced",
                ));
            }
            parsed
        }
    };
    if !errs.is_empty() {
        return Err(ApiError::invalid(
            "invalid_user",
            "the user attributes are invalid",
            errs,
        ));
    }
    let attrs = UserAttrs { interests, level };
    app.store.put_user(&id, &attrs).await?;
    app.live.note_new_events(std::slice::from_ref(&id));
    app.cluster.notify(Change::User { id: id.clone() }).await;
    Ok(Json(UserInfo {
        user_id: id,
        interests: attrs.interests,
        level: attrs.level,
    }))
}

/// Erase a learner: events, attributes, fold-in state, campaign
/// memberships; the live model stops using their factor at once.
#[utoipa::path(
    delete,
    path = "/users/{id}",
    tag = "users",
    params(("id" = String, Path, description = "The learner's id")),
    responses(
        (status = 204, description = "Erased"),
        (status = 404, description = "No such learner (`user_not_found`)", body = ErrorBody),
    )
)]
async fn delete_user(State(app): State<AppState>, Path(id): Path<String>) -> Result<StatusCode> {
    check_id(&id)?;
    let key = app.live.erasure_key().cloned().ok_or(ApiError::Unavailable {
        code: "store_unavailable",
        message: "the store has not been reached yet; retry later".into(),
    })?;
    // Impressions still queued for the learner are written first, so the
    // erasure reaches them; one queued meanwhile is removed after.
    app.impressions.flush().await;
    let existed = app.store.delete_user(&id, &key).await?;
    app.impressions.flush().await;
    app.store.delete_impressions_of(&id).await?;
    // The live model stops using the user's factor at once, whatever was
    // stored, under every spelling the snapshot may hold.
    let mut known = false;
    for form in crate::domain::id_forms(&id) {
        known |= app.live.forget_user(&form);
        app.cluster.notify(Change::UserErased { id: form }).await;
    }
    if known {
        app.trainer.schedule_erasure_rewrite();
    }
    if existed || known {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(ApiError::not_found("user_not_found", format!("no user {id:?}")))
    }
}
