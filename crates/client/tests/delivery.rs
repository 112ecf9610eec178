//! Delivery against a real HTTP(S) server on 127.0.0.1: every fault of the issue, one test each.

mod support;

use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use posture_client::config::{Endpoint, SpkiPin};
use posture_client::credentials::{Credentials, Mode, Token};
use posture_client::daemon::{CheckFn, Daemon, DaemonOptions, SPOOL_DIR};
use posture_client::delivery::{Deliverer, Drained, RetryPolicy, SharedSpool};
use posture_client::spool::SpoolLimits;
use posture_client::status::StatusBook;
use posture_client::transport::{EnrollRequest, Failure, Transport, TransportOptions};
use sha2::{Digest as _, Sha256};
use support::{Collector, Pki, Reply, report, wait_until};
use tokio::sync::{Notify, watch};

const LIMITS: SpoolLimits = SpoolLimits {
    max_reports: 1000,
    max_bytes: 64 << 20,
};
const FAST_RETRY: RetryPolicy = RetryPolicy {
    initial: Duration::from_millis(20),
    max: Duration::from_millis(200),
};

fn transport(
    endpoint: &str,
    ca: Option<&Path>,
    pins: Vec<SpkiPin>,
    timeout: Duration,
) -> Transport {
    Transport::new(&TransportOptions {
        endpoint: Endpoint::parse(endpoint).unwrap(),
        ca_cert: ca.map(Path::to_path_buf),
        pins,
        timeout,
    })
    .unwrap()
}

struct Rig {
    _dir: tempfile::TempDir,
    state: std::path::PathBuf,
    spool: Arc<SharedSpool>,
    status: Arc<StatusBook>,
    check_now: Arc<Notify>,
}

impl Rig {
    fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let state = dir.path().join("state");
        let spool = SharedSpool::open(&state.join(SPOOL_DIR), LIMITS).unwrap();
        let status = Arc::new(StatusBook::open(&state));
        Self {
            _dir: dir,
            state,
            spool,
            status,
            check_now: Arc::new(Notify::new()),
        }
    }

    fn push(&self, n: usize) {
        let body = serde_json::to_vec(&report(n)).unwrap();
        self.spool.with(|s| s.push(&body)).unwrap();
    }

    fn backlog(&self) -> u64 {
        self.spool.with(|s| s.backlog()).unwrap().reports
    }

    fn deliverer(&self, transport: Transport, token: Option<&str>) -> Deliverer {
        Deliverer::new(
            self.spool.clone(),
            transport,
            token.map(Token::new),
            FAST_RETRY,
            self.status.clone(),
            self.check_now.clone(),
        )
    }

    fn last_error(&self) -> String {
        self.status
            .snapshot()
            .last_delivery_error
            .unwrap_or_default()
    }
}

fn counting_check() -> (CheckFn, Arc<Mutex<Vec<String>>>) {
    let made = Arc::new(Mutex::new(Vec::new()));
    let counter = Arc::new(AtomicUsize::new(0));
    let log = made.clone();
    let check: CheckFn = Arc::new(move || {
        let n = counter.fetch_add(1, Ordering::SeqCst);
        let r = report(n);
        log.lock().unwrap().push(r.report_id.clone());
        Ok(r)
    });
    (check, made)
}

fn daemon_options(state: &Path, interval: Duration) -> DaemonOptions {
    DaemonOptions {
        state_dir: state.to_path_buf(),
        interval,
        checkin_interval: Duration::from_secs(3600),
        spool_limits: LIMITS,
        retry: FAST_RETRY,
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

#[tokio::test]
async fn every_report_made_while_the_endpoint_is_down_arrives_exactly_once_in_order() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let (check, made) = counting_check();
    let daemon = Daemon::new(
        daemon_options(dir.path(), Duration::from_millis(60)),
        Some(transport(
            &format!("http://127.0.0.1:{port}"),
            None,
            vec![],
            Duration::from_secs(2),
        )),
        None,
        check,
    )
    .unwrap();
    let (stop, stopped) = watch::channel(false);
    let running = tokio::spawn(daemon.run(stopped));
    // Down: nothing listens on the port while several checks happen.
    assert!(wait_until(Duration::from_secs(10), || made.lock().unwrap().len() >= 8).await);
    let collector = Collector::new();
    let _server = collector.serve_http(port).await;
    let delivered_all = wait_until(Duration::from_secs(15), || {
        let made = made.lock().unwrap().len();
        made >= 12 && collector.ids().len() >= made - 1
    })
    .await;
    stop.send(true).unwrap();
    tokio::time::timeout(Duration::from_secs(5), running)
        .await
        .unwrap()
        .unwrap();
    assert!(
        delivered_all,
        "made {:?}, got {:?}",
        made.lock().unwrap(),
        collector.ids()
    );
    let got = collector.ids();
    let made = made.lock().unwrap().clone();
    // Whatever was not delivered by the time of the stop is still spooled; nothing is lost.
    let spool = posture_client::spool::Spool::open(&dir.path().join(SPOOL_DIR), LIMITS).unwrap();
    let left: Vec<String> = spool
        .entries()
        .unwrap()
        .iter()
        .map(|e| spool.read(e).unwrap().report_id)
        .collect();
    let mut all = got.clone();
    all.extend(left);
    assert_eq!(
        all, made,
        "delivered + spooled must be every report, once, in order"
    );
}

#[tokio::test]
async fn a_server_error_keeps_the_report_until_a_later_success() {
    let collector = Collector::new();
    collector.set(Reply::Status(500, None));
    let (addr, _server) = collector.serve_http(0).await;
    let rig = Rig::new();
    rig.push(1);
    let mut d = rig.deliverer(
        transport(
            &format!("http://{addr}"),
            None,
            vec![],
            Duration::from_secs(5),
        ),
        None,
    );
    assert!(matches!(d.drain().await, Drained::RetryIn(_)));
    assert_eq!(rig.backlog(), 1);
    assert!(rig.last_error().contains("500"), "{}", rig.last_error());
    collector.set(Reply::Ok);
    assert_eq!(d.drain().await, Drained::Empty);
    assert_eq!(rig.backlog(), 0);
    assert_eq!(collector.ids(), vec!["report-000001"]);
    assert_eq!(rig.status.snapshot().last_delivery_error, None);
}

#[tokio::test]
async fn a_429_with_retry_after_waits_at_least_that_long() {
    let collector = Collector::new();
    collector.set(Reply::Status(429, Some("7")));
    let (addr, _server) = collector.serve_http(0).await;
    let rig = Rig::new();
    rig.push(1);
    let mut d = rig.deliverer(
        transport(
            &format!("http://{addr}"),
            None,
            vec![],
            Duration::from_secs(5),
        ),
        None,
    );
    let Drained::RetryIn(wait) = d.drain().await else {
        panic!("expected a retry");
    };
    assert!(wait >= Duration::from_secs(7), "{wait:?}");
    assert_eq!(rig.backlog(), 1);
}

#[tokio::test]
async fn a_reply_slower_than_the_timeout_is_abandoned_and_the_report_kept() {
    let collector = Collector::new();
    collector.set(Reply::Slow(Duration::from_secs(5)));
    let (addr, _server) = collector.serve_http(0).await;
    let rig = Rig::new();
    rig.push(1);
    let mut d = rig.deliverer(
        transport(
            &format!("http://{addr}"),
            None,
            vec![],
            Duration::from_millis(300),
        ),
        None,
    );
    let started = std::time::Instant::now();
    assert!(matches!(d.drain().await, Drained::RetryIn(_)));
    assert!(started.elapsed() < Duration::from_secs(3));
    assert!(
        rig.last_error().contains("timed out"),
        "{}",
        rig.last_error()
    );
    assert_eq!(rig.backlog(), 1);
}

#[tokio::test]
async fn garbage_instead_of_http_is_retried_not_lost() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        use tokio::io::AsyncWriteExt as _;
        for _ in 0..5 {
            let Ok((mut socket, _)) = listener.accept().await else {
                return;
            };
            let _ = socket.write_all(b"\x00\x01garbage, not HTTP\r\n\r\n").await;
        }
    });
    let rig = Rig::new();
    rig.push(1);
    let mut d = rig.deliverer(
        transport(
            &format!("http://{addr}"),
            None,
            vec![],
            Duration::from_secs(2),
        ),
        None,
    );
    assert!(matches!(d.drain().await, Drained::RetryIn(_)));
    assert_eq!(rig.backlog(), 1);
}

#[tokio::test]
async fn a_success_with_an_unreadable_body_still_counts_as_delivered() {
    let collector = Collector::new();
    collector.set(Reply::GarbageBody);
    let (addr, _server) = collector.serve_http(0).await;
    let rig = Rig::new();
    rig.push(1);
    let mut d = rig.deliverer(
        transport(
            &format!("http://{addr}"),
            None,
            vec![],
            Duration::from_secs(5),
        ),
        None,
    );
    assert_eq!(d.drain().await, Drained::Empty);
    assert_eq!(collector.ids().len(), 1);
}

#[tokio::test]
async fn a_redirect_to_plain_http_is_refused_and_the_report_kept() {
    let target = Collector::new();
    let (target_addr, _t) = target.serve_http(0).await;
    let collector = Collector::new();
    collector.set(Reply::Redirect(format!(
        "http://{target_addr}/api/v1/reports"
    )));
    let (addr, _server) = collector.serve_http(0).await;
    let rig = Rig::new();
    rig.push(1);
    let mut d = rig.deliverer(
        transport(
            &format!("http://{addr}"),
            None,
            vec![],
            Duration::from_secs(5),
        ),
        None,
    );
    assert!(matches!(d.drain().await, Drained::RetryIn(_)));
    assert!(
        rig.last_error().contains("redirect"),
        "{}",
        rig.last_error()
    );
    assert!(rig.last_error().contains("refused"), "{}", rig.last_error());
    assert_eq!(target.attempts(), 0, "the redirect must not be followed");
    assert_eq!(rig.backlog(), 1);
}

#[tokio::test]
async fn a_certificate_that_does_not_verify_is_refused_with_a_clear_error() {
    let pki = Pki::new();
    let collector = Collector::new();
    let (addr, _handle) = collector.serve_https(&pki).await;
    let rig = Rig::new();
    rig.push(1);
    // No extra CA: the test CA is unknown to the OS roots.
    let mut d = rig.deliverer(
        transport(
            &format!("https://127.0.0.1:{}", addr.port()),
            None,
            vec![],
            Duration::from_secs(5),
        ),
        None,
    );
    assert!(matches!(d.drain().await, Drained::RetryIn(_)));
    let err = rig.last_error();
    assert!(err.contains("certificate"), "{err}");
    assert!(
        err.to_lowercase().contains("unknown") || err.contains("issuer"),
        "{err}"
    );
    assert!(
        err.contains("set `ca_cert` in the config file, or POSTURE_CA_CERT"),
        "an unknown issuer says what to do: {err}"
    );
    assert_eq!(collector.attempts(), 0);
    assert_eq!(rig.backlog(), 1);
}

#[tokio::test]
async fn https_with_the_extra_ca_and_a_matching_pin_delivers() {
    let pki = Pki::new();
    let dir = tempfile::tempdir().unwrap();
    let ca = dir.path().join("ca.pem");
    fs_err::write(&ca, &pki.ca_pem).unwrap();
    let collector = Collector::new();
    let (addr, _handle) = collector.serve_https(&pki).await;
    let pin = SpkiPin(Sha256::digest(&pki.leaf_spki_der).into());
    let rig = Rig::new();
    rig.push(1);
    let mut d = rig.deliverer(
        transport(
            &format!("https://127.0.0.1:{}", addr.port()),
            Some(&ca),
            vec![pin],
            Duration::from_secs(5),
        ),
        Some("t"),
    );
    assert_eq!(d.drain().await, Drained::Empty);
    assert_eq!(collector.ids(), vec!["report-000001"]);
}

#[tokio::test]
async fn a_pinned_key_that_does_not_match_is_refused() {
    let pki = Pki::new();
    let dir = tempfile::tempdir().unwrap();
    let ca = dir.path().join("ca.pem");
    fs_err::write(&ca, &pki.ca_pem).unwrap();
    let collector = Collector::new();
    let (addr, _handle) = collector.serve_https(&pki).await;
    let wrong = SpkiPin([7; 32]);
    let rig = Rig::new();
    rig.push(1);
    let mut d = rig.deliverer(
        transport(
            &format!("https://127.0.0.1:{}", addr.port()),
            Some(&ca),
            vec![wrong],
            Duration::from_secs(5),
        ),
        None,
    );
    assert!(matches!(d.drain().await, Drained::RetryIn(_)));
    assert!(
        rig.last_error().contains("matches none of the pinned keys"),
        "{}",
        rig.last_error()
    );
    assert_eq!(collector.attempts(), 0);
    assert_eq!(rig.backlog(), 1);
}

#[tokio::test]
async fn a_report_refused_for_good_is_set_aside_and_a_corrupt_entry_too() {
    let collector = Collector::new();
    let (addr, _server) = collector.serve_http(0).await;
    let rig = Rig::new();
    rig.spool.with(|s| s.push(b"{ torn")).unwrap();
    rig.push(2);
    let mut d = rig.deliverer(
        transport(
            &format!("http://{addr}"),
            None,
            vec![],
            Duration::from_secs(5),
        ),
        None,
    );
    assert_eq!(d.drain().await, Drained::Empty);
    assert_eq!(
        collector.ids(),
        vec!["report-000002"],
        "the corrupt entry does not block the queue"
    );
    assert_eq!(rig.status.snapshot().corrupt_total, 1);
    collector.set(Reply::Status(422, None));
    rig.push(3);
    assert_eq!(
        d.drain().await,
        Drained::Empty,
        "a 422 is not retried forever"
    );
    assert_eq!(rig.status.snapshot().rejected_total, 1);
    let aside = rig.state.join(SPOOL_DIR).join("rejected");
    let set_aside = fs_err::read_dir(aside)
        .unwrap()
        .filter(|e| {
            e.as_ref()
                .unwrap()
                .path()
                .extension()
                .is_some_and(|x| x == "json")
        })
        .filter(|e| {
            !e.as_ref()
                .unwrap()
                .file_name()
                .to_string_lossy()
                .starts_with('.')
        })
        .count();
    assert_eq!(set_aside, 1);
}

#[tokio::test]
async fn a_refused_report_is_sent_again_once_the_collector_version_changes() {
    let collector = Collector::new();
    collector.set_server("posture-collector/0.1.0");
    let (addr, _server) = collector.serve_http(0).await;
    let rig = Rig::new();
    let mut d = rig.deliverer(
        transport(
            &format!("http://{addr}"),
            None,
            vec![],
            Duration::from_secs(5),
        ),
        None,
    );
    collector.set(Reply::Status(422, None));
    rig.push(1);
    assert_eq!(d.drain().await, Drained::Empty);
    assert_eq!(rig.status.snapshot().rejected_total, 1);
    collector.set(Reply::Ok);
    rig.push(2);
    assert_eq!(d.drain().await, Drained::Empty);
    assert_eq!(
        collector.ids(),
        ["report-000002"],
        "the same collector version is not asked again"
    );
    collector.set_server("posture-collector/0.2.0");
    rig.push(3);
    assert_eq!(d.drain().await, Drained::Empty);
    assert_eq!(
        collector.ids(),
        ["report-000002", "report-000003", "report-000001"]
    );
    let aside = rig.state.join(SPOOL_DIR).join("rejected");
    let left: Vec<_> = fs_err::read_dir(aside)
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .filter(|n| !n.to_string_lossy().starts_with('.'))
        .collect();
    assert!(left.is_empty(), "{left:?}");
}

#[tokio::test]
async fn a_check_now_in_a_reply_or_a_checkin_runs_a_fresh_check() {
    let collector = Collector::new();
    collector.set(Reply::CheckNow);
    let (addr, _server) = collector.serve_http(0).await;
    let dir = tempfile::tempdir().unwrap();
    let (check, made) = counting_check();
    let mut options = daemon_options(dir.path(), Duration::from_secs(3600));
    options.checkin_interval = Duration::from_millis(100);
    let daemon = Daemon::new(
        options,
        Some(transport(
            &format!("http://{addr}"),
            None,
            vec![],
            Duration::from_secs(5),
        )),
        None,
        check,
    )
    .unwrap();
    let (stop, stopped) = watch::channel(false);
    let running = tokio::spawn(daemon.run(stopped));
    // Check at start, then one more because the reply asked.
    assert!(wait_until(Duration::from_secs(10), || collector.ids().len() >= 2).await);
    // Then one more because a check-in asked.
    *collector.checkin_check_now.lock().unwrap() = true;
    assert!(wait_until(Duration::from_secs(10), || collector.ids().len() >= 3).await);
    stop.send(true).unwrap();
    tokio::time::timeout(Duration::from_secs(5), running)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        made.lock().unwrap().len(),
        3,
        "no check beyond the three asked for"
    );
}

#[tokio::test]
async fn reports_carry_the_enrolled_device_id() {
    let collector = Collector::new();
    let (addr, _server) = collector.serve_http(0).await;
    let dir = tempfile::tempdir().unwrap();
    let (check, _made) = counting_check();
    let creds = Credentials {
        mode: Mode::Collector,
        endpoint: format!("http://{addr}"),
        device_id: Some("dev-42".into()),
        token: Some(Token::new("tok")),
        enrolled_at: "2026-11-23T10:00:00Z".into(),
    };
    let daemon = Daemon::new(
        daemon_options(dir.path(), Duration::from_secs(3600)),
        Some(transport(
            &format!("http://{addr}"),
            None,
            vec![],
            Duration::from_secs(5),
        )),
        Some(creds),
        check,
    )
    .unwrap();
    let (stop, stopped) = watch::channel(false);
    let running = tokio::spawn(daemon.run(stopped));
    assert!(wait_until(Duration::from_secs(10), || !collector.ids().is_empty()).await);
    stop.send(true).unwrap();
    tokio::time::timeout(Duration::from_secs(5), running)
        .await
        .unwrap()
        .unwrap();
    let auth = collector.seen.lock().unwrap().auth.clone();
    assert_eq!(auth[0].as_deref(), Some("Bearer tok"));
    let device_ids = collector.seen.lock().unwrap().device_ids.clone();
    assert_eq!(device_ids[0].as_deref(), Some("dev-42"));
}

#[tokio::test]
async fn an_unwritable_spool_is_logged_and_the_daemon_keeps_checking() {
    let dir = tempfile::tempdir().unwrap();
    // The spool path is a file, so nothing can be written there (root ignores modes).
    fs_err::write(dir.path().join(SPOOL_DIR), b"not a directory").unwrap();
    let (check, made) = counting_check();
    let daemon = Daemon::new(
        daemon_options(dir.path(), Duration::from_millis(50)),
        None,
        None,
        check,
    )
    .unwrap();
    let (stop, stopped) = watch::channel(false);
    let running = tokio::spawn(daemon.run(stopped));
    assert!(wait_until(Duration::from_secs(10), || made.lock().unwrap().len() >= 3).await);
    stop.send(true).unwrap();
    tokio::time::timeout(Duration::from_secs(5), running)
        .await
        .unwrap()
        .unwrap();
    let status = posture_client::status::load(dir.path()).unwrap().unwrap();
    assert_eq!(status.last_posture.as_deref(), Some("compliant"));
    let err = status.last_check_error.unwrap_or_default();
    assert!(err.contains("cannot spool"), "{err}");
}

#[tokio::test]
async fn enrollment_exchanges_the_secret_and_a_wrong_one_is_refused() {
    let collector = Collector::new();
    let (addr, _server) = collector.serve_http(0).await;
    let t = transport(
        &format!("http://{addr}"),
        None,
        vec![],
        Duration::from_secs(5),
    );
    let mut request = EnrollRequest {
        enroll_secret: "right-secret".into(),
        hostname: "h".into(),
        machine_id: "m".into(),
        platform: "linux".into(),
        agent_version: "0.1.0".into(),
        device_token: None,
    };
    let enrolled = t.enroll(&request).await.unwrap();
    assert_eq!(enrolled.device_id, "dev-42");
    assert_eq!(enrolled.device_token.expose(), "tok-SECRET-123");
    assert!(!format!("{enrolled:?} {request:?}").contains("SECRET"));
    request.enroll_secret = "wrong".into();
    assert!(matches!(
        t.enroll(&request).await,
        Err(Failure::Unauthorized { .. })
    ));
}

/// After a database restore the agent re-enrolls and gets a new device id; the reports it
/// spooled before carry the old one. They go out under the new id, in order, instead of being
/// refused forever in front of every newer report.
#[tokio::test]
async fn reports_spooled_under_an_old_device_id_are_sent_under_the_new_one() {
    let collector = Collector::new();
    let (addr, _server) = collector.serve_http(0).await;
    let rig = Rig::new();
    for n in 1..=3 {
        let mut r = report(n);
        r.device_id = Some("old-device-id".into());
        rig.spool
            .with(|s| s.push(&serde_json::to_vec(&r).unwrap()))
            .unwrap();
    }
    let mut d = rig
        .deliverer(
            transport(
                &format!("http://{addr}"),
                None,
                vec![],
                Duration::from_secs(5),
            ),
            Some("tok"),
        )
        .with_device_id(Some("new-device-id".into()));
    assert_eq!(d.drain().await, Drained::Empty);
    assert_eq!(rig.backlog(), 0);
    assert_eq!(
        collector.ids(),
        vec!["report-000001", "report-000002", "report-000003"]
    );
    let device_ids = collector.seen.lock().unwrap().device_ids.clone();
    assert!(
        device_ids
            .iter()
            .all(|d| d.as_deref() == Some("new-device-id")),
        "{device_ids:?}"
    );
}

/// A well-authenticated report the collector finds wrong in content (409) is set aside, not
/// retried forever.
#[tokio::test]
async fn a_conflict_is_set_aside_not_retried() {
    let collector = Collector::new();
    let (addr, _server) = collector.serve_http(0).await;
    collector.set(Reply::Status(409, None));
    let rig = Rig::new();
    rig.push(1);
    let mut d = rig.deliverer(
        transport(
            &format!("http://{addr}"),
            None,
            vec![],
            Duration::from_secs(5),
        ),
        None,
    );
    assert_eq!(d.drain().await, Drained::Empty);
    assert_eq!(rig.status.snapshot().rejected_total, 1);
}
