//! The command line: `serve` (default), `migrate`, `train`, `evaluate`,
//! `import`, `export-interactions`, `import-factors`.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

use crate::config::{Overrides, Settings};
use crate::startup::{shutdown_signal, Application};
use crate::store::Store;

#[derive(Debug, Parser)]
#[command(
    name = "courserec",
    version,
    about = "Course recommendations and user segments over HTTP"
)]
pub struct Cli {
    #[command(flatten)]
    pub common: Common,
    /// `courserec --demo` is `courserec serve --demo`.
    #[command(flatten)]
    pub serve: ServeArgs,
    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Debug, Args)]
pub struct Common {
    /// A TOML file layered over config/default.toml.
    #[arg(long, global = true)]
    pub config: Option<PathBuf>,
    /// postgres://… or sqlite://…; default: the SQLite file in ./data/.
    #[arg(long, global = true)]
    pub database_url: Option<String>,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the HTTP service (the default).
    Serve(ServeArgs),
    /// Apply database migrations and exit.
    Migrate,
    /// Bulk-load events and courses from CSV files.
    Import(crate::import::ImportArgs),
    /// Train one model on the stored events, persist it and exit.
    Train,
    /// Offline evaluation on a MovieLens-layout directory: model vs popularity.
    Evaluate(EvaluateArgs),
    /// Print the OpenAPI document (the one `GET /openapi.json` serves).
    Openapi,
    /// Write the interactions a training uses as one Parquet file, to train
    /// elsewhere (Spark, implicit).
    ExportInteractions(ExportArgs),
    /// Write every learner's list (as `/recommend` would serve it) to a
    /// CSV or Parquet file, for email and CRM tools.
    ExportRecommendations(ExportRecommendationsArgs),
    /// Publish learner and course factors trained elsewhere, only if they
    /// pass the training's evaluation gate.
    ImportFactors(ImportFactorsArgs),
    /// Print the erasure key (64 hex digits) the store holds, to move it
    /// into `database.erasure_key_file` or `COURSEREC_ERASURE_KEY`.
    ErasureKey,
}

#[derive(Debug, Args)]
pub struct ImportFactorsArgs {
    /// Parquet file of learner factors: `id` (utf8), `factors` (list<float32>).
    #[arg(long)]
    pub users: PathBuf,
    /// Parquet file of course factors, the same layout.
    #[arg(long)]
    pub courses: PathBuf,
}

#[derive(Debug, Args)]
pub struct ExportArgs {
    /// The Parquet file to write (replaced atomically).
    #[arg(long)]
    pub out: PathBuf,
}

#[derive(Debug, Args)]
pub struct ExportRecommendationsArgs {
    /// The file to write (replaced atomically).
    #[arg(long)]
    pub out: PathBuf,
    /// Items per learner, 1 to 100.
    #[arg(long, default_value_t = 10)]
    pub n: usize,
    /// Only learners of this taste segment.
    #[arg(long)]
    pub segment: Option<u32>,
    /// Only learners of this RFM group (`champions`, `at_risk`, ...).
    #[arg(long)]
    pub rfm: Option<String>,
    /// `csv` or `parquet`; by default from the file's extension (csv otherwise).
    #[arg(long, value_enum)]
    pub format: Option<crate::exchange::recommendations::Format>,
}

#[derive(Debug, Args)]
pub struct EvaluateArgs {
    /// Directory with a `*.inter` file (typed header) or GroupLens `u.data`.
    #[arg(long)]
    pub data: PathBuf,
    #[arg(long, value_enum, default_value = "random")]
    pub split: SplitArg,
    #[arg(long, default_value_t = 10)]
    pub k: usize,
    /// Seed of the random split.
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
    /// Print JSON instead of a table.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum SplitArg {
    Random,
    Temporal,
}

#[derive(Debug, Args, Default)]
pub struct ServeArgs {
    /// Address to listen on, e.g. 127.0.0.1:8080.
    #[arg(long)]
    pub listen: Option<String>,
    /// Fill an empty store with a generated course platform.
    #[arg(long)]
    pub demo: bool,
}

/// Runs the parsed command line.
pub async fn run(cli: Cli) -> anyhow::Result<()> {
    let serve = match &cli.command {
        None => Some(ServeArgs {
            listen: cli.serve.listen.clone(),
            demo: cli.serve.demo,
        }),
        Some(Command::Serve(a)) => Some(ServeArgs {
            listen: a.listen.clone(),
            demo: a.demo,
        }),
        _ => None,
    };
    let overrides = Overrides {
        listen: serve.as_ref().and_then(|s| s.listen.clone()),
        database_url: cli.common.database_url.clone(),
    };
    let settings = Settings::load(cli.common.config.as_deref(), &overrides)?;
    crate::telemetry::init(&settings.log);
    match cli.command {
        Some(Command::Openapi) => {
            // A reader that stops early (`| head`) is not an error.
            use std::io::Write;
            let text = format!("{}\n", crate::http::openapi::document());
            match std::io::stdout().lock().write_all(text.as_bytes()) {
                Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => Err(e.into()),
                _ => Ok(()),
            }
        }
        Some(Command::Migrate) => {
            let store = Store::connect(&settings.database).await?;
            store.migrate().await?;
            let rebuilt = store.heal_deferred_indexes().await?;
            println!("migrations applied ({})", store.backend());
            if rebuilt > 0 {
                println!("indexes: {rebuilt} an unfinished import dropped were rebuilt");
            }
            Ok(())
        }
        Some(Command::Evaluate(a)) => {
            let kind = match a.split {
                SplitArg::Random => crate::eval::split::SplitKind::Random,
                SplitArg::Temporal => crate::eval::split::SplitKind::Temporal,
            };
            let params = settings.train.model.clone();
            let report = tokio::task::spawn_blocking(move || {
                crate::eval::evaluate::run_offline(&a.data, kind, a.k, &params, a.seed).map(|r| (r, a.json))
            })
            .await??;
            if report.1 {
                println!("{}", serde_json::to_string_pretty(&report.0)?);
            } else {
                println!("{}", report.0);
            }
            Ok(())
        }
        Some(Command::ImportFactors(a)) => {
            // Both files are valid before the store is touched.
            let files = crate::exchange::import::read_files(&a.users, &a.courses).await?;
            let (trainer, _) = offline_trainer(&settings, Restore::Full).await?;
            let report = crate::exchange::import::publish(&trainer, files).await?;
            println!("model version {} published", report.version);
            println!("{}", serde_json::to_string_pretty(&report)?);
            Ok(())
        }
        Some(Command::ErasureKey) => {
            let store = Store::connect(&settings.database).await?;
            store.migrate().await?;
            let given = crate::store::configured_erasure_key(&settings.database.erasure_key_file)?;
            if given.is_some() {
                anyhow::bail!("the erasure key is already configured outside the store");
            }
            println!("{}", store.resolve_erasure_key(None).await?.to_hex());
            Ok(())
        }
        Some(Command::Train) => {
            let (trainer, live) = offline_trainer(&settings, Restore::TrainingBasis).await?;
            match trainer.run_now().await {
                Some(crate::retrain::Outcome::Published(v)) => {
                    let snap = live.snapshot().expect("just published");
                    println!("model version {v} published");
                    println!(
                        "{}",
                        serde_json::to_string_pretty(&serde_json::json!({
                            "metrics": snap.metrics, "baseline_metrics": snap.baseline_metrics,
                            "training_seconds": snap.training_seconds,
                            "phases": snap.phases,
                        }))?
                    );
                    Ok(())
                }
                Some(crate::retrain::Outcome::Failed(why)) => anyhow::bail!("training failed: {why}"),
                Some(crate::retrain::Outcome::Skipped(why)) => anyhow::bail!("training skipped: {why}"),
                None => anyhow::bail!("a training is already running"),
            }
        }
        Some(Command::ExportInteractions(a)) => {
            let store = Store::connect(&settings.database).await?;
            store.migrate().await?;
            let report = crate::exchange::export(&store, &settings.training(), &a.out).await?;
            println!("{}", serde_json::to_string_pretty(&report)?);
            Ok(())
        }
        Some(Command::ExportRecommendations(a)) => export_recommendations(&settings, a).await,
        Some(Command::Import(args)) => {
            let store = Store::connect(&settings.database).await?;
            store.migrate().await?;
            let cutoff = crate::domain::retention_cutoff_ms(
                crate::domain::now_ms(),
                settings.database.retention_months,
            );
            crate::import::run(&store, &args, cutoff.unwrap_or(0))
                .await
                .map(|_| ())
        }
        None | Some(Command::Serve(_)) => {
            let demo = serve.is_some_and(|s| s.demo);
            let app = Application::build(settings).await?;
            if demo {
                app.load_demo_if_empty().await?;
            }
            app.run_until(shutdown_signal()).await
        }
    }
}

/// How much of the newest persisted model an offline trainer loads.
enum Restore {
    Full,
    /// Only what a training reads of it; a process that trains and exits
    /// need not hold the previous factors while it trains.
    TrainingBasis,
}

/// A trainer outside the service, on the newest persisted model. In a
/// cluster it waits its turn like a replica and tells the replicas about
/// the model it publishes.
async fn offline_trainer(
    settings: &Settings,
    restore: Restore,
) -> anyhow::Result<(crate::retrain::Trainer, std::sync::Arc<crate::serve::Live>)> {
    let store = Store::connect(&settings.database).await?;
    store.migrate().await?;
    let metrics = crate::metrics::Metrics::new();
    let live = std::sync::Arc::new(crate::serve::Live::new());
    let cluster = crate::cluster::Cluster::new(&settings.cluster, &store)?;
    // Erasures made while this process trains are honoured by keyed hash.
    let given = crate::store::configured_erasure_key(&settings.database.erasure_key_file)?;
    live.set_erasure_key(store.resolve_erasure_key(given).await?);
    let trainer = crate::retrain::Trainer::new(settings.training(), store, live.clone(), metrics, cluster);
    match restore {
        Restore::Full => trainer.restore().await?,
        Restore::TrainingBasis => trainer.restore_training_basis().await?,
    };
    Ok((trainer, live))
}

/// `courserec export-recommendations`: the serving path over the persisted
/// model, with the stored rules; no fatigue (impressions are counted by
/// the serving processes, in memory).
async fn export_recommendations(settings: &Settings, a: ExportRecommendationsArgs) -> anyhow::Result<()> {
    use crate::exchange::recommendations::{Format, RowWriter};
    use crate::serve::export::{lists, selected, Selection, CHUNK};
    anyhow::ensure!((1..=100).contains(&a.n), "--n must be from 1 to 100");
    let rfm = match a.rfm.as_deref() {
        Some(r) => Some(
            crate::marketing::rfm::RfmGroup::parse(r)
                .ok_or_else(|| anyhow::anyhow!("--rfm: no group {r:?}"))?,
        ),
        None => None,
    };
    let format = a
        .format
        .unwrap_or(match a.out.extension().and_then(|e| e.to_str()) {
            Some("parquet") => Format::Parquet,
            _ => Format::Csv,
        });
    let started = std::time::Instant::now();
    let (trainer, live) = offline_trainer(settings, Restore::Full).await?;
    let store = trainer.store().clone();
    live.rules
        .set(store.list_rules().await?.into_iter().map(|s| s.rule).collect());
    let snap = live
        .snapshot()
        .ok_or_else(|| anyhow::anyhow!("no model yet: train one first"))?;
    let rows = selected(
        &snap,
        &Selection {
            segment: a.segment,
            rfm,
        },
    );
    let metrics = crate::metrics::Metrics::new();
    let health = crate::store::StoreHealth::default();
    let src = crate::serve::user_view::Sources {
        live: &live,
        store: &store,
        health: &health,
        metrics: &metrics,
        budget: std::time::Duration::from_millis(settings.database.acquire_timeout_ms),
    };
    let q = crate::serve::Query {
        n: a.n,
        ..Default::default()
    };
    let shaping = crate::serve::personal::Shaping {
        exploration: settings.serve.exploration,
        rules: true,
        now_ms: crate::domain::now_ms(),
    };
    let name = a
        .out
        .file_name()
        .ok_or_else(|| anyhow::anyhow!("{} is not a file path", a.out.display()))?;
    let tmp = a
        .out
        .with_file_name(format!(".{}.tmp-{}", name.to_string_lossy(), std::process::id()));
    let result = async {
        let file = std::io::BufWriter::new(std::fs::File::create(&tmp)?);
        let mut w = RowWriter::new(format, file)?;
        let mut written = 0usize;
        for chunk in rows.chunks(CHUNK) {
            let lists = lists(&src, &snap, chunk, &q, shaping, settings.serve.exclude_taken).await;
            written += lists.len();
            w.write(&lists)?;
        }
        let file = w.finish()?.into_inner().map_err(|e| e.into_error())?;
        file.sync_all()?;
        std::fs::rename(&tmp, &a.out)?;
        anyhow::Ok(written)
    }
    .await;
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    let written = result?;
    println!(
        "{}",
        serde_json::json!({
            "path": a.out, "learners": rows.len(), "rows": written,
            "model_version": snap.version, "seconds": started.elapsed().as_secs_f64(),
        })
    );
    Ok(())
}

/// An error and its causes on one line, each cause once: drivers often
/// repeat their source's text in their own ("error returned from database:
/// database \"x\" does not exist"), which `{:#}` would print twice.
pub fn one_line(e: &anyhow::Error) -> String {
    let mut parts: Vec<String> = Vec::new();
    for cause in e.chain() {
        let text = cause.to_string();
        if parts.iter().any(|p| p.contains(&text)) {
            continue;
        }
        parts.push(text);
    }
    parts.join(": ")
}

#[cfg(test)]
mod one_line_tests {
    use super::one_line;

    #[test]
    fn each_cause_is_said_once() {
        let e = anyhow::anyhow!("database \"x\" does not exist")
            .context("error returned from database: database \"x\" does not exist")
            .context("the store refuses this service");
        assert_eq!(
            one_line(&e),
            "the store refuses this service: error returned from database: database \"x\" does not exist"
        );
    }
}
