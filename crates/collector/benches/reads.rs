//! Read benchmark: how long the admin reads take at fleet size, against a real
//! `posture-collector` on 127.0.0.1 with a SQLite database.
//!
//! Run with `cargo bench -p posture-collector --bench reads`. It starts the collector (which
//! creates the schema), writes a fleet straight into its database in one transaction (devices
//! with owners and three operating systems, one realistic report each, their latest findings
//! and today's daily row: what ingest would have written, without waiting for it), then times
//! each read sequentially and prints the median and p95 of each, the collector's peak RSS and the
//! database size. `POSTURE_BENCH_BIN=PATH` runs another collector build on the same fleet, to
//! compare builds (one older than the fleet-state migration reads the same rows).
//!
//! Knobs (environment): `POSTURE_BENCH_FLEET` (devices, default 20000), `POSTURE_BENCH_RUNS`
//! (requests per read, default 30).

// A benchmark's job is to print its results.
#![allow(clippy::print_stdout, clippy::print_stderr)]

#[path = "../tests/support/mod.rs"]
mod support;

use std::time::{Duration, Instant};

use posture_schema::Status;
use sqlx::Connection as _;
use support::report::report;
use support::{Collector, FormExt, TestDb};

fn env_number(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

const OSES: [&str; 3] = ["linux", "macos", "windows"];
const CHECKS: [&str; 3] = ["disk_encryption", "screen_lock", "firewall"];

/// Writes `n` devices with one report each into the collector's SQLite database.
async fn load_fleet(url: &str, n: usize) {
    let mut conn = sqlx::SqliteConnection::connect(url).await.unwrap();
    let now = i64::try_from(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_millis(),
    )
    .unwrap();
    let day = {
        let t = time::OffsetDateTime::from_unix_timestamp(now / 1000).unwrap();
        format!("{:04}-{:02}-{:02}", t.year(), u8::from(t.month()), t.day())
    };
    let mut tx = conn.begin().await.unwrap();
    for i in 0..n {
        let id = format!("{:08x}-0000-7000-8000-{:012x}", i, i);
        let os = OSES[i % 3];
        let failing = i % 4 == 0;
        let posture = if failing { "noncompliant" } else { "compliant" };
        let mut r = report(
            &id,
            &format!("host-{i}"),
            if failing { Status::Fail } else { Status::Pass },
        );
        r.report_id = format!("report-{i}");
        let body = serde_json::to_string(&r).unwrap();
        let seen = now - i64::try_from(i).unwrap() * 1000;
        sqlx::query(
            "INSERT INTO devices (id, machine_id, token_sha256, enrolled_at, enrolled_hostname, \
                 enrolled_platform, agent_version, owner, asset_state, last_seen_at, \
                 latest_report_id, latest_generated_at, latest_received_at, posture, \
                 noncompliant_since, hostname, os_family, os_name, os_version) \
             VALUES ($1, $2, NULL, $3, $4, $5, '1', $6, 'active', $7, $8, $7, $7, $9, $10, $4, \
                 $5, $5, '1')",
        )
        .bind(&id)
        .bind(format!("machine-{i}"))
        .bind(seen - 86_400_000)
        .bind(format!("host-{i}"))
        .bind(os)
        .bind(format!("owner-{}@example.com", i % 5000))
        .bind(seen)
        .bind(&r.report_id)
        .bind(posture)
        .bind(failing.then_some(seen))
        .execute(&mut *tx)
        .await
        .unwrap();
        sqlx::query(
            "INSERT INTO reports (report_id, device_id, generated_at, received_at, posture, body) \
             VALUES ($1, $2, $3, $3, $4, $5)",
        )
        .bind(&r.report_id)
        .bind(&id)
        .bind(seen)
        .bind(posture)
        .bind(&body)
        .execute(&mut *tx)
        .await
        .unwrap();
        for (c, check) in CHECKS.iter().enumerate() {
            let status = if failing && c == 1 { "fail" } else { "pass" };
            sqlx::query(
                "INSERT INTO latest_findings (device_id, check_id, report_id, title, clause, \
                     status, summary, status_since) VALUES ($1, $2, $3, $2, 'clause', $4, 'x', $5)",
            )
            .bind(&id)
            .bind(*check)
            .bind(&r.report_id)
            .bind(status)
            .bind(seen)
            .execute(&mut *tx)
            .await
            .unwrap();
        }
        sqlx::query(
            "INSERT INTO daily_posture (day, device_id, posture, generated_at) VALUES ($1, $2, $3, $4)",
        )
        .bind(&day)
        .bind(&id)
        .bind(posture)
        .bind(seen)
        .execute(&mut *tx)
        .await
        .unwrap();
    }
    tx.commit().await.unwrap();
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

fn vm_hwm_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let n = env_number("POSTURE_BENCH_FLEET", 20_000) as usize;
    let runs = env_number("POSTURE_BENCH_RUNS", 30) as usize;
    let db = TestDb::sqlite();
    let c = Collector::start(&db);
    let loading = Instant::now();
    load_fleet(db.url(), n).await;
    println!(
        "loaded {n} devices in {:.1} s",
        loading.elapsed().as_secs_f64()
    );

    // A dashboard session.
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let login = http
        .post(c.url("/login"))
        .form_pairs(&[("token", c.admin_token.as_str()), ("next", "/")])
        .send()
        .await
        .unwrap();
    assert_eq!(login.status(), 303);
    let cookie = login.headers()["set-cookie"]
        .to_str()
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .to_owned();

    // A cursor half-way down the list (devices were seen one second apart, in index order).
    let middle = n / 2;
    let first_seen: i64 = {
        let page = c.admin_get("/api/v1/devices?limit=1").await;
        page["devices"][0]["last_seen_at"].as_i64().unwrap()
    };
    let cursor = format!(
        "{}:{:08x}-0000-7000-8000-{:012x}",
        first_seen - i64::try_from(middle).unwrap() * 1000,
        middle,
        middle
    );
    let reads: Vec<(&str, String, bool)> = vec![
        (
            "devices, first page (default 1000)",
            "/api/v1/devices".into(),
            false,
        ),
        (
            "devices, first page of 50",
            "/api/v1/devices?limit=50".into(),
            false,
        ),
        (
            "devices ?os=windows",
            "/api/v1/devices?os=windows&limit=50".into(),
            false,
        ),
        (
            "devices ?owner=",
            "/api/v1/devices?owner=owner-1234@&limit=50".into(),
            false,
        ),
        (
            "devices ?status=noncompliant",
            "/api/v1/devices?status=noncompliant&limit=50".into(),
            false,
        ),
        (
            "devices ?hostname= (search)",
            "/api/v1/devices?hostname=host-12345&limit=50".into(),
            false,
        ),
        (
            "devices, deep page (offset)",
            format!("/api/v1/devices?limit=50&offset={middle}"),
            false,
        ),
        (
            "devices, deep page (cursor)",
            format!("/api/v1/devices?limit=50&cursor={cursor}"),
            false,
        ),
        (
            "one device with history",
            format!("/api/v1/devices/{:08x}-0000-7000-8000-{:012x}", 7, 7),
            false,
        ),
        ("summary", "/api/v1/summary".into(), false),
        ("dashboard /", "/".into(), true),
        ("/metrics", "/metrics".into(), false),
    ];
    println!(
        "{n} devices, {runs} requests per read, sequential; collector {}",
        std::env::var("POSTURE_BENCH_BIN").unwrap_or_else(|_| "this build".into())
    );
    println!("| Read | median | p95 | status |");
    println!("|---|---|---|---|");
    for (name, path, dashboard) in &reads {
        let mut times = Vec::new();
        let mut status = 0;
        for run in 0..=runs {
            let mut request = http.get(c.url(path));
            request = if *dashboard {
                request.header("cookie", &cookie)
            } else if path == "/metrics" {
                request.bearer_auth(&c.metrics_token)
            } else {
                request.bearer_auth(&c.admin_token)
            };
            let started = Instant::now();
            let response = request.send().await.unwrap();
            status = response.status().as_u16();
            let _ = response.bytes().await.unwrap();
            // The first request warms the caches and is not counted.
            if run > 0 {
                times.push(started.elapsed());
            }
        }
        times.sort();
        println!(
            "| {name} | {:.1} ms | {:.1} ms | {status} |",
            percentile(&times, 0.5).as_secs_f64() * 1000.0,
            percentile(&times, 0.95).as_secs_f64() * 1000.0
        );
    }
    let before = vm_hwm_kib(c.pid).unwrap_or(0);
    let started = Instant::now();
    let response = http
        .get(c.url("/api/v1/export/findings.csv"))
        .bearer_auth(&c.admin_token)
        .send()
        .await
        .unwrap();
    let bytes = response.bytes().await.unwrap().len();
    println!(
        "findings.csv: {bytes} bytes in {:.0} ms; collector peak RSS {} MiB before the export, {} MiB after",
        started.elapsed().as_secs_f64() * 1000.0,
        before / 1024,
        vm_hwm_kib(c.pid).unwrap_or(0) / 1024
    );
    if let TestDb::Sqlite { dir, .. } = &db {
        let size = |name: &str| std::fs::metadata(dir.path().join(name)).map_or(0, |m| m.len());
        println!(
            "database {} MiB, WAL {} MiB",
            size("collector.db") / (1 << 20),
            size("collector.db-wal") / (1 << 20)
        );
    }
    drop(c);
}
