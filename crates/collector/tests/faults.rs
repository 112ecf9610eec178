//! Faults: a collector killed under load, databases that are down at start or go away while it
//! runs, and addresses it must refuse.

mod support;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use posture_schema::Status;
use support::report::report;
use support::{BIN, Collector, TestDb};

mod sigkill {
    use super::*;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn on_sqlite() {
        let db = TestDb::sqlite();
        every_acknowledged_report_survives_a_sigkill_under_load(&db).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    #[cfg_attr(
        posture_skip_postgres,
        ignore = "needs PostgreSQL: run scripts/start-postgres.sh and export POSTURE_TEST_POSTGRES_URL"
    )]
    async fn on_postgres() {
        let db = TestDb::postgres("every_acknowledged_report_survives_a_sigkill").await;
        every_acknowledged_report_survives_a_sigkill_under_load(&db).await;
        db.cleanup().await;
    }
}

/// Load from 16 devices, SIGKILL mid-flight, restart on the same database: every report that
/// got a 2xx must be there. The load tasks use their own HTTP client so the test alone owns the
/// process handle.
#[allow(clippy::print_stderr)] // how much load the kill hit is worth seeing in the test output
async fn every_acknowledged_report_survives_a_sigkill_under_load(db: &TestDb) {
    let c = Collector::start(db);
    let secrets = c.secrets();
    let base = c.base.clone();
    let mut devices = Vec::new();
    for i in 0..16 {
        devices.push(c.enroll(&format!("m-{i}"), &format!("h-{i}")).await);
    }
    let acked: Arc<Mutex<Vec<(String, String)>>> = Arc::default();
    let http = support::http_client();
    let mut tasks = Vec::new();
    for (id, token) in devices.clone() {
        let acked = Arc::clone(&acked);
        let http = http.clone();
        let url = format!("{base}/api/v1/reports");
        tasks.push(tokio::spawn(async move {
            for _ in 0..200 {
                let r = report(&id, "h", Status::Pass);
                let sent = http
                    .post(&url)
                    .bearer_auth(&token)
                    .header("content-type", "application/json")
                    .body(serde_json::to_vec(&r).unwrap())
                    .send()
                    .await;
                match sent {
                    Ok(response) if response.status().is_success() => {
                        acked.lock().unwrap().push((id.clone(), r.report_id));
                    }
                    _ => return,
                }
            }
        }));
    }
    for _ in 0..100 {
        tokio::time::sleep(Duration::from_millis(50)).await;
        if acked.lock().unwrap().len() >= 300 {
            break;
        }
    }
    c.kill();
    for t in tasks {
        let _ = t.await;
    }
    let acked = acked.lock().unwrap().clone();
    assert!(
        acked.len() >= 50,
        "load was too light to mean anything: {}",
        acked.len()
    );

    let c = Collector::start_with(db, &[], Some(secrets));
    let mut checked = 0;
    for (id, _) in &devices {
        let stored = c
            .admin_get(&format!("/api/v1/devices/{id}/reports?limit=10000"))
            .await;
        let stored: std::collections::HashSet<String> = stored["reports"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["report_id"].as_str().unwrap().to_owned())
            .collect();
        for (_, report_id) in acked.iter().filter(|(d, _)| d == id) {
            assert!(
                stored.contains(report_id),
                "report {report_id} was acknowledged but is gone after the restart"
            );
            checked += 1;
        }
    }
    assert_eq!(checked, acked.len());
    eprintln!("{checked} acknowledged reports all survived SIGKILL");
}

#[test]
fn an_unreachable_database_at_start_is_a_clear_error_and_a_failed_exit() {
    for url in [
        "postgres://posture:secret@127.0.0.1:1/posture",
        "sqlite:/proc/posture-collector-cannot-create/db.sqlite",
    ] {
        let out = std::process::Command::new(BIN)
            .args([
                "serve",
                "--listen",
                "127.0.0.1:0",
                "--busy-timeout-ms",
                "1000",
                "--database",
                url,
            ])
            .env("POSTURE_COLLECTOR_LOG", "info")
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(1), "{url}: {out:?}");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains("cannot open the database"), "{stderr}");
        assert!(
            !stderr.contains("secret"),
            "the password is not logged: {stderr}"
        );
        assert!(!String::from_utf8_lossy(&out.stdout).contains("listening"));
    }
}

#[test]
fn plain_http_beyond_loopback_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let db = format!("sqlite:{}", dir.path().join("c.db").display());
    let out = std::process::Command::new(BIN)
        .args(["serve", "--listen", "0.0.0.0:0", "--database", &db])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("refusing to serve plain HTTP on 0.0.0.0"),
        "{stderr}"
    );
    let out = std::process::Command::new(BIN)
        .args(["serve", "--tls-cert", "/nonexistent.pem", "--database", &db])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "--tls-cert needs --tls-key");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn https_with_a_given_certificate_serves_beyond_loopback_rules() {
    let dir = tempfile::tempdir().unwrap();
    let cert = rcgen::generate_simple_self_signed(vec!["127.0.0.1".into()]).unwrap();
    let cert_path = dir.path().join("cert.pem");
    let key_path = dir.path().join("key.pem");
    fs_err::write(&cert_path, cert.cert.pem()).unwrap();
    fs_err::write(&key_path, cert.signing_key.serialize_pem()).unwrap();
    let db = TestDb::sqlite();
    let c = Collector::start_with(
        &db,
        &[
            "--tls-cert",
            cert_path.to_str().unwrap(),
            "--tls-key",
            key_path.to_str().unwrap(),
        ],
        None,
    );
    assert!(c.base.starts_with("https://127.0.0.1:"), "{}", c.base);
    let root = reqwest::Certificate::from_pem(cert.cert.pem().as_bytes()).unwrap();
    let client = reqwest::Client::builder()
        .tls_certs_only([root])
        .build()
        .unwrap();
    let response = client.get(c.url("/healthz")).send().await.unwrap();
    assert_eq!(response.status(), 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_locked_sqlite_database_answers_503_with_retry_after_and_recovers() {
    let db = TestDb::sqlite();
    let c = Collector::start_with(&db, &["--busy-timeout-ms", "300"], None);
    let (id, token) = c.enroll("m-1", "h").await;

    use sqlx::Connection as _;
    let mut blocker = sqlx::SqliteConnection::connect(db.url()).await.unwrap();
    sqlx::query("BEGIN EXCLUSIVE")
        .execute(&mut blocker)
        .await
        .unwrap();

    let response = c
        .http
        .post(c.url("/api/v1/reports"))
        .bearer_auth(&token)
        .header("content-type", "application/json")
        .body(serde_json::to_vec(&report(&id, "h", Status::Pass)).unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 503);
    assert_eq!(response.headers()["retry-after"], "5");

    sqlx::query("ROLLBACK").execute(&mut blocker).await.unwrap();
    drop(blocker);
    let (status, body) = c.post_report(&token, &report(&id, "h", Status::Pass)).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(c.get_text("/healthz", None).await.0, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[cfg_attr(
    posture_skip_postgres,
    ignore = "needs PostgreSQL: run scripts/start-postgres.sh and export POSTURE_TEST_POSTGRES_URL"
)]
async fn a_postgres_server_that_goes_away_answers_503_and_the_collector_recovers() {
    let db = TestDb::postgres("a_postgres_server_that_goes_away").await;
    let c = Collector::start_with(&db, &["--busy-timeout-ms", "1000"], None);
    let (id, token) = c.enroll("m-1", "h").await;
    assert_eq!(
        c.post_report(&token, &report(&id, "h", Status::Pass))
            .await
            .0,
        200
    );

    // Close the database to new connections and cut the collector's existing ones.
    let TestDb::Postgres {
        admin_url, name, ..
    } = &db
    else {
        unreachable!()
    };
    use sqlx::Connection as _;
    let mut admin = sqlx::PgConnection::connect(admin_url).await.unwrap();
    let set_allowed = |allowed: bool| {
        sqlx::AssertSqlSafe(format!("ALTER DATABASE {name} ALLOW_CONNECTIONS {allowed}"))
    };
    sqlx::query(set_allowed(false))
        .execute(&mut admin)
        .await
        .unwrap();
    sqlx::query("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1")
        .bind(name)
        .execute(&mut admin)
        .await
        .unwrap();

    let mut saw_503 = false;
    for _ in 0..5 {
        let response = c
            .http
            .post(c.url("/api/v1/reports"))
            .bearer_auth(&token)
            .header("content-type", "application/json")
            .body(serde_json::to_vec(&report(&id, "h", Status::Pass)).unwrap())
            .send()
            .await
            .unwrap();
        assert!(
            response.status() == 503 || response.status() == 200,
            "only 503 while the database is away, got {}",
            response.status()
        );
        if response.status() == 503 {
            assert!(response.headers().contains_key("retry-after"));
            saw_503 = true;
            break;
        }
    }
    assert!(saw_503, "the collector noticed the database was gone");
    assert_eq!(c.get_text("/healthz", None).await.0, 503);

    sqlx::query(set_allowed(true))
        .execute(&mut admin)
        .await
        .unwrap();
    let mut recovered = false;
    for _ in 0..20 {
        if c.post_report(&token, &report(&id, "h", Status::Pass))
            .await
            .0
            == 200
        {
            recovered = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    assert!(recovered, "the collector recovered without a restart");
    drop(c);
    db.cleanup().await;
}
