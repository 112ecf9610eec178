//! Live posture end to end on Linux: the real daemon loop and the real Linux watcher over a
//! temporary root. A watched file, the root's mount table and an injected kernel uevent (the
//! recorded bytes, through a socket pair, read by the same code as the netlink socket) each
//! cause a re-check; without a change there is none.
#![cfg(target_os = "linux")]

mod support;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use posture_client::daemon::{CheckFn, Daemon, DaemonOptions};
use posture_client::delivery::RetryPolicy;
use posture_client::live::linux::{LinuxWatcher, Sources, WatchLimits};
use posture_client::live::{Live, LiveSettings, ReadSet, ReadSlot, trigger_channel};
use posture_client::spool::SpoolLimits;
use posture_schema::{Finding, Posture, Status};
use rustix::net::{AddressFamily, SocketFlags, SocketType};

const HOTPLUG: &[u8] = include_bytes!("../../../tests/fixtures/linux/uevent/block-loop7-add.bin");

#[tokio::test(flavor = "current_thread")]
async fn a_file_change_a_mount_and_a_hotplug_each_cause_a_re_check_and_quiet_causes_none() {
    let root = tempfile::tempdir().unwrap();
    let state = tempfile::tempdir().unwrap();
    fs_err::create_dir_all(root.path().join("etc")).unwrap();
    fs_err::create_dir_all(root.path().join("proc/self")).unwrap();
    fs_err::write(root.path().join("etc/lock.conf"), "pass").unwrap();
    fs_err::write(
        root.path().join("proc/self/mountinfo"),
        "1 0 8:1 / / rw - ext4 /dev/sda1 rw\n",
    )
    .unwrap();

    let (sender, triggers) = trigger_channel();
    let (inject, uevents) = rustix::net::socketpair(
        AddressFamily::UNIX,
        SocketType::DGRAM,
        SocketFlags::CLOEXEC,
        None,
    )
    .unwrap();
    let watcher = LinuxWatcher::open(
        Some(root.path().to_path_buf()),
        Sources {
            mount_table: None,
            uevents: Some(uevents),
            notes: Vec::new(),
        },
        WatchLimits::default(),
        sender,
    )
    .unwrap();
    let reads = ReadSlot::default();
    let checks = Arc::new(AtomicUsize::new(0));
    let check: CheckFn = {
        let reads = reads.clone();
        let checks = checks.clone();
        let root = root.path().to_path_buf();
        Arc::new(move || {
            let n = checks.fetch_add(1, Ordering::SeqCst) + 1;
            let text =
                fs_err::read_to_string(root.join("etc/lock.conf")).map_err(|e| e.to_string())?;
            let _ = fs_err::read_to_string(root.join("proc/self/mountinfo"));
            reads.put(ReadSet {
                files: vec!["/etc/lock.conf".into(), "/proc/self/mountinfo".into()],
                dirs: vec![],
                commands: vec![],
            });
            let mut report = support::report(n);
            let status = if text.trim() == "pass" {
                Status::Pass
            } else {
                Status::Fail
            };
            report.posture = if status == Status::Pass {
                Posture::Compliant
            } else {
                Posture::Noncompliant
            };
            report.checks = vec![Finding {
                id: "screen_lock".into(),
                title: String::new(),
                clause: String::new(),
                status,
                summary: String::new(),
                subjects: vec![],
                evidence: vec![],
                remediation: vec![],
            }];
            Ok(report)
        })
    };
    let options = DaemonOptions {
        state_dir: state.path().to_path_buf(),
        interval: Duration::from_secs(3600),
        checkin_interval: Duration::from_secs(3600),
        spool_limits: SpoolLimits {
            max_reports: 100,
            max_bytes: 1 << 20,
        },
        retry: RetryPolicy::default(),
    };
    let live = Live {
        settings: LiveSettings {
            debounce: Duration::from_millis(100),
            min_gap: Duration::from_millis(200),
        },
        mode: watcher.mode(),
        watcher: Box::new(watcher),
        triggers,
        reads,
    };
    let daemon = Daemon::new(options, None, None, check)
        .unwrap()
        .with_live(live);
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let task = tokio::spawn(daemon.run(stopped));
    let status = || {
        posture_client::status::load(state.path())
            .unwrap()
            .unwrap_or_default()
    };
    let limit = Duration::from_secs(20);

    assert!(
        support::wait_until(limit, || status()
            .watch_mode
            .is_some_and(|m| m.contains("inotify watches") && !m.starts_with("live (0")))
        .await,
        "{:?}",
        status()
    );
    assert_eq!(
        checks.load(Ordering::SeqCst),
        1,
        "only the first check before any change"
    );
    let first_report = status().last_report_id;
    let spooled = || -> Vec<posture_schema::Report> {
        let mut files: Vec<_> = fs_err::read_dir(state.path().join("spool"))
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.extension().is_some_and(|x| x == "json"))
            .collect();
        files.sort();
        files
            .iter()
            .map(|p| serde_json::from_slice(&fs_err::read(p).unwrap()).unwrap())
            .collect()
    };
    assert_eq!(
        spooled()[0].trigger,
        None,
        "the first check is the schedule's and says no trigger"
    );

    // A watched file changes its verdict: re-checked and sent.
    let changed_after = time::OffsetDateTime::now_utc();
    fs_err::write(root.path().join("etc/lock.conf"), "fail").unwrap();
    assert!(
        support::wait_until(limit, || checks.load(Ordering::SeqCst) == 2
            && status().last_trigger.is_some())
        .await
    );
    let s = status();
    assert!(
        s.last_trigger
            .as_deref()
            .unwrap()
            .contains("/etc/lock.conf changed (verdicts changed, report sent)"),
        "{s:?}"
    );
    assert_ne!(s.last_report_id, first_report);
    // The report says what changed and when the watcher saw it.
    let reports = spooled();
    assert_eq!(reports.len(), 2);
    let trigger = reports[1]
        .trigger
        .clone()
        .expect("a re-check's report has a trigger");
    assert_eq!(trigger.kind, posture_schema::Trigger::CHANGE);
    assert!(
        trigger
            .cause
            .as_deref()
            .is_some_and(|c| c.contains("/etc/lock.conf changed")),
        "{trigger:?}"
    );
    let detected = time::OffsetDateTime::parse(
        trigger.detected_at.as_deref().unwrap(),
        &time::format_description::well_known::Rfc3339,
    )
    .unwrap();
    assert!(
        detected.unix_timestamp() >= changed_after.unix_timestamp()
            && detected <= time::OffsetDateTime::now_utc(),
        "detected after the change was made, by this machine's clock: {trigger:?}"
    );

    // The root's mount table changes: re-checked; the verdict is the same, so not re-sent.
    let sent = s.last_report_id.clone();
    fs_err::write(
        root.path().join("proc/self/mountinfo"),
        "1 0 8:1 / / rw - ext4 /dev/sda1 rw\n2 1 8:17 / /media/usb rw - vfat /dev/sdb1 rw\n",
    )
    .unwrap();
    assert!(
        support::wait_until(limit, || checks.load(Ordering::SeqCst) >= 3
            && status()
                .last_trigger
                .as_deref()
                .is_some_and(|t| t.contains("mountinfo")))
        .await,
        "{:?}",
        status()
    );
    assert!(
        status()
            .last_trigger
            .unwrap()
            .contains("verdicts unchanged, not sent")
    );
    assert_eq!(status().last_report_id, sent);

    // A block device appears (the recorded kernel uevent, injected).
    let before = checks.load(Ordering::SeqCst);
    rustix::net::send(&inject, HOTPLUG, rustix::net::SendFlags::empty()).unwrap();
    assert!(
        support::wait_until(limit, || checks.load(Ordering::SeqCst) > before
            && status()
                .last_trigger
                .as_deref()
                .is_some_and(|t| t.contains("block device loop7: add")))
        .await,
        "{:?}",
        status()
    );

    // Quiet: nothing changes, nothing is checked (ten debounce periods).
    let settled = checks.load(Ordering::SeqCst);
    tokio::time::sleep(Duration::from_millis(1000)).await;
    assert_eq!(checks.load(Ordering::SeqCst), settled);

    let _ = stop.send(true);
    let _ = tokio::time::timeout(Duration::from_secs(5), task).await;
}
