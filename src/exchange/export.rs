//! `courserec export-interactions`: the training's interactions as one
//! Parquet file.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::time::Instant;

use parquet::arrow::ArrowWriter;
use parquet::basic::Compression;
use parquet::file::metadata::KeyValue;
use parquet::file::properties::WriterProperties;
use serde::Serialize;

use super::columns;
use crate::config::TrainSettings;
use crate::domain::now_ms;
use crate::model::Interactions;
use crate::retrain::pipeline::holdout_split;
use crate::store::Store;

/// Rows per record batch (and so the granularity of the writer's memory).
pub const BATCH_ROWS: usize = 65_536;

/// Key-value metadata: the last event sequence number the file includes.
pub const META_EVENT_SEQ: &str = "courserec.event_seq";
/// Key-value metadata: when the store was read (ms since the epoch, UTC).
pub const META_READ_AT_MS: &str = "courserec.read_at_ms";
/// Key-value metadata: learners and courses the indices range over; courses
/// of the catalog without interactions have an index too.
pub const META_N_USERS: &str = "courserec.n_users";
pub const META_N_COURSES: &str = "courserec.n_courses";

/// What an export wrote.
#[derive(Debug, Clone, Serialize)]
pub struct ExportReport {
    pub path: PathBuf,
    /// Rows: one per (learner, course) pair the training uses.
    pub rows: usize,
    pub n_users: usize,
    pub n_courses: usize,
    /// The last event sequence number included (`courserec.event_seq`).
    pub event_seq: i64,
    /// Size of the file written, bytes.
    pub bytes: u64,
    /// Wall time of the whole export (compaction, read, write), seconds.
    pub seconds: f64,
}

/// Compacts the event log, reads it exactly as a training does and writes
/// its interactions to `out` as Parquet (Snappy), one row per (learner,
/// course) pair, in record batches of [`BATCH_ROWS`] rows:
/// `user_id`, `course_id` (utf8); `user_index`, `course_index` (u32, the
/// training's dense indices); `weight` (f32, the combined event weight);
/// `confidence` (f32, `1 + alpha·f(weight)` of `[train.model]`, 1 without
/// positive weight); `preference` (u8, 1 when `weight > 0`); `taken` (bool,
/// owned or rated); `holdout` (bool, held out by the publishing gate: train
/// without these rows for an honest gate); `first_ts_ms`, `last_ts_ms` (i64, ms since the epoch,
/// UTC); `n_view`, `n_click`, … (u32, events per type). The key-value
/// metadata carries [`META_EVENT_SEQ`], [`META_READ_AT_MS`],
/// [`META_N_USERS`] and [`META_N_COURSES`].
///
/// The file is written beside `out` under a temporary name and renamed,
/// so `out` is either the old file or the complete new one. Errors: the
/// store cannot be read, or the file cannot be written.
pub async fn export(store: &Store, settings: &TrainSettings, out: &Path) -> anyhow::Result<ExportReport> {
    let started = Instant::now();
    store.compact_events().await?;
    // The sequence is read first, as a training does: the rollup read next
    // includes at least every event up to it.
    let event_seq = store.max_event_seq().await?;
    let read_at_ms = now_ms();
    let days = crate::retrain::run::read_log(store).await?;
    let catalog = store.list_courses_newest_first().await?;
    let settings = settings.clone();
    let out = out.to_path_buf();
    let (rows, n_users, n_courses, bytes, path) = tokio::task::spawn_blocking(move || {
        let inter = Interactions::build(
            days.aggregates(read_at_ms),
            &catalog,
            &settings.weights,
            read_at_ms,
        );
        let pairs = columns::pair_aggs(&inter, days.aggregates(read_at_ms));
        drop(days);
        let holdout = columns::holdout_rows(&inter, &holdout_split(&inter, &settings).test);
        let meta = [
            (META_EVENT_SEQ, event_seq.to_string()),
            (META_READ_AT_MS, read_at_ms.to_string()),
            (META_N_USERS, inter.users.len().to_string()),
            (META_N_COURSES, inter.courses.len().to_string()),
        ];
        let bytes = write_atomically(&out, |file| {
            write(file, &inter, &pairs, &holdout, &settings, &meta)
        })?;
        anyhow::Ok((
            inter.entries.len(),
            inter.users.len(),
            inter.courses.len(),
            bytes,
            out,
        ))
    })
    .await??;
    Ok(ExportReport {
        path,
        rows,
        n_users,
        n_courses,
        event_seq,
        bytes,
        seconds: started.elapsed().as_secs_f64(),
    })
}

fn write(
    file: File,
    inter: &Interactions,
    pairs: &[columns::PairAgg],
    holdout: &[bool],
    settings: &TrainSettings,
    meta: &[(&str, String)],
) -> anyhow::Result<()> {
    let schema = columns::schema();
    let props = WriterProperties::builder()
        .set_compression(Compression::SNAPPY)
        .set_key_value_metadata(Some(
            meta.iter()
                .map(|(k, v)| KeyValue::new(k.to_string(), v.clone()))
                .collect(),
        ))
        .build();
    let mut w = ArrowWriter::try_new(file, schema.clone(), Some(props))?;
    let n = inter.entries.len();
    for start in (0..n).step_by(BATCH_ROWS) {
        let range = start..(start + BATCH_ROWS).min(n);
        w.write(&columns::batch(
            &schema,
            inter,
            pairs,
            holdout,
            range,
            &settings.model,
        )?)?;
    }
    w.close()?;
    Ok(())
}

/// Writes through `body` to a temporary file beside `out`, syncs it and
/// renames it to `out`; the temporary file is removed on failure. Returns
/// the size written.
fn write_atomically(out: &Path, body: impl FnOnce(File) -> anyhow::Result<()>) -> anyhow::Result<u64> {
    let name = out
        .file_name()
        .ok_or_else(|| anyhow::anyhow!("{} is not a file path", out.display()))?;
    let tmp = out.with_file_name(format!(".{}.tmp-{}", name.to_string_lossy(), std::process::id()));
    let result = (|| {
        let file = File::create(&tmp)?;
        body(file.try_clone()?)?;
        file.sync_all()?;
        let bytes = file.metadata()?.len();
        std::fs::rename(&tmp, out)?;
        anyhow::Ok(bytes)
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result.map_err(|e| e.context(format!("cannot write {}", out.display())))
}
