//! Merchandising rules (admin): `PUT /rules/{id}`, `GET /rules`,
//! `GET /rules/{id}`, `DELETE /rules/{id}`. A change is in force on this
//! replica at once and on the others when they hear of it (or at their
//! next poll).

use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde::Serialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::wire::time;
use super::AppState;
use crate::cluster::Change;
use crate::domain::{now_ms, valid_id};
use crate::error::{ApiError, ErrorBody, FieldError, Json, Result};
use crate::rules::{Action, RuleDraft, Target, MAX_RULES};
use crate::store::StoredRule;

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_rules))
        .routes(routes!(get_rule, put_rule, delete_rule))
}

/// A rule as stored, with whether it is in force now.
#[derive(Debug, Serialize, ToSchema)]
pub struct RuleInfo {
    pub rule_id: String,
    pub action: Action,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub course_ids: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub category: Option<String>,
    /// Boost or bury weight.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub weight: Option<f64>,
    /// Pin position (1-based).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub position: Option<u32>,
    /// Taste segments it is limited to; empty: every learner.
    pub segments: Vec<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub starts_at: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ends_at: Option<String>,
    /// In force now (its window is open).
    pub active: bool,
    pub created_at: String,
    pub updated_at: String,
}

impl RuleInfo {
    fn new(s: &StoredRule, now: i64) -> RuleInfo {
        let r = &s.rule;
        let (course_ids, category) = match &r.target {
            Target::Courses(ids) => (Some(ids.clone()), None),
            Target::Category(c) => (None, Some(c.clone())),
        };
        RuleInfo {
            rule_id: r.id.clone(),
            action: r.action,
            course_ids,
            category,
            weight: matches!(r.action, Action::Boost | Action::Bury).then_some(r.weight),
            position: (r.action == Action::Pin).then_some(r.position),
            segments: r.segments.clone(),
            starts_at: r.starts_ms.map(time),
            ends_at: r.ends_ms.map(time),
            active: r.active_at(now),
            created_at: time(s.created_at_ms),
            updated_at: time(s.updated_at_ms),
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct RuleList {
    pub items: Vec<RuleInfo>,
}

fn not_found(id: &str) -> ApiError {
    ApiError::not_found("rule_not_found", format!("no rule {id:?}"))
}

/// Reloads this replica's rules from the store and tells the others.
async fn refresh(app: &AppState) -> Result<()> {
    let rules = app.store.list_rules().await?;
    app.live.rules.set(rules.into_iter().map(|s| s.rule).collect());
    app.metrics
        .rules_active
        .set(app.live.rules.active_count(now_ms()) as i64);
    app.cluster.notify(Change::Rules).await;
    Ok(())
}

/// Create or replace a merchandising rule.
///
/// Boost and bury add or subtract `weight` from a course's relevance
/// (the model score scaled to 0..1 over the candidates); pin places one
/// course at `position`; block keeps courses out. Rules apply to
/// `/recommend`, `/popular` and `/courses/{id}/similar` while their window
/// is open; owned, inactive, dismissed and excluded courses stay out
/// whatever a rule says. Every fault is listed at once, and nothing is
/// stored.
#[utoipa::path(
    put,
    path = "/rules/{id}",
    tag = "rules",
    params(("id" = String, Path, description = "The rule id")),
    request_body = RuleDraft,
    responses(
        (status = 201, description = "Created", body = RuleInfo),
        (status = 200, description = "Replaced", body = RuleInfo),
        (status = 409, description = "Already 1000 rules (`too_many_rules`)", body = ErrorBody),
        (status = 422, description = "Invalid rule (`invalid_rule`)", body = ErrorBody),
    )
)]
async fn put_rule(
    State(app): State<AppState>,
    Path(id): Path<String>,
    Json(draft): Json<RuleDraft>,
) -> Result<(StatusCode, Json<RuleInfo>)> {
    let mut errs: Vec<FieldError> = Vec::new();
    if !valid_id(&id) {
        errs.push(FieldError::new(
            "id",
            "must be 1 to 128 characters, no surrounding whitespace",
        ));
    }
    let rule = match draft.validate(&id) {
        Ok(r) if errs.is_empty() => r,
        Ok(_) => return Err(ApiError::invalid("invalid_rule", "the rule is invalid", errs)),
        Err(more) => {
            errs.extend(more);
            return Err(ApiError::invalid("invalid_rule", "the rule is invalid", errs));
        }
    };
    let now = now_ms();
    let created = app
        .store
        .put_rule(&rule, now, MAX_RULES)
        .await?
        .ok_or_else(|| ApiError::Conflict {
            code: "too_many_rules",
            message: format!("{MAX_RULES} rules are stored; delete one first"),
        })?;
    refresh(&app).await?;
    let stored = app.store.get_rule(&id).await?.ok_or_else(|| not_found(&id))?;
    let status = if created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok((status, Json(RuleInfo::new(&stored, now))))
}

/// Every rule, in force or not, by id.
#[utoipa::path(
    get,
    path = "/rules",
    tag = "rules",
    responses((status = 200, description = "The rules", body = RuleList))
)]
async fn list_rules(State(app): State<AppState>) -> Result<Json<RuleList>> {
    let now = now_ms();
    let items = app
        .store
        .list_rules()
        .await?
        .iter()
        .map(|s| RuleInfo::new(s, now))
        .collect();
    Ok(Json(RuleList { items }))
}

/// One rule.
#[utoipa::path(
    get,
    path = "/rules/{id}",
    tag = "rules",
    params(("id" = String, Path, description = "The rule id")),
    responses(
        (status = 200, description = "The rule", body = RuleInfo),
        (status = 404, description = "No such rule (`rule_not_found`)", body = ErrorBody),
    )
)]
async fn get_rule(State(app): State<AppState>, Path(id): Path<String>) -> Result<Json<RuleInfo>> {
    let stored = app.store.get_rule(&id).await?.ok_or_else(|| not_found(&id))?;
    Ok(Json(RuleInfo::new(&stored, now_ms())))
}

/// Delete a rule: it stops applying at once.
#[utoipa::path(
    delete,
    path = "/rules/{id}",
    tag = "rules",
    params(("id" = String, Path, description = "The rule id")),
    responses(
        (status = 204, description = "Deleted"),
        (status = 404, description = "No such rule (`rule_not_found`)", body = ErrorBody),
    )
)]
async fn delete_rule(State(app): State<AppState>, Path(id): Path<String>) -> Result<StatusCode> {
    if !app.store.delete_rule(&id).await? {
        return Err(not_found(&id));
    }
    refresh(&app).await?;
    Ok(StatusCode::NO_CONTENT)
}
