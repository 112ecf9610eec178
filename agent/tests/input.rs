//! Input a user or an installer gives the `posture` binary, and the messages it answers with:
//! durations out of range, enrollment secrets that look like flags, a missing `--root`, the
//! endpoint `config` and `status` show, `run --once` without an endpoint, `policy show --policy`
//! and what `--help` lists.

use std::path::{Path, PathBuf};
use std::process::Output;
use std::sync::{Arc, Mutex};

use assert_cmd::Command;
use axum::Router;
use axum::extract::State;
use axum::routing::post;

fn bundle() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/fixtures/macos/filevault_on.json")
}

/// The binary with a clean environment and its config and state in `dir`.
fn posture(dir: &Path) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_posture"));
    cmd.env_clear()
        .env("NO_COLOR", "1")
        .env("PATH", "/usr/bin:/bin")
        .env("POSTURE_CONFIG_DIR", dir.join("etc"))
        .env("POSTURE_STATE_DIR", dir.join("state"))
        .env("POSTURE_LOG_FORMAT", "human");
    cmd
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[track_caller]
fn assert_fails_saying(out: &Output, needle: &str) {
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "stderr:\n{stderr}");
    assert!(stderr.contains(needle), "expected {needle:?} in:\n{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
}

#[test]
fn a_duration_past_thirty_days_exits_2_from_a_flag_a_variable_or_the_config_file() {
    let dir = tempfile::tempdir().unwrap();
    let huge = "18446744073709551615";
    let out = posture(dir.path())
        .args(["run", "--once", "--interval", huge])
        .output()
        .unwrap();
    assert_fails_saying(
        &out,
        "flag --interval: `interval`: 213503982334601 days is out of range: a duration must be between 1s and 30d",
    );

    for var in [
        "POSTURE_INTERVAL",
        "POSTURE_CHECKIN_INTERVAL",
        "POSTURE_REQUEST_TIMEOUT",
        "POSTURE_RETRY_MAX_DELAY",
    ] {
        let out = posture(dir.path())
            .args(["run", "--once"])
            .env(var, huge)
            .output()
            .unwrap();
        assert_fails_saying(&out, &format!("env {var}: "));
        assert_fails_saying(&out, "out of range");
    }

    let config = dir.path().join("posture.toml");
    fs_err::write(
        &config,
        format!("endpoint = \"http://127.0.0.1:9\"\ninterval = \"{huge}s\"\n"),
    )
    .unwrap();
    for command in ["run", "config", "status"] {
        let out = posture(dir.path())
            .arg(command)
            .arg("--config")
            .arg(&config)
            .output()
            .unwrap();
        assert_fails_saying(
            &out,
            "posture.toml:2: `interval`: 213503982334601 days is out of range",
        );
    }

    let out = posture(dir.path())
        .args(["run", "--once", "--interval", "500ms"])
        .output()
        .unwrap();
    assert_fails_saying(&out, "`500ms` is out of range");
}

/// A stand-in collector that records the enrollment secrets it is sent.
#[derive(Clone, Default)]
struct Enroller {
    secrets: Arc<Mutex<Vec<String>>>,
}

impl Enroller {
    fn start(&self) -> String {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let port = listener.local_addr().unwrap().port();
        let app = Router::new()
            .route("/api/v1/enroll", post(enroll))
            .with_state(self.clone());
        std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(async move {
                let listener = tokio::net::TcpListener::from_std(listener).unwrap();
                let _ = axum::serve(listener, app).await;
            });
        });
        format!("http://127.0.0.1:{port}")
    }
}

async fn enroll(
    State(e): State<Enroller>,
    axum::Json(body): axum::Json<serde_json::Value>,
) -> axum::Json<serde_json::Value> {
    let secret = body["enroll_secret"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    e.secrets.lock().unwrap().push(secret);
    axum::Json(serde_json::json!({"device_id": "dev-7", "device_token": "tok-7"}))
}

#[test]
fn a_secret_starting_with_a_dash_enrolls_by_flag_by_environment_and_by_file() {
    let server = Enroller::default();
    let url = server.start();
    let secret = "-Abc-def_GHI";
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("secret.txt");
    fs_err::write(&file, format!("{secret}\n")).unwrap();
    let ways: [(&str, Vec<String>, Option<&str>); 4] = [
        ("--secret=VALUE", vec![format!("--secret={secret}")], None),
        (
            "--secret VALUE",
            vec!["--secret".into(), secret.into()],
            None,
        ),
        ("POSTURE_ENROLL_SECRET", vec![], Some(secret)),
        (
            "--secret-file",
            vec!["--secret-file".into(), file.display().to_string()],
            None,
        ),
    ];
    for (how, args, env) in ways {
        let dir = tempfile::tempdir().unwrap();
        let mut cmd = posture(dir.path());
        cmd.args(["enroll", "--endpoint", &url]).args(&args);
        if let Some(value) = env {
            cmd.env("POSTURE_ENROLL_SECRET", value);
        }
        let out = cmd.output().unwrap();
        assert_eq!(out.status.code(), Some(0), "{how}: {}", text(&out.stderr));
        assert_eq!(
            server.secrets.lock().unwrap().last().map(String::as_str),
            Some(secret),
            "{how}"
        );
        assert!(
            !text(&out.stdout).contains(secret),
            "{how}: the secret was printed"
        );
    }
    let out = posture(dir.path())
        .args(["enroll", "--endpoint", &url])
        .output()
        .unwrap();
    assert_fails_saying(
        &out,
        "no enrollment secret: pass --secret-file FILE, set POSTURE_ENROLL_SECRET",
    );
}

#[test]
fn config_and_status_show_the_endpoint_the_daemon_uses() {
    let server = Enroller::default();
    let url = server.start();
    let dir = tempfile::tempdir().unwrap();
    let out = posture(dir.path())
        .args(["enroll", "--endpoint", &url])
        .env("POSTURE_ENROLL_SECRET", "s3cret")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    // No endpoint in any config: both fall back to the enrolled one, as `posture run` does.
    let config = posture(dir.path()).arg("config").output().unwrap();
    let config = text(&config.stdout);
    let line = config
        .lines()
        .find(|l| l.starts_with("endpoint"))
        .unwrap_or_else(|| panic!("no endpoint line in:\n{config}"));
    assert!(line.starts_with(&format!("endpoint = \"{url}\"")), "{line}");
    assert!(line.contains("# enrollment ("), "{line}");
    let status = posture(dir.path())
        .args(["status", "--json"])
        .output()
        .unwrap();
    let status: serde_json::Value = serde_json::from_slice(&status.stdout).unwrap();
    assert_eq!(status["endpoint"], url.as_str());
}

#[test]
fn run_once_without_an_endpoint_warns_that_the_report_was_only_spooled() {
    let dir = tempfile::tempdir().unwrap();
    let out = posture(dir.path())
        .args(["run", "--once", "--replay"])
        .arg(bundle())
        .output()
        .unwrap();
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert!(
        stderr.contains("no endpoint configured: the report was only spooled, not sent"),
        "{stderr}"
    );
    let spooled = fs_err::read_dir(dir.path().join("state/spool"))
        .unwrap()
        .filter(|e| {
            e.as_ref()
                .unwrap()
                .file_name()
                .to_string_lossy()
                .ends_with(".json")
        })
        .count();
    assert_eq!(spooled, 1);
}

#[test]
fn a_missing_root_says_the_directory_does_not_exist() {
    let dir = tempfile::tempdir().unwrap();
    let out = posture(dir.path())
        .args(["--check", "--root", "/nonexistent/root"])
        .output()
        .unwrap();
    assert_fails_saying(
        &out,
        "--root /nonexistent/root: the directory does not exist",
    );
}

#[test]
fn policy_show_with_a_policy_file_prints_that_file() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("site.toml");
    let site = posture_policy::DEFAULT_POLICY_TOML
        .replace("max_idle_minutes = 15", "max_idle_minutes = 10");
    assert_ne!(site, posture_policy::DEFAULT_POLICY_TOML);
    fs_err::write(&file, &site).unwrap();
    let out = posture(dir.path())
        .args(["policy", "show", "--policy"])
        .arg(&file)
        .output()
        .unwrap();
    let stdout = text(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(
        stdout.starts_with(&format!("# source: {}\n", file.display())),
        "{stdout}"
    );
    assert!(stdout.contains("max_idle_minutes = 10"), "{stdout}");
}

#[test]
fn a_site_policy_written_before_the_credentials_check_still_loads_and_says_so_once() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("site.toml");
    let full = posture_policy::DEFAULT_POLICY_TOML;
    // The credentials section cut out, the sections after it kept.
    let old = format!(
        "{}{}",
        &full[..full.find("[credentials]").unwrap()],
        &full[full.find("[password_rules]").unwrap()..]
    );
    fs_err::write(&file, old).unwrap();
    let root = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../tests/fixtures/linux/machines/compliant-gnome"
    );
    let out = posture(dir.path())
        .args(["--check", "--format", "json", "--root", root, "--policy"])
        .arg(&file)
        .output()
        .unwrap();
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert_eq!(
        stderr.matches("no [credentials] section").count(),
        1,
        "{stderr}"
    );
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let ids: Vec<&str> = report["checks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["id"].as_str().unwrap())
        .collect();
    assert!(ids.contains(&"credentials"), "{ids:?}");
}

#[test]
fn a_site_policy_written_before_the_password_rules_check_still_loads_and_policy_show_prints_the_defaults()
 {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("site.toml");
    let full = posture_policy::DEFAULT_POLICY_TOML;
    fs_err::write(&file, &full[..full.find("[password_rules]").unwrap()]).unwrap();
    let root = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../tests/fixtures/linux/machines/compliant-gnome"
    );
    let out = posture(dir.path())
        .args(["--check", "--format", "json", "--root", root, "--policy"])
        .arg(&file)
        .output()
        .unwrap();
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert_eq!(
        stderr.matches("no [password_rules] section").count(),
        1,
        "{stderr}"
    );
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let rules = report["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["id"] == "password_rules")
        .unwrap();
    assert_eq!(rules["status"], "pass", "{rules}");
    let out = posture(dir.path())
        .args(["policy", "show", "--policy"])
        .arg(&file)
        .output()
        .unwrap();
    let stdout = text(&out.stdout);
    assert!(
        stdout.contains("# min_length_single_factor = 15"),
        "{stdout}"
    );
}

#[test]
fn help_lists_generate_and_the_secret_options() {
    let dir = tempfile::tempdir().unwrap();
    let help = posture(dir.path()).arg("--help").output().unwrap();
    assert!(
        text(&help.stdout)
            .lines()
            .any(|l| l.trim_start().starts_with("generate ")),
        "{}",
        text(&help.stdout)
    );
    let help = posture(dir.path())
        .args(["enroll", "--help"])
        .output()
        .unwrap();
    let help = text(&help.stdout);
    assert!(help.contains("--secret-file <FILE>"), "{help}");
    assert!(help.contains("POSTURE_ENROLL_SECRET"), "{help}");
}
