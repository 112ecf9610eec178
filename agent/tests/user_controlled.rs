//! What users control cannot hang the agent, make it leak, or make it write where it should not:
//! FIFOs and links in homes, `--record` onto links and existing files, output that cannot be
//! written.
//!
//! FIFOs, `/dev/zero`, `/dev/full` and file modes are Unix notions: the whole file is Unix-only.
#![cfg(unix)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use posture_schema::{Report, Status};

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/fixtures")
}

fn posture() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_posture"));
    cmd.env_clear()
        .env("NO_COLOR", "1")
        .env("PATH", "/usr/bin:/bin");
    cmd
}

/// A copy of the non-compliant KDE laptop fixture that a test may change.
fn kde_laptop() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let status = Command::new("/bin/cp")
        .arg("-a")
        .arg(fixtures().join("linux/machines/noncompliant-kde/."))
        .arg(dir.path())
        .status()
        .unwrap();
    assert!(status.success());
    dir
}

fn report_of(out: &Output) -> Report {
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "stdout is not a report ({e}):\n{}\nstderr:\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    })
}

/// The screen-lock finding, which must be `unknown` for alice with `needle` in its evidence.
#[track_caller]
fn screen_lock_is_unknown_saying(report: &Report, needle: &str) {
    let finding = report
        .checks
        .iter()
        .find(|c| c.id == "screen_lock")
        .unwrap();
    assert_eq!(finding.status, Status::Unknown, "{}", finding.summary);
    let alice = finding.subjects.iter().find(|s| s.name == "alice").unwrap();
    assert_eq!(alice.status, Status::Unknown);
    assert!(
        finding.evidence.iter().any(|e| e.value.contains(needle)),
        "no evidence saying {needle:?}: {:#?}",
        finding.evidence
    );
}

const KSCREENLOCKERRC: &str = "home/alice/.config/kscreenlockerrc";

#[test]
fn a_fifo_in_place_of_a_settings_file_is_refused_and_the_check_completes() {
    let root = kde_laptop();
    let file = root.path().join(KSCREENLOCKERRC);
    fs_err::remove_file(&file).unwrap();
    let status = Command::new("/usr/bin/mkfifo").arg(&file).status().unwrap();
    assert!(status.success());
    // Before the guarded reader this run never ended: opening a FIFO waits for a writer.
    let out = posture()
        .args(["--check", "--format", "json", "--root"])
        .arg(root.path())
        .output()
        .unwrap();
    let report = report_of(&out);
    screen_lock_is_unknown_saying(&report, "refused: a FIFO (named pipe), not a regular file");
}

#[test]
fn a_link_to_a_root_only_file_never_lands_in_a_bundle() {
    let root = kde_laptop();
    fs_err::write(
        root.path().join("etc/shadow"),
        "alice:$y$SECRET-HASH-OF-ALICE:20000:0:99999:7:::\n",
    )
    .unwrap();
    let file = root.path().join(KSCREENLOCKERRC);
    fs_err::remove_file(&file).unwrap();
    std::os::unix::fs::symlink("/etc/shadow", &file).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let bundle = dir.path().join("bundle.json");
    let out = posture()
        .args(["--check", "--format", "json", "--record"])
        .arg(&bundle)
        .arg("--root")
        .arg(root.path())
        .output()
        .unwrap();
    let report = report_of(&out);
    screen_lock_is_unknown_saying(&report, "a link leads out of the home /home/alice");
    let text = fs_err::read_to_string(&bundle).unwrap();
    assert!(
        !text.contains("SECRET-HASH"),
        "the bundle holds /etc/shadow:\n{text}"
    );
    assert!(text.contains("refused"), "{text}");
    // Replayed, the refusal is the same and so is the verdict.
    let replayed = posture()
        .args(["--check", "--format", "json", "--replay"])
        .arg(&bundle)
        .output()
        .unwrap();
    assert_eq!(report_of(&replayed).checks, report.checks);
}

#[test]
fn record_refuses_a_file_that_is_a_symbolic_link_and_leaves_its_target_alone() {
    let dir = tempfile::tempdir().unwrap();
    let target = dir.path().join("victim");
    fs_err::write(&target, "keep me").unwrap();
    let link = dir.path().join("bundle.json");
    std::os::unix::fs::symlink(&target, &link).unwrap();
    let out = posture()
        .args(["--check", "--format", "json", "--record"])
        .arg(&link)
        .arg("--root")
        .arg(fixtures().join("linux/machines/compliant-gnome"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("is a symbolic link"), "{stderr}");
    assert_eq!(fs_err::read_to_string(&target).unwrap(), "keep me");
}

#[test]
fn record_onto_an_existing_world_readable_file_replaces_it_with_an_owner_only_one() {
    use std::os::unix::fs::PermissionsExt as _;
    let dir = tempfile::tempdir().unwrap();
    let bundle = dir.path().join("bundle.json");
    fs_err::write(&bundle, "old").unwrap();
    fs_err::set_permissions(&bundle, std::fs::Permissions::from_mode(0o644)).unwrap();
    let out = posture()
        .args(["--check", "--format", "json", "--record"])
        .arg(&bundle)
        .arg("--root")
        .arg(fixtures().join("linux/machines/compliant-gnome"))
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mode = fs_err::metadata(&bundle).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o600, "mode {mode:o}");
    let text = fs_err::read_to_string(&bundle).unwrap();
    assert!(text.contains("posture-evidence-bundle"), "{text}");
    // Nothing is left behind beside it.
    let names: Vec<_> = fs_err::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(names, ["bundle.json"]);
}

/// Runs the binary with stdout on `/dev/full` (every write fails with ENOSPC).
#[cfg(target_os = "linux")]
#[track_caller]
fn fails_on_a_full_stdout(args: &[&str]) {
    let full = fs_err::OpenOptions::new()
        .write(true)
        .open("/dev/full")
        .unwrap();
    let out = posture()
        .args(args)
        .stdout(std::process::Stdio::from(full.into_parts().0))
        .stderr(std::process::Stdio::piped())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{args:?}: {stderr}");
    assert!(
        stderr.contains("could not write to standard output"),
        "{args:?}: {stderr}"
    );
}

#[cfg(target_os = "linux")]
#[test]
fn output_that_cannot_be_written_exits_2_with_the_reason_in_every_format_and_for_policy_show() {
    let root = fixtures().join("linux/machines/compliant-gnome");
    let root = root.to_str().unwrap();
    fails_on_a_full_stdout(&["--check", "--root", root]);
    fails_on_a_full_stdout(&["--check", "--root", root, "--verbose"]);
    fails_on_a_full_stdout(&["--check", "--root", root, "--format", "json"]);
    fails_on_a_full_stdout(&["policy", "show"]);
}
