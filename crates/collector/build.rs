//! Decides whether the PostgreSQL and Chromium tests can run, so that a missing service is
//! visible: locally the tests are marked ignored (the summary counts them as ignored, not
//! passed); under `CI=true` they run and fail with the reason.

fn main() {
    println!("cargo::rerun-if-env-changed=POSTURE_TEST_POSTGRES_URL");
    println!("cargo::rerun-if-env-changed=CI");
    println!("cargo::rerun-if-env-changed=PATH");
    println!("cargo::rerun-if-env-changed=POSTURE_TEST_CHROMIUM");
    println!("cargo::rustc-check-cfg=cfg(posture_skip_postgres)");
    println!("cargo::rustc-check-cfg=cfg(posture_skip_chromium)");
    let ci = std::env::var("CI").is_ok_and(|v| v == "true" || v == "1");
    if ci {
        return;
    }
    if std::env::var_os("POSTURE_TEST_POSTGRES_URL").is_none_or(|v| v.is_empty()) {
        println!("cargo::rustc-cfg=posture_skip_postgres");
    }
    if !chromium_available() {
        println!("cargo::rustc-cfg=posture_skip_chromium");
    }
}

/// The same search as the dashboard test: `POSTURE_TEST_CHROMIUM`, else a browser on `PATH`.
fn chromium_available() -> bool {
    if std::env::var_os("POSTURE_TEST_CHROMIUM").is_some() {
        return true;
    }
    let Some(path) = std::env::var_os("PATH") else {
        return false;
    };
    std::env::split_paths(&path).any(|dir| {
        ["chromium", "chromium-browser", "google-chrome"]
            .iter()
            .any(|name| dir.join(name).is_file())
    })
}
