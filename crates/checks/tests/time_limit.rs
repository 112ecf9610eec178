//! A check that does not return within the policy's time limit becomes an `error` finding with
//! the reason, the other checks still report, and the next run works again.
//!
//! The hang is a host whose every answer to the screen-lock check blocks until the test lets it
//! go, the way a read from a hung network file system would.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;

use posture_checks::deadline::SharedHost;
use posture_host::{
    CommandError, CommandOutput, CommandSpec, Host, Platform, ReadError, RootedHost,
};
use posture_policy::Policy;
use posture_schema::Status;

const LAPTOP: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../tests/fixtures/linux/machines/compliant-gnome"
);

/// Answers from a fake root, except that while `hang` is set every call made by the screen-lock
/// check's thread waits until `release` is called.
struct HangingHost {
    inner: RootedHost,
    hang: AtomicBool,
    released: Mutex<bool>,
    wake: Condvar,
}

impl HangingHost {
    fn gate(&self) {
        let in_screen_lock = std::thread::current().name() == Some("check screen_lock");
        if in_screen_lock && self.hang.load(Ordering::SeqCst) {
            let mut released = self.released.lock().unwrap();
            while !*released {
                released = self.wake.wait(released).unwrap();
            }
        }
    }

    fn release(&self) {
        *self.released.lock().unwrap() = true;
        self.wake.notify_all();
    }
}

impl Host for HangingHost {
    fn platform(&self) -> Platform {
        self.inner.platform()
    }
    fn read(&self, path: &str) -> Result<Vec<u8>, ReadError> {
        self.gate();
        self.inner.read(path)
    }
    fn list_dir(&self, path: &str) -> Result<Vec<String>, ReadError> {
        self.gate();
        self.inner.list_dir(path)
    }
    fn read_link(&self, path: &str) -> Result<String, ReadError> {
        self.gate();
        self.inner.read_link(path)
    }
    fn run(&self, command: &CommandSpec) -> Result<CommandOutput, CommandError> {
        self.gate();
        self.inner.run(command)
    }
}

#[test]
fn a_check_past_its_time_limit_is_an_error_and_the_next_run_completes() {
    let host = Arc::new(HangingHost {
        inner: RootedHost::new(LAPTOP),
        hang: AtomicBool::new(true),
        released: Mutex::new(false),
        wake: Condvar::new(),
    });
    let shared: SharedHost = host.clone();
    let policy = Policy::embedded();
    let limit = Duration::from_secs(3);

    let first = posture_checks::assess_within(&shared, &policy, limit);
    let status = |a: &posture_checks::Assessment, id: &str| {
        a.findings.iter().find(|f| f.id == id).unwrap().clone()
    };
    let stuck = status(&first, "screen_lock");
    assert_eq!(stuck.status, Status::Error);
    assert!(
        stuck.summary.contains("time limit of 3 s"),
        "{}",
        stuck.summary
    );
    assert!(!stuck.evidence.is_empty());
    assert_eq!(stuck.clause, policy.rules.screen_lock.clause);
    // The other checks ran and judged as usual.
    assert_eq!(status(&first, "disk_encryption").status, Status::Pass);
    assert_eq!(status(&first, "removable_media").status, Status::Pass);
    assert_eq!(first.device.hostname.as_deref(), Some("alice-laptop"));

    // The next run, with the machine answering again, judges screen lock normally.
    host.hang.store(false, Ordering::SeqCst);
    let second = posture_checks::assess_within(&shared, &policy, limit);
    assert_eq!(status(&second, "screen_lock").status, Status::Pass);
    // Let the abandoned thread finish.
    host.release();
}
