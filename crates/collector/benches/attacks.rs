//! Attack benchmark: what one machine can do to a `posture-collector` with default settings,
//! against the real release binary on 127.0.0.1 only, bounded in count and time.
//!
//! Run with `cargo bench -p posture-collector --bench attacks`. Each scenario prints the
//! collector's peak resident memory (`VmRSS` sampled every 50 ms, and `VmHWM` at the end), the
//! most sockets it had open, how the requests were answered and how long stalled connections
//! lived. It fails (exit 1) when the collector goes over 100 MiB or keeps a stalled connection
//! past its timeout (plus 5 s of slack for a machine shared with other work).
//!
//! Scenarios: 512 unauthenticated enrollments announcing a 1 MiB body and sending all but one
//! byte (with `Content-Length`, then chunked); 512 report uploads with a valid device token that
//! stall one byte short of 1 MiB; 512 connections stalled in the middle of a request head and 512
//! that send nothing; 64 concurrent valid 0.9 MiB reports from one device token, five rounds.

// A benchmark's job is to print its results.
#![allow(clippy::print_stdout)]

#[path = "../tests/support/mod.rs"]
mod support;

use std::io::{Read as _, Write as _};
use std::net::TcpStream;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use posture_schema::Status;
use support::report::{fresh_report_id, report};
use support::{Collector, TestDb};

/// Most resident memory allowed, bytes.
const RSS_LIMIT: u64 = 100 * 1024 * 1024;
/// Slack over a configured timeout before a stalled connection counts as kept too long.
const SLACK: Duration = Duration::from_secs(5);
/// Stalled connections per scenario.
const STALLED: usize = 512;
/// The body size the attacks announce: 1 MiB less one byte.
const ANNOUNCED: usize = 1024 * 1024 - 1;

fn proc_status_kib(pid: u32, field: &str) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix(field))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        })
        .unwrap_or(0)
}

fn open_sockets(pid: u32) -> u64 {
    std::fs::read_dir(format!("/proc/{pid}/fd"))
        .map(|dir| {
            dir.filter_map(Result::ok)
                .filter(|e| {
                    std::fs::read_link(e.path())
                        .is_ok_and(|t| t.to_string_lossy().starts_with("socket:"))
                })
                .count() as u64
        })
        .unwrap_or(0)
}

/// Samples the collector's memory and sockets until stopped.
struct Sampler {
    stop: Arc<AtomicBool>,
    peak_rss_kib: Arc<AtomicU64>,
    peak_sockets: Arc<AtomicU64>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Sampler {
    fn start(pid: u32) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let peak_rss_kib = Arc::new(AtomicU64::new(0));
        let peak_sockets = Arc::new(AtomicU64::new(0));
        let thread = {
            let (stop, rss, sockets) = (
                Arc::clone(&stop),
                Arc::clone(&peak_rss_kib),
                Arc::clone(&peak_sockets),
            );
            std::thread::spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    rss.fetch_max(proc_status_kib(pid, "VmRSS:"), Ordering::Relaxed);
                    sockets.fetch_max(open_sockets(pid), Ordering::Relaxed);
                    std::thread::sleep(Duration::from_millis(50));
                }
            })
        };
        Self {
            stop,
            peak_rss_kib,
            peak_sockets,
            thread: Some(thread),
        }
    }

    /// Peak RSS in KiB and peak sockets.
    fn finish(mut self) -> (u64, u64) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
        (
            self.peak_rss_kib.load(Ordering::Relaxed),
            self.peak_sockets.load(Ordering::Relaxed),
        )
    }
}

/// What happened to one attacking connection.
struct Outcome {
    /// First line of the answer, if any.
    status: String,
    /// Whether the collector closed the connection.
    closed: bool,
    /// From connecting to the close.
    lived: Duration,
}

/// Connects, sends `head` and `body` (errors ignored: the collector may close first), then waits
/// for the collector to close the connection, at most `bound`.
fn stall(target: &str, head: &[u8], body: &[u8], bound: Duration) -> Outcome {
    let started = Instant::now();
    let Ok(mut s) = TcpStream::connect(target) else {
        return Outcome {
            status: "connect failed".into(),
            closed: true,
            lived: started.elapsed(),
        };
    };
    let _ = s.set_write_timeout(Some(bound));
    if s.write_all(head).is_ok() {
        for chunk in body.chunks(64 * 1024) {
            if s.write_all(chunk).is_err() {
                break;
            }
        }
    }
    let _ = s.set_read_timeout(Some(Duration::from_millis(500)));
    let mut seen = Vec::new();
    let mut buf = [0u8; 4096];
    let closed = loop {
        match s.read(&mut buf) {
            Ok(0) => break true,
            Ok(n) => seen.extend_from_slice(&buf[..n]),
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) =>
            {
                if started.elapsed() > bound {
                    break false;
                }
            }
            Err(_) => break true,
        }
    };
    let status = String::from_utf8_lossy(&seen)
        .lines()
        .next()
        .unwrap_or("(no answer)")
        .to_owned();
    Outcome {
        status,
        closed,
        lived: started.elapsed(),
    }
}

/// Runs `STALLED` copies of one stalled request at once.
fn stall_many(target: &str, head: Vec<u8>, body: Vec<u8>, bound: Duration) -> Vec<Outcome> {
    let head = Arc::new(head);
    let body = Arc::new(body);
    let threads: Vec<_> = (0..STALLED)
        .map(|_| {
            let (target, head, body) = (target.to_owned(), Arc::clone(&head), Arc::clone(&body));
            std::thread::Builder::new()
                .stack_size(256 * 1024)
                .spawn(move || stall(&target, &head, &body, bound))
                .unwrap()
        })
        .collect();
    threads.into_iter().filter_map(|t| t.join().ok()).collect()
}

struct Row {
    scenario: &'static str,
    peak_rss_mib: f64,
    peak_sockets: u64,
    answers: String,
    longest: Duration,
    limit: Option<Duration>,
    all_closed: bool,
}

fn tally(outcomes: &[Outcome]) -> String {
    let mut counts: Vec<(String, usize)> = Vec::new();
    for o in outcomes {
        let key = o
            .status
            .strip_prefix("HTTP/1.1 ")
            .unwrap_or(&o.status)
            .to_owned();
        match counts.iter_mut().find(|(k, _)| *k == key) {
            Some((_, n)) => *n += 1,
            None => counts.push((key, 1)),
        }
    }
    counts.sort_by_key(|c| std::cmp::Reverse(c.1));
    counts
        .iter()
        .map(|(k, n)| format!("{n}× {k}"))
        .collect::<Vec<_>>()
        .join(", ")
}

fn scenario(
    c: &Collector,
    name: &'static str,
    limit: Option<Duration>,
    run: impl FnOnce() -> Vec<Outcome>,
) -> Row {
    let sampler = Sampler::start(c.pid);
    let outcomes = run();
    // Let the collector settle before the last samples.
    std::thread::sleep(Duration::from_millis(300));
    let (rss_kib, sockets) = sampler.finish();
    Row {
        scenario: name,
        peak_rss_mib: rss_kib as f64 / 1024.0,
        peak_sockets: sockets,
        answers: tally(&outcomes),
        longest: outcomes.iter().map(|o| o.lived).max().unwrap_or_default(),
        limit,
        all_closed: outcomes.iter().all(|o| o.closed),
    }
}

fn big_report(device_id: &str) -> String {
    let mut r = report(device_id, "attack-host", Status::Pass);
    r.report_id = fresh_report_id();
    if let Some(e) = r.checks.first_mut().and_then(|f| f.evidence.first_mut()) {
        e.value = "x".repeat(900 * 1024);
    }
    serde_json::to_string(&r).unwrap()
}

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let db = TestDb::sqlite();
    let c = Collector::start(&db);
    let target = c.base.strip_prefix("http://").unwrap_or(&c.base).to_owned();
    let (device_id, token) = runtime.block_on(c.enroll("attack-machine", "attack-host"));
    let started_rss = proc_status_kib(c.pid, "VmRSS:");
    let started_sockets = open_sockets(c.pid);
    // The defaults of `posture-collector serve`.
    let header = Duration::from_secs(posture_collector::limits::DEFAULT_HEADER_TIMEOUT_SECS);
    let idle = Duration::from_secs(posture_collector::limits::DEFAULT_IDLE_TIMEOUT_SECS);
    let body = Duration::from_secs(posture_collector::limits::DEFAULT_BODY_TIMEOUT_SECS);
    let bound = Duration::from_secs(90);
    let almost = vec![b'x'; ANNOUNCED - 1];
    let mut rows = Vec::new();

    rows.push(scenario(
        &c,
        "512 enrollments, Content-Length 1 MiB, 1 byte short",
        Some(body),
        || {
            let head = format!(
                "POST /api/v1/enroll HTTP/1.1\r\nHost: collector\r\nContent-Type: application/json\r\n\
                 Content-Length: {ANNOUNCED}\r\n\r\n"
            );
            stall_many(&target, head.into_bytes(), almost.clone(), bound)
        },
    ));
    rows.push(scenario(
        &c,
        "512 enrollments, chunked, 1 MiB then stall",
        Some(body),
        || {
            let head = "POST /api/v1/enroll HTTP/1.1\r\nHost: collector\r\nContent-Type: application/json\r\n\
                        Transfer-Encoding: chunked\r\n\r\n";
            let mut chunked = Vec::new();
            for piece in almost.chunks(16 * 1024) {
                chunked.extend_from_slice(format!("{:x}\r\n", piece.len()).as_bytes());
                chunked.extend_from_slice(piece);
                chunked.extend_from_slice(b"\r\n");
            }
            stall_many(&target, head.as_bytes().to_vec(), chunked, bound)
        },
    ));
    rows.push(scenario(
        &c,
        "512 reports with a valid token, 1 byte short of 1 MiB",
        Some(body),
        || {
            let head = format!(
                "POST /api/v1/reports HTTP/1.1\r\nHost: collector\r\nAuthorization: Bearer {token}\r\n\
                 Content-Type: application/json\r\nContent-Length: {ANNOUNCED}\r\n\r\n"
            );
            stall_many(&target, head.into_bytes(), almost.clone(), bound)
        },
    ));
    rows.push(scenario(
        &c,
        "512 reports without a token, 1 byte short of 1 MiB",
        Some(body),
        || {
            let head = format!(
                "POST /api/v1/reports HTTP/1.1\r\nHost: collector\r\n\
                 Content-Type: application/json\r\nContent-Length: {ANNOUNCED}\r\n\r\n"
            );
            stall_many(&target, head.into_bytes(), almost.clone(), bound)
        },
    ));
    rows.push(scenario(
        &c,
        "512 connections stalled in the request head",
        Some(header),
        || {
            let head = "POST /api/v1/enroll HTTP/1.1\r\nHost: collector\r\nContent-Le";
            stall_many(&target, head.as_bytes().to_vec(), Vec::new(), bound)
        },
    ));
    rows.push(scenario(
        &c,
        "512 connections that send nothing",
        Some(idle),
        || stall_many(&target, Vec::new(), Vec::new(), bound),
    ));
    rows.push(scenario(
        &c,
        "64 concurrent valid 0.9 MiB reports, 5 rounds",
        None,
        || {
            runtime.block_on(async {
                let http = support::http_client();
                let mut outcomes = Vec::new();
                for _ in 0..5 {
                    let tasks: Vec<_> = (0..64)
                        .map(|_| {
                            let http = http.clone();
                            let url = c.url("/api/v1/reports");
                            let token = token.clone();
                            let body = big_report(&device_id);
                            tokio::spawn(async move {
                                let started = Instant::now();
                                let status = match http
                                    .post(url)
                                    .bearer_auth(token)
                                    .header("content-type", "application/json")
                                    .body(body)
                                    .send()
                                    .await
                                {
                                    Ok(r) => {
                                        let s = r.status();
                                        let _ = r.bytes().await;
                                        format!(
                                            "{} {}",
                                            s.as_u16(),
                                            s.canonical_reason().unwrap_or("")
                                        )
                                    }
                                    Err(e) => format!("error {e}"),
                                };
                                Outcome {
                                    status,
                                    closed: true,
                                    lived: started.elapsed(),
                                }
                            })
                        })
                        .collect();
                    for t in tasks {
                        if let Ok(o) = t.await {
                            outcomes.push(o);
                        }
                    }
                }
                outcomes
            })
        },
    ));
    let hwm_kib = proc_status_kib(c.pid, "VmHWM:");
    let end_rss_kib = proc_status_kib(c.pid, "VmRSS:");

    println!(
        "collector pid {}: {:.1} MiB resident and {} sockets before the attacks",
        c.pid,
        started_rss as f64 / 1024.0,
        started_sockets
    );
    println!();
    println!("| Scenario | Peak RSS | Peak sockets | Answers | Longest connection | Timeout |");
    println!("|---|---|---|---|---|---|");
    let mut failed = false;
    for r in &rows {
        let timeout = r
            .limit
            .map_or_else(|| "-".to_owned(), |d| format!("{} s", d.as_secs()));
        println!(
            "| {} | {:.1} MiB | {} | {} | {:.1} s | {} |",
            r.scenario,
            r.peak_rss_mib,
            r.peak_sockets,
            r.answers,
            r.longest.as_secs_f64(),
            timeout
        );
        if let Some(limit) = r.limit
            && (!r.all_closed || r.longest > limit + SLACK)
        {
            println!("FAIL: {}: a connection outlived its timeout", r.scenario);
            failed = true;
        }
    }
    println!();
    println!(
        "peak resident memory over all scenarios (VmHWM): {:.1} MiB; {:.1} MiB after them",
        hwm_kib as f64 / 1024.0,
        end_rss_kib as f64 / 1024.0
    );
    if hwm_kib * 1024 > RSS_LIMIT {
        println!("FAIL: more than {} MiB resident", RSS_LIMIT / 1024 / 1024);
        failed = true;
    }
    drop(c);
    if failed {
        std::process::exit(1);
    }
}
