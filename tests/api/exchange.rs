//! Training past one machine: the interactions exported as Parquet read
//! back with the parquet crate; factors imported only through the gate.

use std::collections::HashSet;
use std::fs::File;

use arrow_array::{Array, BooleanArray, StringArray, UInt32Array};
use courserec::config::Settings;
use courserec::exchange::export::{self, META_EVENT_SEQ, META_N_USERS};
use courserec::exchange::factors::{self, FactorFileError, Problem};
use courserec::exchange::{import_factors, ImportError};
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use rand::{Rng, SeedableRng};

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
        "holdout",
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
    let mut held_out = 0;
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
        let h = col("holdout");
        held_out += h.as_any().downcast_ref::<BooleanArray>().unwrap().true_count();
    }
    // The gate's holdout: the latest 20 % of the sampled learners' pairs.
    assert!(
        held_out > 0 && held_out < pairs.len() / 4,
        "{held_out} of {}",
        pairs.len()
    );
    assert_eq!(seen.len(), pairs.len());
    assert!(batches >= 1);
    assert_eq!(max_user as usize + 1, users.len(), "dense user indices");
    app.stop().await;
}

/// `(id, factors)` rows of a factor matrix.
fn rows<'a>(ids: &'a [String], f: &'a courserec::model::Factors) -> Vec<(&'a str, &'a [f32])> {
    ids.iter()
        .enumerate()
        .map(|(i, id)| (id.as_str(), f.row(i)))
        .collect()
}

both_backends!(import_goes_through_the_gate, import_goes_through_the_gate);
async fn import_goes_through_the_gate(app: TestApp) {
    crate::recommend::trained(&app).await;
    let snap = app.state.live.snapshot().unwrap();
    let before = snap.version;
    let dir = tempfile::tempdir().unwrap();
    let (u, c) = (dir.path().join("u.parquet"), dir.path().join("c.parquet"));

    // The service's own factors, less a few learners (folded in instead)
    // and with ids the store does not know: they pass the gate.
    let mut users = rows(&snap.users.ids, &snap.users.factors);
    users.truncate(users.len() - 5);
    let ghost = vec![0.5f32; snap.users.factors.k];
    users.push(("nobody-here", &ghost));
    let mut courses = rows(&snap.courses.ids, &snap.courses.factors);
    courses.push(("no-such-course", &ghost));
    factors::write(&u, &users).unwrap();
    factors::write(&c, &courses).unwrap();
    let r = import_factors(&app.state.trainer, &u, &c).await.unwrap();
    assert!(r.version > before, "{r:?}");
    assert_eq!(app.state.live.version(), Some(r.version));
    assert!(r.ndcg > r.baseline_ndcg, "{r:?}");
    assert_eq!(r.counts.k, snap.users.factors.k);
    assert_eq!(r.counts.users_skipped, 1);
    assert_eq!(r.counts.courses_skipped, 1);
    assert_eq!(r.counts.users_folded_in, 5);
    assert_eq!(r.counts.users_imported, snap.users.ids.len() - 5);
    let published = app.state.live.snapshot().unwrap();
    assert!(published.segments.is_some() && published.marketing.is_some());
    let stored = app.store.max_snapshot_version().await.unwrap();
    assert_eq!(stored, r.version, "persisted like a training");
    let body = app.get_ok(&format!("/recommend/{}?n=5", snap.users.ids[0])).await;
    assert!(!crate::helpers::course_ids(&body).is_empty(), "{body}");

    // Random factors lose to popularity: refused, the model keeps serving.
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(3);
    let mut random = |ids: &[String]| -> Vec<(String, Vec<f32>)> {
        ids.iter()
            .map(|id| (id.clone(), (0..16).map(|_| rng.random_range(-1.0..1.0)).collect()))
            .collect()
    };
    let (ru, rc) = (random(&snap.users.ids), random(&snap.courses.ids));
    for (path, table) in [(&u, &ru), (&c, &rc)] {
        let rows: Vec<(&str, &[f32])> = table.iter().map(|(i, f)| (i.as_str(), f.as_slice())).collect();
        factors::write(path, &rows).unwrap();
    }
    let e = import_factors(&app.state.trainer, &u, &c).await.unwrap_err();
    assert!(matches!(e, ImportError::Refused(_)), "{e}");
    assert!(e.to_string().contains("does not beat popularity"), "{e}");
    assert_eq!(app.state.live.version(), Some(r.version));
    assert_eq!(app.store.max_snapshot_version().await.unwrap(), r.version);
    app.stop().await;
}

/// Rows of a factor file, and the problem they must be refused for.
type Case<'a> = (Vec<(&'a str, &'a [f32])>, fn(&Problem) -> bool);

both_backends!(invalid_factor_files_are_refused, invalid_factor_files_are_refused);
async fn invalid_factor_files_are_refused(app: TestApp) {
    let dir = tempfile::tempdir().unwrap();
    let (u, c) = (dir.path().join("u.parquet"), dir.path().join("c.parquet"));
    let good: &[(&str, &[f32])] = &[("c1", &[1.0, 2.0]), ("c2", &[3.0, 4.0])];
    factors::write(&c, good).unwrap();
    let problem = |e: ImportError| match e {
        ImportError::Invalid(FactorFileError::Invalid { problem, .. }) => problem,
        other => panic!("not a validation error: {other}"),
    };
    let cases: Vec<Case> = vec![
        (vec![("a", &[1.0, 2.0]), ("b", &[1.0])], |p| {
            matches!(p, Problem::Ragged { .. })
        }),
        (vec![("a", &[1.0, f32::NAN])], |p| {
            matches!(p, Problem::NonFinite { .. })
        }),
        (vec![("a", &[1.0, 2.0]), ("a", &[1.0, 2.0])], |p| {
            matches!(p, Problem::Duplicate { .. })
        }),
        (vec![], |p| matches!(p, Problem::Empty)),
    ];
    for (rows, expected) in cases {
        factors::write(&u, &rows).unwrap();
        let p = problem(import_factors(&app.state.trainer, &u, &c).await.unwrap_err());
        assert!(expected(&p), "{p}");
    }
    // Dimensions differ between the files.
    factors::write(&u, &[("a", &[1.0, 2.0, 3.0])]).unwrap();
    let e = import_factors(&app.state.trainer, &u, &c).await.unwrap_err();
    assert!(
        matches!(e, ImportError::Invalid(FactorFileError::Dimensions { .. })),
        "{e}"
    );
    // A file without the `factors` column.
    write_ids_only(&u);
    let p = problem(import_factors(&app.state.trainer, &u, &c).await.unwrap_err());
    assert_eq!(p, Problem::MissingColumn("factors"));
    assert!(matches!(
        import_factors(&app.state.trainer, &dir.path().join("missing.parquet"), &c).await,
        Err(ImportError::Invalid(FactorFileError::Unreadable { .. }))
    ));
    // Nothing reached the store.
    assert_eq!(app.store.max_snapshot_version().await.unwrap(), 0);
    app.stop().await;
}

fn write_ids_only(path: &std::path::Path) {
    use arrow_array::{ArrayRef, RecordBatch};
    use std::sync::Arc;
    let ids: ArrayRef = Arc::new(StringArray::from(vec!["a", "b"]));
    let batch = RecordBatch::try_from_iter([("id", ids)]).unwrap();
    let mut w =
        parquet::arrow::ArrowWriter::try_new(File::create(path).unwrap(), batch.schema(), None).unwrap();
    w.write(&batch).unwrap();
    w.close().unwrap();
}

// `courserec train` loads only what a training reads of the served model
// (not its factors); what it publishes is still a whole model.
both_backends!(offline_training_publishes_a_whole_model, offline_training);
async fn offline_training(app: TestApp) {
    use clap::Parser;
    crate::recommend::trained(&app).await;
    let served = app.state.live.snapshot().unwrap();
    let cli =
        courserec::cli::Cli::try_parse_from(["courserec", "train", "--database-url", &app.db_url]).unwrap();
    courserec::cli::run(cli).await.unwrap();

    let (version, bytes) = app.store.load_latest_snapshot().await.unwrap().unwrap();
    assert!(version > served.version);
    let snap = courserec::serve::snapshot::ModelSnapshot::decode(&bytes).unwrap();
    assert!(snap.is_model(), "{:?}", snap.basis);
    assert_eq!(snap.users.ids, served.users.ids);
    assert_eq!(snap.courses.ids.len(), served.courses.ids.len());
    assert_eq!(snap.users.factors.data.len(), served.users.factors.data.len());
    assert!(snap.users.factors.data.iter().any(|&x| x != 0.0));
    assert!(snap.segments.is_some() && snap.marketing.is_some());
    let segment = snap.users.segment.as_ref().expect("segment column");
    assert_eq!(segment.len(), served.users.ids.len());
    assert!(snap.users.marketing.is_some());
}
