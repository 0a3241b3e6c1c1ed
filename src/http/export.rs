//! `GET /recommendations/export` (admin): every learner's list (or a
//! segment's, or an RFM group's) as `/recommend` would serve it now,
//! streamed as CSV or Parquet for email and CRM tools.

use axum::body::Body;
use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use utoipa::IntoParams;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::extract::Query;
use super::profile::no_model;
use super::recommend::{count, MAX_N};
use super::AppState;
use crate::domain::now_ms;
use crate::error::{ApiError, ErrorBody, Result};
use crate::exchange::recommendations::Format;
use crate::marketing::rfm::RfmGroup;
use crate::serve::export::{selected, Selection};
use crate::serve::personal::Shaping;
use crate::serve::Query as RecQuery;

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(export_recommendations))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ExportParams {
    /// Items per learner, 1 to 100 (default 10).
    #[param(minimum = 1, maximum = 100)]
    n: Option<usize>,
    /// Only learners of this taste segment.
    segment: Option<u32>,
    /// Only learners of this RFM group (`champions`, `at_risk`, ...).
    rfm: Option<String>,
    /// `csv` (default) or `parquet`.
    #[param(inline)]
    format: Option<Format>,
}

/// Every learner's top-n list, streamed.
///
/// The lists `/recommend` would serve now (fold-in, dismissals, fatigue,
/// rules, the day's exploration), one row per item:
/// `user_id, rank, course_id, score, rule_id, explored`. Learners the
/// model knows, in its order; erased ones are left out. Exports are not
/// impressions: nothing is logged or counted for fatigue.
#[utoipa::path(
    get,
    path = "/recommendations/export",
    tag = "recommendations",
    params(ExportParams),
    responses(
        (status = 200, description = "The lists",
            content((String = "text/csv"), (Vec<u8> = "application/vnd.apache.parquet"))),
        (status = 400, description = "A bad parameter (`invalid_parameter`)", body = ErrorBody),
        (status = 404, description = "No such segment (`segment_not_found`)", body = ErrorBody),
        (status = 503, description = "No model yet (`model_not_ready`)", body = ErrorBody),
    )
)]
async fn export_recommendations(
    State(app): State<AppState>,
    Query(p): Query<ExportParams>,
) -> Result<Response> {
    let n = count(p.n, "n", 10, MAX_N)?;
    let rfm = match p.rfm.as_deref().filter(|r| !r.is_empty()) {
        Some(r) => {
            Some(RfmGroup::parse(r).ok_or_else(|| ApiError::bad_param(format!("rfm: no group {r:?}")))?)
        }
        None => None,
    };
    let snap = app.live.snapshot().ok_or_else(no_model)?;
    if let Some(s) = p.segment {
        let known = snap
            .segments
            .as_ref()
            .is_some_and(|seg| seg.segments.iter().any(|x| x.id == s));
        if !known {
            return Err(ApiError::not_found(
                "segment_not_found",
                format!("no segment {s}"),
            ));
        }
    }
    let format = p.format.unwrap_or(Format::Csv);
    let rows = selected(
        &snap,
        &Selection {
            segment: p.segment,
            rfm,
        },
    );
    let q = RecQuery {
        n,
        ..Default::default()
    };
    let shaping = Shaping {
        exploration: app.settings.serve.exploration,
        rules: true,
        now_ms: now_ms(),
    };
    let exclude_taken = app.settings.serve.exclude_taken;
    let (bytes_tx, bytes_rx) = tokio::sync::mpsc::channel::<std::io::Result<Vec<u8>>>(4);
    let (rows_tx, mut rows_rx) = tokio::sync::mpsc::channel(2);
    // Lists a chunk at a time; the channels' bounds hold memory to a few
    // chunks whatever the export's size or the client's speed.
    tokio::spawn(async move {
        for chunk in rows.chunks(crate::serve::export::CHUNK) {
            let lists =
                crate::serve::export::lists(&app.sources(), &snap, chunk, &q, shaping, exclude_taken).await;
            if rows_tx.send(lists).await.is_err() {
                return;
            }
        }
    });
    tokio::task::spawn_blocking(move || {
        let sink = std::io::BufWriter::with_capacity(1 << 16, ChannelSink(bytes_tx.clone()));
        let result = (|| {
            let mut w = crate::exchange::recommendations::RowWriter::new(format, sink)?;
            while let Some(rows) = rows_rx.blocking_recv() {
                w.write(&rows)?;
            }
            std::io::Write::flush(&mut w.finish()?)?;
            anyhow::Ok(())
        })();
        if let Err(e) = result {
            tracing::warn!(error = format!("{e:#}"), "recommendation export cut short");
            let _ = bytes_tx.blocking_send(Err(std::io::Error::other(e.to_string())));
        }
    });
    let stream = futures::stream::unfold(bytes_rx, |mut rx| async move { rx.recv().await.map(|b| (b, rx)) });
    let name = match format {
        Format::Csv => "recommendations.csv",
        Format::Parquet => "recommendations.parquet",
    };
    Ok((
        [
            (header::CONTENT_TYPE, format.content_type().to_string()),
            (
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"{name}\""),
            ),
        ],
        Body::from_stream(stream),
    )
        .into_response())
}

/// A `Write` that hands each write to the response body (blocking while
/// the client is slow: backpressure, not buffering).
struct ChannelSink(tokio::sync::mpsc::Sender<std::io::Result<Vec<u8>>>);

impl std::io::Write for ChannelSink {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0
            .blocking_send(Ok(buf.to_vec()))
            .map_err(|_| std::io::Error::new(std::io::ErrorKind::BrokenPipe, "client went away"))?;
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}
