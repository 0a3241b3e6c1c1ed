//! A headless Chromium driven over the W3C WebDriver protocol: chromedriver
//! on a free port, a fresh profile per browser, and the few commands the
//! console tests use. Plain JSON over the reqwest client the tests already
//! have; the browser's console log is read through chromedriver's log
//! endpoint, which the WebDriver crates do not expose.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use reqwest::Client;
use serde_json::{json, Value};

const ELEMENT: &str = "element-6066-11e4-a52e-4f735466cecf";

/// `COURSEREC_REQUIRE_BROWSER=1` (set by CI) turns a missing browser into a
/// failure instead of a skip.
fn browser_required() -> bool {
    std::env::var("COURSEREC_REQUIRE_BROWSER").is_ok_and(|v| v == "1" || v == "true")
}

fn tool(var: &str, default: &str) -> String {
    std::env::var(var).unwrap_or_else(|_| default.to_string())
}

pub struct Browser {
    http: Client,
    session: String,
    driver: Child,
    browser_pid: Option<u64>,
    closed: bool,
    downloads: PathBuf,
    _profile: tempfile::TempDir,
}

impl Browser {
    /// Starts chromedriver and a headless Chromium at `width`×`height`;
    /// `None` (with a note) when they are not installed and not required.
    pub async fn start(width: u32, height: u32) -> Option<Browser> {
        let chromium = tool("COURSEREC_CHROMIUM", "/usr/bin/chromium");
        let driver_bin = tool("COURSEREC_CHROMEDRIVER", "/usr/bin/chromedriver");
        if !Path::new(&chromium).exists() || !Path::new(&driver_bin).exists() {
            let msg = format!("no browser: {chromium} or {driver_bin} is missing (apt-get install chromium chromium-driver)");
            assert!(!browser_required(), "COURSEREC_REQUIRE_BROWSER is set but {msg}");
            eprintln!("skipping browser test: {msg}");
            return None;
        }
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let driver = Command::new(&driver_bin)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("chromedriver starts");
        let http = Client::new();
        let base = format!("http://127.0.0.1:{port}");
        let started = Instant::now();
        while http.get(format!("{base}/status")).send().await.is_err() {
            assert!(
                started.elapsed() < Duration::from_secs(20),
                "chromedriver did not come up"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let profile = tempfile::tempdir().unwrap();
        let downloads = profile.path().join("downloads");
        std::fs::create_dir_all(&downloads).unwrap();
        // Without these a headless Chromium in a closed network stalls on
        // background fetches; as root it needs --no-sandbox.
        let args = [
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--disable-dev-shm-usage",
        ]
        .iter()
        .map(|s| s.to_string())
        .chain([
            format!("--user-data-dir={}", profile.path().display()),
            format!("--window-size={width},{height}"),
        ])
        .collect::<Vec<_>>();
        let caps = json!({"capabilities": {"alwaysMatch": {
            "browserName": "chrome",
            "goog:chromeOptions": {"binary": chromium, "args": args, "prefs": {
                "download.default_directory": downloads.display().to_string(),
                "download.prompt_for_download": false,
            }},
            "goog:loggingPrefs": {"browser": "ALL"},
        }}});
        let r: Value = http
            .post(format!("{base}/session"))
            .json(&caps)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let v = &r["value"];
        let id = v["sessionId"]
            .as_str()
            .unwrap_or_else(|| panic!("no session: {r}"));
        Some(Browser {
            http,
            session: format!("{base}/session/{id}"),
            driver,
            browser_pid: v["capabilities"]["goog:processID"].as_u64(),
            closed: false,
            downloads,
            _profile: profile,
        })
    }

    async fn cmd(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> Value {
        let url = format!("{}{path}", self.session);
        let mut rb = self.http.request(method.clone(), &url);
        if let Some(b) = body {
            rb = rb.json(&b);
        }
        let r = rb.send().await.unwrap();
        let status = r.status();
        let v: Value = r.json().await.unwrap();
        assert!(
            status.is_success(),
            "{method} {path} -> {status}: {}",
            v["value"]["message"]
        );
        v["value"].clone()
    }

    pub async fn goto(&self, url: &str) {
        self.cmd(reqwest::Method::POST, "/url", Some(json!({ "url": url })))
            .await;
    }

    /// Resizes the window (desktop and phone screenshots).
    pub async fn set_size(&self, width: u32, height: u32) {
        self.cmd(
            reqwest::Method::POST,
            "/window/rect",
            Some(json!({"width": width, "height": height})),
        )
        .await;
    }

    /// Runs `script` (a function body; `arguments` are `args`) in the page.
    pub async fn eval(&self, script: &str, args: Value) -> Value {
        self.cmd(
            reqwest::Method::POST,
            "/execute/sync",
            Some(json!({"script": script, "args": args})),
        )
        .await
    }

    /// Waits up to 15 s for `css` to match; its element reference.
    pub async fn wait_for(&self, css: &str) -> String {
        let started = Instant::now();
        loop {
            let body = json!({"using": "css selector", "value": css});
            let r = self
                .http
                .post(format!("{}/element", self.session))
                .json(&body)
                .send()
                .await
                .unwrap();
            if r.status().is_success() {
                let v: Value = r.json().await.unwrap();
                return v["value"][ELEMENT].as_str().unwrap().to_string();
            }
            assert!(
                started.elapsed() < Duration::from_secs(15),
                "{css} never appeared"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Waits up to 15 s for `script` (a function body) to return true.
    pub async fn wait_until(&self, script: &str) {
        let started = Instant::now();
        while self.eval(script, json!([])).await != json!(true) {
            assert!(
                started.elapsed() < Duration::from_secs(15),
                "never true: {script}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// The rendered text of the first match of `css`.
    pub async fn text(&self, css: &str) -> String {
        let el = self.wait_for(css).await;
        self.cmd(reqwest::Method::GET, &format!("/element/{el}/text"), None)
            .await
            .as_str()
            .unwrap_or_default()
            .to_string()
    }

    /// A real click (pointer events at the element's centre).
    pub async fn click(&self, css: &str) {
        let el = self.wait_for(css).await;
        self.cmd(
            reqwest::Method::POST,
            &format!("/element/{el}/click"),
            Some(json!({})),
        )
        .await;
    }

    /// Types `text` into the field, as keystrokes.
    pub async fn type_into(&self, css: &str, text: &str) {
        let el = self.wait_for(css).await;
        self.cmd(
            reqwest::Method::POST,
            &format!("/element/{el}/clear"),
            Some(json!({})),
        )
        .await;
        self.cmd(
            reqwest::Method::POST,
            &format!("/element/{el}/value"),
            Some(json!({ "text": text })),
        )
        .await;
    }

    /// Waits up to 15 s for the browser to finish downloading `name` into
    /// this browser's own download folder; its bytes.
    pub async fn downloaded(&self, name: &str) -> Vec<u8> {
        let path = self.downloads.join(name);
        let partial = self.downloads.join(format!("{name}.crdownload"));
        let started = Instant::now();
        while !path.exists() || partial.exists() {
            assert!(
                started.elapsed() < Duration::from_secs(15),
                "{name} was never downloaded; the folder has {:?}",
                std::fs::read_dir(&self.downloads)
                    .map(|d| d
                        .filter_map(|e| e.ok())
                        .map(|e| e.file_name())
                        .collect::<Vec<_>>())
                    .unwrap_or_default()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        std::fs::read(&path).unwrap()
    }

    /// Saves a PNG of the viewport.
    pub async fn screenshot(&self, path: &Path) {
        use base64::Engine;
        let b64 = self.cmd(reqwest::Method::GET, "/screenshot", None).await;
        let png = base64::engine::general_purpose::STANDARD
            .decode(b64.as_str().unwrap())
            .unwrap();
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, png).unwrap();
    }

    /// Console entries at SEVERE level since the last call (errors, failed
    /// loads, CSP violations).
    pub async fn errors(&self) -> Vec<String> {
        let log = self
            .cmd(reqwest::Method::POST, "/se/log", Some(json!({"type": "browser"})))
            .await;
        log.as_array()
            .unwrap()
            .iter()
            .filter(|e| e["level"] == "SEVERE")
            .map(|e| e["message"].as_str().unwrap_or_default().to_string())
            .collect()
    }

    pub async fn quit(mut self) {
        self.cmd(reqwest::Method::DELETE, "", None).await;
        self.closed = true;
    }
}

impl Drop for Browser {
    /// A failed test leaves no browser behind.
    fn drop(&mut self) {
        if !self.closed {
            if let Some(pid) = self.browser_pid {
                let _ = Command::new("kill").arg(pid.to_string()).status();
            }
        }
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}
