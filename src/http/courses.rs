//! The catalog: `PUT/GET/DELETE /courses/{id}`, `POST /courses` (bulk
//! upsert) and `GET /courses` (paginated listing, search, batch read).

use std::collections::HashSet;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::extract::Query;
use super::recommend::{category, count};
use super::AppState;
use crate::cluster::Change;
use crate::domain::{Course, CourseBody, Level};
use crate::error::{ApiError, ErrorBody, FieldError, Json, Result};

pub fn read_routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(get_course))
        .routes(routes!(list_courses))
}

pub fn admin_routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(put_course, delete_course))
        .routes(routes!(post_courses))
}

/// A catalog entry as the API shows it.
#[derive(Debug, Serialize, ToSchema)]
pub struct CourseInfo {
    pub course_id: String,
    pub title: String,
    pub category: String,
    pub tags: Vec<String>,
    pub level: Level,
    /// List price in cents.
    pub price_cents: i64,
    pub active: bool,
    /// Course ids to own first; ids not in the catalog yet are listed too.
    pub prerequisites: Vec<String>,
}

impl From<Course> for CourseInfo {
    fn from(c: Course) -> CourseInfo {
        CourseInfo {
            course_id: c.id,
            title: c.title,
            category: c.category,
            tags: c.tags,
            level: c.level,
            price_cents: c.price_cents,
            active: c.active,
            prerequisites: c.prerequisites,
        }
    }
}

fn invalid(errs: Vec<FieldError>) -> ApiError {
    ApiError::invalid("invalid_course", "the course is invalid", errs)
}

/// Applies stored courses to the serving snapshot, off the async workers: a
/// new course rebuilds the course side's indexes.
async fn note_courses(app: &AppState, courses: Vec<Course>) {
    let live = app.live.clone();
    if let Err(e) = tokio::task::spawn_blocking(move || live.note_courses(&courses)).await {
        tracing::error!(error = %e, "applying catalog edits to the live model panicked");
    }
}

/// 422 `prerequisite_cycle` when `courses` would close a prerequisite
/// cycle in the stored catalog. Called under the catalog lock.
async fn refuse_cycles(app: &AppState, courses: &[Course]) -> Result<()> {
    let stored = app.store.prerequisite_graph().await?;
    match crate::paths::graph::cycle_with(stored, courses) {
        None => Ok(()),
        Some(cycle) => Err(ApiError::invalid(
            "prerequisite_cycle",
            format!("prerequisites would form a cycle: {}", cycle.join(" -> ")),
            vec![FieldError::new("prerequisites", cycle.join(" -> "))],
        )),
    }
}

fn not_found(id: &str) -> ApiError {
    ApiError::not_found("course_not_found", format!("no course {id:?}"))
}

/// Create or replace a course.
#[utoipa::path(
    put,
    path = "/courses/{id}",
    tag = "catalog",
    params(("id" = String, Path, description = "The course id")),
    request_body = CourseBody,
    responses(
        (status = 201, description = "Created", body = CourseInfo),
        (status = 200, description = "Replaced", body = CourseInfo),
        (status = 422, description = "Invalid course (`invalid_course`; `details` lists each field), or its prerequisites would form a cycle (`prerequisite_cycle`)", body = ErrorBody),
    )
)]
async fn put_course(
    State(app): State<AppState>,
    Path(id): Path<String>,
    Json(body): Json<CourseBody>,
) -> Result<(StatusCode, Json<CourseInfo>)> {
    if body.id.as_ref().is_some_and(|b| *b != id) {
        return Err(invalid(vec![FieldError::new(
            "id",
            "differs from the id in the path",
        )]));
    }
    let course = body.into_course(id).map_err(invalid)?;
    let _edit = app.live.lock_catalog().await;
    refuse_cycles(&app, std::slice::from_ref(&course)).await?;
    let created = app.store.upsert_courses(std::slice::from_ref(&course)).await?;
    note_courses(&app, vec![course.clone()]).await;
    app.cluster
        .notify(Change::Course {
            id: course.id.clone(),
        })
        .await;
    let status = if created[0] {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok((status, Json(course.into())))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Upserted {
    pub created: usize,
    pub updated: usize,
}

/// Create or replace many courses at once (1 to 10,000), all or none.
#[utoipa::path(
    post,
    path = "/courses",
    tag = "catalog",
    request_body(content = Vec<CourseBody>, description = "Each with its `id`"),
    responses(
        (status = 200, description = "Stored", body = Upserted),
        (status = 422, description = "Invalid courses (`invalid_course`; `details` lists each index and field) or a prerequisite cycle (`prerequisite_cycle`); nothing stored", body = ErrorBody),
    )
)]
async fn post_courses(
    State(app): State<AppState>,
    Json(body): Json<Vec<CourseBody>>,
) -> Result<(StatusCode, Json<Upserted>)> {
    if body.is_empty() || body.len() > 10_000 {
        return Err(ApiError::invalid(
            "invalid_course",
            "send 1 to 10000 courses",
            vec![],
        ));
    }
    let mut courses = Vec::with_capacity(body.len());
    let mut errs = Vec::new();
    for (i, b) in body.into_iter().enumerate() {
        let Some(id) = b.id.clone() else {
            errs.push(FieldError {
                index: Some(i),
                ..FieldError::new("id", "is required")
            });
            continue;
        };
        match b.into_course(id) {
            Ok(c) => courses.push(c),
            Err(e) => errs.extend(e.into_iter().map(|e| FieldError { index: Some(i), ..e })),
        }
    }
    if !errs.is_empty() {
        return Err(invalid(errs));
    }
    let _edit = app.live.lock_catalog().await;
    refuse_cycles(&app, &courses).await?;
    let created = app.store.upsert_courses(&courses).await?;
    note_courses(&app, courses.clone()).await;
    app.cluster.notify(Change::Catalog).await;
    let n_created = created.iter().filter(|c| **c).count();
    Ok((
        StatusCode::OK,
        Json(Upserted {
            created: n_created,
            updated: courses.len() - n_created,
        }),
    ))
}

/// One course of the catalog.
#[utoipa::path(
    get,
    path = "/courses/{id}",
    tag = "catalog",
    params(("id" = String, Path, description = "The course id")),
    responses(
        (status = 200, description = "The course", body = CourseInfo),
        (status = 404, description = "No such course (`course_not_found`)", body = ErrorBody),
    )
)]
async fn get_course(State(app): State<AppState>, Path(id): Path<String>) -> Result<Json<CourseInfo>> {
    match app.store.get_course(&id).await? {
        Some(c) => Ok(Json(c.into())),
        None => Err(not_found(&id)),
    }
}

/// Remove a course from the catalog (its events stay).
#[utoipa::path(
    delete,
    path = "/courses/{id}",
    tag = "catalog",
    params(("id" = String, Path, description = "The course id")),
    responses(
        (status = 204, description = "Deleted; never recommended again"),
        (status = 404, description = "No such course (`course_not_found`)", body = ErrorBody),
    )
)]
async fn delete_course(State(app): State<AppState>, Path(id): Path<String>) -> Result<StatusCode> {
    let _edit = app.live.lock_catalog().await;
    if !app.store.delete_course(&id).await? {
        return Err(not_found(&id));
    }
    app.live.remove_course(&id);
    app.cluster.notify(Change::Course { id }).await;
    Ok(StatusCode::NO_CONTENT)
}

/// Most ids one batch read may name.
const MAX_IDS: usize = 500;

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct CatalogParams {
    /// Matches the id, title or a tag, case-insensitively.
    q: Option<String>,
    /// Only this category.
    category: Option<String>,
    /// Batch read: only these courses (comma-separated, at most 500), e.g.
    /// the titles for a list in one call.
    ids: Option<String>,
    /// Page size, 1 to 500 (default 50).
    #[param(minimum = 1, maximum = 500)]
    limit: Option<usize>,
    /// The `next` of the previous page: courses after this id.
    after: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct CoursePage {
    /// Courses matching the filters, over all pages.
    pub total: usize,
    /// By id.
    pub items: Vec<CourseInfo>,
    /// Pass as `after` for the next page; null on the last.
    pub next: Option<String>,
}

/// The catalog by id, paginated; search, category filter and batch read.
#[utoipa::path(
    get,
    path = "/courses",
    tag = "catalog",
    params(CatalogParams),
    responses((status = 200, description = "One page, by id", body = CoursePage))
)]
async fn list_courses(
    State(app): State<AppState>,
    Query(p): Query<CatalogParams>,
) -> Result<Json<CoursePage>> {
    let limit = count(p.limit, "limit", 50, 500)?;
    let q = p.q.map(|q| q.trim().to_lowercase()).unwrap_or_default();
    let category = category(p.category);
    let ids: Option<HashSet<&str>> = p
        .ids
        .as_deref()
        .map(|s| s.split(',').filter(|x| !x.is_empty()).collect());
    if ids.as_ref().is_some_and(|i| i.len() > MAX_IDS) {
        return Err(ApiError::bad_param(format!(
            "ids must name at most {MAX_IDS} courses"
        )));
    }
    let all = app.store.list_courses().await?;
    let mut hits: Vec<Course> = all
        .into_iter()
        .filter(|c| ids.as_ref().is_none_or(|i| i.contains(c.id.as_str())))
        .filter(|c| category.as_ref().is_none_or(|cat| &c.category == cat))
        .filter(|c| {
            q.is_empty()
                || c.id.to_lowercase().contains(&q)
                || c.title.to_lowercase().contains(&q)
                || c.tags.iter().any(|t| t.contains(&q))
        })
        .collect();
    let total = hits.len();
    // By id in byte order (not the database's collation): the keyset for pages.
    hits.sort_unstable_by(|a, b| a.id.cmp(&b.id));
    let start = match &p.after {
        Some(after) => hits.partition_point(|c| c.id.as_str() <= after.as_str()),
        None => 0,
    };
    let page: Vec<Course> = hits.into_iter().skip(start).take(limit + 1).collect();
    let more = page.len() > limit;
    let items: Vec<CourseInfo> = page.into_iter().take(limit).map(Into::into).collect();
    let next = more.then(|| items.last().map(|c| c.course_id.clone())).flatten();
    Ok(Json(CoursePage { total, items, next }))
}
