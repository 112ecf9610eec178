//! Test harness: runs the real `posture-collector` binary on 127.0.0.1 against a fresh SQLite
//! file or a fresh PostgreSQL database, and talks to it over HTTP.

#![allow(dead_code, unreachable_pub)]
// Skip notices go to stderr, where the test runner shows them.
#![allow(clippy::print_stderr)]

pub mod report;

use std::io::{BufRead as _, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use serde_json::Value;

/// Environment variable with the URL of a PostgreSQL database the tests may use to create and
/// drop their own databases.
pub const ENV_POSTGRES_URL: &str = "POSTURE_TEST_POSTGRES_URL";

/// The collector binary under test.
pub const BIN: &str = env!("CARGO_BIN_EXE_posture-collector");

/// Another collector binary for the load benchmark to run instead of [`BIN`], to compare builds
/// with the same load (an older one prints its first-start secrets and takes neither
/// `--state-dir` nor `--metrics-token-file`). Tests never set it.
pub const ENV_BENCH_BIN: &str = "POSTURE_BENCH_BIN";

/// A database a test collector uses, removed when the test ends.
pub enum TestDb {
    /// A SQLite file in a temporary directory.
    Sqlite {
        /// Keeps the directory alive.
        dir: tempfile::TempDir,
        /// `sqlite:PATH`.
        url: String,
    },
    /// A database created for this test on the server named by `POSTURE_TEST_POSTGRES_URL`.
    Postgres {
        /// URL of the test database.
        url: String,
        /// URL to connect to for dropping it.
        admin_url: String,
        /// Its name.
        name: String,
    },
}

impl TestDb {
    /// A fresh SQLite database.
    pub fn sqlite() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite:{}", dir.path().join("collector.db").display());
        Self::Sqlite { dir, url }
    }

    /// A fresh PostgreSQL database. Panics when `POSTURE_TEST_POSTGRES_URL` is not set: the
    /// PostgreSQL variants are marked ignored at build time when it is missing (see build.rs),
    /// except under `CI=true`, where a missing database must fail.
    pub async fn postgres(test: &str) -> Self {
        let admin_url = std::env::var(ENV_POSTGRES_URL).unwrap_or_else(|_| {
            panic!(
                "{ENV_POSTGRES_URL} is not set: the PostgreSQL variant of {test} cannot run \
                 (run scripts/start-postgres.sh and export the URL it prints)"
            )
        });
        use sqlx::Connection as _;
        let mut conn = sqlx::PgConnection::connect(&admin_url)
            .await
            .unwrap_or_else(|e| panic!("cannot connect to {ENV_POSTGRES_URL}: {e}"));
        let name = format!("posture_t_{}", uuid::Uuid::now_v7().simple());
        sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
            .execute(&mut conn)
            .await
            .unwrap();
        let base = admin_url
            .rsplit_once('/')
            .map(|(b, _)| b.to_owned())
            .unwrap();
        Self::Postgres {
            url: format!("{base}/{name}"),
            admin_url,
            name,
        }
    }

    /// The URL to give `--database`.
    pub fn url(&self) -> &str {
        match self {
            Self::Sqlite { url, .. } | Self::Postgres { url, .. } => url,
        }
    }

    /// Drops a PostgreSQL test database (stop its collectors first).
    pub async fn cleanup(self) {
        if let Self::Postgres {
            admin_url, name, ..
        } = self
        {
            use sqlx::Connection as _;
            if let Ok(mut conn) = sqlx::PgConnection::connect(&admin_url).await {
                let _ = sqlx::query(sqlx::AssertSqlSafe(format!(
                    "DROP DATABASE IF EXISTS {name} WITH (FORCE)"
                )))
                .execute(&mut conn)
                .await;
            }
        }
    }
}

/// A running collector process.
pub struct Collector {
    child: Child,
    /// `http://127.0.0.1:PORT`.
    pub base: String,
    /// The admin token.
    pub admin_token: String,
    /// The enrollment secret.
    pub enroll_secret: String,
    /// HTTP client.
    pub http: reqwest::Client,
    /// The token `/metrics` takes.
    pub metrics_token: String,
    /// The process id.
    pub pid: u32,
    /// State directory (first-start secrets file, metrics token file).
    pub state: tempfile::TempDir,
    /// What it printed on standard output up to and including the listening line.
    pub startup_lines: Vec<String>,
    stdout_rest: std::sync::Mutex<mpsc::Receiver<String>>,
}

/// The token the test collectors' `/metrics` takes.
pub const METRICS_TOKEN: &str = "test-metrics-token-0123456789";

/// Reads `admin token: …` and `enrollment secret: …` lines.
pub fn parse_secrets(text: &str) -> (Option<String>, Option<String>) {
    let mut admin = None;
    let mut enroll = None;
    for line in text.lines() {
        if let Some(t) = line.trim().strip_prefix("admin token: ") {
            admin = Some(t.to_owned());
        } else if let Some(s) = line.trim().strip_prefix("enrollment secret: ") {
            enroll = Some(s.to_owned());
        }
    }
    (admin, enroll)
}

/// Secrets printed at first start, to reuse after a restart.
#[derive(Clone, Debug)]
pub struct Secrets {
    /// Admin token.
    pub admin_token: String,
    /// Enrollment secret.
    pub enroll_secret: String,
}

pub fn http_client() -> reqwest::Client {
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::builder()
        .timeout(Duration::from_secs(60))
        .pool_max_idle_per_host(64)
        .build()
        .unwrap()
}

impl Collector {
    /// Starts a collector on a fresh database and reads the secrets it prints.
    pub fn start(db: &TestDb) -> Self {
        Self::start_with(db, &[], None)
    }

    /// Starts a collector with extra `serve` arguments; `secrets` when the database already has
    /// them (a restart).
    pub fn start_with(db: &TestDb, extra: &[&str], secrets: Option<Secrets>) -> Self {
        Self::start_full(db, extra, secrets, "warn", Stdio::inherit())
    }

    /// Starts a collector with a log filter and somewhere for its standard error.
    pub fn start_full(
        db: &TestDb,
        extra: &[&str],
        secrets: Option<Secrets>,
        log: &str,
        stderr: Stdio,
    ) -> Self {
        let state = tempfile::tempdir().unwrap();
        let token_file = state.path().join("metrics-token");
        std::fs::write(&token_file, METRICS_TOKEN).unwrap();
        // The load benchmark may run another build (see `ENV_BENCH_BIN`); tests never set it.
        let other = std::env::var_os(ENV_BENCH_BIN);
        let mut command = Command::new(other.clone().unwrap_or_else(|| BIN.into()));
        command.args(["serve", "--listen", "127.0.0.1:0", "--database", db.url()]);
        if other.is_some() {
            // An older collector knows neither option; it ignores their environment variables.
            command
                .env("POSTURE_COLLECTOR_STATE_DIR", state.path())
                .env("POSTURE_COLLECTOR_METRICS_TOKEN_FILE", &token_file);
        } else {
            command
                .arg("--state-dir")
                .arg(state.path())
                .arg("--metrics-token-file")
                .arg(&token_file);
        }
        command
            .args(extra)
            .env_remove("POSTURE_COLLECTOR_DATABASE")
            .env_remove("POSTURE_COLLECTOR_LISTEN")
            .env("POSTURE_COLLECTOR_LOG", log)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(stderr);
        let mut child = command.spawn().expect("spawn posture-collector");
        let stdout = child.stdout.take().unwrap();
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let mut admin_token = secrets.as_ref().map(|s| s.admin_token.clone());
        let mut enroll_secret = secrets.as_ref().map(|s| s.enroll_secret.clone());
        let mut startup_lines = Vec::new();
        let base = loop {
            let line = match rx.recv_timeout(Duration::from_secs(120)) {
                Ok(line) => line,
                Err(_) => {
                    let _ = child.kill();
                    panic!("the collector did not report a listening address");
                }
            };
            startup_lines.push(line.clone());
            if line.starts_with("First start: wrote") {
                // The secrets are in the state directory's file, never on stdout.
                let text =
                    std::fs::read_to_string(state.path().join("initial-secrets.txt")).unwrap();
                let (admin, enroll) = parse_secrets(&text);
                admin_token = admin.or(admin_token);
                enroll_secret = enroll.or(enroll_secret);
            } else if other.is_some() && parse_secrets(&line) != (None, None) {
                // An older collector printed its first-start secrets on standard output.
                let (admin, enroll) = parse_secrets(&line);
                admin_token = admin.or(admin_token);
                enroll_secret = enroll.or(enroll_secret);
            } else if let Some(addr) = line.strip_prefix("posture-collector listening on ") {
                break addr.trim().to_owned();
            }
        };
        let pid = child.id();
        Self {
            child,
            base,
            admin_token: admin_token.expect("admin token printed on first start"),
            enroll_secret: enroll_secret.expect("enrollment secret printed on first start"),
            http: http_client(),
            metrics_token: METRICS_TOKEN.to_owned(),
            pid,
            state,
            startup_lines,
            stdout_rest: std::sync::Mutex::new(rx),
        }
    }

    /// The secrets, to restart on the same database.
    pub fn secrets(&self) -> Secrets {
        Secrets {
            admin_token: self.admin_token.clone(),
            enroll_secret: self.enroll_secret.clone(),
        }
    }

    /// `base` + `path`.
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// Lines the collector printed on standard output since it started listening.
    pub fn stdout_lines(&self) -> Vec<String> {
        let mut lines = Vec::new();
        if let Ok(rx) = self.stdout_rest.lock() {
            while let Ok(line) = rx.try_recv() {
                lines.push(line);
            }
        }
        lines
    }

    /// Kills the process with SIGKILL, as a crash would.
    pub fn kill(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Enrolls a device; returns (device id, device token).
    pub async fn enroll(&self, machine_id: &str, hostname: &str) -> (String, String) {
        let (status, body) = self
            .post_json(
                "/api/v1/enroll",
                None,
                &serde_json::json!({
                    "enroll_secret": self.enroll_secret,
                    "hostname": hostname,
                    "machine_id": machine_id,
                    "platform": "linux",
                    "agent_version": "0.1.0",
                }),
            )
            .await;
        assert_eq!(status, 200, "enroll: {body}");
        (
            body["device_id"].as_str().unwrap().to_owned(),
            body["device_token"].as_str().unwrap().to_owned(),
        )
    }

    /// POSTs raw bytes with an optional bearer token; returns status and JSON body (or Null).
    pub async fn post_raw(&self, path: &str, token: Option<&str>, body: Vec<u8>) -> (u16, Value) {
        let mut request = self
            .http
            .post(self.url(path))
            .header("content-type", "application/json")
            .body(body);
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        let response = request.send().await.unwrap();
        let status = response.status().as_u16();
        let bytes = response.bytes().await.unwrap();
        (
            status,
            serde_json::from_slice(&bytes).unwrap_or(Value::Null),
        )
    }

    /// POSTs JSON.
    pub async fn post_json(&self, path: &str, token: Option<&str>, body: &Value) -> (u16, Value) {
        self.post_raw(path, token, serde_json::to_vec(body).unwrap())
            .await
    }

    /// POSTs a report with a device token.
    pub async fn post_report(&self, token: &str, report: &posture_schema::Report) -> (u16, Value) {
        self.post_raw(
            "/api/v1/reports",
            Some(token),
            serde_json::to_vec(report).unwrap(),
        )
        .await
    }

    /// GETs with an optional bearer token; returns status and body text.
    pub async fn get_text(&self, path: &str, token: Option<&str>) -> (u16, String) {
        let mut request = self.http.get(self.url(path));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        let response = request.send().await.unwrap();
        let status = response.status().as_u16();
        (status, response.text().await.unwrap())
    }

    /// GETs JSON as the administrator.
    pub async fn admin_get(&self, path: &str) -> Value {
        let (status, text) = self.get_text(path, Some(&self.admin_token)).await;
        assert_eq!(status, 200, "GET {path}: {text}");
        serde_json::from_str(&text).unwrap()
    }

    /// Sends a request with the admin token and a JSON body.
    pub async fn admin_send(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Value,
    ) -> (u16, Value) {
        let response = self
            .http
            .request(method, self.url(path))
            .bearer_auth(&self.admin_token)
            .header("content-type", "application/json")
            .body(serde_json::to_vec(&body).unwrap())
            .send()
            .await
            .unwrap();
        let status = response.status().as_u16();
        let bytes = response.bytes().await.unwrap();
        (
            status,
            serde_json::from_slice(&bytes).unwrap_or(Value::Null),
        )
    }
}

impl Drop for Collector {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if let Ok(rx) = self.stdout_rest.lock() {
            while rx.try_recv().is_ok() {}
        }
    }
}

/// Lets tests send HTML forms (`application/x-www-form-urlencoded`) without reqwest's `form`
/// feature.
pub trait FormExt {
    /// Sets the body to the encoded pairs.
    fn form_pairs(self, pairs: &[(&str, &str)]) -> Self;
}

impl FormExt for reqwest::RequestBuilder {
    fn form_pairs(self, pairs: &[(&str, &str)]) -> Self {
        let encode = |s: &str| -> String {
            s.bytes()
                .map(|b| {
                    if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
                        char::from(b).to_string()
                    } else {
                        format!("%{b:02X}")
                    }
                })
                .collect()
        };
        let body = pairs
            .iter()
            .map(|(k, v)| format!("{}={}", encode(k), encode(v)))
            .collect::<Vec<_>>()
            .join("&");
        self.header("content-type", "application/x-www-form-urlencoded")
            .body(body)
    }
}

/// Runs an async test body against SQLite and, when configured, PostgreSQL.
#[macro_export]
macro_rules! on_both_databases {
    ($body:ident) => {
        mod $body {
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn on_sqlite() {
                let db = $crate::support::TestDb::sqlite();
                super::$body(&db).await;
                db.cleanup().await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            #[cfg_attr(
                posture_skip_postgres,
                ignore = "needs PostgreSQL: run scripts/start-postgres.sh and export POSTURE_TEST_POSTGRES_URL"
            )]
            async fn on_postgres() {
                let db = $crate::support::TestDb::postgres(stringify!($body)).await;
                super::$body(&db).await;
                db.cleanup().await;
            }
        }
    };
}
