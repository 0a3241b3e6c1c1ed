//! `GET /recommend/{user}`: a learner's top-N list with what a front end
//! renders (title, category, level, price) and, on request, the reasons.

use std::collections::HashSet;

use axum::extract::{Path, State};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::extract::Query;
use super::wire::{score, CourseCard};
use super::AppState;
use crate::domain::{now_ms, valid_id, FieldError};
use crate::error::{ApiError, Json, Result};
use crate::experiment::Arm;
use crate::exploration::SlotKind;
use crate::serve::personal::{learner_list, Shaping};
use crate::serve::recommend::{Listed, Pick, Who};
use crate::serve::snapshot::ModelSnapshot;
use crate::serve::user_view::{user_view, who};
use crate::serve::{Query as RecQuery, Strategy};
use crate::store::{Impression, ServedItem, ServedList};

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(get_recommend, post_recommend))
}

/// Most ids one `POST /recommend` body may exclude.
pub const MAX_EXCLUDE: usize = 10_000;

/// Longest list one request may ask for.
pub const MAX_N: usize = 100;

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct RecommendParams {
    /// How many courses, 1 to 100 (default 10).
    #[param(minimum = 1, maximum = 100)]
    n: Option<usize>,
    /// Only courses of this category.
    category: Option<String>,
    /// Courses to leave out: repeat the key (`exclude=a&exclude=b`), or one
    /// comma-separated value of ids without commas.
    #[serde(default)]
    exclude: Vec<String>,
    /// 0 (pure relevance) to 1 (most diverse, MMR re-ranking).
    #[param(minimum = 0.0, maximum = 1.0)]
    diversity: Option<f32>,
    /// Add `reasons` to each item.
    #[serde(default)]
    explain: bool,
    /// Only courses whose prerequisites the learner owns.
    #[serde(default)]
    ready_only: bool,
}

/// `POST /recommend/{user}`: the parameters of the GET as a JSON body, for
/// exclusion lists longer than a URL may carry.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RecommendBody {
    /// How many courses, 1 to 100 (default 10).
    #[schema(minimum = 1, maximum = 100)]
    n: Option<usize>,
    /// Only courses of this category.
    category: Option<String>,
    /// Course ids to leave out (each one id; at most 10,000).
    #[serde(default)]
    exclude: Vec<String>,
    /// 0 (pure relevance) to 1 (most diverse, MMR re-ranking).
    #[schema(minimum = 0.0, maximum = 1.0)]
    diversity: Option<f32>,
    /// Add `reasons` to each item.
    #[serde(default)]
    explain: bool,
    /// Only courses whose prerequisites the learner owns.
    #[serde(default)]
    ready_only: bool,
}

impl RecommendBody {
    /// The query, or a 422 listing every field at fault.
    fn query(self) -> Result<RecQuery> {
        let mut errs = Vec::new();
        let n = self.n.unwrap_or(10);
        if !(1..=MAX_N).contains(&n) {
            errs.push(FieldError::new(
                "n",
                format!("must be an integer from 1 to {MAX_N}"),
            ));
        }
        let diversity = self.diversity.unwrap_or(0.0);
        if !(0.0..=1.0).contains(&diversity) {
            errs.push(FieldError::new("diversity", "must be a number from 0 to 1"));
        }
        if self.exclude.len() > MAX_EXCLUDE {
            errs.push(FieldError::new("exclude", format!("at most {MAX_EXCLUDE} ids")));
        } else if let Some(bad) = self.exclude.iter().position(|id| !valid_id(id)) {
            errs.push(FieldError::new(
                "exclude",
                format!("item {bad} is not an id (1 to 128 characters, no surrounding whitespace)"),
            ));
        }
        if !errs.is_empty() {
            return Err(ApiError::invalid(
                "invalid_body",
                "the parameters are invalid",
                errs,
            ));
        }
        Ok(RecQuery {
            n,
            category: category(self.category),
            exclude: self.exclude.into_iter().collect(),
            diversity,
            explain: self.explain,
            ready_only: self.ready_only,
        })
    }
}

/// A count parameter: 1 to `max`, `default` when absent.
pub fn count(v: Option<usize>, name: &str, default: usize, max: usize) -> Result<usize> {
    match v {
        None => Ok(default),
        Some(n) if (1..=max).contains(&n) => Ok(n),
        Some(_) => Err(ApiError::bad_param(format!(
            "{name} must be an integer from 1 to {max}"
        ))),
    }
}

/// A category filter as the catalog stores it; empty means none.
pub fn category(c: Option<String>) -> Option<String> {
    c.map(|c| crate::domain::category_key(&c))
        .filter(|c| !c.is_empty())
}

impl RecommendParams {
    fn query(self, known: impl Fn(&str) -> bool) -> Result<RecQuery> {
        let diversity = self.diversity.unwrap_or(0.0);
        if !(0.0..=1.0).contains(&diversity) {
            return Err(ApiError::bad_param("diversity must be a number from 0 to 1"));
        }
        Ok(RecQuery {
            n: count(self.n, "n", 10, MAX_N)?,
            category: category(self.category),
            exclude: excluded_ids(self.exclude, known),
            diversity,
            explain: self.explain,
            ready_only: self.ready_only,
        })
    }
}

/// The ids `exclude` names. Repeated, each value is one id and is never
/// split, so every id the API accepts can be named (`exclude=x%2Cy`). A
/// single value is one id when `known` says so (a course of the catalog),
/// else the comma form: a comma-separated list of ids without commas.
pub(crate) fn excluded_ids(values: Vec<String>, known: impl Fn(&str) -> bool) -> HashSet<String> {
    let split = values.len() == 1 && !known(&values[0]);
    values
        .into_iter()
        .flat_map(|v| match split {
            true => v.split(',').map(str::to_string).collect::<Vec<_>>(),
            false => vec![v],
        })
        .filter(|v| !v.is_empty())
        .collect()
}

/// One recommended course.
#[derive(Debug, Serialize, ToSchema)]
pub struct RecommendedItem {
    #[serde(flatten)]
    pub course: CourseCard,
    /// The model's score (factor dot product, or popularity), 4
    /// significant digits. The list's order is the items' order: rules,
    /// fatigue and exploration may place an item above a higher score.
    pub score: f64,
    /// With `explain=true`: the learner's own courses closest to this one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reasons: Option<Vec<Reason>>,
    /// Prerequisites of the course the learner does not own (course ids;
    /// empty when the learner is ready for it).
    pub missing_prerequisites: Vec<String>,
    /// The merchandising rule that placed or moved it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rule_id: Option<String>,
    /// True when an exploration slot gave it (a little-exposed course).
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub explored: bool,
}

/// "Because you took …": a course the learner took (owned or rated), never
/// one of the same list.
#[derive(Debug, Serialize, ToSchema)]
pub struct Reason {
    pub course_id: String,
    pub title: String,
    /// Ready to show: `because you took <title>`.
    pub text: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Recommendations {
    pub user_id: String,
    pub items: Vec<RecommendedItem>,
    pub strategy: Strategy,
    /// The snapshot that ranked the list; null before the first training.
    pub model_version: Option<i64>,
    /// Send back as `rec_id` on events the list led to.
    pub rec_id: String,
    /// The running experiment, when there is one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub experiment: Option<String>,
    /// This learner's variant of it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub variant: Option<String>,
}

/// The picks as list items, with titles from the snapshot's catalog.
pub fn items(snap: &ModelSnapshot, picks: &[Pick], explain: bool) -> Vec<RecommendedItem> {
    let c = &snap.courses;
    picks
        .iter()
        .map(|p| RecommendedItem {
            course: CourseCard::new(&c.ids[p.course as usize], &c.meta[p.course as usize]),
            score: score(p.score),
            reasons: explain.then(|| {
                p.reasons
                    .iter()
                    .map(|&r| {
                        let title = c.meta[r as usize].title.clone();
                        Reason {
                            course_id: c.ids[r as usize].clone(),
                            text: format!("because you took {title}"),
                            title,
                        }
                    })
                    .collect()
            }),
            missing_prerequisites: p.missing.iter().map(|&m| c.ids[m as usize].clone()).collect(),
            rule_id: p.rule.clone(),
            explored: p.slot == SlotKind::Explored,
        })
        .collect()
}

/// Top-N courses for a learner.
///
/// Active courses the learner has not taken (purchased or rated), ranked by
/// the model; a learner unknown to the snapshot is folded in from their
/// events, or gets their interests' or overall popularity.
#[utoipa::path(
    get,
    path = "/recommend/{user}",
    tag = "recommendations",
    params(("user" = String, Path, description = "The learner's id"), RecommendParams),
    responses((status = 200, description = "The list, best first", body = Recommendations))
)]
async fn get_recommend(
    State(app): State<AppState>,
    Path(user): Path<String>,
    Query(p): Query<RecommendParams>,
) -> Result<Json<Recommendations>> {
    // A single `exclude` value is split on commas unless it names a course.
    let snap = app.trainer.serving().await;
    let q = match &snap {
        Some(snap) => p.query(|id| snap.courses.index.contains_key(id))?,
        None => p.query(|_| false)?,
    };
    answer(&app, user, snap, q).await
}

/// Top-N courses for a learner, the parameters in a JSON body.
///
/// The same list as `GET /recommend/{user}`; `exclude` is a JSON array, so
/// it may hold up to 10,000 ids.
#[utoipa::path(
    post,
    path = "/recommend/{user}",
    tag = "recommendations",
    params(("user" = String, Path, description = "The learner's id")),
    request_body = RecommendBody,
    responses((status = 200, description = "The list, best first", body = Recommendations))
)]
async fn post_recommend(
    State(app): State<AppState>,
    Path(user): Path<String>,
    Json(body): Json<RecommendBody>,
) -> Result<Json<Recommendations>> {
    let q = body.query()?;
    let snap = app.trainer.serving().await;
    answer(&app, user, snap, q).await
}

/// The list for `user` under `q` from the serving snapshot (popularity's
/// empty list before the first training).
async fn answer(
    app: &AppState,
    user: String,
    snap: Option<std::sync::Arc<ModelSnapshot>>,
    mut q: RecQuery,
) -> Result<Json<Recommendations>> {
    let rec_id = uuid::Uuid::now_v7().to_string();
    let Some(snap) = snap else {
        app.metrics.recommendations.with_label_values(&["popular"]).inc();
        return Ok(Json(Recommendations {
            user_id: user,
            items: vec![],
            strategy: Strategy::Popular,
            model_version: None,
            rec_id,
            experiment: None,
            variant: None,
        }));
    };
    let view = user_view(&app.sources(), &snap, &user).await;
    let who = who(&snap, &view, app.settings.serve.exclude_taken);
    // Under a running experiment the user's variant may change the arm
    // and the diversity; the list is logged as an impression.
    let experiment = app.experiments.current();
    let variant = experiment.as_ref().map(|e| e.variant_for(&user));
    let who = match variant {
        Some(v) if v.arm == Arm::Popular => Who::Nobody { taken: who.taken() },
        _ => who,
    };
    if let Some(d) = variant.and_then(|v| v.diversity) {
        q.diversity = d;
    }
    let now = now_ms();
    let shaping = Shaping {
        exploration: app.settings.serve.exploration,
        rules: true,
        now_ms: now,
    };
    let listed = learner_list(&app.live, &snap, &view, &who, &user, &q, shaping);
    let (picks, strategy) = (&listed.picks, listed.strategy);
    app.metrics
        .recommendations
        .with_label_values(&[strategy.as_str()])
        .inc();
    log_served(app, &snap, &user, &rec_id, &listed, now);
    if let (Some(e), Some(v)) = (&experiment, variant) {
        // Empty lists too: dropping them would make the arms' user counts
        // depend on how often each arm comes back empty.
        app.impressions.record(Impression {
            rec_id: rec_id.clone(),
            experiment_id: e.id.clone(),
            variant: v.name.clone(),
            user_id: user.clone(),
            n_items: picks.len() as i32,
            ts_ms: now_ms(),
        });
    }
    Ok(Json(Recommendations {
        items: items(&snap, picks, q.explain),
        user_id: user,
        strategy,
        model_version: Some(snap.version),
        rec_id,
        experiment: experiment.as_ref().map(|e| e.id.clone()),
        variant: variant.map(|v| v.name.clone()),
    }))
}

/// Counts a served list for fatigue and metrics and queues it for the
/// served-list log (slots and propensities, for the off-policy estimate).
fn log_served(app: &AppState, snap: &ModelSnapshot, user: &str, rec_id: &str, listed: &Listed, now: i64) {
    let picks = &listed.picks;
    let c = &snap.courses;
    let ids: Vec<&str> = picks.iter().map(|p| c.ids[p.course as usize].as_str()).collect();
    app.live.fatigue.served(user, &ids, now);
    app.metrics.fatigue_learners.set(app.live.fatigue.len() as i64);
    for p in picks {
        let slot = match p.slot {
            SlotKind::Ranked => "ranked",
            SlotKind::Explored => "explored",
            SlotKind::Fixed => "fixed",
        };
        let touched = match (&p.rule, p.fatigued) {
            (Some(_), _) => "rule",
            (None, true) => "fatigue",
            (None, false) => "none",
        };
        app.metrics.served_items.with_label_values(&[slot, touched]).inc();
    }
    if picks.is_empty() {
        return;
    }
    app.impressions.served(ServedList {
        rec_id: rec_id.to_string(),
        user_id: user.to_string(),
        ts_ms: now,
        exploration: app.settings.serve.exploration,
        pool_size: listed.pool_size as i32,
        strategy: listed.strategy.as_str().to_string(),
        items: picks
            .iter()
            .zip(ids)
            .map(|(p, id)| ServedItem {
                course_id: id.to_string(),
                kind: p.slot,
                propensity: p.propensity,
            })
            .collect(),
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ids(raw: &str, known: &[&str]) -> Vec<String> {
        let p: RecommendParams = serde_html_form::from_str(raw).unwrap();
        let mut out: Vec<String> = excluded_ids(p.exclude, |id| known.contains(&id))
            .into_iter()
            .collect();
        out.sort();
        out
    }

    #[test]
    fn exclude_names_every_id_and_keeps_the_comma_form() {
        // Repeated: one id each, never split.
        assert_eq!(ids("exclude=x%2Cy&exclude=a", &[]), ["a", "x,y"]);
        // One value: a known id as it is, else comma-separated ids.
        assert_eq!(ids("exclude=x%2Cy", &["x,y"]), ["x,y"]);
        assert_eq!(ids("exclude=a,b", &["a", "b"]), ["a", "b"]);
        assert_eq!(ids("n=3&exclude=", &[]), Vec::<String>::new());
        assert!(ids("", &[]).is_empty());
    }

    #[test]
    fn parameters_are_checked_at_the_edge() {
        let parse = |raw: &str| {
            serde_html_form::from_str::<RecommendParams>(raw)
                .map_err(|_| ())
                .and_then(|p| p.query(|_| false).map_err(|_| ()))
        };
        assert!(parse("n=100&diversity=0.5&explain=true").is_ok());
        for bad in ["n=0", "n=101", "n=x", "diversity=2", "explain=maybe"] {
            assert!(parse(bad).is_err(), "{bad}");
        }
    }
}
