//! Load benchmark: sustained report ingest against a real `posture-collector` on 127.0.0.1.
//!
//! Run with `cargo bench -p posture-collector --bench ingest`. It enrolls devices, then keeps a
//! fixed number of concurrent agents posting realistic reports (three checks with evidence,
//! about 7 KB each) for a fixed time, and prints reports/second and latency percentiles. SQLite
//! always; PostgreSQL too when `POSTURE_TEST_POSTGRES_URL` is set.
//!
//! Knobs (environment): `POSTURE_BENCH_SECONDS` (default 10), `POSTURE_BENCH_CONCURRENCY`
//! (default 32), `POSTURE_BENCH_DEVICES` (default 200). Load is bounded by time and only ever
//! aimed at loopback.

// A benchmark's job is to print its results.
#![allow(clippy::print_stdout, clippy::print_stderr)]

#[path = "../tests/support/mod.rs"]
mod support;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use posture_schema::Status;
use support::report::report;
use support::{Collector, TestDb};

const PLACEHOLDER: &str = "REPORT-ID-PLACEHOLDER";

fn env_number(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

struct Outcome {
    reports: usize,
    errors: usize,
    elapsed: Duration,
    latencies: Vec<Duration>,
    body_bytes: usize,
}

async fn run(db: &TestDb, label: &str) {
    let seconds = env_number("POSTURE_BENCH_SECONDS", 10);
    let concurrency = env_number("POSTURE_BENCH_CONCURRENCY", 32) as usize;
    let device_count = env_number("POSTURE_BENCH_DEVICES", 200) as usize;

    let c = Collector::start(db);
    let mut devices = Vec::new();
    for i in 0..device_count {
        let (id, token) = c
            .enroll(&format!("bench-{i}"), &format!("bench-host-{i}"))
            .await;
        let status = if i % 4 == 0 {
            Status::Fail
        } else {
            Status::Pass
        };
        let mut r = report(&id, &format!("bench-host-{i}"), status);
        r.report_id = PLACEHOLDER.into();
        // Each device reports the machine id it enrolled with, as real agents do: a different
        // one would be recorded as an identity change on every report.
        r.device.machine_id = Some(format!("bench-{i}"));
        devices.push((token, serde_json::to_string(&r).unwrap()));
    }
    let body_bytes = devices[0].1.len();
    let devices = Arc::new(devices);
    let stop = Arc::new(AtomicBool::new(false));
    let http = support::http_client();
    let url = c.url("/api/v1/reports");

    let started = Instant::now();
    let mut workers = Vec::new();
    for w in 0..concurrency {
        let devices = Arc::clone(&devices);
        let stop = Arc::clone(&stop);
        let http = http.clone();
        let url = url.clone();
        workers.push(tokio::spawn(async move {
            let mut latencies = Vec::new();
            let mut errors = 0usize;
            let mut n = w;
            while !stop.load(Ordering::Relaxed) {
                let (token, template) = &devices[n % devices.len()];
                n += concurrency;
                let body = template.replace(PLACEHOLDER, &uuid::Uuid::now_v7().to_string());
                let sent = Instant::now();
                let ok = match http
                    .post(&url)
                    .bearer_auth(token)
                    .header("content-type", "application/json")
                    .body(body)
                    .send()
                    .await
                {
                    Ok(response) => {
                        let ok = response.status().is_success();
                        let _ = response.bytes().await;
                        ok
                    }
                    Err(_) => false,
                };
                if ok {
                    latencies.push(sent.elapsed());
                } else {
                    errors += 1;
                }
            }
            (latencies, errors)
        }));
    }
    tokio::time::sleep(Duration::from_secs(seconds)).await;
    stop.store(true, Ordering::Relaxed);
    let mut outcome = Outcome {
        reports: 0,
        errors: 0,
        elapsed: Duration::ZERO,
        latencies: Vec::new(),
        body_bytes,
    };
    for w in workers {
        let (latencies, errors) = w.await.unwrap();
        outcome.errors += errors;
        outcome.latencies.extend(latencies);
    }
    outcome.elapsed = started.elapsed();
    outcome.reports = outcome.latencies.len();
    outcome.latencies.sort();
    let pct = |p: f64| {
        let i = ((outcome.latencies.len() as f64 - 1.0) * p).round() as usize;
        outcome
            .latencies
            .get(i)
            .map_or(0.0, |d| d.as_secs_f64() * 1000.0)
    };
    println!(
        "{label:<10} {:>8.0} reports/s  p50 {:>6.2} ms  p99 {:>6.2} ms  max {:>7.2} ms  \
         ({} reports of {} bytes in {:.1} s, {} concurrent agents, {} devices, {} errors)",
        outcome.reports as f64 / outcome.elapsed.as_secs_f64(),
        pct(0.50),
        pct(0.99),
        pct(1.0),
        outcome.reports,
        outcome.body_bytes,
        outcome.elapsed.as_secs_f64(),
        concurrency,
        device_count,
        outcome.errors,
    );
    drop(c);
}

fn main() {
    // `cargo bench` passes `--bench`; `cargo test --benches` would too: run only when benched.
    if !std::env::args().any(|a| a == "--bench") {
        return;
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let sqlite = TestDb::sqlite();
        run(&sqlite, "sqlite").await;
        sqlite.cleanup().await;
        if std::env::var_os(support::ENV_POSTGRES_URL).is_some() {
            let pg = TestDb::postgres("the ingest benchmark").await;
            run(&pg, "postgres").await;
            pg.cleanup().await;
        } else {
            eprintln!(
                "notice: {} is not set; the PostgreSQL benchmark is skipped",
                support::ENV_POSTGRES_URL
            );
        }
    });
}
