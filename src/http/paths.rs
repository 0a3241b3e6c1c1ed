//! Learning paths: `GET /users/{id}/path` (a plan to a course or category
//! goal) and `GET /courses/{id}/next` (what learners take after a course).

use axum::extract::{Path, State};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::extract::Query;
use super::recommend::{category, count, MAX_N};
use super::wire::{share, CourseCard};
use super::AppState;
use crate::error::{ApiError, ErrorBody, FieldError, Json, Result};
use crate::paths::{PlanError, Reason};
use crate::serve::paths::{next_after, plan_for, PathError, PathGoal};
use crate::serve::user_view::{user_view, UserView};

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(get_path))
        .routes(routes!(get_next))
}

/// Longest plan one request may ask for.
pub const MAX_STEPS: usize = 50;

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PathParams {
    /// The goal course (or give `category`).
    course_id: Option<String>,
    /// The goal category: reach its top level (or give `course_id`).
    category: Option<String>,
    /// Most steps, 1 to 50 (default 8).
    #[param(minimum = 1, maximum = 50)]
    max_steps: Option<usize>,
}

/// The goal as the request named it.
#[derive(Debug, Serialize, ToSchema)]
pub struct PathGoalBody {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub course_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub category: Option<String>,
}

/// One course of a plan.
#[derive(Debug, Serialize, ToSchema)]
pub struct PathStep {
    #[serde(flatten)]
    pub course: CourseCard,
    /// `prerequisite` (a later step needs it), `next_level` (a level up in
    /// its category) or `learned_order` (learners who went this way took it
    /// here).
    pub reason: Reason,
    /// Course ids this step builds on: its prerequisites and the course
    /// before it in its category.
    pub after: Vec<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct LearningPath {
    pub user_id: String,
    pub goal: PathGoalBody,
    /// In order; empty when the learner owns the goal already.
    pub steps: Vec<PathStep>,
    /// Sum of the steps' list prices, cents.
    pub total_price_cents: i64,
    /// Courses of the goal's track the learner owns.
    pub already_owned: Vec<String>,
    pub model_version: i64,
}

fn not_ready() -> ApiError {
    ApiError::Unavailable {
        code: "model_not_ready",
        message: "no model has been published yet; retry after the first training".into(),
    }
}

/// A learner's learning path to a course or a category.
///
/// Every step is a course the learner does not own, after all of its
/// prerequisites (owned or earlier steps). A course goal is the last step;
/// a category goal leads through the category's levels up to its top one,
/// in the order learners took them.
#[utoipa::path(
    get,
    path = "/users/{id}/path",
    tag = "recommendations",
    params(("id" = String, Path, description = "The learner's id"), PathParams),
    responses(
        (status = 200, description = "The plan", body = LearningPath),
        (status = 400, description = "Neither or both of `course_id` and `category`, or a bad `max_steps` (`invalid_parameter`)", body = ErrorBody),
        (status = 404, description = "Unknown goal (`course_not_found`, `category_not_found`)", body = ErrorBody),
        (status = 422, description = "The goal needs more than `max_steps` steps (`path_too_long`; `details` names the shortest length)", body = ErrorBody),
        (status = 503, description = "Before the first model (`model_not_ready`)", body = ErrorBody),
    )
)]
async fn get_path(
    State(app): State<AppState>,
    Path(user): Path<String>,
    Query(p): Query<PathParams>,
) -> Result<Json<LearningPath>> {
    let max_steps = count(p.max_steps, "max_steps", 8, MAX_STEPS)?;
    let course_id = p.course_id.filter(|c| !c.is_empty());
    let cat = category(p.category);
    let goal = match (&course_id, &cat) {
        (Some(c), None) => PathGoal::Course(c),
        (None, Some(c)) => PathGoal::Category(c),
        _ => return Err(ApiError::bad_param("give exactly one of course_id and category")),
    };
    let Some(snap) = app.trainer.serving().await else {
        return Err(not_ready());
    };
    let view = user_view(&app.sources(), &snap, &user).await;
    let (owned, history, factor): (Vec<u32>, Vec<u32>, Option<&[f32]>) = match &view {
        UserView::Known(i) => (
            snap.users.taken_row(*i).to_vec(),
            snap.users.taken_in_order(*i),
            Some(snap.users.factors.row(*i as usize)),
        ),
        UserView::Folded(f) => (f.taken.clone(), f.order.clone(), f.factor.as_deref()),
        UserView::Unknown => (vec![], vec![], None),
    };
    let plan = plan_for(&snap, &owned, &history, factor, goal, max_steps).map_err(|e| match e {
        PathError::UnknownCourse(_) => ApiError::not_found("course_not_found", e.to_string()),
        PathError::UnknownCategory(_) => ApiError::not_found("category_not_found", e.to_string()),
        PathError::Plan(PlanError::TooLong { shortest, max_steps }) => ApiError::invalid(
            "path_too_long",
            format!("the goal needs {shortest} steps, more than max_steps ({max_steps})"),
            vec![FieldError::new(
                "max_steps",
                format!("the shortest path has {shortest} steps"),
            )],
        ),
        PathError::Plan(other) => ApiError::invalid("path_impossible", other.to_string(), vec![]),
    })?;
    let c = &snap.courses;
    let id = |i: u32| c.ids[i as usize].clone();
    let steps: Vec<PathStep> = plan
        .steps
        .iter()
        .map(|s| PathStep {
            course: CourseCard::new(&c.ids[s.course as usize], &c.meta[s.course as usize]),
            reason: s.reason,
            after: s.after.iter().map(|&a| id(a)).collect(),
        })
        .collect();
    Ok(Json(LearningPath {
        user_id: user,
        goal: PathGoalBody {
            course_id,
            category: cat,
        },
        total_price_cents: steps.iter().map(|s| s.course.price_cents).sum(),
        steps,
        already_owned: plan.already_owned.iter().map(|&a| id(a)).collect(),
        model_version: snap.version,
    }))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct NextParams {
    /// How many courses, 1 to 100 (default 10).
    #[param(minimum = 1, maximum = 100)]
    n: Option<usize>,
}

/// A course learners took next.
#[derive(Debug, Serialize, ToSchema)]
pub struct NextItem {
    #[serde(flatten)]
    pub course: CourseCard,
    /// Fraction of the course's learners whose next course this was, 0..1.
    pub share: f64,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct NextCourses {
    pub course_id: String,
    pub items: Vec<NextItem>,
    /// Learners who took the course, in the model's data.
    pub learners: u32,
    pub model_version: Option<i64>,
}

/// What learners take next after a course.
///
/// By observed order (each learner's next course after this one, by first
/// purchase or rating), not co-occurrence; active courses only.
#[utoipa::path(
    get,
    path = "/courses/{id}/next",
    tag = "recommendations",
    params(("id" = String, Path, description = "A course id"), NextParams),
    responses(
        (status = 200, description = "Most taken next first", body = NextCourses),
        (status = 404, description = "No such course (`course_not_found`)", body = ErrorBody),
    )
)]
async fn get_next(
    State(app): State<AppState>,
    Path(id): Path<String>,
    Query(p): Query<NextParams>,
) -> Result<Json<NextCourses>> {
    let n = count(p.n, "n", 10, MAX_N)?;
    let snap = app.trainer.serving().await;
    let found = snap.as_ref().and_then(|s| next_after(s, &id, n));
    let Some(hits) = found else {
        // A course added since the last model has no order yet.
        return match app.store.get_course(&id).await? {
            Some(_) => Ok(Json(NextCourses {
                course_id: id,
                items: vec![],
                learners: 0,
                model_version: snap.map(|s| s.version),
            })),
            None => Err(ApiError::not_found(
                "course_not_found",
                format!("no course {id:?}"),
            )),
        };
    };
    let snap = snap.expect("found in it");
    let c = &snap.courses;
    let learners = snap
        .paths
        .as_ref()
        .and_then(|p| p.transitions.takers.get(c.index[&id] as usize).copied())
        .unwrap_or(0);
    Ok(Json(NextCourses {
        items: hits
            .iter()
            .map(|&(j, s)| NextItem {
                course: CourseCard::new(&c.ids[j as usize], &c.meta[j as usize]),
                share: share(f64::from(s)),
            })
            .collect(),
        course_id: id,
        learners,
        model_version: Some(snap.version),
    }))
}
