//! Training past one machine: the interactions exported as Parquet read
//! back with the parquet crate.

use std::collections::HashSet;
use std::fs::File;

use arrow_array::{Array, StringArray, UInt32Array};
use courserec::config::Settings;
use courserec::exchange::export::{self, META_EVENT_SEQ, META_N_USERS};
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;

use crate::both_backends;
use crate::helpers::TestApp;

both_backends!(export_writes_one_row_per_pair, export_writes_one_row_per_pair);
async fn export_writes_one_row_per_pair(app: TestApp) {
    let data = crate::recommend::trained(&app).await;
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("interactions.parquet");
    let report = courserec::exchange::export(&app.store, &Settings::defaults().training(), &out)
        .await
        .unwrap();

    let pairs: HashSet<(&str, &str)> = data
        .events
        .iter()
        .map(|e| (e.user_id.as_str(), e.course_id.as_str()))
        .collect();
    let users: HashSet<&str> = pairs.iter().map(|p| p.0).collect();
    assert_eq!(report.rows, pairs.len());
    assert_eq!(report.n_users, users.len());
    assert_eq!(report.event_seq, app.store.max_event_seq().await.unwrap());
    assert_eq!(report.bytes, std::fs::metadata(&out).unwrap().len());
    // Only the file itself is left in the directory: the temporary was renamed.
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);

    let builder = ParquetRecordBatchReaderBuilder::try_new(File::open(&out).unwrap()).unwrap();
    let meta = builder.metadata().file_metadata().clone();
    let kv = |key: &str| {
        meta.key_value_metadata()
            .and_then(|kv| kv.iter().find(|e| e.key == key))
            .and_then(|e| e.value.clone())
    };
    assert_eq!(kv(META_EVENT_SEQ), Some(report.event_seq.to_string()));
    assert_eq!(kv(META_N_USERS), Some(users.len().to_string()));
    assert_eq!(meta.num_rows() as usize, pairs.len());
    let names: Vec<String> = builder
        .schema()
        .fields()
        .iter()
        .map(|f| f.name().clone())
        .collect();
    for col in [
        "user_id",
        "course_id",
        "user_index",
        "course_index",
        "confidence",
        "preference",
        "taken",
        "first_ts_ms",
        "last_ts_ms",
        "n_view",
        "n_click",
        "n_purchase",
        "n_refund",
    ] {
        assert!(names.iter().any(|n| n == col), "no {col} in {names:?}");
    }
    let mut seen = HashSet::new();
    let mut batches = 0;
    let mut max_user = 0;
    for batch in builder.with_batch_size(export::BATCH_ROWS).build().unwrap() {
        let batch = batch.unwrap();
        batches += 1;
        let col = |name: &str| batch.column_by_name(name).unwrap().clone();
        let (u, c) = (col("user_id"), col("course_id"));
        let u = u.as_any().downcast_ref::<StringArray>().unwrap();
        let c = c.as_any().downcast_ref::<StringArray>().unwrap();
        let ui = col("user_index");
        let ui = ui.as_any().downcast_ref::<UInt32Array>().unwrap();
        for i in 0..batch.num_rows() {
            assert!(pairs.contains(&(u.value(i), c.value(i))));
            assert!(seen.insert((u.value(i).to_string(), c.value(i).to_string())));
            max_user = max_user.max(ui.value(i));
        }
        assert_eq!(ui.null_count(), 0);
    }
    assert_eq!(seen.len(), pairs.len());
    assert!(batches >= 1);
    assert_eq!(max_user as usize + 1, users.len(), "dense user indices");
    app.stop().await;
}
