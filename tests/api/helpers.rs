//! Test harness: the real application on port 0 over a real SQLite file or a
//! fresh Postgres database, and typed helpers to call it.

use std::sync::OnceLock;

use courserec::config::Settings;
use courserec::startup::Application;
use courserec::store::Store;
use reqwest::{Client, Response};
use serde_json::Value;
use tokio::sync::oneshot;

/// Which store a test runs against.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// Postgres server used by the tests; a fresh database is created per test.
pub fn pg_admin_url() -> String {
    std::env::var("COURSEREC_TEST_PG").unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".into())
}

/// `COURSEREC_REQUIRE_PG=1` (set by CI) turns a missing Postgres into a failure
/// instead of a skip.
fn pg_required() -> bool {
    std::env::var("COURSEREC_REQUIRE_PG").is_ok_and(|v| v == "1" || v == "true")
}

/// Creates an empty database and returns its URL, or `None` to skip.
pub async fn fresh_database(backend: Backend, dir: &tempfile::TempDir) -> Option<String> {
    match backend {
        Backend::Sqlite => Some(format!("sqlite://{}", dir.path().join("test.db").display())),
        Backend::Postgres => {
            use sqlx::Connection;
            let admin = pg_admin_url();
            let mut conn = match sqlx::PgConnection::connect(&admin).await {
                Ok(c) => c,
                Err(e) if !pg_required() => {
                    eprintln!("skipping Postgres test: {e} (set COURSEREC_REQUIRE_PG=1 to fail instead)");
                    return None;
                }
                Err(e) => panic!("Postgres is required but unreachable at {admin}: {e}"),
            };
            let name = format!("courserec_test_{}", uuid::Uuid::new_v4().simple());
            sqlx::query(&format!("CREATE DATABASE {name}"))
                .execute(&mut conn)
                .await
                .unwrap();
            let base = admin.rsplit_once('/').map(|(b, _)| b.to_string()).unwrap();
            Some(format!("{base}/{name}"))
        }
    }
}

/// While the full-disk test fills a tablespace the server's checkpoints
/// fail, and `DROP DATABASE` waits for one: drops take this for reading,
/// that test for writing, until its disk has room again.
pub static CHECKPOINTS: tokio::sync::RwLock<()> = tokio::sync::RwLock::const_new(());

pub struct TestApp {
    pub addr: String,
    pub db_url: String,
    pub client: Client,
    pub store: Store,
    pub state: courserec::http::AppState,
    pub key: Option<String>,
    pg_database: Option<String>,
    stop: Option<oneshot::Sender<()>>,
    server: Option<tokio::task::JoinHandle<anyhow::Result<()>>>,
    _dir: tempfile::TempDir,
}

fn init_logs() {
    static ONCE: OnceLock<()> = OnceLock::new();
    ONCE.get_or_init(|| {
        if std::env::var("TEST_LOG").is_ok() {
            courserec::telemetry::init(&Settings::defaults().log);
        }
    });
}

/// Starts the app with the defaults changed by `tweak`; `None` when the backend
/// is unavailable and not required.
pub async fn spawn_app_with(backend: Backend, tweak: impl FnOnce(&mut Settings)) -> Option<TestApp> {
    init_logs();
    let dir = tempfile::tempdir().unwrap();
    let url = fresh_database(backend, &dir).await?;
    Some(spawn_on(url, dir, true, tweak).await)
}

/// A second app on `of`'s database, as another replica would run; the
/// database stays `of`'s to drop.
pub async fn spawn_replica(of: &TestApp, tweak: impl FnOnce(&mut Settings)) -> TestApp {
    spawn_on(of.db_url.clone(), tempfile::tempdir().unwrap(), false, tweak).await
}

async fn spawn_on(
    url: String,
    dir: tempfile::TempDir,
    owns_database: bool,
    tweak: impl FnOnce(&mut Settings),
) -> TestApp {
    let mut settings = Settings::defaults();
    settings.server.listen = "127.0.0.1:0".into();
    settings.database.url = url;
    // Tests train when they choose to; a background run could race them.
    settings.train.enabled = false;
    tweak(&mut settings);
    let key = settings.auth.keys.first().map(|k| k.key.clone());
    let settings_url = settings.database.url.clone();
    let app = Application::build(settings).await.expect("app builds");
    let store = app.state().store.clone();
    let state = app.state().clone();
    let db_url = settings_url;
    // From the URL, not a query: the database may be unreachable (outage tests).
    let pg_database = match &store {
        Store::Postgres(_) if owns_database => db_url.rsplit('/').next().map(str::to_string),
        _ => None,
    };
    let addr = format!("http://127.0.0.1:{}", app.port());
    let (stop, stopped) = oneshot::channel::<()>();
    let server = tokio::spawn(app.run_until(async {
        let _ = stopped.await;
    }));
    TestApp {
        addr,
        db_url,
        // Connections are pooled, as real clients do. The server closes a
        // keep-alive connection idle for header_read_timeout_ms (10 s); a
        // client reusing one that long idle could race the close, so pooled
        // connections are dropped sooner, as a real client's should be.
        // (Answers given before the request body was read used to be sent as
        // keep-alive and followed by a close, an EPIPE on the next request;
        // the server now reads such bodies or says `Connection: close`.)
        client: Client::builder()
            .pool_idle_timeout(std::time::Duration::from_secs(5))
            .build()
            .expect("an HTTP client"),
        store,
        state,
        key,
        pg_database,
        stop: Some(stop),
        server: Some(server),
        _dir: dir,
    }
}

/// Starts the app on `url` (a database `fresh_database` made, reached some
/// other way, e.g. through a proxy); the test owns and drops it.
pub async fn spawn_app_on(url: String, dir: tempfile::TempDir, tweak: impl FnOnce(&mut Settings)) -> TestApp {
    init_logs();
    spawn_on(url, dir, true, tweak).await
}

pub async fn spawn_app(backend: Backend) -> Option<TestApp> {
    spawn_app_with(backend, |_| {}).await
}

impl TestApp {
    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.addr, path)
    }

    fn auth(&self, rb: reqwest::RequestBuilder) -> reqwest::RequestBuilder {
        match &self.key {
            Some(k) => rb.bearer_auth(k),
            None => rb,
        }
    }

    pub async fn post_json(&self, path: &str, body: &Value) -> Response {
        self.auth(self.client.post(self.url(path)).json(body))
            .send()
            .await
            .unwrap()
    }

    pub async fn put_json(&self, path: &str, body: &Value) -> Response {
        self.auth(self.client.put(self.url(path)).json(body))
            .send()
            .await
            .unwrap()
    }

    pub async fn get(&self, path: &str) -> Response {
        self.auth(self.client.get(self.url(path))).send().await.unwrap()
    }

    pub async fn delete(&self, path: &str) -> Response {
        self.auth(self.client.delete(self.url(path)))
            .send()
            .await
            .unwrap()
    }

    /// GET that must succeed; returns the JSON body.
    pub async fn get_ok(&self, path: &str) -> Value {
        let r = self.get(path).await;
        let status = r.status();
        let body: Value = r.json().await.unwrap();
        assert!(status.is_success(), "GET {path} -> {status}: {body}");
        body
    }

    /// Loads generated demo data straight into the store.
    pub async fn load(&self, data: &courserec::demo::DemoData) {
        self.store.upsert_courses(&data.courses).await.unwrap();
        self.store.put_users(&data.users).await.unwrap();
        for chunk in data.events.chunks(50_000) {
            self.store.bulk_insert_events(chunk).await.unwrap();
        }
    }

    /// Also stores the demo's past campaigns and the purchases they caused.
    pub async fn load_campaigns(&self, data: &courserec::demo::DemoData) {
        courserec::startup::load_demo_campaigns(&self.store, &data.campaigns, &data.courses)
            .await
            .unwrap();
    }

    /// Waits until no training is running (bounded).
    pub async fn wait_for_training(&self) {
        for _ in 0..600 {
            if !self.state.trainer.is_running() {
                return;
            }
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
        panic!("training did not finish in 60 s");
    }

    pub async fn event_count(&self) -> i64 {
        self.store.count_events().await.unwrap()
    }

    /// Stops the server gracefully and waits for it.
    /// Stops the server (the store stays as it is).
    async fn shut_down(&mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
        if let Some(h) = self.server.take() {
            h.await.unwrap().unwrap();
        }
    }

    /// Stops this app and starts a new one on the same store (database and
    /// directory), as a restart of the process would.
    pub async fn restart(mut self, tweak: impl FnOnce(&mut Settings)) -> TestApp {
        self.shut_down().await;
        spawn_app_on(self.db_url.clone(), self._dir, tweak).await
    }

    pub async fn stop(mut self) {
        self.shut_down().await;
        // Drop the per-test Postgres database so repeated runs leave nothing behind.
        if let Some(name) = &self.pg_database {
            use sqlx::Connection;
            let _checkpoints_work = CHECKPOINTS.read().await;
            let mut conn = sqlx::PgConnection::connect(&pg_admin_url()).await.unwrap();
            sqlx::query(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                .execute(&mut conn)
                .await
                .unwrap();
        }
    }
}

/// A training held inside its fit (after it read the store) until
/// [`HeldTraining::release`]: what happens meanwhile is what a slow
/// training would meet.
pub struct HeldTraining {
    run: tokio::task::JoinHandle<Option<courserec::retrain::Outcome>>,
    go: std::sync::mpsc::Sender<()>,
}

impl TestApp {
    /// Starts a training and returns once it has read the store.
    pub async fn hold_training(&self) -> HeldTraining {
        let (reached, at_fit) = std::sync::mpsc::channel::<()>();
        let (go, wait) = std::sync::mpsc::channel::<()>();
        let trainer = self.state.trainer.clone();
        let run = tokio::spawn(async move {
            trainer
                .run_now_with(Box::new(move |input, settings, previous| {
                    reached.send(()).unwrap();
                    wait.recv().unwrap();
                    courserec::retrain::pipeline::train(input, settings, previous)
                }))
                .await
        });
        tokio::task::spawn_blocking(move || at_fit.recv().unwrap())
            .await
            .unwrap();
        HeldTraining { run, go }
    }
}

impl HeldTraining {
    /// Lets the training finish; its outcome.
    pub async fn release(self) -> Option<courserec::retrain::Outcome> {
        self.go.send(()).unwrap();
        self.run.await.unwrap()
    }
}

/// The `course_id`s of a list response, in order.
pub fn course_ids(body: &Value) -> Vec<String> {
    body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["course_id"].as_str().unwrap().to_string())
        .collect()
}

/// The `field` of every entry in an error's `details`, in order.
pub fn error_fields(body: &Value) -> Vec<String> {
    body["error"]["details"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["field"].as_str().unwrap().to_string())
        .collect()
}

/// Runs an async test body once per backend as two `#[tokio::test]`s.
#[macro_export]
macro_rules! both_backends {
    ($name:ident, $body:path) => {
        mod $name {
            use super::*;
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn on_sqlite() {
                if let Some(app) = $crate::helpers::spawn_app($crate::helpers::Backend::Sqlite).await {
                    $body(app).await;
                }
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn on_postgres() {
                if let Some(app) = $crate::helpers::spawn_app($crate::helpers::Backend::Postgres).await {
                    $body(app).await;
                }
            }
        }
    };
}
