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
    /// CSV with header: id,title,category,tags,level,price_cents,active[,prerequisites] (tags and prerequisites separated by '|').
    #[arg(long)]
    pub courses: Option<PathBuf>,
    /// Skip invalid rows (reported at the end) instead of stopping at the first.
    #[arg(long)]
    pub skip_invalid: bool,
    /// Events per transaction: bounds memory and the work an interruption
    /// loses; on Postgres two chunks are merged at once.
    #[arg(long, default_value_t = CHUNK, value_parser = clap::value_parser!(u64).range(1..=1_000_000))]
    pub chunk_rows: u64,
    /// Postgres: drop the event log's randomly inserted indexes (by learner,
    /// by course, by time) for the load and rebuild them by sort afterwards.
    /// `auto` does when the file holds at least a million events and more
    /// than the log. While they are dropped, queries on the log are slower;
    /// the rebuild blocks writes to it (a live service's ingest waits), so
    /// use `never` on a busy one.
    #[arg(long, value_enum, default_value_t = DeferIndexes::Auto)]
    pub defer_indexes: DeferIndexes,
}

/// When an import drops and rebuilds the event log's randomly inserted indexes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum DeferIndexes {
    Auto,
    Always,
    Never,
}

/// `--defer-indexes auto` defers from this many events in the file.
const DEFER_FROM_ROWS: u64 = 1_000_000;

/// Rows in a CSV file, estimated from the line length of its first MiB.
fn estimated_rows(path: &std::path::Path) -> std::io::Result<u64> {
    use std::io::Read;
    let len = std::fs::metadata(path)?.len();
    let mut head = Vec::with_capacity(1 << 20);
    std::fs::File::open(path)?.take(1 << 20).read_to_end(&mut head)?;
    let lines = head.iter().filter(|&&b| b == b'\n').count() as u64;
    if head.is_empty() || lines == 0 {
        return Ok(0);
    }
    Ok(len * lines / head.len() as u64)
}

/// Whether this import drops the indexes (see [`ImportArgs::defer_indexes`]).
async fn defers(store: &Store, path: &std::path::Path, mode: DeferIndexes) -> anyhow::Result<bool> {
    Ok(match mode {
        DeferIndexes::Never => false,
        DeferIndexes::Always => true,
        DeferIndexes::Auto if matches!(store, Store::Postgres(_)) => {
            let rows = estimated_rows(path)?;
            rows >= DEFER_FROM_ROWS && rows as i64 > store.estimated_events().await?
        }
        DeferIndexes::Auto => false,
    })
}

/// Default events per transaction.
pub const CHUNK: u64 = 50_000;

/// The events CSV's header, in the order writers put it (readers match by name).
pub const EVENT_COLUMNS: [&str; 7] = [
    "user_id",
    "course_id",
    "type",
    "value",
    "ts",
    "event_id",
    "rec_id",
];

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
    /// Course ids separated by '|'.
    #[serde(default)]
    prerequisites: String,
}

/// A CSV cell holding a list: items separated by '|', empty ones dropped.
fn bar_list(cell: &str) -> Vec<String> {
    cell.split('|')
        .filter(|t| !t.is_empty())
        .map(str::to_string)
        .collect()
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
/// Prints a summary line per file; returns the events' counts when
/// `--events` was given. Fails at the first invalid row unless
/// `--skip-invalid` (the chunks before it stay stored), or when the store fails.
pub async fn run(store: &Store, args: &ImportArgs, min_ts_ms: i64) -> anyhow::Result<Option<EventCounts>> {
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
                tags: bar_list(&row.tags),
                level: row.level,
                price_cents: row.price_cents,
                active: row.active.unwrap_or(true),
                prerequisites: bar_list(&row.prerequisites),
            };
            let course = body.into_course(row.id).map_err(|errs| {
                anyhow::anyhow!("{}: row {}: invalid course: {errs:?}", path.display(), i + 1)
            })?;
            courses.push(course);
        }
        if let Some(cycle) = crate::paths::graph::cycle_with(store.prerequisite_graph().await?, &courses) {
            anyhow::bail!(
                "{}: prerequisites form a cycle: {}",
                path.display(),
                cycle.join(" -> ")
            );
        }
        store.upsert_courses(&courses).await?;
        println!("courses: {} imported", courses.len());
    }
    let Some(path) = &args.events else {
        return Ok(None);
    };
    let deferred = if defers(store, path, args.defer_indexes).await? {
        store.defer_event_indexes().await?
    } else {
        store.heal_deferred_indexes().await?;
        None
    };
    let counts = import_events(store, path, args, min_ts_ms).await;
    // After a failure too: the chunks before it are stored.
    if let Some(deferred) = deferred {
        let started = std::time::Instant::now();
        let n = deferred.names.len();
        if let Err(e) = store.rebuild_deferred_indexes(deferred).await {
            let later = "the next import, `courserec migrate` or service start rebuilds them";
            return Err(match counts {
                Err(first) => first.context(format!("rebuilding the indexes failed too ({e:#}); {later}")),
                Ok(_) => e.context(format!("rebuilding the indexes failed; {later}")),
            });
        }
        println!("indexes: {n} rebuilt in {:.1} s", started.elapsed().as_secs_f64());
    }
    let counts = counts?;
    println!(
        "events: {} read, {} stored, {} duplicates, {} invalid",
        counts.read, counts.stored, counts.duplicates, counts.invalid
    );
    Ok(Some(counts))
}

/// What an events import did, in rows of the file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EventCounts {
    pub read: usize,
    /// New events (not already stored under their `event_id`).
    pub stored: usize,
    pub duplicates: usize,
    pub invalid: usize,
}

/// Chunks merged at once on Postgres. The merge is bound by the database's
/// index upkeep, so a second connection keeps a second core busy while
/// this process parses the next chunk; the rows per chunk bound memory
/// either way. SQLite has one writer: a second merge would only wait.
const IN_FLIGHT: usize = 2;

/// What the parsing thread hands to the merging task, in file order.
enum Parsed {
    Chunk(Vec<Event>),
    /// The first invalid row (1-based) without `--skip-invalid`: the import stops.
    Invalid {
        row: usize,
        why: String,
    },
}

async fn import_events(
    store: &Store,
    path: &std::path::Path,
    args: &ImportArgs,
    min_ts_ms: i64,
) -> anyhow::Result<EventCounts> {
    use futures::StreamExt;

    let file = std::fs::File::open(path)?;
    let bar = progress(path);
    let limits = Limits {
        max_batch: usize::MAX,
        max_future_skew_ms: 300_000,
        now_ms: now_ms(),
        min_ts_ms,
    };
    // One chunk waits in the channel while IN_FLIGHT are merged.
    let (tx, mut rx) = tokio::sync::mpsc::channel::<Parsed>(1);
    let reader = {
        let bar = bar.clone();
        let (skip_invalid, rows) = (args.skip_invalid, args.chunk_rows.max(1) as usize);
        tokio::task::spawn_blocking(move || parse_chunks(file, &bar, &limits, skip_invalid, rows, &tx))
    };
    // `buffered` yields results in file order, so when a chunk fails every
    // chunk before it has been stored.
    let mut merged = futures::stream::poll_fn(move |cx| rx.poll_recv(cx))
        .map(|item| async move {
            match item {
                Parsed::Chunk(events) => store.bulk_insert_events(&events).await,
                Parsed::Invalid { row, why } => Err(anyhow::anyhow!("{}: row {row}: {why}", path.display())),
            }
        })
        .buffered(if matches!(store, Store::Postgres(_)) {
            IN_FLIGHT
        } else {
            1
        });
    let mut stored = 0usize;
    let mut failed = None;
    while let Some(result) = merged.next().await {
        match result {
            Ok(n) => stored += n,
            Err(e) => {
                failed = Some(e);
                break;
            }
        }
    }
    // Dropping the stream rolls back merges in flight and stops the reader.
    drop(merged);
    let counts = reader.await?;
    if let Some(e) = failed {
        bar.abandon();
        anyhow::bail!("{e}; {stored} events were stored before it (rerun is safe for rows with event_id)");
    }
    let (read, invalid) = counts?;
    bar.finish();
    Ok(EventCounts {
        read,
        stored,
        duplicates: read - stored - invalid,
        invalid,
    })
}

/// Parses `file` into chunks of `rows` valid events and sends them in
/// order; returns (rows read, invalid rows skipped). Stops early when the
/// receiver is gone (a merge failed).
fn parse_chunks(
    file: std::fs::File,
    bar: &ProgressBar,
    limits: &Limits,
    skip_invalid: bool,
    rows: usize,
    tx: &tokio::sync::mpsc::Sender<Parsed>,
) -> anyhow::Result<(usize, usize)> {
    let mut rdr = csv::Reader::from_reader(bar.wrap_read(file));
    let (mut read, mut invalid) = (0usize, 0usize);
    let mut chunk: Vec<Event> = Vec::with_capacity(rows);
    for (i, row) in rdr.deserialize::<EventRow>().enumerate() {
        read += 1;
        let parsed = row
            .map_err(|e| format!("{e}"))
            .and_then(|r| parse_event(&row_json(r), limits).map_err(|errs| format!("{errs:?}")));
        match parsed {
            Ok(e) => chunk.push(e),
            Err(why) if skip_invalid => {
                invalid += 1;
                tracing::debug!(row = i + 1, why, "skipped invalid row");
            }
            Err(why) => {
                // A failed send means the merges stopped first; nothing to tell.
                if !chunk.is_empty() {
                    let _ = tx.blocking_send(Parsed::Chunk(chunk));
                }
                let _ = tx.blocking_send(Parsed::Invalid { row: i + 1, why });
                return Ok((read, invalid));
            }
        }
        if chunk.len() == rows {
            let full = std::mem::replace(&mut chunk, Vec::with_capacity(rows));
            if tx.blocking_send(Parsed::Chunk(full)).is_err() {
                return Ok((read, invalid));
            }
        }
    }
    if !chunk.is_empty() {
        let _ = tx.blocking_send(Parsed::Chunk(chunk));
    }
    Ok((read, invalid))
}

fn row_json(r: EventRow) -> Value {
    let empty_none = |s: Option<String>| s.filter(|s| !s.is_empty());
    json!({
        "user_id": r.user_id, "course_id": r.course_id, "type": r.kind, "value": r.value,
        "ts": empty_none(r.ts), "event_id": empty_none(r.event_id), "rec_id": empty_none(r.rec_id),
    })
}
