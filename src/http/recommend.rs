//! Recommendations, similar courses, popularity and the model endpoints.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use axum::extract::{Path, Query, RawQuery, State};
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::Router;
use serde_json::{json, Value};

use super::AppState;
use crate::error::{ApiError, Json, Result};
use crate::experiment::Arm;
use crate::serve::live::{Folded, UserState};
use crate::serve::recommend::{recommend, Pick, Who};
use crate::serve::snapshot::{Basis, ModelSnapshot};
use crate::serve::{foldin, Query as RecQuery, Strategy};
use crate::store::{now_ms, Impression};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/recommend/{user}", get(get_recommend))
        .route("/courses/{id}/similar", get(get_similar))
        .route("/popular", get(get_popular))
        .route("/model", get(get_model))
}

pub fn admin_router() -> Router<AppState> {
    Router::new().route("/model/retrain", post(post_retrain))
}

type Params = Query<HashMap<String, String>>;

/// `n` from the query string: 1 to `max`, `default` when absent.
pub(crate) fn param_n(p: &HashMap<String, String>, default: usize, max: usize) -> Result<usize> {
    param_count(p, "n", default, max)
}

/// A count parameter from the query string: 1 to `max`, `default` when absent.
pub(crate) fn param_count(
    p: &HashMap<String, String>,
    key: &str,
    default: usize,
    max: usize,
) -> Result<usize> {
    match p.get(key) {
        None => Ok(default),
        Some(s) => s
            .parse::<usize>()
            .ok()
            .filter(|n| (1..=max).contains(n))
            .ok_or_else(|| ApiError::bad_param(format!("{key} must be an integer from 1 to {max}"))),
    }
}

fn param_bool(p: &HashMap<String, String>, key: &str) -> Result<bool> {
    match p.get(key).map(String::as_str) {
        None | Some("false" | "0") => Ok(false),
        Some("true" | "1" | "") => Ok(true),
        Some(_) => Err(ApiError::bad_param(format!("{key} must be true or false"))),
    }
}

fn parse_query(p: &HashMap<String, String>) -> Result<RecQuery> {
    let diversity = match p.get("diversity") {
        None => 0.0,
        Some(s) => s
            .parse::<f32>()
            .ok()
            .filter(|d| (0.0..=1.0).contains(d))
            .ok_or_else(|| ApiError::bad_param("diversity must be a number from 0 to 1"))?,
    };
    Ok(RecQuery {
        n: param_n(p, 10, 100)?,
        category: p
            .get("category")
            .filter(|c| !c.is_empty())
            .map(|c| c.to_lowercase()),
        // Filled from the raw query by `excluded_ids` (repeated keys).
        exclude: Default::default(),
        diversity,
        explain: param_bool(p, "explain")?,
    })
}

/// The list-valued query parameters. `serde_html_form` collects a
/// repeated key into a `Vec`, where axum's `Query` (serde_urlencoded)
/// keeps one value, so no hand-written splitting decides what an id is.
#[derive(Debug, Default, serde::Deserialize)]
struct ListParams {
    #[serde(default)]
    exclude: Vec<String>,
}

fn list_params(raw: Option<&str>) -> Result<ListParams> {
    serde_html_form::from_str(raw.unwrap_or(""))
        .map_err(|e| ApiError::bad_param(format!("invalid query string: {e}")))
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

fn items_json(snap: &ModelSnapshot, picks: &[Pick], explain: bool) -> Vec<Value> {
    let ids = &snap.courses.ids;
    picks
        .iter()
        .map(|p| {
            let mut item = json!({"course_id": ids[p.course as usize], "score": p.score});
            if explain {
                let reasons: Vec<&String> = p.reasons.iter().map(|&r| &ids[r as usize]).collect();
                item["reasons"] = json!(reasons);
            }
            item
        })
        .collect()
}

/// The user's serving state: the snapshot's factor, a cached fold-in, or a
/// fresh fold-in from the store. A store failure degrades to what the
/// snapshot knows rather than failing the request.
pub(crate) async fn user_view(app: &AppState, snap: &ModelSnapshot, user: &str) -> Result<UserView> {
    match app.live.user_state(snap, user) {
        UserState::Known(i) => Ok(UserView::Known(i)),
        UserState::Cached(f) => Ok(UserView::Folded(f)),
        // While the store is down, requests do not wait on it.
        UserState::NeedsFoldIn { .. } if !app.health.is_up() => Ok(from_snapshot(app, snap, user)),
        UserState::NeedsFoldIn { mark } => {
            let loaded = async {
                Ok::<_, sqlx::Error>((
                    app.store.user_aggregates(user).await?,
                    app.store.get_user(user).await?,
                ))
            };
            match loaded.await {
                Ok((aggs, attrs)) => {
                    let f = Arc::new(foldin::fold(snap, &aggs, attrs, mark, now_ms()));
                    let cached = app.live.cache(user, f.clone());
                    app.metrics.fold_in_cache.set(cached as i64);
                    Ok(UserView::Folded(f))
                }
                Err(e) => {
                    app.metrics.db_errors.with_label_values(&["fold_in"]).inc();
                    if crate::store::is_transient(&e) {
                        app.health.record_failure();
                    }
                    tracing::warn!(error = %e, "fold-in read failed; serving from the snapshot");
                    Ok(from_snapshot(app, snap, user))
                }
            }
        }
    }
}

/// What the snapshot alone knows of a user; never an erased user's factor.
fn from_snapshot(app: &AppState, snap: &ModelSnapshot, user: &str) -> UserView {
    match snap.users.index.get(user) {
        Some(&i) if !app.live.is_erased(user) => UserView::Known(i),
        _ => UserView::Unknown,
    }
}

pub(crate) enum UserView {
    Known(u32),
    Folded(Arc<Folded>),
    Unknown,
}

async fn get_recommend(
    State(app): State<AppState>,
    Path(user): Path<String>,
    Query(p): Params,
    RawQuery(raw): RawQuery,
) -> Result<Json<Value>> {
    let mut q = parse_query(&p)?;
    let lists = list_params(raw.as_deref())?;
    let rec_id = uuid::Uuid::now_v7().to_string();
    let Some(snap) = app.trainer.serving().await else {
        app.metrics.recommendations.with_label_values(&["popular"]).inc();
        return Ok(Json(
            json!({"user_id": user, "items": [], "strategy": "popular", "model_version": null, "rec_id": rec_id}),
        ));
    };
    q.exclude = excluded_ids(lists.exclude, |id| snap.courses.index.contains_key(id));
    let view = user_view(&app, &snap, &user).await?;
    let history: Vec<(u32, f32)>;
    let who = match &view {
        UserView::Known(i) => {
            let (cols, vals) = snap.users.history.row(*i as usize);
            history = cols.iter().copied().zip(vals.iter().copied()).collect();
            Who::Factor {
                factor: snap.users.factors.row(*i as usize),
                taken: snap.users.taken_row(*i),
                history: &history,
                strategy: Strategy::Personalized,
            }
        }
        UserView::Folded(f) => match (&f.factor, &f.attrs) {
            (Some(factor), _) => Who::Factor {
                factor,
                taken: &f.taken,
                history: &f.history,
                strategy: Strategy::FoldIn,
            },
            (None, Some(a)) if !a.interests.is_empty() => Who::Interests {
                interests: &a.interests,
                taken: &f.taken,
            },
            _ => Who::Nobody { taken: &f.taken },
        },
        UserView::Unknown => Who::Nobody { taken: &[] },
    };
    let who = match who {
        Who::Factor {
            factor,
            history,
            strategy,
            ..
        } if !app.settings.serve.exclude_taken => Who::Factor {
            factor,
            taken: &[],
            history,
            strategy,
        },
        Who::Interests { interests, .. } if !app.settings.serve.exclude_taken => Who::Interests {
            interests,
            taken: &[],
        },
        other => other,
    };
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
    let (picks, strategy) = recommend(&snap, &who, &q);
    app.metrics
        .recommendations
        .with_label_values(&[strategy.as_str()])
        .inc();
    let mut body = json!({
        "user_id": user,
        "items": items_json(&snap, &picks, q.explain),
        "strategy": strategy,
        "model_version": snap.version,
        "rec_id": rec_id,
    });
    if let (Some(e), Some(v)) = (&experiment, variant) {
        body["experiment"] = json!(e.id);
        body["variant"] = json!(v.name);
        // Empty lists too: dropping them would make the arms' user counts
        // depend on how often each arm comes back empty.
        app.impressions.record(Impression {
            rec_id,
            experiment_id: e.id.clone(),
            variant: v.name.clone(),
            user_id: user,
            n_items: picks.len() as i32,
            ts_ms: now_ms(),
        });
    }
    Ok(Json(body))
}

async fn get_similar(
    State(app): State<AppState>,
    Path(id): Path<String>,
    Query(p): Params,
) -> Result<Json<Value>> {
    let n = param_n(&p, 10, 100)?;
    let snap = app.trainer.serving().await;
    let Some(&i) = snap.as_ref().and_then(|s| s.courses.index.get(&id)) else {
        return match app.store.get_course(&id).await? {
            Some(_) => Ok(Json(
                json!({"course_id": id, "items": [], "model_version": snap.map(|s| s.version)}),
            )),
            None => Err(ApiError::not_found(
                "course_not_found",
                format!("no course {id:?}"),
            )),
        };
    };
    let snap = snap.expect("index came from it");
    let c = &snap.courses;
    if !c.meta[i as usize].listed {
        return Err(ApiError::not_found(
            "course_not_found",
            format!("no course {id:?}"),
        ));
    }
    // A course without learners (or any course of a popularity snapshot)
    // has no learned factor: its neighbours come from category and tags.
    let servable = |j: u32| c.meta[j as usize].servable();
    let learned = snap.is_model() && c.meta[i as usize].trained && c.cosine().informative(i);
    let hits = match learned {
        true => c.cosine().similar(i, n, |j| !servable(j)),
        false => crate::serve::catalog::content_neighbours(c, i, n, |j| !servable(j)),
    };
    let items: Vec<Value> = hits
        .iter()
        .map(|&(j, s)| json!({"course_id": c.ids[j as usize], "score": s}))
        .collect();
    Ok(Json(
        json!({"course_id": id, "items": items, "model_version": snap.version}),
    ))
}

async fn get_popular(State(app): State<AppState>, Query(p): Params) -> Result<Json<Value>> {
    let q = RecQuery {
        n: param_n(&p, 10, 100)?,
        category: parse_query(&p)?.category,
        ..Default::default()
    };
    let Some(snap) = app.trainer.serving().await else {
        return Ok(Json(json!({"items": [], "model_version": null})));
    };
    let (picks, _) = recommend(&snap, &Who::Nobody { taken: &[] }, &q);
    Ok(Json(
        json!({"items": items_json(&snap, &picks, false), "model_version": snap.version}),
    ))
}

pub(crate) fn rfc3339(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .map(|t| t.to_rfc3339())
        .unwrap_or_default()
}

async fn get_model(State(app): State<AppState>) -> Json<Value> {
    let training = app.trainer.is_running();
    let Some(s) = app.live.snapshot() else {
        return Json(json!({"version": null, "status": "no_model", "training": training}));
    };
    let (basis, code, reason) = match &s.basis {
        Basis::Model => ("model", None, None),
        Basis::Popularity { code, reason } => ("popularity", Some(code), Some(reason)),
    };
    Json(json!({
        "version": s.version,
        "status": "serving",
        "basis": basis,
        "reason": code,
        "reason_detail": reason,
        "training": training,
        "trained_at": rfc3339(s.trained_at_ms),
        "data_until": rfc3339(s.data_read_at_ms),
        "n_users": s.users.ids.len(),
        "n_courses": s.courses.ids.len(),
        "n_events": s.n_events,
        "factors": s.params.factors,
        "training_seconds": s.training_seconds,
        "metrics": s.metrics,
        "baseline_metrics": s.baseline_metrics,
        "segments": s.segments.as_ref().map(|g| g.segments.len()),
        "marketing": s.marketing.as_ref().map(|m| m.summary()),
    }))
}

async fn post_retrain(State(app): State<AppState>) -> Result<(StatusCode, Json<Value>)> {
    if app.trainer.trigger() {
        Ok((StatusCode::ACCEPTED, Json(json!({"status": "started"}))))
    } else {
        Err(ApiError::Conflict {
            code: "training_in_progress",
            message: "a training is already running".into(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ids(raw: &str, known: &[&str]) -> Vec<String> {
        let values = list_params(Some(raw)).unwrap().exclude;
        let mut out: Vec<String> = excluded_ids(values, |id| known.contains(&id))
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
        assert_eq!(ids("n=3&exclude=&other=1", &[]), Vec::<String>::new());
        assert!(ids("", &[]).is_empty());
    }
}
