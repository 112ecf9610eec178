//! The collector on a hostile network: invalid input, wrong content types, oversized bodies,
//! stalled and surplus connections, a full ingest queue, secrets and logs, security headers, a
//! reverse proxy that rewrites `Host`, `/metrics` access and certificate reload. Every test runs
//! the real binary on 127.0.0.1.

mod support;

use std::io::{Read as _, Write as _};
use std::net::TcpStream;
use std::process::{Command, Stdio};
use std::time::Duration;

use posture_schema::Status;
use reqwest::Method;
use serde_json::json;
use support::report::report;
use support::{BIN, Collector, FormExt as _, TestDb};

/// `127.0.0.1:PORT` of a collector.
fn addr(c: &Collector) -> String {
    c.base.split_once("://").map(|(_, a)| a.to_owned()).unwrap()
}

/// Reads until the peer closes the connection or `bound` passes without a byte; returns what
/// was read and whether the connection was closed.
fn read_until_closed(stream: &mut TcpStream, bound: Duration) -> (String, bool) {
    stream.set_read_timeout(Some(bound)).unwrap();
    let mut seen = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        match stream.read(&mut buf) {
            Ok(0) => return (String::from_utf8_lossy(&seen).into_owned(), true),
            Ok(n) => seen.extend_from_slice(&buf[..n]),
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) =>
            {
                return (String::from_utf8_lossy(&seen).into_owned(), false);
            }
            Err(_) => return (String::from_utf8_lossy(&seen).into_owned(), true),
        }
    }
}

/// Sends one HTTP/1.1 request on an open connection and reads one response of known length.
fn exchange(stream: &mut TcpStream, request: &str) -> String {
    stream.write_all(request.as_bytes()).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    let mut seen = Vec::new();
    let mut buf = [0u8; 4096];
    while !response_complete(&seen) {
        let n = stream.read(&mut buf).unwrap();
        assert!(
            n > 0,
            "connection closed: {}",
            String::from_utf8_lossy(&seen)
        );
        seen.extend_from_slice(&buf[..n]);
    }
    String::from_utf8_lossy(&seen).into_owned()
}

/// Whether `seen` holds a whole response (head and `Content-Length` bytes of body).
fn response_complete(seen: &[u8]) -> bool {
    let text = String::from_utf8_lossy(seen);
    let Some((head, body)) = text.split_once("\r\n\r\n") else {
        return false;
    };
    let length = head
        .lines()
        .find_map(|l| {
            let (name, value) = l.split_once(':')?;
            name.eq_ignore_ascii_case("content-length")
                .then(|| value.trim().parse::<usize>().ok())?
        })
        .unwrap_or(0);
    body.len() >= length
}

/// A client that shows redirects instead of following them.
fn no_redirects_client() -> reqwest::Client {
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

const HEALTHZ: &str = "GET /healthz HTTP/1.1\r\nHost: collector\r\n\r\n";

async fn nul_anywhere_in_a_request_is_a_400(db: &TestDb) {
    let c = Collector::start(db);
    let (id, token) = c.enroll("m-1", "h-1").await;
    assert_eq!(
        c.post_report(&token, &report(&id, "h-1", Status::Pass))
            .await
            .0,
        200
    );
    for path in [
        "/api/v1/devices?owner=%00".to_owned(),
        "/api/v1/devices?hostname=a%00b".to_owned(),
        "/api/v1/devices/%00".to_owned(),
        "/api/v1/devices/%00/reports".to_owned(),
        format!("/api/v1/devices/{id}/reports/%00"),
        // The dashboard, signed in or not.
        "/devices/%00".to_owned(),
        "/?owner=%00".to_owned(),
    ] {
        let (status, body) = c.get_text(&path, Some(&c.admin_token)).await;
        assert_eq!(status, 400, "GET {path}: {body}");
    }
    for path in [
        "/api/v1/devices/%00/check-now",
        "/api/v1/devices/%00/revoke-token",
    ] {
        let (status, body) = c.admin_send(Method::POST, path, json!({})).await;
        assert_eq!(status, 400, "POST {path}: {body}");
    }
    let (status, body) = c
        .admin_send(
            Method::PATCH,
            "/api/v1/devices/%00",
            json!({ "owner": "x" }),
        )
        .await;
    assert_eq!(status, 400, "{body}");
    for field in ["owner", "note"] {
        let mut update = serde_json::Map::new();
        update.insert(field.to_owned(), "a\u{0}b".into());
        let (status, body) = c
            .admin_send(
                Method::PATCH,
                &format!("/api/v1/devices/{id}"),
                serde_json::Value::Object(update),
            )
            .await;
        assert_eq!(status, 400, "{field}: {body}");
    }
    // Nothing was changed and the collector is well.
    let detail = c.admin_get(&format!("/api/v1/devices/{id}")).await;
    assert_eq!(detail["device"]["owner"], serde_json::Value::Null);
    assert_eq!(c.get_text("/healthz", None).await.0, 200);
}
on_both_databases!(nul_anywhere_in_a_request_is_a_400);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn json_routes_take_json_only_and_small_routes_small_bodies() {
    let db = TestDb::sqlite();
    let c = Collector::start(&db);
    let (id, token) = c.enroll("m-1", "h-1").await;
    let body = serde_json::to_vec(&report(&id, "h-1", Status::Pass)).unwrap();
    for content_type in [
        Some("text/plain"),
        Some("application/x-www-form-urlencoded"),
        None,
    ] {
        let mut request = c
            .http
            .post(c.url("/api/v1/reports"))
            .bearer_auth(&token)
            .body(body.clone());
        if let Some(t) = content_type {
            request = request.header("content-type", t);
        }
        let response = request.send().await.unwrap();
        assert_eq!(response.status(), 415, "{content_type:?}");
    }
    let response = c
        .http
        .post(c.url("/api/v1/reports"))
        .bearer_auth(&token)
        .header("content-type", "application/json; charset=utf-8")
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);

    let response = c
        .http
        .post(c.url("/api/v1/enroll"))
        .header("content-type", "text/plain")
        .body(json!({ "enroll_secret": c.enroll_secret, "machine_id": "m-2" }).to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 415);
    let response = c
        .http
        .patch(c.url(&format!("/api/v1/devices/{id}")))
        .bearer_auth(&c.admin_token)
        .header("content-type", "text/plain")
        .body(r#"{"owner":"x"}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 415);

    // Over the limit for admin writes: 413, as documented (it was 400).
    let (status, body) = c
        .admin_send(
            Method::PATCH,
            &format!("/api/v1/devices/{id}"),
            json!({ "note": "n".repeat(20 * 1024) }),
        )
        .await;
    assert_eq!(status, 413, "{body}");
    // An enrollment of a report's size is refused before its secret is looked at.
    let (status, _) = c
        .post_raw(
            "/api/v1/enroll",
            None,
            format!(r#"{{"machine_id": "{}"}}"#, "m".repeat(512 * 1024)).into_bytes(),
        )
        .await;
    assert_eq!(status, 413);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_response_carries_the_security_headers() {
    let db = TestDb::sqlite();
    let c = Collector::start(&db);
    let (id, _) = c.enroll("m-1", "h-1").await;
    let client = no_redirects_client();
    let signed_in = client
        .post(c.url("/login"))
        .form_pairs(&[("token", &c.admin_token), ("next", "/")])
        .send()
        .await
        .unwrap();
    assert_eq!(signed_in.status(), 303);
    let cookie = signed_in.headers()["set-cookie"]
        .to_str()
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .to_owned();
    for path in [
        "/login".to_owned(),
        "/".to_owned(),
        format!("/devices/{id}"),
        "/export/devices.csv".to_owned(),
        "/login/link".to_owned(),
        "/devices/nope".to_owned(),
        "/api/v1/summary".to_owned(),
    ] {
        let response = client
            .get(c.url(&path))
            .header("cookie", &cookie)
            .bearer_auth(&c.admin_token)
            .send()
            .await
            .unwrap();
        let h = response.headers();
        let csp = h["content-security-policy"].to_str().unwrap();
        assert!(csp.contains("frame-ancestors 'none'"), "{path}: {csp}");
        assert!(csp.contains("default-src 'none'"), "{path}: {csp}");
        assert_eq!(h["x-content-type-options"], "nosniff", "{path}");
        assert_eq!(h["referrer-policy"], "same-origin", "{path}");
        assert_eq!(h["cache-control"], "no-store", "{path}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_need_the_token_or_the_loopback_listener_and_healthz_stays_open() {
    let db = TestDb::sqlite();
    let c = Collector::start_with(&db, &["--metrics-listen", "127.0.0.1:0"], None);
    assert_eq!(c.get_text("/metrics", None).await.0, 401);
    assert_eq!(
        c.get_text("/metrics", Some("not-the-metrics-token"))
            .await
            .0,
        401
    );
    assert_eq!(c.get_text("/metrics", Some(&c.admin_token)).await.0, 401);
    let (status, text) = c.get_text("/metrics", Some(&c.metrics_token)).await;
    assert_eq!(status, 200);
    assert!(text.contains("posture_devices"), "{text}");
    assert_eq!(c.get_text("/healthz", None).await.0, 200);

    let metrics_url = c
        .startup_lines
        .iter()
        .find_map(|l| l.strip_prefix("metrics on "))
        .expect("the metrics address is announced")
        .to_owned();
    let response = c.http.get(&metrics_url).send().await.unwrap();
    assert_eq!(response.status(), 200);
    assert!(response.text().await.unwrap().contains("posture_devices"));

    // Without a token the main listener serves no metrics at all.
    let out = Command::new(BIN)
        .args([
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--metrics-listen",
            "0.0.0.0:0",
            "--database",
            db.url(),
        ])
        .env_remove("POSTURE_COLLECTOR_METRICS_LISTEN")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("not a loopback address"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn behind_a_proxy_that_rewrites_host_the_public_url_lets_the_dashboard_work() {
    let db = TestDb::sqlite();
    let client = no_redirects_client();
    // What nginx forwards by default: Host is the upstream address, Origin is the public site.
    let sign_in = |c: &Collector, origin: &str| {
        client
            .post(c.url("/login"))
            .header("origin", origin)
            .form_pairs(&[("token", &c.admin_token), ("next", "/")])
            .send()
    };
    let plain = Collector::start(&db);
    let refused = sign_in(&plain, "https://posture.example.com")
        .await
        .unwrap();
    assert_eq!(refused.status(), 403, "without --public-url");
    let secrets = plain.secrets();
    drop(plain);

    let c = Collector::start_with(
        &db,
        &["--public-url", "https://posture.example.com/"],
        Some(secrets),
    );
    let signed_in = sign_in(&c, "https://posture.example.com").await.unwrap();
    assert_eq!(signed_in.status(), 303);
    let cookie = signed_in.headers()["set-cookie"].to_str().unwrap();
    assert!(cookie.contains("; Secure"), "{cookie}");
    assert!(cookie.contains("HttpOnly"), "{cookie}");
    let elsewhere = sign_in(&c, "https://evil.example").await.unwrap();
    assert_eq!(elsewhere.status(), 403);
    let upstream = sign_in(&c, &c.base).await.unwrap();
    assert_eq!(upstream.status(), 403, "only the public origin counts");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn first_start_secrets_go_to_a_private_file_and_init_shows_them_once() {
    let db = TestDb::sqlite();
    let c = Collector::start(&db);
    let printed = c.startup_lines.join("\n");
    assert!(!printed.contains(&c.admin_token), "{printed}");
    assert!(!printed.contains(&c.enroll_secret), "{printed}");
    let file = c.state.path().join("initial-secrets.txt");
    assert!(printed.contains(&file.display().to_string()), "{printed}");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        let mode = std::fs::metadata(&file).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }
    drop(c);

    // `init` on a new database prints them, once; `serve` then writes no file.
    let fresh = TestDb::sqlite();
    let init = || {
        Command::new(BIN)
            .args(["init", "--database", fresh.url()])
            .stdin(Stdio::null())
            .output()
            .unwrap()
    };
    let first = init();
    assert!(first.status.success());
    let (admin, enroll) = support::parse_secrets(&String::from_utf8_lossy(&first.stdout));
    let (admin, enroll) = (admin.unwrap(), enroll.unwrap());
    let again = init();
    assert_eq!(again.status.code(), Some(1));
    assert!(!String::from_utf8_lossy(&again.stdout).contains("admin token"));
    let c = Collector::start_with(
        &fresh,
        &[],
        Some(support::Secrets {
            admin_token: admin.clone(),
            enroll_secret: enroll,
        }),
    );
    assert!(!c.state.path().join("initial-secrets.txt").exists());
    assert_eq!(
        c.get_text("/api/v1/summary", Some(&admin)).await.0,
        200,
        "the token init printed works"
    );
}

/// Every secret the collector hands out or takes, used the way agents, administrators and
/// browsers use them, with the log at trace level: none may appear in the log or on stdout.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_secret_reaches_the_log_even_at_trace_level() {
    let db = TestDb::sqlite();
    let log_dir = tempfile::tempdir().unwrap();
    let log_path = log_dir.path().join("stderr.log");
    let log = std::fs::File::create(&log_path).unwrap();
    let c = Collector::start_full(&db, &[], None, "trace", Stdio::from(log));
    let mut secrets = vec![c.admin_token.clone(), c.enroll_secret.clone()];

    let (id, token) = c.enroll("m-1", "h-1").await;
    secrets.push(token.clone());
    assert_eq!(
        c.post_report(&token, &report(&id, "h-1", Status::Fail))
            .await
            .0,
        200
    );
    assert_eq!(
        c.get_text("/api/v1/agent/checkin", Some(&token)).await.0,
        200
    );
    c.admin_get("/api/v1/devices").await;
    let (_, rotated) = c
        .admin_send(Method::POST, "/api/v1/enroll-secret/rotate", json!({}))
        .await;
    secrets.push(rotated["enroll_secret"].as_str().unwrap().to_owned());

    // A login link: the token rides in the fragment, the page posts it.
    let (status, link) = c
        .admin_send(Method::POST, "/api/v1/login-links", json!({ "next": "/" }))
        .await;
    assert_eq!(status, 200, "{link}");
    let path = link["path"].as_str().unwrap();
    let (page, link_token) = path.split_once('#').expect("the token is in the fragment");
    assert!(!page.contains('?'), "{path}");
    secrets.push(link_token.to_owned());
    let client = no_redirects_client();
    let shown = client.get(c.url(page)).send().await.unwrap();
    assert_eq!(shown.status(), 200);
    let used = client
        .post(c.url("/login/link"))
        .form_pairs(&[("token", link_token)])
        .send()
        .await
        .unwrap();
    assert_eq!(used.status(), 303);
    let cookie = used.headers()["set-cookie"]
        .to_str()
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .to_owned();
    secrets.push(cookie.split_once('=').unwrap().1.to_owned());
    let fleet = client
        .get(c.url("/"))
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(fleet.status(), 200);
    // The link is used up.
    let reused = client
        .post(c.url("/login/link"))
        .form_pairs(&[("token", link_token)])
        .send()
        .await
        .unwrap();
    assert_eq!(reused.status(), 401);
    // Signing in with the admin token, and a wrong one.
    for token in [c.admin_token.as_str(), "wrong-admin-token-guess"] {
        client
            .post(c.url("/login"))
            .form_pairs(&[("token", token), ("next", "/")])
            .send()
            .await
            .unwrap();
    }
    let printed = c.startup_lines.join("\n");
    c.kill();

    let logged = std::fs::read_to_string(&log_path).unwrap();
    // The filter is `trace`; what the crates emit below info is debug and trace events.
    assert!(logged.contains("DEBUG"), "the log was verbose");
    assert!(logged.contains("/login/link"), "requests were logged");
    for secret in &secrets {
        assert!(secret.len() >= 32, "{secret}");
        assert!(!logged.contains(secret.as_str()), "a secret is in the log");
        assert!(!printed.contains(secret.as_str()), "a secret is on stdout");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_error_answered_before_the_body_is_read_closes_the_connection() {
    // Otherwise a client reuses the connection the collector is about to close, and its next
    // request fails as an incomplete message.
    let db = TestDb::sqlite();
    let c = Collector::start(&db);
    let (_, token) = c.enroll("m-1", "h-1").await;
    let cases = [
        (
            "over the limit",
            "POST /api/v1/reports HTTP/1.1\r\nHost: collector\r\nAuthorization: Bearer TOKEN\r\n\
             Content-Type: application/json\r\nContent-Length: 9999999\r\n\r\n{",
            "413",
        ),
        (
            "no token",
            "POST /api/v1/reports HTTP/1.1\r\nHost: collector\r\n\
             Content-Type: application/json\r\nContent-Length: 5000\r\n\r\n{",
            "401",
        ),
    ];
    for (what, request, status) in cases {
        let mut stream = TcpStream::connect(addr(&c)).unwrap();
        let response = exchange(&mut stream, &request.replace("TOKEN", &token));
        let head = response
            .split("\r\n\r\n")
            .next()
            .unwrap()
            .to_ascii_lowercase();
        assert!(
            head.starts_with(&format!("http/1.1 {status}")),
            "{what}: {head}"
        );
        assert!(head.contains("\r\nconnection: close"), "{what}: {head}");
    }
    // An answer to a request whose body was read keeps the connection.
    let mut stream = TcpStream::connect(addr(&c)).unwrap();
    let head = exchange(&mut stream, HEALTHZ).to_ascii_lowercase();
    assert!(!head.contains("connection: close"), "{head}");
}

/// Reports holding a place in the ingest queue now, from `/metrics`.
async fn queued_reports(c: &Collector) -> u64 {
    let (status, text) = c.get_text("/metrics", Some(&c.metrics_token)).await;
    assert_eq!(status, 200, "{text}");
    text.lines()
        .find_map(|line| line.strip_prefix("posture_ingest_queue_reports "))
        .map_or(0, |n| n.trim().parse::<f64>().unwrap() as u64)
}

/// Waits until `n` reports hold a place in the ingest queue. Polls a state, not a clock: the
/// bound only keeps a broken collector from hanging the test.
async fn wait_for_queued_reports(c: &Collector, n: u64) {
    for _ in 0..6000 {
        if queued_reports(c).await == n {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("the ingest queue never held {n} reports");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_ingest_queue_answers_503_with_retry_after() {
    let db = TestDb::sqlite();
    // The stalled upload below must hold its place however slow the machine is.
    let c = Collector::start_with(
        &db,
        &["--ingest-queue-reports", "1", "--body-timeout-secs", "3600"],
        None,
    );
    let (id, token) = c.enroll("m-1", "h-1").await;
    // An upload that stalls after its head holds the one place. Nothing else is sent until it
    // holds it: a report in flight at the same moment would take the place first and the
    // stalled upload would be the one refused.
    let mut stalled = TcpStream::connect(addr(&c)).unwrap();
    write!(
        stalled,
        "POST /api/v1/reports HTTP/1.1\r\nHost: collector\r\nAuthorization: Bearer {token}\r\n\
         Content-Type: application/json\r\nContent-Length: 5000\r\n\r\n{{"
    )
    .unwrap();
    wait_for_queued_reports(&c, 1).await;
    let refused = c
        .http
        .post(c.url("/api/v1/reports"))
        .bearer_auth(&token)
        .header("content-type", "application/json")
        .body(serde_json::to_vec(&report(&id, "h-1", Status::Pass)).unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 503, "a report finds the queue full");
    assert!(
        refused.headers().contains_key("retry-after"),
        "{:?}",
        refused.headers()
    );
    assert_eq!(refused.headers()["retry-after"], "5");
    let body: serde_json::Value = serde_json::from_slice(&refused.bytes().await.unwrap()).unwrap();
    assert!(body["error"].as_str().unwrap().contains("busy"), "{body}");

    // Once the stalled upload is gone, reports go through again.
    drop(stalled);
    wait_for_queued_reports(&c, 0).await;
    let (status, reply) = c
        .post_report(&token, &report(&id, "h-1", Status::Pass))
        .await;
    assert_eq!(status, 200, "{reply}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stalled_connections_are_closed_by_the_configured_timeouts() {
    let db = TestDb::sqlite();
    let c = Collector::start_with(
        &db,
        &[
            "--header-timeout-secs",
            "1",
            "--idle-timeout-secs",
            "1",
            "--body-timeout-secs",
            "1",
        ],
        None,
    );
    let (_, token) = c.enroll("m-1", "h-1").await;
    let target = addr(&c);
    let cases: Vec<(&str, String)> = vec![
        ("no request at all", String::new()),
        (
            "partial head",
            "POST /api/v1/enroll HTTP/1.1\r\nHost: collector\r\nContent-Le".into(),
        ),
        (
            "partial enrollment body",
            "POST /api/v1/enroll HTTP/1.1\r\nHost: collector\r\nContent-Type: application/json\r\n\
             Content-Length: 1000\r\n\r\n{\"enroll_secret\": \""
                .into(),
        ),
        (
            "partial report body",
            format!(
                "POST /api/v1/reports HTTP/1.1\r\nHost: collector\r\nAuthorization: Bearer {token}\r\n\
                 Content-Type: application/json\r\nContent-Length: 100000\r\n\r\n{{\"schema_version\": 1"
            ),
        ),
    ];
    let mut threads = Vec::new();
    for (name, sent) in cases {
        let target = target.clone();
        threads.push(std::thread::spawn(move || {
            let mut stream = TcpStream::connect(&target).unwrap();
            stream.write_all(sent.as_bytes()).unwrap();
            // Generous: the timeouts are 1 s; this only bounds the test.
            let (seen, closed) = read_until_closed(&mut stream, Duration::from_secs(30));
            (name, seen, closed)
        }));
    }
    // A kept-alive connection that sends no second request.
    threads.push(std::thread::spawn(move || {
        let mut stream = TcpStream::connect(&target).unwrap();
        let first = exchange(&mut stream, HEALTHZ);
        assert!(first.starts_with("HTTP/1.1 200"), "{first}");
        let (seen, closed) = read_until_closed(&mut stream, Duration::from_secs(30));
        ("idle kept-alive connection", seen, closed)
    }));
    for t in threads {
        let (name, seen, closed) = t.join().unwrap();
        assert!(closed, "{name}: still open ({seen})");
    }
    // A fresh client: the pooled connection of the enrollment was itself closed as idle.
    let fresh = support::http_client();
    let healthz = fresh.get(c.url("/healthz")).send().await.unwrap();
    assert_eq!(healthz.status(), 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_over_the_cap_are_closed_on_arrival() {
    let db = TestDb::sqlite();
    let c = Collector::start_with(
        &db,
        &[
            "--max-open-connections",
            "3",
            "--header-timeout-secs",
            "120",
            "--idle-timeout-secs",
            "120",
        ],
        None,
    );
    let target = addr(&c);
    let handle = tokio::task::spawn_blocking(move || {
        let mut open: Vec<TcpStream> = (0..3)
            .map(|_| {
                let mut s = TcpStream::connect(&target).unwrap();
                assert!(exchange(&mut s, HEALTHZ).starts_with("HTTP/1.1 200"));
                s
            })
            .collect();
        let mut surplus = TcpStream::connect(&target).unwrap();
        let _ = surplus.write_all(HEALTHZ.as_bytes());
        let (seen, closed) = read_until_closed(&mut surplus, Duration::from_secs(30));
        assert!(closed && seen.is_empty(), "the fourth connection: {seen}");
        // The three are still served.
        for s in &mut open {
            assert!(exchange(s, HEALTHZ).starts_with("HTTP/1.1 200"));
        }
    });
    handle.await.unwrap();
    // Their places are free again once they close.
    let mut served = false;
    for _ in 0..100 {
        if let Ok(r) = c.http.get(c.url("/healthz")).send().await
            && r.status() == 200
        {
            served = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(served);
}

#[cfg(unix)]
mod tls_reload {
    use std::sync::Arc;

    use super::*;

    struct Pair {
        der: rustls::pki_types::CertificateDer<'static>,
        cert_pem: String,
        key_pem: String,
    }

    fn pair() -> Pair {
        let k = rcgen::generate_simple_self_signed(vec!["127.0.0.1".into()]).unwrap();
        Pair {
            der: k.cert.der().clone(),
            cert_pem: k.cert.pem(),
            key_pem: k.signing_key.serialize_pem(),
        }
    }

    fn client_config(trusted: &Pair) -> Arc<rustls::ClientConfig> {
        let mut roots = rustls::RootCertStore::empty();
        roots.add(trusted.der.clone()).unwrap();
        Arc::new(
            rustls::ClientConfig::builder_with_provider(Arc::new(
                rustls::crypto::ring::default_provider(),
            ))
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_root_certificates(roots)
            .with_no_client_auth(),
        )
    }

    type Tls = rustls::StreamOwned<rustls::ClientConnection, TcpStream>;

    fn connect(target: &str, config: Arc<rustls::ClientConfig>) -> std::io::Result<Tls> {
        let name = rustls::pki_types::ServerName::try_from("127.0.0.1").unwrap();
        let conn = rustls::ClientConnection::new(config, name.to_owned()).unwrap();
        let tcp = TcpStream::connect(target)?;
        tcp.set_read_timeout(Some(Duration::from_secs(30)))?;
        let mut tls = rustls::StreamOwned::new(conn, tcp);
        tls.write_all(HEALTHZ.as_bytes())?;
        let response = read_response(&mut tls)?;
        if response.starts_with("HTTP/1.1 200") {
            Ok(tls)
        } else {
            Err(std::io::Error::other(response))
        }
    }

    fn read_response(tls: &mut Tls) -> std::io::Result<String> {
        let mut seen = Vec::new();
        let mut buf = [0u8; 4096];
        while !response_complete(&seen) {
            let n = tls.read(&mut buf)?;
            if n == 0 {
                return Err(std::io::Error::other("closed"));
            }
            seen.extend_from_slice(&buf[..n]);
        }
        Ok(String::from_utf8_lossy(&seen).into_owned())
    }

    fn write_pair(dir: &std::path::Path, pair: &Pair) {
        // Replaced as a certificate manager does: write aside, rename over.
        for (name, text) in [("cert.pem", &pair.cert_pem), ("key.pem", &pair.key_pem)] {
            let aside = dir.join(format!("{name}.new"));
            std::fs::write(&aside, text).unwrap();
            std::fs::rename(&aside, dir.join(name)).unwrap();
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn sighup_reloads_the_certificate_and_open_connections_carry_on() {
        let dir = tempfile::tempdir().unwrap();
        let (old, new) = (pair(), pair());
        write_pair(dir.path(), &old);
        let db = TestDb::sqlite();
        let cert = dir.path().join("cert.pem");
        let key = dir.path().join("key.pem");
        let c = Collector::start_with(
            &db,
            &[
                "--tls-cert",
                cert.to_str().unwrap(),
                "--tls-key",
                key.to_str().unwrap(),
                "--header-timeout-secs",
                "120",
            ],
            None,
        );
        assert!(c.base.starts_with("https://"));
        let target = addr(&c);
        let pid = c.pid;
        let (old_cfg, new_cfg) = (client_config(&old), client_config(&new));
        let dir_path = dir.path().to_path_buf();
        tokio::task::spawn_blocking(move || {
            let mut open = connect(&target, Arc::clone(&old_cfg)).unwrap();
            assert!(connect(&target, Arc::clone(&new_cfg)).is_err());

            write_pair(&dir_path, &new);
            let status = Command::new("kill")
                .args(["-HUP", &pid.to_string()])
                .status()
                .unwrap();
            assert!(status.success());
            let mut reloaded = false;
            for _ in 0..200 {
                if connect(&target, Arc::clone(&new_cfg)).is_ok() {
                    reloaded = true;
                    break;
                }
                std::thread::sleep(Duration::from_millis(50));
            }
            assert!(reloaded, "new connections get the new certificate");
            assert!(
                connect(&target, Arc::clone(&old_cfg)).is_err(),
                "and no longer the old one"
            );
            // The connection opened before the reload is still served.
            open.write_all(HEALTHZ.as_bytes()).unwrap();
            let again = read_response(&mut open).unwrap();
            assert!(again.starts_with("HTTP/1.1 200"), "{again}");

            // A broken file on the next SIGHUP keeps the current certificate.
            std::fs::write(dir_path.join("cert.pem"), "not a certificate").unwrap();
            Command::new("kill")
                .args(["-HUP", &pid.to_string()])
                .status()
                .unwrap();
            assert!(connect(&target, Arc::clone(&new_cfg)).is_ok());
        })
        .await
        .unwrap();
    }
}
