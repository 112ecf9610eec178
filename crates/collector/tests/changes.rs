//! "Changed at": per device and check, when the status last changed (the collector's receive
//! time of the first report with the new status) and why the agent made that report (a watched
//! change or a check-now request, with when it noticed it by its own clock). Shown by the device
//! API and the device page, on SQLite and on PostgreSQL.

mod support;

use posture_schema::{Report, Status, Trigger};
use serde_json::Value;
use support::report::report;
use support::{Collector, FormExt, TestDb};

fn with_trigger(mut r: Report, kind: &str, cause: &str, detected_at: &str) -> Report {
    r.trigger = Some(Trigger {
        kind: kind.to_owned(),
        cause: Some(cause.to_owned()),
        detected_at: Some(detected_at.to_owned()),
    });
    r
}

async fn screen_lock(c: &Collector, id: &str) -> Value {
    let detail = c.admin_get(&format!("/api/v1/devices/{id}")).await;
    detail["device"]["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["check_id"] == "screen_lock")
        .cloned()
        .unwrap_or_else(|| panic!("no screen_lock finding: {detail}"))
}

async fn post(c: &Collector, token: &str, r: &Report) {
    let (status, body) = c.post_report(token, r).await;
    assert_eq!(status, 200, "{body}");
}

/// The device page, signed in with the admin token.
async fn device_page(c: &Collector, id: &str) -> String {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let response = http
        .post(c.url("/login"))
        .form_pairs(&[("token", c.admin_token.as_str()), ("next", "/")])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 303);
    let cookie = response.headers()["set-cookie"]
        .to_str()
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .to_owned();
    http.get(c.url(&format!("/devices/{id}")))
        .header("cookie", cookie)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap()
}

/// The text of the element with this id (its first line of markup).
fn element<'a>(html: &'a str, id: &str) -> &'a str {
    let start = html
        .find(&format!("id=\"{id}\""))
        .unwrap_or_else(|| panic!("no element {id} in the page"));
    html[start..].split("</p>").next().unwrap()
}

async fn a_status_change_moves_changed_at_and_an_unchanged_status_does_not(db: &TestDb) {
    let c = Collector::start(db);
    let (id, token) = c.enroll("m-1", "alice-laptop").await;

    // A scheduled report: the first status, no trigger.
    let first = report(&id, "alice-laptop", Status::Fail);
    post(&c, &token, &first).await;
    let f = screen_lock(&c, &id).await;
    let first_change = f["changed_at"].as_i64().unwrap();
    assert_eq!(f["status_since"], f["changed_at"], "{f}");
    assert_eq!(f["changed_by_report"], first.report_id.as_str());
    assert!(f["change_trigger"].is_null(), "{f}");
    let history = c.admin_get(&format!("/api/v1/devices/{id}/reports")).await;
    assert!(history["reports"][0]["trigger"].is_null(), "{history}");

    // The same status again, from a watched change: "changed at" does not move.
    let same = with_trigger(
        report(&id, "alice-laptop", Status::Fail),
        Trigger::CHANGE,
        "mount table changed",
        "2026-11-23T10:00:00Z",
    );
    post(&c, &token, &same).await;
    let f = screen_lock(&c, &id).await;
    assert_eq!(f["changed_at"].as_i64(), Some(first_change), "{f}");
    assert_eq!(f["changed_by_report"], first.report_id.as_str());
    assert!(f["change_trigger"].is_null(), "{f}");

    // A watched change that changes the status; the agent's clock is years off: its detection
    // time is kept to be shown, the change is dated by the collector's receive time.
    let fixed = with_trigger(
        report(&id, "alice-laptop", Status::Pass),
        Trigger::CHANGE,
        "/etc/dconf/db/local.d/00-screensaver changed",
        "2001-01-01T00:00:02Z",
    );
    post(&c, &token, &fixed).await;
    let f = screen_lock(&c, &id).await;
    let changed = f["changed_at"].as_i64().unwrap();
    assert!(changed >= first_change, "{f}");
    assert_eq!(f["status"], "pass");
    assert_eq!(f["changed_by_report"], fixed.report_id.as_str());
    assert_eq!(f["change_trigger"], "change");
    assert_eq!(
        f["change_cause"],
        "/etc/dconf/db/local.d/00-screensaver changed"
    );
    assert_eq!(f["change_detected_at_agent_clock"], 978_307_202_000_i64);
    let history = c.admin_get(&format!("/api/v1/devices/{id}/reports")).await;
    let newest = &history["reports"][0];
    assert_eq!(newest["report_id"], fixed.report_id.as_str());
    assert_eq!(newest["trigger"]["kind"], "change");
    assert_eq!(
        newest["trigger"]["detected_at_agent_clock"],
        978_307_202_000_i64
    );
    assert!(
        newest["received_at"].as_i64().unwrap() >= first_change,
        "received by the collector's clock: {newest}"
    );

    // A check-now report with the same status does not move it either.
    let asked = with_trigger(
        report(&id, "alice-laptop", Status::Pass),
        Trigger::CHECK_NOW,
        "the collector asked for a check",
        "2026-11-23T10:05:00Z",
    );
    post(&c, &token, &asked).await;
    let f = screen_lock(&c, &id).await;
    assert_eq!(f["changed_at"].as_i64(), Some(changed), "{f}");
    assert_eq!(f["changed_by_report"], fixed.report_id.as_str());
    // Another check that did not change keeps its first time.
    let detail = c.admin_get(&format!("/api/v1/devices/{id}")).await;
    let disk = detail["device"]["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["check_id"] == "disk_encryption")
        .unwrap();
    assert_eq!(disk["changed_at"].as_i64(), Some(first_change), "{disk}");

    // The device page shows "changed at" per check, with the trigger and its agent-clock time.
    let page = device_page(&c, &id).await;
    let line = element(&page, "changed-at-screen_lock");
    assert!(line.contains("Changed to pass at "), "{line}");
    assert!(line.contains("received by the collector"), "{line}");
    assert!(line.contains("after a change on the device"), "{line}");
    assert!(
        line.contains("/etc/dconf/db/local.d/00-screensaver changed"),
        "{line}"
    );
    assert!(
        line.contains("detected 2001-01-01T00:00:02Z by the device&#39;s clock")
            || line.contains("detected 2001-01-01T00:00:02Z by the device&#x27;s clock")
            || line.contains("detected 2001-01-01T00:00:02Z by the device's clock"),
        "{line}"
    );
    let line = element(&page, "changed-at-disk_encryption");
    assert!(line.contains("Changed to pass at "), "{line}");
    assert!(
        !line.contains("after a"),
        "a scheduled report has no trigger: {line}"
    );
    assert!(
        page.contains("after a check-now request"),
        "history: {page}"
    );
}
on_both_databases!(a_status_change_moves_changed_at_and_an_unchanged_status_does_not);

async fn a_trigger_with_an_unreadable_detection_time_is_refused(db: &TestDb) {
    let c = Collector::start(db);
    let (id, token) = c.enroll("m-1", "h").await;
    let r = with_trigger(
        report(&id, "h", Status::Pass),
        Trigger::CHANGE,
        "x",
        "yesterday",
    );
    let (status, body) = c.post_report(&token, &r).await;
    assert_eq!(status, 422, "{body}");
    let mut unknown_kind = report(&id, "h", Status::Pass);
    unknown_kind.trigger = Some(Trigger {
        kind: "calendar".into(),
        cause: None,
        detected_at: None,
    });
    post(&c, &token, &unknown_kind).await;
    let f = screen_lock(&c, &id).await;
    assert_eq!(f["change_trigger"], "calendar", "kept as it is: {f}");
}
on_both_databases!(a_trigger_with_an_unreadable_detection_time_is_refused);
