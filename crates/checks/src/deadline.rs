//! Every check under a time limit.
//!
//! Probes are synchronous code doing blocking reads and commands. A read the guarded host does
//! not catch (a hung network file system, a kernel interface that stalls) would otherwise stop
//! the whole run, and with it every later run of the daemon. So each check runs on its own
//! thread and the run waits for it at most the policy's `limits.check_timeout_seconds`: past
//! that the check's finding is `error` with the reason, the thread is abandoned (threads cannot
//! be killed), and the run goes on. At most [`MAX_ABANDONED`] abandoned checks may be running
//! at once; while that many are stuck, further checks are not started and say why, so a machine
//! that hangs every read costs a few threads, not one per run.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc::{self, RecvTimeoutError};
use std::time::Duration;

use posture_host::Host;
use posture_policy::Policy;
use posture_schema::{Device, Finding, OsInfo, Status};

use crate::system::System;
use crate::{Assessment, REGISTRY, evidence, inventory};

/// The most check threads that may still be running (abandoned past their limit) when a new
/// check starts.
pub const MAX_ABANDONED: usize = 4;

/// Check threads started and not yet finished, in this process.
static RUNNING: AtomicUsize = AtomicUsize::new(0);

/// A host that can be handed to a check thread.
pub type SharedHost = Arc<dyn Host + Send + Sync>;

/// Runs every check the policy enables, each within `limit`.
pub fn assess_within(host: &SharedHost, policy: &Policy, limit: Duration) -> Assessment {
    let platform = host.platform();
    let rules = Arc::new(policy.rules.clone());
    // The system is not read here, so fix steps give every variant; `assess` tailors them.
    let system = System::unknown(platform);
    let mut findings = Vec::new();
    for check in REGISTRY.iter().filter(|check| check.enabled(&policy.rules)) {
        let (h, r, run) = (host.clone(), rules.clone(), check.run);
        findings.push(
            run_limited(check.id, limit, move || run(&*h, &r, &system)).unwrap_or_else(|why| {
                error_finding(check.id, check.title, check.clause(&policy.rules), why)
            }),
        );
    }
    let h = host.clone();
    // Without inventory the report still names the platform; every other fact is left empty,
    // as the inventory does for anything the machine does not tell.
    let device =
        run_limited("inventory", limit, move || inventory::gather(&*h)).unwrap_or_else(|_| {
            Device {
                hostname: None,
                os: OsInfo {
                    family: platform.as_str().to_owned(),
                    ..OsInfo::default()
                },
                hardware: posture_schema::Hardware::default(),
                machine_id: None,
                users: Vec::new(),
                mdm: None,
            }
        });
    Assessment { device, findings }
}

/// Runs `job` on its own thread and waits at most `limit` for it; `Err` says why there is no
/// result (past the limit, not started because too many earlier checks are stuck, or the job
/// panicked).
pub fn run_limited<T: Send + 'static>(
    what: &str,
    limit: Duration,
    job: impl FnOnce() -> T + Send + 'static,
) -> Result<T, String> {
    let running = RUNNING.load(Ordering::SeqCst);
    if running >= MAX_ABANDONED {
        return Err(format!(
            "{what} was not started: {running} earlier checks are still running past their time limit (a read or a command that never returns); restart the agent if this persists"
        ));
    }
    let (tx, rx) = mpsc::sync_channel(1);
    RUNNING.fetch_add(1, Ordering::SeqCst);
    let spawned = std::thread::Builder::new()
        .name(format!("check {what}"))
        .spawn(move || {
            let _finished = Finished;
            // The receiver is gone when the run stopped waiting: the result is dropped.
            let _ = tx.send(job());
        });
    if let Err(e) = spawned {
        RUNNING.fetch_sub(1, Ordering::SeqCst);
        return Err(format!(
            "{what} was not started: cannot start a thread: {e}"
        ));
    }
    match rx.recv_timeout(limit) {
        Ok(value) => Ok(value),
        Err(RecvTimeoutError::Timeout) => Err(format!(
            "{what} did not finish within its time limit of {} s (policy limits.check_timeout_seconds) and was abandoned; the next run checks again",
            limit.as_secs_f64()
        )),
        Err(RecvTimeoutError::Disconnected) => {
            Err(format!("{what} stopped without a result (it panicked)"))
        }
    }
}

/// Counts a check thread as finished however it ends.
struct Finished;

impl Drop for Finished {
    fn drop(&mut self) {
        RUNNING.fetch_sub(1, Ordering::SeqCst);
    }
}

/// The finding of a check that gave no result.
fn error_finding(id: &str, title: &str, clause: &str, why: String) -> Finding {
    Finding {
        id: id.to_owned(),
        title: title.to_owned(),
        clause: clause.to_owned(),
        status: Status::Error,
        evidence: vec![evidence::derived("check time limit", why.clone())],
        summary: why,
        subjects: Vec::new(),
        remediation: Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stuck_checks_are_bounded_and_later_checks_say_why_they_did_not_start() {
        let (release, gate) = mpsc::channel::<()>();
        let gate = Arc::new(std::sync::Mutex::new(gate));
        for i in 0..MAX_ABANDONED {
            let gate = gate.clone();
            let r = run_limited("stuck", Duration::from_millis(20), move || {
                let _ = gate.lock().map(|g| g.recv());
            });
            assert!(r.unwrap_err().contains("time limit"), "check {i}");
        }
        let err = run_limited("next", Duration::from_secs(60), || 1).unwrap_err();
        assert!(
            err.contains("was not started") && err.contains("still running"),
            "{err}"
        );
        // Once the stuck ones finish, checks run again.
        for _ in 0..MAX_ABANDONED {
            release.send(()).unwrap();
        }
        while RUNNING.load(Ordering::SeqCst) > 0 {
            std::thread::yield_now();
        }
        assert_eq!(run_limited("next", Duration::from_secs(60), || 1), Ok(1));
    }
}
