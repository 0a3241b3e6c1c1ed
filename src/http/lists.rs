//! Lists that are not about one learner: `GET /courses/{id}/similar` and
//! `GET /popular`, each item with what a front end renders.

use axum::extract::{Path, State};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::extract::Query;
use super::recommend::{category, count, items, RecommendedItem, MAX_N};
use super::wire::{score, CourseCard};
use super::AppState;
use crate::domain::now_ms;
use crate::error::{ApiError, Json, Result};
use crate::rules::engine::{adjust, place_pins, Fatigue};
use crate::serve::recommend::{recommend, Context, Who};
use crate::serve::Query as RecQuery;

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(get_similar))
        .routes(routes!(get_popular))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct SimilarParams {
    /// How many courses, 1 to 100 (default 10).
    #[param(minimum = 1, maximum = 100)]
    n: Option<usize>,
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PopularParams {
    /// How many courses, 1 to 100 (default 10).
    #[param(minimum = 1, maximum = 100)]
    n: Option<usize>,
    /// Only courses of this category.
    category: Option<String>,
}

/// A course close to another.
#[derive(Debug, Serialize, ToSchema)]
pub struct SimilarItem {
    #[serde(flatten)]
    pub course: CourseCard,
    /// Cosine similarity of the factors (or of category and tags for a
    /// course without learners), -1 to 1, 4 significant digits.
    pub score: f64,
    /// The merchandising rule that placed or moved it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rule_id: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct SimilarCourses {
    pub course_id: String,
    pub items: Vec<SimilarItem>,
    pub model_version: Option<i64>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct PopularCourses {
    pub items: Vec<RecommendedItem>,
    pub model_version: Option<i64>,
}

fn course_not_found(id: &str) -> ApiError {
    ApiError::not_found("course_not_found", format!("no course {id:?}"))
}

/// Courses close to this one in factor space.
///
/// Courses without learners get neighbours by category and tags. Only
/// active courses are listed.
#[utoipa::path(
    get,
    path = "/courses/{id}/similar",
    tag = "recommendations",
    params(("id" = String, Path, description = "A course id"), SimilarParams),
    responses(
        (status = 200, description = "The closest courses, best first", body = SimilarCourses),
        (status = 404, description = "No such course (`course_not_found`)", body = crate::error::ErrorBody),
    )
)]
async fn get_similar(
    State(app): State<AppState>,
    Path(id): Path<String>,
    Query(p): Query<SimilarParams>,
) -> Result<Json<SimilarCourses>> {
    let n = count(p.n, "n", 10, MAX_N)?;
    let snap = app.trainer.serving().await;
    let Some(&i) = snap.as_ref().and_then(|s| s.courses.index.get(&id)) else {
        return match app.store.get_course(&id).await? {
            Some(_) => Ok(Json(SimilarCourses {
                course_id: id,
                items: vec![],
                model_version: snap.map(|s| s.version),
            })),
            None => Err(course_not_found(&id)),
        };
    };
    let snap = snap.expect("index came from it");
    let c = &snap.courses;
    if !c.meta[i as usize].listed {
        return Err(course_not_found(&id));
    }
    // A course without learners (or any course of a popularity snapshot)
    // has no learned factor: its neighbours come from category and tags.
    let rules = app.live.rules.compiled(&snap.courses, None, now_ms());
    let allowed = |j: u32| j != i && c.meta[j as usize].servable() && !rules.blocks(j);
    let room = if rules.is_empty() { 0 } else { n + 10 };
    let learned = snap.is_model() && c.meta[i as usize].trained && c.cosine().informative(i);
    let hits = match learned {
        true => c.cosine().similar(i, n + room, |j| !allowed(j)),
        false => crate::serve::catalog::content_neighbours(c, i, n + room, |j| !allowed(j)),
    };
    let unit = c.cosine().unit();
    let score_of = |j: u32| match learned {
        true => crate::model::topn::dot(unit.row(i as usize), unit.row(j as usize)),
        false => 0.0,
    };
    let ranked = adjust(&hits, &rules, Fatigue::default(), allowed, score_of);
    let ranked = place_pins(ranked, &rules, n, allowed, score_of);
    let items = ranked
        .iter()
        .map(|r| SimilarItem {
            course: CourseCard::new(&c.ids[r.course as usize], &c.meta[r.course as usize]),
            score: score(r.score),
            rule_id: r.rule.map(|k| rules.ids[k].clone()),
        })
        .collect();
    Ok(Json(SimilarCourses {
        course_id: id,
        items,
        model_version: Some(snap.version),
    }))
}

/// The most popular active courses, time-decayed.
#[utoipa::path(
    get,
    path = "/popular",
    tag = "recommendations",
    params(PopularParams),
    responses((status = 200, description = "Most popular first", body = PopularCourses))
)]
async fn get_popular(
    State(app): State<AppState>,
    Query(p): Query<PopularParams>,
) -> Result<Json<PopularCourses>> {
    let q = RecQuery {
        n: count(p.n, "n", 10, MAX_N)?,
        category: category(p.category),
        ..Default::default()
    };
    let Some(snap) = app.trainer.serving().await else {
        return Ok(Json(PopularCourses {
            items: vec![],
            model_version: None,
        }));
    };
    let rules = app.live.rules.compiled(&snap.courses, None, now_ms());
    let ctx = Context {
        rules: &rules,
        ..Context::default()
    };
    let listed = recommend(&snap, &Who::Nobody { taken: &[] }, &q, &ctx);
    Ok(Json(PopularCourses {
        items: items(&snap, &listed.picks, false),
        model_version: Some(snap.version),
    }))
}
