//! `courserec import`: stream courses and events from CSV files into the store,
//! in constant memory, with a progress bar. Events go through the same
//! validation as `POST /events`; on Postgres they are COPYed into a staging
//! table and merged idempotently by `event_id`.

use std::path::PathBuf;

use indicatif::{ProgressBar, ProgressStyle};
use serde::Deserialize;
use serde_json::{json, Value};

use crate::domain::{now_ms, CourseBody, Event};
use crate::ingest::parse::{parse_event, Limits};
use crate::store::Store;

#[derive(Debug, clap::Args)]
pub struct ImportArgs {
    /// CSV with header: user_id,course_id,type,value,ts,event_id,rec_id (value, ts,
    /// event_id, rec_id may be empty; ts is RFC 3339).
    #[arg(long)]
    pub events: Option<PathBuf>,
    /// CSV with header: id,title,category,tags,level,price_cents,active (tags separated by '|').
    #[arg(long)]
    pub courses: Option<PathBuf>,
    /// Skip invalid rows (reported at the end) instead of stopping at the first.
    #[arg(long)]
    pub skip_invalid: bool,
}

/// Rows per transaction: bounds memory and the work lost to an interruption.
const CHUNK: usize = 50_000;

#[derive(Debug, Deserialize)]
struct EventRow {
    user_id: String,
    course_id: String,
    #[serde(rename = "type")]
    kind: String,
    value: Option<f64>,
    ts: Option<String>,
    event_id: Option<String>,
    rec_id: Option<String>,
}

#[derive(Debug, Deserialize)]
struct CourseRow {
    id: String,
    title: String,
    category: String,
    #[serde(default)]
    tags: String,
    level: String,
    price_cents: i64,
    active: Option<bool>,
}

fn progress(path: &std::path::Path) -> ProgressBar {
    let len = std::fs::metadata(path).map(|m| m.len()).unwrap_or(0);
    let bar = ProgressBar::new(len);
    bar.set_style(
        ProgressStyle::with_template("{msg} [{bar:30}] {bytes}/{total_bytes} {bytes_per_sec} eta {eta}")
            .expect("valid template")
            .progress_chars("=> "),
    );
    bar.set_message(path.display().to_string());
    bar
}

/// Imports the files `args` names. Events before `min_ts_ms` (the
/// retention cutoff, Unix ms; 0 for none) count as invalid.
pub async fn run(store: &Store, args: &ImportArgs, min_ts_ms: i64) -> anyhow::Result<()> {
    if args.events.is_none() && args.courses.is_none() {
        anyhow::bail!("nothing to import: pass --events FILE.csv and/or --courses FILE.csv");
    }
    if let Some(path) = &args.courses {
        let mut rdr = csv::Reader::from_path(path)?;
        let mut courses = Vec::new();
        for (i, row) in rdr.deserialize::<CourseRow>().enumerate() {
            let row = row.map_err(|e| anyhow::anyhow!("{}: row {}: {e}", path.display(), i + 1))?;
            let body = CourseBody {
                id: None,
                title: row.title,
                category: row.category,
                tags: row
                    .tags
                    .split('|')
                    .filter(|t| !t.is_empty())
                    .map(str::to_string)
                    .collect(),
                level: row.level,
                price_cents: row.price_cents,
                active: row.active.unwrap_or(true),
            };
            let course = body.into_course(row.id).map_err(|errs| {
                anyhow::anyhow!("{}: row {}: invalid course: {errs:?}", path.display(), i + 1)
            })?;
            courses.push(course);
        }
        store.upsert_courses(&courses).await?;
        println!("courses: {} imported", courses.len());
    }
    if let Some(path) = &args.events {
        import_events(store, path, args.skip_invalid, min_ts_ms).await?;
    }
    Ok(())
}

async fn import_events(
    store: &Store,
    path: &std::path::Path,
    skip_invalid: bool,
    min_ts_ms: i64,
) -> anyhow::Result<()> {
    let file = std::fs::File::open(path)?;
    let bar = progress(path);
    let mut rdr = csv::Reader::from_reader(bar.wrap_read(file));
    let limits = Limits {
        max_batch: usize::MAX,
        max_future_skew_ms: 300_000,
        now_ms: now_ms(),
        min_ts_ms,
    };
    let (mut read, mut stored, mut invalid) = (0usize, 0usize, 0usize);
    let mut chunk: Vec<Event> = Vec::with_capacity(CHUNK);
    for (i, row) in rdr.deserialize::<EventRow>().enumerate() {
        read += 1;
        let parsed = row
            .map_err(|e| format!("{e}"))
            .and_then(|r| parse_event(&row_json(r), &limits).map_err(|errs| format!("{errs:?}")));
        match parsed {
            Ok(e) => chunk.push(e),
            Err(why) if skip_invalid => {
                invalid += 1;
                tracing::debug!(row = i + 1, why, "skipped invalid row");
            }
            Err(why) => {
                bar.abandon();
                anyhow::bail!(
                    "{}: row {}: {why}; {stored} events were stored before it (rerun is safe for rows with event_id)",
                    path.display(),
                    i + 1
                );
            }
        }
        if chunk.len() == CHUNK {
            stored += store.bulk_insert_events(&chunk).await?;
            chunk.clear();
        }
    }
    stored += store.bulk_insert_events(&chunk).await?;
    bar.finish();
    println!(
        "events: {read} read, {stored} stored, {} duplicates, {invalid} invalid",
        read - stored - invalid
    );
    Ok(())
}

fn row_json(r: EventRow) -> Value {
    let empty_none = |s: Option<String>| s.filter(|s| !s.is_empty());
    json!({
        "user_id": r.user_id, "course_id": r.course_id, "type": r.kind, "value": r.value,
        "ts": empty_none(r.ts), "event_id": empty_none(r.event_id), "rec_id": empty_none(r.rec_id),
    })
}
