//! The catalog: `PUT/GET/DELETE /courses/<id>`, `POST /courses`.

use std::collections::HashMap;

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::Router;
use serde_json::{json, Value};

use super::AppState;
use crate::cluster::Change;
use crate::domain::{Course, CourseBody};
use crate::error::{ApiError, FieldError, Json, Result};

pub fn read_router() -> Router<AppState> {
    Router::new()
        .route("/courses/{id}", get(get_course))
        .route("/courses", get(search_courses))
}

pub fn admin_router() -> Router<AppState> {
    Router::new()
        .route(
            "/courses/{id}",
            axum::routing::put(put_course).delete(delete_course),
        )
        .route("/courses", post(post_courses))
}

fn invalid(errs: Vec<FieldError>) -> ApiError {
    ApiError::invalid("invalid_course", "the course is invalid", errs)
}

async fn put_course(
    State(app): State<AppState>,
    Path(id): Path<String>,
    Json(body): Json<CourseBody>,
) -> Result<(StatusCode, Json<Course>)> {
    if body.id.as_ref().is_some_and(|b| *b != id) {
        return Err(invalid(vec![FieldError::new(
            "id",
            "differs from the id in the path",
        )]));
    }
    let course = body.into_course(id).map_err(invalid)?;
    let created = app.store.upsert_courses(std::slice::from_ref(&course)).await?;
    app.live.note_courses(std::slice::from_ref(&course));
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
    Ok((status, Json(course)))
}

async fn post_courses(
    State(app): State<AppState>,
    Json(body): Json<Vec<CourseBody>>,
) -> Result<(StatusCode, Json<Value>)> {
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
    let created = app.store.upsert_courses(&courses).await?;
    app.live.note_courses(&courses);
    app.cluster.notify(Change::Catalog).await;
    let n_created = created.iter().filter(|c| **c).count();
    Ok((
        StatusCode::OK,
        Json(json!({"created": n_created, "updated": courses.len() - n_created})),
    ))
}

async fn get_course(State(app): State<AppState>, Path(id): Path<String>) -> Result<Json<Course>> {
    match app.store.get_course(&id).await? {
        Some(c) => Ok(Json(c)),
        None => Err(ApiError::not_found(
            "course_not_found",
            format!("no course {id:?}"),
        )),
    }
}

async fn delete_course(State(app): State<AppState>, Path(id): Path<String>) -> Result<StatusCode> {
    if !app.store.delete_course(&id).await? {
        return Err(ApiError::not_found(
            "course_not_found",
            format!("no course {id:?}"),
        ));
    }
    app.live.remove_course(&id);
    app.cluster.notify(Change::Course { id }).await;
    Ok(StatusCode::NO_CONTENT)
}

/// `GET /courses?q=&category=&ids=&limit=`: catalog search, by id order.
/// `q` matches the id, title or a tag, case-insensitively; `ids` (comma
/// separated, at most 500) keeps only those courses.
async fn search_courses(
    State(app): State<AppState>,
    Query(p): Query<HashMap<String, String>>,
) -> Result<Json<Value>> {
    let limit = super::recommend::param_count(&p, "limit", 50, 500)?;
    let q = p.get("q").map(|q| q.trim().to_lowercase()).unwrap_or_default();
    let category = p
        .get("category")
        .map(|c| c.trim().to_lowercase())
        .unwrap_or_default();
    // `ids=a,b,c`: a batch read (a front end's titles for a list in one call).
    let ids: Option<std::collections::HashSet<&str>> = p
        .get("ids")
        .map(|s| s.split(',').filter(|x| !x.is_empty()).collect());
    if ids.as_ref().is_some_and(|i| i.len() > 500) {
        return Err(ApiError::bad_param("ids must name at most 500 courses"));
    }
    let all = app.store.list_courses().await?;
    let hits: Vec<&Course> = all
        .iter()
        .filter(|c| ids.as_ref().is_none_or(|i| i.contains(c.id.as_str())))
        .filter(|c| category.is_empty() || c.category == category)
        .filter(|c| {
            q.is_empty()
                || c.id.to_lowercase().contains(&q)
                || c.title.to_lowercase().contains(&q)
                || c.tags.iter().any(|t| t.contains(&q))
        })
        .collect();
    let total = hits.len();
    let items: Vec<&Course> = hits.into_iter().take(limit).collect();
    Ok(Json(json!({"total": total, "items": items})))
}
