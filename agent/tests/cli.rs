//! End-to-end tests of the `posture` binary: flags, exit statuses, JSON report, errors.

use std::path::{Path, PathBuf};
use std::process::Output;

use assert_cmd::Command;
use posture_schema::{Posture, Report};

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/fixtures")
}

/// The binary with a clean environment: no colour, no inherited POSTURE_* settings.
fn posture() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_posture"));
    cmd.env_clear()
        .env("NO_COLOR", "1")
        .env("PATH", "/usr/bin:/bin");
    cmd
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

/// Runs the binary with `args` and checks it fails with status 2, saying `needle` on stderr and
/// nothing on stdout.
#[track_caller]
fn fails_saying(args: &[&str], needle: &str) -> String {
    let out = posture().args(args).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(
        out.stdout.is_empty(),
        "stdout on failure: {}",
        String::from_utf8_lossy(&out.stdout)
    );
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert!(
        stderr.contains(needle),
        "expected {needle:?} in stderr:\n{stderr}"
    );
    stderr
}

fn expected_exit(posture: Posture) -> i32 {
    match posture {
        Posture::Compliant => 0,
        Posture::Noncompliant => 1,
        Posture::Unknown => 2,
    }
}

#[test]
fn checking_this_machine_gives_a_well_formed_report_and_a_matching_exit_status() {
    let out = posture()
        .args(["--check", "--format", "json"])
        .output()
        .unwrap();
    let report = report_of(&out);
    assert_eq!(out.status.code(), Some(expected_exit(report.posture)));
    assert_eq!(report.checks.len(), 6);
    let ids: Vec<&str> = report.checks.iter().map(|c| c.id.as_str()).collect();
    assert_eq!(
        ids,
        [
            "screen_lock",
            "disk_encryption",
            "removable_media",
            "device_access",
            "credentials",
            "password_rules"
        ]
    );
    let registered: Vec<&str> = posture_checks::REGISTRY.iter().map(|c| c.id).collect();
    assert_eq!(ids, registered, "the report follows the checks' registry");
    assert_eq!(report.policy.security_contact, "security@flowfuse.com");
    assert_eq!(report.posture, Posture::from_checks(&report.checks));
}

#[test]
fn the_check_subcommand_and_the_check_flag_are_the_same() {
    let a = posture()
        .args(["check", "--format", "json"])
        .output()
        .unwrap();
    let b = posture()
        .args(["--check", "--format", "json"])
        .output()
        .unwrap();
    let (ra, rb) = (report_of(&a), report_of(&b));
    assert_eq!(a.status.code(), b.status.code());
    let statuses = |r: &Report| r.checks.iter().map(|c| c.status).collect::<Vec<_>>();
    assert_eq!(statuses(&ra), statuses(&rb));
}

#[test]
fn human_output_has_no_colour_when_no_color_is_set_and_names_whom_to_tell() {
    let out = posture().arg("--check").output().unwrap();
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(
        !text.contains('\u{1b}'),
        "escape codes in NO_COLOR output:\n{text}"
    );
    assert!(text.contains("STATUS"));
    assert!(text.contains("security@flowfuse.com"));
    assert!(text.contains("Posture: "));
}

#[test]
fn a_bad_policy_file_names_file_line_column_and_field_and_exits_2() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("site-policy.toml");
    let text =
        posture_policy::DEFAULT_POLICY_TOML.replace("mode = \"read_only\"", "mode = \"deny\"");
    fs_err::write(&path, &text).unwrap();
    let line = text.lines().position(|l| l.starts_with("mode =")).unwrap() + 1;
    let expected =
        format!("site-policy.toml:{line}:8: removable_media.mode: unknown variant `deny`");
    let stderr = fails_saying(&["--check", "--policy", path.to_str().unwrap()], &expected);
    assert!(stderr.contains("hint:"), "{stderr}");
}

#[test]
fn a_policy_file_without_the_device_access_section_loads_says_so_once_and_shows_the_defaults() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("site-policy.toml");
    let text = posture_policy::DEFAULT_POLICY_TOML;
    fs_err::write(&path, &text[..text.find("[device_access]").unwrap()]).unwrap();
    let out = posture()
        .args(["--check", "--format", "json", "--policy"])
        .arg(&path)
        .arg("--root")
        .arg(fixtures().join("linux/machines/compliant-gnome"))
        .output()
        .unwrap();
    let stderr = String::from_utf8(out.stderr.clone()).unwrap();
    assert_eq!(stderr.matches("[device_access]").count(), 1, "{stderr}");
    assert!(stderr.contains("defaults apply"), "{stderr}");
    let report = report_of(&out);
    assert!(report.checks.iter().any(|c| c.id == "device_access"));
    let out = posture()
        .args(["policy", "show", "--policy"])
        .arg(&path)
        .output()
        .unwrap();
    let shown = String::from_utf8(out.stdout).unwrap();
    assert!(
        shown.contains("# [device_access] is not in this file")
            && shown.contains("# remote_access = \"report\""),
        "{shown}"
    );
}

#[test]
fn a_missing_policy_file_is_an_error_naming_the_path() {
    fails_saying(
        &["--check", "--policy", "/nonexistent/policy.toml"],
        "/nonexistent/policy.toml",
    );
}

#[test]
fn policy_show_prints_the_embedded_policy_with_its_digest() {
    let out = posture().args(["policy", "show"]).output().unwrap();
    assert_eq!(out.status.code(), Some(0));
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(
        text.starts_with("# source: embedded\n# digest: sha256:"),
        "{text}"
    );
    assert!(text.contains("max_idle_minutes = 15"));
    // What it prints is itself a valid policy.
    let body: String = text.lines().skip(2).map(|l| format!("{l}\n")).collect();
    posture_policy::Policy::from_toml("shown", &body).unwrap();
}

#[test]
fn a_missing_root_directory_is_an_error() {
    fails_saying(
        &["--check", "--root", "/nonexistent/root"],
        "/nonexistent/root",
    );
}

#[test]
fn a_corrupt_bundle_is_an_error_naming_the_file_and_line() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bundle.json");
    let text = "{\n  \"format\": \"posture-evidence-bundle\",\n  oops\n}";
    fs_err::write(&path, text).unwrap();
    let stderr = fails_saying(
        &["--check", "--replay", path.to_str().unwrap()],
        "bundle.json",
    );
    assert!(stderr.contains("line 3"), "{stderr}");
}

#[test]
fn no_arguments_is_a_usage_error_with_a_hint() {
    fails_saying(&[], "posture --check");
}

#[test]
fn root_and_replay_cannot_be_combined() {
    fails_saying(
        &["--check", "--root", "/", "--replay", "x.json"],
        "cannot be used with",
    );
}

/// Records a run on `root` (this machine when `None`), replays the bundle, and checks both runs
/// found the same.
fn record_and_replay(root: Option<&Path>) {
    let dir = tempfile::tempdir().unwrap();
    let bundle = dir.path().join("bundle.json");
    let mut live = posture();
    live.args(["--check", "--format", "json", "--record"])
        .arg(&bundle);
    if let Some(root) = root {
        live.arg("--root").arg(root);
    }
    let live = live.output().unwrap();
    let replayed = posture()
        .args(["--check", "--format", "json", "--replay"])
        .arg(&bundle)
        .output()
        .unwrap();
    let (a, b) = (report_of(&live), report_of(&replayed));
    assert_eq!(live.status.code(), replayed.status.code());
    assert_eq!(
        a.checks, b.checks,
        "replay judged differently from the live run"
    );
    assert_eq!(a.device, b.device);
    assert_eq!(a.posture, b.posture);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        let mode = fs_err::metadata(&bundle).unwrap().permissions().mode();
        assert_eq!(mode & 0o077, 0, "bundle readable by others: {mode:o}");
    }
}

#[test]
fn a_recorded_bundle_replays_to_the_same_findings_for_every_machine_fixture() {
    let machines = fixtures().join("linux/machines");
    let mut seen = 0;
    for entry in fs_err::read_dir(&machines).unwrap() {
        let root = entry.unwrap().path();
        if root.is_dir() {
            record_and_replay(Some(&root));
            seen += 1;
        }
    }
    assert!(seen > 0, "no machine fixtures under {}", machines.display());
}

#[test]
fn recording_this_machine_replays_to_the_same_findings() {
    record_and_replay(None);
}

fn check_root(machine: &str, extra: &[&str]) -> Output {
    #[cfg(unix)]
    let copy = installed_copy(machine);
    #[cfg(unix)]
    let root = copy.path().to_owned();
    #[cfg(not(unix))]
    let root = fixtures().join("linux/machines").join(machine);
    posture()
        .arg("--check")
        .args(extra)
        .arg("--root")
        .arg(root)
        .output()
        .unwrap()
}

/// A copy of a machine fixture whose files nobody but their owner may write, as packages
/// install them (owner and mode are read on Unix only): git keeps no modes, and a checkout under umask 002 would otherwise make every
/// configuration file group-writable, so no longer enforced (which the reports say).
#[cfg(unix)]
fn installed_copy(machine: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let copied = std::process::Command::new("cp")
        .arg("-a")
        .arg(fixtures().join("linux/machines").join(machine).join("."))
        .arg(dir.path())
        .status()
        .unwrap();
    assert!(copied.success());
    // chmod -R does not follow the symbolic links it meets.
    let chmod = std::process::Command::new("chmod")
        .args(["-R", "go-w"])
        .arg(dir.path())
        .status()
        .unwrap();
    assert!(chmod.success());
    dir
}

#[test]
fn a_compliant_laptop_root_exits_0_with_every_check_passing() {
    let out = check_root("compliant-gnome", &["--format", "json"]);
    let report = report_of(&out);
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(report.posture, Posture::Compliant);
    assert_eq!(report.agent.mode, posture_schema::EvidenceMode::Root);
    for c in &report.checks {
        assert_eq!(
            c.status,
            posture_schema::Status::Pass,
            "{}: {}",
            c.id,
            c.summary
        );
        assert!(!c.evidence.is_empty(), "{} passed without evidence", c.id);
    }
    assert_eq!(report.device.hostname.as_deref(), Some("alice-laptop"));
}

#[test]
fn a_stock_ubuntu_2404_gnome_laptop_passes_every_check_but_its_password_rules() {
    // Stock Ubuntu lets a 6-character password through (pam_unix's Debian default, no
    // pwquality on this laptop), short of NIST's 15 for a password that is the only factor.
    let out = check_root("ubuntu-2404-gnome", &["--format", "json"]);
    let report = report_of(&out);
    for c in &report.checks {
        let want = if c.id == "password_rules" {
            posture_schema::Status::Fail
        } else {
            posture_schema::Status::Pass
        };
        assert_eq!(c.status, want, "{}: {}", c.id, c.summary);
    }
    let rules = report
        .checks
        .iter()
        .find(|c| c.id == "password_rules")
        .unwrap();
    assert!(
        rules.summary.contains("minimum length 6"),
        "{}",
        rules.summary
    );
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(report.posture, Posture::Noncompliant);
    let screen = report
        .checks
        .iter()
        .find(|c| c.id == "screen_lock")
        .unwrap();
    assert!(
        screen
            .evidence
            .iter()
            .any(|e| e.value.contains("XDG_CURRENT_DESKTOP=ubuntu:GNOME")),
        "{:#?}",
        screen.evidence
    );
}

#[test]
fn a_stock_pop_os_2404_cosmic_laptop_is_judged_not_unknown() {
    // COSMIC locks 5.5 s after its 15-minute screen-off (cosmic-idle's built-in default): 906 s,
    // past the default policy's 15 minutes. The other checks pass as on the Ubuntu laptop.
    let out = check_root("popos-2404-cosmic", &["--format", "json"]);
    let report = report_of(&out);
    let check = |id: &str| report.checks.iter().find(|c| c.id == id).unwrap();
    let screen = check("screen_lock");
    assert_eq!(
        screen.status,
        posture_schema::Status::Fail,
        "{}",
        screen.summary
    );
    assert!(
        screen.subjects[0]
            .summary
            .starts_with("COSMIC: locks only after"),
        "{}",
        screen.subjects[0].summary
    );
    assert!(
        screen
            .remediation
            .iter()
            .any(|r| r.contains("COSMIC Settings")),
        "{:?}",
        screen.remediation
    );
    for id in ["disk_encryption", "removable_media"] {
        assert_eq!(
            check(id).status,
            posture_schema::Status::Pass,
            "{id}: {}",
            check(id).summary
        );
    }
    assert_eq!(out.status.code(), Some(1));
}

#[test]
fn a_recorded_bundle_holds_no_password_hash() {
    let root = fixtures().join("linux/machines/ubuntu-2404-gnome");
    let shadow = fs_err::read_to_string(root.join("etc/shadow")).unwrap();
    let hash = shadow
        .lines()
        .find_map(|l| l.split(':').nth(1).filter(|h| h.starts_with('$')))
        .unwrap()
        .to_owned();
    let dir = tempfile::tempdir().unwrap();
    let bundle = dir.path().join("bundle.json");
    let out = posture()
        .args(["--check", "--format", "json", "--record"])
        .arg(&bundle)
        .arg("--root")
        .arg(&root)
        .output()
        .unwrap();
    // Non-compliant only for its password rules (see the stock Ubuntu test above).
    assert_eq!(out.status.code(), Some(1));
    let recorded = fs_err::read_to_string(&bundle).unwrap();
    assert!(
        recorded.contains("/etc/shadow"),
        "the shadow file was not read"
    );
    assert!(
        !recorded.contains(&hash),
        "a password hash is in the bundle"
    );
    assert!(!String::from_utf8_lossy(&out.stdout).contains(&hash));
}

#[test]
fn a_noncompliant_laptop_root_exits_1_and_says_what_failed_and_how_to_fix_it() {
    let out = check_root("noncompliant-kde", &["--format", "json"]);
    let report = report_of(&out);
    assert_eq!(out.status.code(), Some(1));
    let status = |id: &str| report.checks.iter().find(|c| c.id == id).unwrap();
    assert_eq!(status("screen_lock").status, posture_schema::Status::Fail);
    assert_eq!(
        status("removable_media").status,
        posture_schema::Status::Fail
    );
    assert_eq!(
        status("disk_encryption").status,
        posture_schema::Status::Pass
    );
    for c in report
        .checks
        .iter()
        .filter(|c| c.status == posture_schema::Status::Fail)
    {
        assert!(
            !c.remediation.is_empty(),
            "{} failed without remediation",
            c.id
        );
    }
}

#[test]
fn a_root_with_nothing_readable_is_undecided_never_compliant() {
    let out = check_root("bare", &["--format", "json"]);
    let report = report_of(&out);
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(report.posture, Posture::Unknown);
}

// The reports say whether only root may write each configuration file, which is read on Unix
// only: elsewhere they say `unknown`.
#[cfg(unix)]
#[test]
fn human_output_of_a_noncompliant_laptop() {
    let out = check_root("noncompliant-kde", &[]);
    assert_eq!(out.status.code(), Some(1));
    insta::assert_snapshot!(String::from_utf8(out.stdout).unwrap());
}

// The reports say whether only root may write each configuration file, which is read on Unix
// only: elsewhere they say `unknown`.
#[cfg(unix)]
#[test]
fn human_output_of_a_compliant_laptop_with_evidence() {
    let out = check_root("compliant-gnome", &["--verbose"]);
    assert_eq!(out.status.code(), Some(0));
    insta::assert_snapshot!(String::from_utf8(out.stdout).unwrap());
}

// The reports say whether only root may write each configuration file, which is read on Unix
// only: elsewhere they say `unknown`.
#[cfg(unix)]
#[test]
fn json_report_of_a_noncompliant_laptop() {
    let out = check_root("noncompliant-kde", &["--format", "json"]);
    let value: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    insta::assert_json_snapshot!(value, {
        ".report_id" => "[uuid]",
        ".generated_at" => "[timestamp]",
    });
}

#[cfg(not(windows))]
#[test]
fn the_windows_service_entry_point_is_refused_outside_windows() {
    fails_saying(
        &["run", "--windows-service"],
        "Windows service control manager",
    );
}
