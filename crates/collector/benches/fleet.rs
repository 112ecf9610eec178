//! Fleet benchmark: the collector at company size, against the release binary on 127.0.0.1.
//!
//! Run with `cargo bench -p posture-collector --bench fleet`. For SQLite, and for PostgreSQL when
//! `POSTURE_TEST_POSTGRES_URL` is set (else it says it skipped it):
//!
//! 1. *Live fleet*: enrolls `POSTURE_FLEET_DEVICES` unique devices with owners through the HTTP
//!    API and posts one agent report each (the report the agent printed for a Linux machine,
//!    `tests/fixtures/protocol/report-0.1.0-linux.json`, with each device's id, host name and
//!    machine id), from `POSTURE_FLEET_CLIENTS` keep-alive clients. Then, while those clients keep
//!    posting new reports, times every admin read (p50/p95 over `POSTURE_FLEET_READ_ROUNDS`),
//!    and prints the ingest rate meanwhile, the collector's RSS, the database and WAL size, and
//!    times each export in full (`devices.csv`, `findings.csv`, `devices.ndjson`,
//!    `findings.ndjson`, `ocsf.ndjson`) with the collector's peak RSS during each.
//! 2. *History*: on a second database, enrolls `POSTURE_FLEET_HISTORY_DEVICES` devices through
//!    the API, writes `POSTURE_FLEET_DAYS` days of check-ins every 15 minutes for each straight
//!    into the store's tables with the store's own encoding (three status changes a day), posts
//!    one live report each, and prints storage per device and year and per report, then times a
//!    roll-up pass and a prune of everything but the last day (`posture-collector prune`).
//!
//! Sizes are small enough to run in minutes by default; the sizes are
//! `POSTURE_FLEET_DEVICES=100000 POSTURE_FLEET_HISTORY_DEVICES=10000 POSTURE_FLEET_DAYS=365`.

#![allow(clippy::print_stdout, clippy::print_stderr)]

#[path = "../tests/support/mod.rs"]
mod support;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use posture_collector::store::content::{self, DAY_MS, IdToken, Record, TimeToken};
use posture_schema::Posture;
use support::{Collector, FormExt as _, TestDb};

const REPORT: &str = include_str!(concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../tests/fixtures/protocol/report-0.1.0-linux.json"
));
const FIXTURE_ID: &str = "01a24581-0fc4-740f-80e2-220340504886";

fn env_number(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// The fixture report of device `n`: its id, host name and machine id, and a fresh report id.
fn body_of(device_id: &str, n: usize) -> String {
    let mut v: serde_json::Value = serde_json::from_str(REPORT).unwrap();
    v["report_id"] = uuid::Uuid::now_v7().to_string().into();
    v["device_id"] = device_id.into();
    v["device"]["hostname"] = format!("fleet-host-{n}").into();
    v["device"]["machine_id"] = format!("fleet-machine-{n}").into();
    v["generated_at"] = time::OffsetDateTime::now_utc()
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap()
        .into();
    serde_json::to_string(&v).unwrap()
}

fn with_new_id(body: &str) -> String {
    let mut v: serde_json::Value = serde_json::from_str(body).unwrap();
    v["report_id"] = uuid::Uuid::now_v7().to_string().into();
    serde_json::to_string(&v).unwrap()
}

fn rss_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1).and_then(|n| n.parse().ok()))
        })
        .unwrap_or(0)
}

/// Peak RSS sampler.
fn sample_rss(pid: u32, stop: Arc<AtomicBool>, peak: Arc<AtomicU64>) {
    std::thread::spawn(move || {
        while !stop.load(Ordering::Relaxed) {
            peak.fetch_max(rss_kib(pid), Ordering::Relaxed);
            std::thread::sleep(Duration::from_millis(50));
        }
    });
}

fn pct(v: &mut [Duration], p: f64) -> Duration {
    if v.is_empty() {
        return Duration::ZERO;
    }
    v.sort();
    let i = ((v.len() as f64 - 1.0) * p).round() as usize;
    v[i]
}

fn ms(d: Duration) -> String {
    format!("{:.1} ms", d.as_secs_f64() * 1000.0)
}

fn mib(bytes: u64) -> String {
    format!("{:.1} MiB", bytes as f64 / 1_048_576.0)
}

/// The exports the live fleet times.
const EXPORTS: [&str; 5] = [
    "/api/v1/export/devices.csv",
    "/api/v1/export/findings.csv",
    "/api/v1/export/devices.ndjson",
    "/api/v1/export/findings.ndjson",
    "/api/v1/export/ocsf.ndjson",
];

/// One export's figures.
struct ExportRun {
    path: &'static str,
    lines: u64,
    bytes: u64,
    time: Duration,
    rss_peak_kib: u64,
}

/// Downloads an export chunk by chunk (counting, not keeping, what arrives) with the
/// collector's RSS sampled meanwhile.
async fn time_export(c: &Collector, path: &'static str) -> ExportRun {
    let peak = Arc::new(AtomicU64::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    sample_rss(c.pid, Arc::clone(&stop), Arc::clone(&peak));
    let t = Instant::now();
    let mut response = c
        .http
        .get(c.url(path))
        .bearer_auth(&c.admin_token)
        .send()
        .await
        .unwrap();
    assert!(
        response.status().is_success(),
        "{path}: {}",
        response.status()
    );
    let (mut lines, mut bytes) = (0u64, 0u64);
    while let Some(chunk) = response.chunk().await.unwrap() {
        bytes += chunk.len() as u64;
        lines += chunk.iter().filter(|b| **b == b'\n').count() as u64;
    }
    let time = t.elapsed();
    stop.store(true, Ordering::Relaxed);
    ExportRun {
        path,
        lines,
        bytes,
        time,
        rss_peak_kib: peak.load(Ordering::Relaxed),
    }
}

/// Database and WAL bytes.
async fn db_size(db: &TestDb) -> (u64, u64) {
    match db {
        TestDb::Sqlite { url, .. } => {
            let path = url.trim_start_matches("sqlite:");
            let len = |p: String| std::fs::metadata(p).map(|m| m.len()).unwrap_or(0);
            (len(path.to_owned()), len(format!("{path}-wal")))
        }
        TestDb::Postgres { url, .. } => {
            let pool = sqlx::PgPool::connect(url).await.unwrap();
            let n: i64 = sqlx::query_scalar("SELECT pg_database_size(current_database())")
                .fetch_one(&pool)
                .await
                .unwrap();
            (n as u64, 0)
        }
    }
}

/// Enrolls `count` devices with owners through the API from `clients` clients and posts one
/// report each; returns (device id, token, body) and the reports/s of that phase.
async fn load(c: &Arc<Collector>, count: usize, clients: usize) -> Vec<(String, String, String)> {
    let next = Arc::new(AtomicU64::new(0));
    let mut tasks = Vec::new();
    for _ in 0..clients {
        let c = Arc::clone(c);
        let next = Arc::clone(&next);
        tasks.push(tokio::spawn(async move {
            let mut out = Vec::new();
            loop {
                let n = next.fetch_add(1, Ordering::Relaxed) as usize;
                if n >= count {
                    return out;
                }
                let (id, token) = c
                    .enroll(&format!("fleet-machine-{n}"), &format!("fleet-host-{n}"))
                    .await;
                let (status, _) = c
                    .admin_send(
                        reqwest::Method::PATCH,
                        &format!("/api/v1/devices/{id}"),
                        serde_json::json!({"owner": format!("owner-{n}@example.com")}),
                    )
                    .await;
                assert_eq!(status, 200);
                let body = body_of(&id, n);
                let (status, reply) = c
                    .post_raw("/api/v1/reports", Some(&token), body.clone().into_bytes())
                    .await;
                assert_eq!(status, 200, "{reply}");
                out.push((id, token, body));
            }
        }));
    }
    let mut all = Vec::new();
    for t in tasks {
        all.extend(t.await.unwrap());
    }
    all
}

async fn live_fleet(db: &TestDb, label: &str) {
    let devices = env_number("POSTURE_FLEET_DEVICES", 2000) as usize;
    let clients = env_number("POSTURE_FLEET_CLIENTS", 24) as usize;
    let rounds = env_number("POSTURE_FLEET_READ_ROUNDS", 20) as usize;
    let c = Arc::new(Collector::start(db));
    let stop_rss = Arc::new(AtomicBool::new(false));
    let peak = Arc::new(AtomicU64::new(0));
    sample_rss(c.pid, Arc::clone(&stop_rss), Arc::clone(&peak));

    let started = Instant::now();
    let fleet = Arc::new(load(&c, devices, clients).await);
    let load_secs = started.elapsed().as_secs_f64();
    println!(
        "[{label}] loaded {devices} devices (enroll + owner + report) in {load_secs:.1} s: {:.0} devices/s",
        devices as f64 / load_secs
    );

    // Ingest keeps running while the reads are timed.
    let stop = Arc::new(AtomicBool::new(false));
    let posted = Arc::new(AtomicU64::new(0));
    let mut ingest = Vec::new();
    for w in 0..clients {
        let (c, fleet, stop, posted) = (
            Arc::clone(&c),
            Arc::clone(&fleet),
            Arc::clone(&stop),
            Arc::clone(&posted),
        );
        ingest.push(tokio::spawn(async move {
            let mut n = w;
            while !stop.load(Ordering::Relaxed) {
                let (_, token, body) = &fleet[n % fleet.len()];
                n += clients;
                let (status, _) = c
                    .post_raw(
                        "/api/v1/reports",
                        Some(token),
                        with_new_id(body).into_bytes(),
                    )
                    .await;
                if status == 200 {
                    posted.fetch_add(1, Ordering::Relaxed);
                }
            }
        }));
    }

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
    let cookie = login
        .headers()
        .get("set-cookie")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .unwrap_or_default()
        .to_owned();
    let (one, _, _) = &fleet[fleet.len() / 2];
    let reads: Vec<(&str, String, bool)> = vec![
        (
            "devices, first page",
            "/api/v1/devices?limit=50".into(),
            false,
        ),
        (
            "devices ?os=windows",
            "/api/v1/devices?limit=50&os=windows".into(),
            false,
        ),
        (
            "devices ?owner=",
            "/api/v1/devices?limit=50&owner=owner-7".into(),
            false,
        ),
        (
            "devices search (host)",
            "/api/v1/devices?limit=50&hostname=host-42".into(),
            false,
        ),
        (
            "devices deep page",
            format!(
                "/api/v1/devices?limit=50&offset={}",
                devices.saturating_sub(100)
            ),
            false,
        ),
        ("summary", "/api/v1/summary".into(), false),
        ("one device", format!("/api/v1/devices/{one}"), false),
        (
            "its history",
            format!("/api/v1/devices/{one}/reports"),
            false,
        ),
        ("dashboard /", "/".into(), true),
        (
            "dashboard ?status=noncompliant",
            "/?status=noncompliant".into(),
            true,
        ),
        ("dashboard device page", format!("/devices/{one}"), true),
        ("/metrics", "/metrics".into(), false),
    ];
    let ingest_started = Instant::now();
    let posted_before = posted.load(Ordering::Relaxed);
    let mut table = Vec::new();
    for (name, path, page) in &reads {
        let mut times = Vec::new();
        for _ in 0..rounds {
            let mut rq = http.get(c.url(path));
            rq = if *page {
                rq.header("cookie", &cookie)
            } else if path == "/metrics" {
                rq.bearer_auth(&c.metrics_token)
            } else {
                rq.bearer_auth(&c.admin_token)
            };
            let t = Instant::now();
            let response = rq.send().await.unwrap();
            let status = response.status();
            let _ = response.bytes().await;
            times.push(t.elapsed());
            assert!(status.is_success(), "{name}: {status}");
        }
        table.push((
            name.to_string(),
            pct(&mut times, 0.5),
            pct(&mut times, 0.95),
        ));
    }
    let read_secs = ingest_started.elapsed().as_secs_f64();
    let rate = (posted.load(Ordering::Relaxed) - posted_before) as f64 / read_secs;

    // Every export in full, while the clients keep posting, the collector's RSS sampled during
    // each.
    let mut exports = Vec::new();
    for path in EXPORTS {
        exports.push(time_export(&c, path).await);
    }
    stop.store(true, Ordering::Relaxed);
    for t in ingest {
        let _ = t.await;
    }
    stop_rss.store(true, Ordering::Relaxed);
    let (size, wal) = db_size(db).await;

    println!("\n[{label}] {devices} devices, reads while {clients} clients post reports");
    println!("| Read | p50 | p95 |");
    println!("|---|---|---|");
    for (name, p50, p95) in &table {
        println!("| {name} | {} | {} |", ms(*p50), ms(*p95));
    }
    println!("ingest during reads: {rate:.0} reports/s");
    println!(
        "\n| Export (one run, while clients post) | lines | size | time | collector RSS peak during |"
    );
    println!("|---|---|---|---|---|");
    for e in &exports {
        println!(
            "| {} | {} | {} | {} | {} |",
            e.path.trim_start_matches("/api/v1/export/"),
            e.lines,
            mib(e.bytes),
            ms(e.time),
            mib(e.rss_peak_kib * 1024)
        );
    }
    println!(
        "collector RSS peak: {}",
        mib(peak.load(Ordering::Relaxed) * 1024)
    );
    println!(
        "database: {} (WAL {}), {} per device",
        mib(size),
        mib(wal),
        mib(size / devices.max(1) as u64)
    );
}

/// Rows to write for one device's history: (day, records, block) and the parts it uses.
struct History {
    blocks: Vec<(i64, i64, Vec<u8>)>,
    reports: u64,
}

/// A year (or `days`) of check-ins every 15 minutes ending yesterday, with a check's status
/// flipping three times a day (`parts[1]` and `alt` alternate).
fn history(today: i64, days: i64, parts: &[i64], alt: i64, seed: u64) -> History {
    let mut blocks = Vec::new();
    let mut reports = 0;
    let mut x = seed | 1;
    for day in (today - days)..today {
        let mut data = Vec::new();
        let mut n = 0;
        for slot in 0..96i64 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let received_at = day * DAY_MS + slot * 900_000 + (x % 60_000) as i64;
            let changed = (slot / 32) % 2 == 1; // three changes a day
            let mut p = parts.to_vec();
            if changed {
                p[2] = alt;
            }
            let id = uuid::Builder::from_unix_timestamp_millis(
                (received_at - 1500) as u64,
                &x.to_le_bytes().repeat(2)[..10].try_into().unwrap(),
            )
            .into_uuid();
            Record {
                received_at,
                posture: if changed {
                    Posture::Compliant
                } else {
                    Posture::Noncompliant
                },
                report_id: IdToken::Uuid(*id.as_bytes()),
                generated_at: TimeToken::Utc {
                    secs: received_at / 1000 - 2,
                    digits: 9,
                    fraction: (x % 1_000_000_000) as u32,
                },
                trigger: None,
                parts: p,
            }
            .encode(day * DAY_MS, &mut data);
            n += 1;
        }
        reports += n as u64;
        blocks.push((day, n, data));
    }
    History { blocks, reports }
}

macro_rules! bulk_loader {
    ($name:ident, $db:ty) => {
        /// Writes parts and blocks through the store's tables; returns reports written.
        async fn $name(
            pool: &sqlx::Pool<$db>,
            fleet: &[(String, String, String)],
            days: i64,
        ) -> u64 {
            use sqlx::Row as _;
            let today = content::day_of(posture_collector::app::now_ms());
            let mut total = 0;
            // The check parts are the same for every device (same fixture): stored once. A
            // changed variant of the second check stands for the status changes.
            let first = content::split(&fleet[0].2).unwrap();
            let variant = String::from_utf8(first.checks[1].to_vec())
                .unwrap()
                .replace("\"fail\"", "\"pass\"");
            let mut shared = Vec::new();
            for (i, bytes) in first
                .checks
                .iter()
                .map(|c| c.to_vec())
                .chain([variant.into_bytes()])
                .enumerate()
            {
                let _ = i;
                let part = content::Part {
                    kind: content::PartKind::Check,
                    bytes: &bytes,
                };
                shared.push(insert_part(pool, &part, today).await);
            }
            let alt = shared.pop().unwrap();
            for (n, (device, _, body)) in fleet.iter().enumerate() {
                let split = content::split(body).unwrap();
                let skeleton = content::Part {
                    kind: content::PartKind::Skeleton,
                    bytes: &split.skeleton,
                };
                let mut parts = vec![insert_part(pool, &skeleton, today).await];
                parts.extend(&shared);
                let h = history(today, days, &parts, alt, n as u64 + 7);
                total += h.reports;
                for chunk in h.blocks.chunks(200) {
                    let mut q = sqlx::QueryBuilder::<$db>::new(
                        "INSERT INTO checkin_blocks (device_id, day, records, data) ",
                    );
                    q.push_values(chunk, |mut b, (day, records, data)| {
                        b.push_bind(device.clone())
                            .push_bind(*day)
                            .push_bind(*records)
                            .push_bind(data.clone());
                    });
                    q.build().execute(pool).await.unwrap();
                }
            }
            async fn insert_part(
                pool: &sqlx::Pool<$db>,
                part: &content::Part<'_>,
                day: i64,
            ) -> i64 {
                let row = sqlx::query(
                    "INSERT INTO report_parts (digest, data, raw_bytes, check_id, status, last_day) \
                     VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (digest) DO UPDATE \
                     SET last_day = excluded.last_day RETURNING id",
                )
                .bind(part.digest())
                .bind(content::compress(part.bytes))
                .bind(part.bytes.len() as i64)
                .bind(part.check_status().map(|v| v.0))
                .bind(part.check_status().map(|v| v.1))
                .bind(day)
                .fetch_one(pool)
                .await
                .unwrap();
                row.try_get("id").unwrap()
            }
            total
        }
    };
}
bulk_loader!(bulk_sqlite, sqlx::Sqlite);
bulk_loader!(bulk_postgres, sqlx::Postgres);

/// Bytes of the check-in storage: blocks, parts, recent ids.
async fn storage_bytes(db: &TestDb) -> (u64, u64) {
    match db {
        TestDb::Sqlite { url, .. } => {
            let pool = sqlx::SqlitePool::connect(url).await.unwrap();
            // Payload bytes (the file also holds b-tree overhead: see the file size).
            let blocks: i64 = sqlx::query_scalar(
                "SELECT COALESCE(SUM(length(data)) + COUNT(*) * 60, 0) FROM checkin_blocks",
            )
            .fetch_one(&pool)
            .await
            .unwrap();
            let parts: i64 = sqlx::query_scalar(
                "SELECT COALESCE(SUM(length(data)) + COUNT(*) * 80, 0) FROM report_parts",
            )
            .fetch_one(&pool)
            .await
            .unwrap();
            (blocks as u64, parts as u64)
        }
        TestDb::Postgres { url, .. } => {
            let pool = sqlx::PgPool::connect(url).await.unwrap();
            let blocks: i64 = sqlx::query_scalar("SELECT pg_total_relation_size('checkin_blocks')")
                .fetch_one(&pool)
                .await
                .unwrap();
            let parts: i64 = sqlx::query_scalar("SELECT pg_total_relation_size('report_parts')")
                .fetch_one(&pool)
                .await
                .unwrap();
            (blocks as u64, parts as u64)
        }
    }
}

async fn fleet_history(db: &TestDb, label: &str) {
    let devices = env_number("POSTURE_FLEET_HISTORY_DEVICES", 1000) as usize;
    let days = env_number("POSTURE_FLEET_DAYS", 30) as i64;
    let clients = env_number("POSTURE_FLEET_CLIENTS", 24) as usize;
    let c = Arc::new(Collector::start(db));
    let fleet = load(&c, devices, clients).await;
    let t = Instant::now();
    let reports = match db {
        TestDb::Sqlite { url, .. } => {
            let pool = sqlx::SqlitePool::connect(url).await.unwrap();
            bulk_sqlite(&pool, &fleet, days).await
        }
        TestDb::Postgres { url, .. } => {
            let pool = sqlx::PgPool::connect(url).await.unwrap();
            bulk_postgres(&pool, &fleet, days).await
        }
    };
    println!(
        "\n[{label}] wrote {reports} check-ins ({devices} devices x {days} days x 96) in {:.1} s",
        t.elapsed().as_secs_f64()
    );
    // Every history is readable and the latest report is the live one.
    let (one, _, body) = &fleet[0];
    let h = c
        .admin_get(&format!("/api/v1/devices/{one}/reports?limit=200"))
        .await;
    let last = h["reports"][199]["report_id"].as_str().unwrap().to_owned();
    let (status, _) = c
        .get_text(
            &format!("/api/v1/devices/{one}/reports/{last}"),
            Some(&c.admin_token),
        )
        .await;
    assert_eq!(status, 200, "a generated report is readable");
    let latest: serde_json::Value = serde_json::from_str(body).unwrap();
    let (status, back) = c
        .get_text(
            &format!(
                "/api/v1/devices/{one}/reports/{}",
                latest["report_id"].as_str().unwrap()
            ),
            Some(&c.admin_token),
        )
        .await;
    assert_eq!((status, back.as_str()), (200, body.as_str()));
    drop(c);

    let (size, wal) = db_size(db).await;
    let (blocks, parts) = storage_bytes(db).await;
    let per_device_year = (blocks + parts) as f64 / devices as f64 * 365.0 / days as f64;
    println!("| {label}: storage | value |");
    println!("|---|---|");
    println!("| database file | {} (WAL {}) |", mib(size), mib(wal));
    println!("| check-in blocks | {} |", mib(blocks));
    println!("| report parts | {} |", mib(parts));
    println!(
        "| per report (blocks + parts) | {:.1} B |",
        (blocks + parts) as f64 / reports as f64
    );
    println!(
        "| per device and year, check-ins + parts | {:.2} MB |",
        per_device_year / 1e6
    );
    println!(
        "| per device and year, whole database | {:.2} MB |",
        (size + wal) as f64 / devices as f64 * 365.0 / days as f64 / 1e6
    );

    let prune = |retention: &str| {
        let t = Instant::now();
        let out = std::process::Command::new(support::BIN)
            .args([
                "prune",
                "--retention-days",
                retention,
                "--database",
                db.url(),
            ])
            .env("POSTURE_COLLECTOR_LOG", "warn")
            .output()
            .unwrap();
        assert!(out.status.success(), "{out:?}");
        (
            t.elapsed(),
            String::from_utf8_lossy(&out.stdout).trim().to_owned(),
        )
    };
    let (rollup_time, rollup_out) = prune("100000");
    println!(
        "| roll-up of {days} days (first pass) | {:.1} s: {rollup_out} |",
        rollup_time.as_secs_f64()
    );
    let (prune_time, prune_out) = prune("1");
    let pruned: f64 = prune_out
        .strip_prefix("pruned ")
        .and_then(|s| s.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .unwrap_or(0.0);
    println!(
        "| prune to 1 day | {:.1} s, {:.0} reports/s: {prune_out} |",
        prune_time.as_secs_f64(),
        pruned / prune_time.as_secs_f64()
    );
    let (size, wal) = db_size(db).await;
    println!(
        "| database after prune | {} (WAL {}) |",
        mib(size),
        mib(wal)
    );
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let mut dbs = vec![(TestDb::sqlite(), TestDb::sqlite(), "SQLite")];
    if std::env::var(support::ENV_POSTGRES_URL).is_ok_and(|v| !v.is_empty()) {
        dbs.push((
            TestDb::postgres("fleet").await,
            TestDb::postgres("fleet_history").await,
            "PostgreSQL",
        ));
    } else {
        println!(
            "PostgreSQL skipped: {} is not set (bash scripts/start-postgres.sh prints it)",
            support::ENV_POSTGRES_URL
        );
    }
    for (live, hist, label) in dbs {
        if env_number("POSTURE_FLEET_DEVICES", 2000) > 0 {
            live_fleet(&live, label).await;
        }
        live.cleanup().await;
        if env_number("POSTURE_FLEET_HISTORY_DEVICES", 1000) > 0 {
            fleet_history(&hist, label).await;
        }
        hist.cleanup().await;
    }
    let _ = FIXTURE_ID;
}
