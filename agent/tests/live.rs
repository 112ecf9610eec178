//! `posture run --root DIR` on Linux re-checks when a file it read under the root changes, and
//! `posture status` shows the watch mode and the last trigger. Every wait is bounded.
#![cfg(target_os = "linux")]

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

fn wait_until(limit: Duration, mut cond: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + limit;
    while Instant::now() < deadline {
        if cond() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    cond()
}

fn status(state: &Path) -> serde_json::Value {
    fs_err::read(state.join("status.json"))
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
        .unwrap_or_default()
}

struct Stop(Child);
impl Drop for Stop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn removing_a_file_the_check_read_under_the_root_sends_a_new_report_and_status_says_why() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("root");
    let fixture = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../tests/fixtures/linux/machines/compliant-gnome");
    let copied = Command::new("cp")
        .arg("-a")
        .arg(&fixture)
        .arg(&root)
        .status()
        .unwrap();
    assert!(copied.success());
    let state = dir.path().join("state");
    let child = Command::new(env!("CARGO_BIN_EXE_posture"))
        .args(["run", "--root"])
        .arg(&root)
        .env_clear()
        .env("PATH", "/usr/bin:/bin")
        .env("NO_COLOR", "1")
        .env("POSTURE_CONFIG_DIR", dir.path().join("etc"))
        .env("POSTURE_STATE_DIR", &state)
        .env("POSTURE_INTERVAL", "1h")
        .env("POSTURE_LOG_FORMAT", "json")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let _stop = Stop(child);
    let limit = Duration::from_secs(60);
    assert!(
        wait_until(limit, || status(&state)["watch_mode"].as_str().is_some_and(
            |m| m.starts_with("live (") && !m.starts_with("live (0 ")
        )),
        "{}",
        status(&state)
    );
    let first = status(&state)["last_report_id"].clone();
    assert!(first.is_string());

    fs_err::remove_file(root.join("etc/modprobe.d/usb-storage.conf")).unwrap();
    // Debounce 2 s, at most one re-check per 10 s: well within the limit.
    assert!(
        wait_until(limit, || status(&state)["last_trigger"]
            .as_str()
            .is_some_and(
                |t| t.contains("/etc/modprobe.d/usb-storage.conf changed")
            )),
        "{}",
        status(&state)
    );
    let s = status(&state);
    assert!(
        s["last_trigger"].as_str().unwrap().contains("report sent"),
        "{s}"
    );
    assert_ne!(s["last_report_id"], first);

    // The report says why it was made.
    let mut spooled: Vec<_> = fs_err::read_dir(state.join("spool"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .collect();
    spooled.sort();
    let newest: serde_json::Value =
        serde_json::from_slice(&fs_err::read(spooled.last().unwrap()).unwrap()).unwrap();
    assert_eq!(newest["trigger"]["kind"], "change", "{newest}");
    assert!(
        newest["trigger"]["cause"]
            .as_str()
            .is_some_and(|c| c.contains("/etc/modprobe.d/usb-storage.conf changed")),
        "{}",
        newest["trigger"]
    );
    assert!(newest["trigger"]["detected_at"].is_string());

    // `posture status` shows the watch mode and the last trigger.
    let out = Command::new(env!("CARGO_BIN_EXE_posture"))
        .arg("status")
        .env_clear()
        .env("PATH", "/usr/bin:/bin")
        .env("NO_COLOR", "1")
        .env("POSTURE_CONFIG_DIR", dir.path().join("etc"))
        .env("POSTURE_STATE_DIR", &state)
        .output()
        .unwrap();
    let text = String::from_utf8(out.stdout).unwrap();
    let line = |key: &str| {
        text.lines()
            .find(|l| l.starts_with(key))
            .unwrap_or_else(|| panic!("no {key} line in:\n{text}"))
            .to_owned()
    };
    assert!(line("watch mode:").contains("live ("), "{text}");
    let trigger = line("last trigger:");
    assert!(
        trigger
            .contains("/etc/modprobe.d/usb-storage.conf changed (verdicts changed, report sent)"),
        "{text}"
    );
}

#[test]
fn watch_false_keeps_the_schedule_and_status_says_where_it_was_turned_off() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("root");
    let fixture = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../tests/fixtures/linux/machines/compliant-gnome");
    let copied = Command::new("cp")
        .arg("-a")
        .arg(&fixture)
        .arg(&root)
        .status()
        .unwrap();
    assert!(copied.success());
    let state = dir.path().join("state");
    let child = Command::new(env!("CARGO_BIN_EXE_posture"))
        .args(["run", "--root"])
        .arg(&root)
        .env_clear()
        .env("PATH", "/usr/bin:/bin")
        .env("NO_COLOR", "1")
        .env("POSTURE_CONFIG_DIR", dir.path().join("etc"))
        .env("POSTURE_STATE_DIR", &state)
        .env("POSTURE_INTERVAL", "1h")
        .env("POSTURE_WATCH", "false")
        .env("POSTURE_LOG_FORMAT", "json")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let _stop = Stop(child);
    assert!(
        wait_until(Duration::from_secs(60), || status(&state)["last_report_id"]
            .is_string()),
        "{}",
        status(&state)
    );
    let s = status(&state);
    assert_eq!(
        s["watch_mode"], "schedule only: watch = false (env POSTURE_WATCH)",
        "{s}"
    );
    assert!(s["last_trigger"].is_null(), "{s}");
}
