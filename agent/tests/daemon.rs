//! `posture run` as a process: SIGTERM, SIGKILL while spooling and while sending, restart.
//!
//! Checks replay a recorded evidence bundle so they are fast and deterministic; the endpoint is
//! an axum server on 127.0.0.1 inside the test. Every wait is bounded.
//!
//! Unix only: the daemon is stopped with SIGTERM. On Windows it runs as a service and the service
//! control manager's Stop takes that path instead.

#![cfg(unix)]

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::State;
use axum::routing::{get, post};

fn bundle() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/fixtures/macos/filevault_on.json")
}

#[derive(Clone, Default)]
struct Server {
    received: Arc<Mutex<Vec<String>>>,
    attempts: Arc<Mutex<usize>>,
    delay: Arc<Mutex<Duration>>,
}

impl Server {
    /// Starts on its own thread and runtime; returns the port.
    fn start(&self) -> u16 {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let port = listener.local_addr().unwrap().port();
        let app = Router::new()
            .route("/api/v1/reports", post(receive))
            .route(
                "/api/v1/agent/checkin",
                get(|| async { axum::Json(serde_json::json!({"check_now": false})) }),
            )
            .with_state(self.clone());
        std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(async move {
                let listener = tokio::net::TcpListener::from_std(listener).unwrap();
                let _ = axum::serve(listener, app).await;
            });
        });
        port
    }

    fn ids(&self) -> Vec<String> {
        self.received.lock().unwrap().clone()
    }
}

async fn receive(
    State(s): State<Server>,
    body: axum::body::Bytes,
) -> axum::Json<serde_json::Value> {
    *s.attempts.lock().unwrap() += 1;
    let delay = *s.delay.lock().unwrap();
    tokio::time::sleep(delay).await;
    let value: serde_json::Value = serde_json::from_slice(&body).unwrap();
    let id = value["report_id"].as_str().unwrap().to_owned();
    s.received.lock().unwrap().push(id.clone());
    axum::Json(serde_json::json!({"report_id": id, "duplicate": false, "check_now": false}))
}

struct Agent {
    dir: tempfile::TempDir,
}

impl Agent {
    fn new() -> Self {
        Self {
            dir: tempfile::tempdir().unwrap(),
        }
    }

    fn state(&self) -> PathBuf {
        self.dir.path().join("state")
    }

    fn spawn(&self, port: u16, interval: &str) -> Child {
        Command::new(env!("CARGO_BIN_EXE_posture"))
            .args(["run", "--replay"])
            .arg(bundle())
            .env_clear()
            .env("PATH", "/usr/bin:/bin")
            .env("NO_COLOR", "1")
            .env("POSTURE_CONFIG_DIR", self.dir.path().join("etc"))
            .env("POSTURE_STATE_DIR", self.state())
            .env("POSTURE_ENDPOINT", format!("http://127.0.0.1:{port}"))
            .env("POSTURE_INTERVAL", interval)
            .env("POSTURE_CHECKIN_INTERVAL", "1h")
            .env("POSTURE_RETRY_MAX_DELAY", "1s")
            .env("POSTURE_REQUEST_TIMEOUT", "10s")
            .env("POSTURE_LOG_FORMAT", "json")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap()
    }

    /// Report ids of the whole entries in the spool; panics on a torn or corrupt one.
    fn spooled(&self) -> Vec<String> {
        let dir = self.state().join("spool");
        let Ok(items) = fs_err::read_dir(&dir) else {
            return vec![];
        };
        let mut names: Vec<PathBuf> = items
            .map(|e| e.unwrap().path())
            .filter(|p| p.extension().is_some_and(|e| e == "json"))
            .collect();
        names.sort();
        names
            .iter()
            .filter_map(|p| {
                // Delivered (and removed) between listing and reading.
                let bytes = fs_err::read(p).ok()?;
                let report: posture_schema::Report = serde_json::from_slice(&bytes)
                    .unwrap_or_else(|e| panic!("{} is not a whole report: {e}", p.display()));
                Some(report.report_id)
            })
            .collect()
    }

    fn corrupt_dir_exists(&self) -> bool {
        self.state().join("spool/corrupt").exists()
    }
}

fn wait_until(limit: Duration, mut cond: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + limit;
    while Instant::now() < deadline {
        if cond() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    cond()
}

fn wait_exit(child: &mut Child, limit: Duration) -> Option<std::process::ExitStatus> {
    let deadline = Instant::now() + limit;
    while Instant::now() < deadline {
        if let Some(status) = child.try_wait().unwrap() {
            return Some(status);
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    None
}

fn sigterm(child: &Child) {
    let pid = rustix::process::Pid::from_raw(i32::try_from(child.id()).unwrap()).unwrap();
    rustix::process::kill_process(pid, rustix::process::Signal::TERM).unwrap();
}

/// A port where nothing listens.
fn dead_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

#[test]
fn sigterm_stops_the_daemon_within_a_few_seconds_even_while_delivery_is_failing() {
    let agent = Agent::new();
    let mut child = agent.spawn(dead_port(), "1h");
    assert!(wait_until(Duration::from_secs(20), || !agent
        .spooled()
        .is_empty()));
    let started = Instant::now();
    sigterm(&child);
    let status = wait_exit(&mut child, Duration::from_secs(5));
    let Some(status) = status else {
        let _ = child.kill();
        panic!("posture run did not stop within 5 s of SIGTERM");
    };
    assert!(status.success(), "{status:?}");
    assert!(started.elapsed() < Duration::from_secs(5));
    assert_eq!(
        agent.spooled().len(),
        1,
        "the undelivered report stays spooled"
    );
}

#[test]
fn killed_while_sending_then_restarted_loses_nothing() {
    let server = Server::default();
    *server.delay.lock().unwrap() = Duration::from_secs(3);
    let port = server.start();
    let agent = Agent::new();
    let mut child = agent.spawn(port, "1h");
    // The first report is in flight: the server has it but has not answered.
    assert!(wait_until(Duration::from_secs(20), || *server
        .attempts
        .lock()
        .unwrap()
        >= 1));
    let at_kill = agent.spooled();
    child.kill().unwrap();
    let _ = child.wait();
    assert_eq!(at_kill.len(), 1);

    *server.delay.lock().unwrap() = Duration::ZERO;
    let mut child = agent.spawn(port, "1h");
    let delivered = wait_until(Duration::from_secs(20), || {
        let got: HashSet<String> = server.ids().into_iter().collect();
        at_kill.iter().all(|id| got.contains(id)) && agent.spooled().is_empty()
    });
    sigterm(&child);
    let _ = wait_exit(&mut child, Duration::from_secs(5)).or_else(|| {
        let _ = child.kill();
        None
    });
    assert!(
        delivered,
        "spooled at kill: {at_kill:?}, received: {:?}",
        server.ids()
    );
    assert!(!agent.corrupt_dir_exists());
}

#[test]
fn killed_while_spooling_leaves_only_whole_reports_and_all_of_them_go_out() {
    let agent = Agent::new();
    let down = dead_port();
    // Checks at start and then every second (the shortest interval the config accepts; ±10%)
    // against a dead endpoint, killed at times around the first and the second check.
    for kill_after_ms in [150u64, 1230, 90, 1010, 40, 1170] {
        let mut child = agent.spawn(down, "1s");
        std::thread::sleep(Duration::from_millis(kill_after_ms));
        child.kill().unwrap();
        let _ = child.wait();
        // Panics on any torn entry.
        let _ = agent.spooled();
    }
    let at_last_kill = agent.spooled();
    assert!(!at_last_kill.is_empty());

    let server = Server::default();
    let port = server.start();
    let mut child = agent.spawn(port, "1h");
    let delivered = wait_until(Duration::from_secs(30), || {
        let got: HashSet<String> = server.ids().into_iter().collect();
        at_last_kill.iter().all(|id| got.contains(id))
    });
    sigterm(&child);
    let _ = wait_exit(&mut child, Duration::from_secs(5)).or_else(|| {
        let _ = child.kill();
        None
    });
    assert!(
        delivered,
        "{} spooled, {} received",
        at_last_kill.len(),
        server.ids().len()
    );
    let ids = server.ids();
    let unique: HashSet<&String> = ids.iter().collect();
    assert_eq!(unique.len(), ids.len(), "no report was sent twice");
    assert!(!agent.corrupt_dir_exists());
    let leftovers: Vec<_> = fs_err::read_dir(agent.state().join("spool"))
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .filter(|n| n.to_string_lossy().starts_with(".tmp-"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
}
