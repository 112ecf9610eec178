//! The whole loop: a real `posture-collector` (SQLite, on 127.0.0.1) and the real `posture`
//! binary. The agent enrolls with the collector's enrollment secret, `posture run` reports, the
//! admin API shows the device's posture, an administrator asks for a check now, and a fresh
//! report arrives. Every wait is bounded.
//!
//! Linux only: the collector is a Linux server (a Linux-only dev-dependency of the agent, since its
//! bundled SQLite needs a C library the macOS and Windows check-only builds here do not have), and
//! the agent is stopped with SIGTERM.

#![cfg(target_os = "linux")]

use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use posture_collector::server::{self, ServeConfig};
use serde_json::Value;

/// A collector on its own thread and runtime, with a fresh SQLite database.
struct Collector {
    port: u16,
    admin_token: String,
    enroll_secret: String,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
    _dir: tempfile::TempDir,
}

impl Collector {
    fn start() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let config = ServeConfig {
            listen: "127.0.0.1:0".parse().unwrap(),
            database_url: format!("sqlite:{}", dir.path().join("collector.db").display()),
            tls: None,
            retention: Default::default(),
            app: Default::default(),
            open: Default::default(),
            limits: Default::default(),
            metrics_listen: None,
        };
        let (ready_tx, ready_rx) = std::sync::mpsc::channel();
        let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
        let thread = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(async move {
                let prepared = server::prepare(config, None).await.unwrap();
                let first = &prepared.first_start;
                ready_tx
                    .send((
                        prepared.local_addr.port(),
                        first.admin_token.clone().unwrap(),
                        first.enroll_secret.clone().unwrap(),
                    ))
                    .unwrap();
                prepared
                    .serve(async move {
                        let _ = stop_rx.await;
                    })
                    .await
                    .unwrap();
            });
        });
        let (port, admin_token, enroll_secret) =
            ready_rx.recv_timeout(Duration::from_secs(30)).unwrap();
        Self {
            port,
            admin_token,
            enroll_secret,
            stop: Some(stop_tx),
            thread: Some(thread),
            _dir: dir,
        }
    }

    fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// An admin API call with curl-free plain HTTP/1.1 over std (no client needed in the test).
    fn admin(&self, method: &str, path: &str) -> (u16, Value) {
        http(self.port, method, path, &self.admin_token)
    }
}

impl Drop for Collector {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// Minimal HTTP/1.1 request with a bearer token; returns status and JSON body.
fn http(port: u16, method: &str, path: &str, token: &str) -> (u16, Value) {
    use std::io::{Read as _, Write as _};
    let mut stream = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    write!(
        stream,
        "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {token}\r\n\
         Content-Length: 0\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).unwrap();
    let text = String::from_utf8_lossy(&raw);
    let (head, body) = text.split_once("\r\n\r\n").unwrap();
    let status: u16 = head.split_whitespace().nth(1).unwrap().parse().unwrap();
    let body = if head
        .to_ascii_lowercase()
        .contains("transfer-encoding: chunked")
    {
        dechunk(body)
    } else {
        body.to_owned()
    };
    (status, serde_json::from_str(&body).unwrap_or(Value::Null))
}

fn dechunk(mut body: &str) -> String {
    let mut out = String::new();
    while let Some((size, rest)) = body.split_once("\r\n") {
        let n = usize::from_str_radix(size.trim(), 16).unwrap_or(0);
        if n == 0 {
            break;
        }
        out.push_str(&rest[..n]);
        body = &rest[n + 2..];
    }
    out
}

fn posture(state: &Path) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_posture"));
    cmd.env_clear()
        .env("PATH", "/usr/bin:/bin")
        .env("NO_COLOR", "1")
        .env("POSTURE_CONFIG_DIR", state.join("etc"))
        .env("POSTURE_STATE_DIR", state.join("state"));
    cmd
}

fn wait_until<T>(limit: Duration, mut probe: impl FnMut() -> Option<T>) -> Option<T> {
    let start = Instant::now();
    while start.elapsed() < limit {
        if let Some(v) = probe() {
            return Some(v);
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    None
}

fn stop(mut child: Child) -> Output {
    let pid = rustix::process::Pid::from_child(&child);
    let _ = rustix::process::kill_process(pid, rustix::process::Signal::TERM);
    let deadline = Instant::now() + Duration::from_secs(10);
    while Instant::now() < deadline {
        if let Ok(Some(_)) = child.try_wait() {
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let _ = child.kill();
    child.wait_with_output().unwrap()
}

#[test]
fn an_enrolled_agent_reports_and_answers_a_check_now_request() {
    let collector = Collector::start();
    let dir = tempfile::tempdir().unwrap();

    // A wrong enrollment secret is refused with a non-zero exit.
    let refused = posture(dir.path())
        .args([
            "enroll",
            "--endpoint",
            &collector.url(),
            "--secret",
            "not-the-secret",
        ])
        .output()
        .unwrap();
    assert_ne!(
        refused.status.code(),
        Some(0),
        "enrolled with a wrong secret"
    );

    let enrolled = posture(dir.path())
        .args(["enroll", "--endpoint", &collector.url()])
        .env("POSTURE_ENROLL_SECRET", &collector.enroll_secret)
        .output()
        .unwrap();
    assert_eq!(
        enrolled.status.code(),
        Some(0),
        "enroll failed: {}",
        String::from_utf8_lossy(&enrolled.stderr)
    );
    let secret_leak = String::from_utf8_lossy(&enrolled.stdout).contains(&collector.enroll_secret)
        || String::from_utf8_lossy(&enrolled.stderr).contains(&collector.enroll_secret);
    assert!(!secret_leak, "the enrollment secret was printed");

    // Live: the collector refuses reports read from a fixture root (`--root`), which describe
    // another system than the enrolled one.
    let agent = posture(dir.path())
        .arg("run")
        .env("POSTURE_INTERVAL", "1h")
        .env("POSTURE_CHECKIN_INTERVAL", "1s")
        .env("POSTURE_LOG_FORMAT", "json")
        .env("POSTURE_LOG_LEVEL", "info")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();

    // The first report arrives and the admin API shows the device's posture, as judged by the
    // collector.
    let device = wait_until(Duration::from_secs(30), || {
        let (status, body) = collector.admin("GET", "/api/v1/devices");
        assert_eq!(status, 200, "{body}");
        body["devices"]
            .as_array()
            .and_then(|d| d.first().cloned())
            .filter(|d| !d["posture"].is_null())
    });
    let Some(device) = device else {
        let out = stop(agent);
        panic!(
            "no report reached the collector; agent log:\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
    };
    let id = device["id"].as_str().unwrap().to_owned();

    let (status, detail) = collector.admin("GET", &format!("/api/v1/devices/{id}"));
    assert_eq!(status, 200);
    let report = &detail["latest_report"];
    assert_eq!(report["device_id"], id.as_str());
    assert_eq!(report["agent"]["mode"], "live");
    assert_eq!(device["hostname"], report["device"]["hostname"]);
    let reports_before = detail["history"].as_array().map_or(0, Vec::len);
    assert_eq!(reports_before, 1);
    assert!(
        detail["history"][0]["trigger"].is_null(),
        "the first report is the schedule's: {}",
        detail["history"][0]
    );

    // An administrator asks for a check now; the agent picks it up at its next check-in.
    let (status, _) = collector.admin("POST", &format!("/api/v1/devices/{id}/check-now"));
    assert_eq!(status, 200);
    let fresh = wait_until(Duration::from_secs(30), || {
        let (_, detail) = collector.admin("GET", &format!("/api/v1/devices/{id}"));
        let n = detail["history"].as_array().map_or(0, Vec::len);
        (n > reports_before).then(|| detail["history"][0].clone())
    });
    let out = stop(agent);
    let log = String::from_utf8_lossy(&out.stderr);
    let Some(fresh) = fresh else {
        panic!("no fresh report after check-now; agent log:\n{log}");
    };
    // It says it answers a check-now request, and when the agent learned of it (its clock).
    assert_eq!(fresh["trigger"]["kind"], "check_now", "{fresh}");
    assert_eq!(
        fresh["trigger"]["cause"], "the collector asked for a check",
        "{fresh}"
    );
    assert!(
        fresh["trigger"]["detected_at_agent_clock"].is_i64(),
        "{fresh}"
    );
    assert!(
        !log.contains(&collector.enroll_secret),
        "secret in the agent log"
    );

    // `posture status` knows the device is enrolled and has nothing left to send.
    let status = posture(dir.path()).arg("status").output().unwrap();
    let text = String::from_utf8_lossy(&status.stdout);
    assert!(
        text.contains(&id) || text.to_lowercase().contains("enrolled"),
        "{text}"
    );
}
