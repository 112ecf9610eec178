//! The dashboard: sign-in, CSRF and escaping over plain HTTP, then a real headless Chromium that
//! loads the fleet page, filters to non-compliant devices, opens one and takes a screenshot
//! (saved under `crates/collector/tests/artifacts/`).

mod support;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use posture_schema::Status;
use reqwest::Method;
use support::report::report;
use support::{Collector, FormExt, TestDb};

/// Three devices: one failing the screen-lock check (owned by Alice), one compliant, one unknown.
async fn seeded_collector(db: &TestDb) -> (Collector, String) {
    let c = Collector::start(db);
    let (bad, bad_token) = c.enroll("m-bad", "alice-thinkpad").await;
    let (good, good_token) = c.enroll("m-good", "bob-macbook").await;
    let (odd, odd_token) = c.enroll("m-odd", "<script>alert(1)</script>").await;
    assert_eq!(
        c.post_report(&bad_token, &report(&bad, "alice-thinkpad", Status::Fail))
            .await
            .0,
        200
    );
    assert_eq!(
        c.post_report(&good_token, &report(&good, "bob-macbook", Status::Pass))
            .await
            .0,
        200
    );
    let unknown = report(&odd, "<script>alert(1)</script>", Status::Unknown);
    assert_eq!(c.post_report(&odd_token, &unknown).await.0, 200);
    let (status, _) = c
        .admin_send(
            Method::PATCH,
            &format!("/api/v1/devices/{bad}"),
            serde_json::json!({ "owner": "Alice Example" }),
        )
        .await;
    assert_eq!(status, 200);
    (c, bad)
}

fn no_redirects() -> reqwest::Client {
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

fn csrf_of(html: &str) -> String {
    let marker = "name=\"csrf\" value=\"";
    let start = html.find(marker).expect("a CSRF field") + marker.len();
    html[start..].split('"').next().unwrap().to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_dashboard_needs_a_session_escapes_device_text_and_refuses_forged_forms() {
    let db = TestDb::sqlite();
    let (c, bad) = seeded_collector(&db).await;
    let http = no_redirects();

    let response = http.get(c.url("/")).send().await.unwrap();
    assert_eq!(response.status(), 303);
    assert_eq!(response.headers()["location"], "/login?next=/");

    let response = http
        .post(c.url("/login"))
        .form_pairs(&[("token", "wrong"), ("next", "/")])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 401);

    let response = http
        .post(c.url("/login"))
        .form_pairs(&[
            ("token", c.admin_token.as_str()),
            ("next", "//evil.example"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 303);
    assert_eq!(response.headers()["location"], "/", "no open redirect");
    let set_cookie = response.headers()["set-cookie"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(set_cookie.contains("HttpOnly"), "{set_cookie}");
    assert!(set_cookie.contains("SameSite=Strict"), "{set_cookie}");
    let cookie = set_cookie.split(';').next().unwrap().to_owned();

    let page = http
        .get(c.url("/"))
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(page.contains("alice-thinkpad"));
    assert!(
        !page.contains("<script>alert(1)</script>"),
        "device text is escaped"
    );
    assert!(
        page.contains("&lt;script&gt;alert(1)") || page.contains("&#60;script&#62;alert(1)"),
        "the host name is shown, escaped"
    );
    let csrf = csrf_of(&page);

    let check_now = c.url(&format!("/devices/{bad}/check-now"));
    let forged = http
        .post(&check_now)
        .header("cookie", &cookie)
        .form_pairs(&[("csrf", "guess")])
        .send()
        .await
        .unwrap();
    assert_eq!(forged.status(), 403, "a wrong CSRF token is refused");
    let cross_site = http
        .post(&check_now)
        .header("cookie", &cookie)
        .header("origin", "https://evil.example")
        .form_pairs(&[("csrf", csrf.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(cross_site.status(), 403, "a foreign Origin is refused");
    let no_session = http
        .post(&check_now)
        .form_pairs(&[("csrf", csrf.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(no_session.status(), 303, "no session: sign in first");
    let real = http
        .post(&check_now)
        .header("cookie", &cookie)
        .form_pairs(&[("csrf", csrf.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(real.status(), 303);
    let detail = c.admin_get(&format!("/api/v1/devices/{bad}")).await;
    assert!(detail["device"]["check_now_requested_at"].is_i64());

    let saved = http
        .post(c.url(&format!("/devices/{bad}/asset")))
        .header("cookie", &cookie)
        .form_pairs(&[
            ("csrf", csrf.as_str()),
            ("owner", "Carol"),
            ("state", "lost"),
            ("note", "left on a train"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(saved.status(), 303);
    let detail = c.admin_get(&format!("/api/v1/devices/{bad}")).await;
    assert_eq!(detail["device"]["owner"], "Carol");
    assert_eq!(detail["device"]["state"], "lost");

    let csv = http
        .get(c.url("/export/findings.csv"))
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(csv.status(), 200);
    assert!(csv.text().await.unwrap().contains("screen_lock"));

    let out = http
        .post(c.url("/logout"))
        .header("cookie", &cookie)
        .form_pairs(&[("csrf", csrf.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(out.status(), 303);
    let after = http
        .get(c.url("/"))
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(after.status(), 303, "the session ended");
}

fn find_chromium() -> Option<PathBuf> {
    if let Some(path) = std::env::var_os("POSTURE_TEST_CHROMIUM") {
        return Some(PathBuf::from(path));
    }
    let path = std::env::var_os("PATH")?;
    for dir in std::env::split_paths(&path) {
        for name in ["chromium", "chromium-browser", "google-chrome"] {
            let candidate = dir.join(name);
            if candidate.is_file() {
                return Some(candidate);
            }
        }
    }
    None
}

/// Runs headless Chromium with a fresh profile; returns stdout.
fn chromium(binary: &Path, args: &[String]) -> String {
    let profile = tempfile::tempdir().unwrap();
    let mut child = Command::new(binary)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--disable-dev-shm-usage",
            "--hide-scrollbars",
        ])
        .arg(format!("--user-data-dir={}", profile.path().display()))
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut stdout = child.stdout.take().unwrap();
    let reader = std::thread::spawn(move || {
        let mut s = String::new();
        std::io::Read::read_to_string(&mut stdout, &mut s).unwrap();
        s
    });
    let deadline = Instant::now() + Duration::from_secs(90);
    loop {
        if child.try_wait().unwrap().is_some() {
            break;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("chromium did not finish within 90 s");
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    reader.join().unwrap()
}

async fn login_link(c: &Collector, next: &str) -> String {
    let (status, body) = c
        .admin_send(
            Method::POST,
            "/api/v1/login-links",
            serde_json::json!({ "next": next }),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    c.url(body["path"].as_str().unwrap())
}

// Without Chromium the test is ignored locally (visible in the summary) and fails under
// `CI=true` (see build.rs): it never passes without having run.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[cfg_attr(
    posture_skip_chromium,
    ignore = "needs Chromium: run scripts/install-chromium.sh or set POSTURE_TEST_CHROMIUM"
)]
async fn chromium_filters_to_noncompliant_devices_and_opens_one() {
    let browser = find_chromium().unwrap_or_else(|| {
        panic!(
            "chromium not found: the headless-browser dashboard test cannot run \
             (run scripts/install-chromium.sh or set POSTURE_TEST_CHROMIUM)"
        )
    });
    let db = TestDb::sqlite();
    let (c, bad) = seeded_collector(&db).await;
    let artifacts = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/artifacts");
    fs_err::create_dir_all(&artifacts).unwrap();

    // The fleet page: summary and the filter form.
    let url = login_link(&c, "/").await;
    let dom = tokio::task::spawn_blocking({
        let browser = browser.clone();
        move || chromium(&browser, &["--dump-dom".into(), url])
    })
    .await
    .unwrap();
    assert!(
        dom.contains("Fleet posture"),
        "signed in through the link: {dom}"
    );
    assert!(
        dom.contains(r#"<div class="n" id="count-noncompliant">1</div>"#),
        "{dom}"
    );
    assert!(dom.contains(r#"<form class="filters" method="get" action="/" id="filters">"#));
    assert!(dom.contains(r#"<option value="noncompliant">non-compliant</option>"#));
    assert!(dom.contains("bob-macbook"));

    // Submitting the filter form with "non-compliant" is a GET of this URL.
    let url = login_link(&c, "/?status=noncompliant").await;
    let dom = tokio::task::spawn_blocking({
        let browser = browser.clone();
        move || chromium(&browser, &["--dump-dom".into(), url])
    })
    .await
    .unwrap();
    assert!(
        dom.contains(r#"<option value="noncompliant" selected="">"#),
        "{dom}"
    );
    assert_eq!(dom.matches("class=\"device-row ").count(), 1, "{dom}");
    assert!(dom.contains("device-row noncompliant"));
    assert!(
        !dom.contains("bob-macbook"),
        "compliant devices are filtered out"
    );
    let href = format!("/devices/{bad}");
    let url = login_link(&c, "/?status=noncompliant").await;
    let shot = artifacts.join("fleet-noncompliant.png");
    tokio::task::spawn_blocking({
        let browser = browser.clone();
        let shot = shot.clone();
        move || {
            chromium(
                &browser,
                &[
                    format!("--screenshot={}", shot.display()),
                    "--window-size=1280,1400".into(),
                    url,
                ],
            )
        }
    })
    .await
    .unwrap();
    assert!(fs_err::metadata(&shot).unwrap().len() > 10_000);
    assert!(dom.contains(&format!(
        r#"<a class="device-link" href="{href}">alice-thinkpad</a>"#
    )));

    // Opening that device: failing check first, with evidence and remediation.
    let url = login_link(&c, &href).await;
    let dom = tokio::task::spawn_blocking({
        let browser = browser.clone();
        move || chromium(&browser, &["--dump-dom".into(), url])
    })
    .await
    .unwrap();
    assert!(
        dom.contains(r#"id="device-posture">noncompliant</span>"#),
        "{dom}"
    );
    assert!(dom.contains("Alice Example"));
    assert!(dom.contains("Non-compliant since"));
    let screen_lock = dom
        .find(r#"id="check-screen_lock""#)
        .expect("screen lock shown");
    let disk = dom
        .find(r#"id="check-disk_encryption""#)
        .expect("disk shown");
    assert!(screen_lock < disk, "failing checks come first");
    assert!(dom.contains("How to fix"));
    assert!(dom.contains("uint32 900"), "evidence is shown");

    let screenshot = artifacts.join("device-page.png");
    let _ = fs_err::remove_file(&screenshot);
    let url = login_link(&c, &href).await;
    let shot = screenshot.clone();
    tokio::task::spawn_blocking(move || {
        chromium(
            &browser,
            &[
                format!("--screenshot={}", shot.display()),
                "--window-size=1280,1600".into(),
                url,
            ],
        )
    })
    .await
    .unwrap();
    let size = fs_err::metadata(&screenshot).unwrap().len();
    assert!(
        size > 10_000,
        "a real screenshot, not a blank page: {size} bytes"
    );
    eprintln!("screenshot saved to {}", screenshot.display());

    // A login link works once. Its token is in the fragment, which a browser never sends: the
    // page posts it.
    let url = login_link(&c, "/").await;
    let (page, token) = url.split_once('#').unwrap();
    let http = no_redirects();
    assert_eq!(http.get(page).send().await.unwrap().status(), 200);
    let use_link = || {
        http.post(c.url("/login/link"))
            .form_pairs(&[("token", token)])
            .send()
    };
    assert_eq!(use_link().await.unwrap().status(), 303);
    assert_eq!(use_link().await.unwrap().status(), 401);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_device_page_shows_what_enforces_each_setting() {
    use posture_schema::{Enforced, Enforcer, Setting};
    let db = TestDb::sqlite();
    let c = Collector::start(&db);
    let (id, token) = c.enroll("m-gnome", "carol-laptop").await;
    let mut r = report(&id, "carol-laptop", Status::Pass);
    let lock = r.checks.iter_mut().find(|f| f.id == "screen_lock").unwrap();
    lock.subjects[0].enforced = Some(Enforced::No);
    lock.subjects[0].settings = vec![
        Setting {
            name: "/org/gnome/desktop/session/idle-delay".into(),
            value: "uint32 600".into(),
            source: "/etc/dconf/db/local (system database local)".into(),
            enforced: Enforced::Yes,
            enforced_by: vec![posture_schema::Enforcer {
                kind: Enforcer::DCONF_LOCK.into(),
                id: "/etc/dconf/db/local".into(),
                name: Some("system database local".into()),
                removable_by: Enforcer::BY_USER.into(),
                value: None,
            }],
            notes: vec![],
        },
        Setting {
            name: "/org/gnome/desktop/screensaver/lock-delay".into(),
            value: "uint32 0".into(),
            source: "<user db>".into(),
            enforced: Enforced::No,
            enforced_by: vec![],
            notes: vec![],
        },
    ];
    assert_eq!(c.post_report(&token, &r).await.0, 200);

    let http = no_redirects();
    let response = http
        .post(c.url("/login"))
        .form_pairs(&[("token", c.admin_token.as_str()), ("next", "/")])
        .send()
        .await
        .unwrap();
    let cookie = response.headers()["set-cookie"]
        .to_str()
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .to_owned();
    let page = http
        .get(c.url(&format!("/devices/{id}")))
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        page.contains(r#"id="enforced-screen_lock">not enforced</span>"#),
        "{page}"
    );
    assert!(
        page.contains("dconf_lock /etc/dconf/db/local (system database local), removable by user")
    );
    assert!(page.contains("&lt;user db&gt;") || page.contains("&#60;user db&#62;"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_fleet_page_shows_how_many_passes_are_enforced_and_lists_the_others() {
    use posture_schema::{Enforced, Setting};
    let db = TestDb::sqlite();
    let c = Collector::start(&db);
    for (machine, host, enforced) in [
        ("m-pinned", "pinned-laptop", Enforced::Yes),
        ("m-by-hand", "by-hand-laptop", Enforced::No),
    ] {
        let (id, token) = c.enroll(machine, host).await;
        let mut r = report(&id, host, Status::Pass);
        let lock = r.checks.iter_mut().find(|f| f.id == "screen_lock").unwrap();
        for subject in &mut lock.subjects {
            subject.status = Status::Pass;
            subject.settings = vec![Setting {
                name: "/org/gnome/desktop/session/idle-delay".into(),
                value: "uint32 300".into(),
                source: "/etc/dconf/db/local (system database local)".into(),
                enforced,
                enforced_by: vec![],
                notes: vec![],
            }];
        }
        assert_eq!(c.post_report(&token, &r).await.0, 200);
    }

    let http = no_redirects();
    let response = http
        .post(c.url("/login"))
        .form_pairs(&[("token", c.admin_token.as_str()), ("next", "/")])
        .send()
        .await
        .unwrap();
    let cookie = response.headers()["set-cookie"]
        .to_str()
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .to_owned();
    let get = |path: String| {
        let (http, cookie, c) = (&http, &cookie, &c);
        async move {
            let response = http
                .get(c.url(&path))
                .header("cookie", cookie)
                .send()
                .await
                .unwrap();
            (response.status().as_u16(), response.text().await.unwrap())
        }
    };
    let (status, page) = get("/".into()).await;
    assert_eq!(status, 200);
    assert!(page.contains("compliant, 50% enforced"), "{page}");
    let link = "/?check=screen_lock&amp;check_status=pass&amp;enforced=false";
    assert!(page.contains(link), "{page}");

    let (status, page) = get(link.replace("&amp;", "&")).await;
    assert_eq!(status, 200);
    assert!(page.contains("by-hand-laptop"), "{page}");
    assert!(!page.contains("pinned-laptop"), "{page}");

    let (status, _) = get("/?check=screen_lock&enforced=sometimes".into()).await;
    assert_eq!(status, 400);
}
