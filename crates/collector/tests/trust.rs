//! The collector does not believe what a report says: it judges the posture itself against the
//! fleet policy, orders reports by its own clock, refuses reports not read from the running
//! machine, records identity changes instead of applying them, and does not let enrollment take
//! a device over. On SQLite and PostgreSQL, against the real binary.

mod support;

use posture_schema::{EvidenceMode, Posture, Status};
use reqwest::Method;
use serde_json::{Value, json};
use support::report::report;
use support::{Collector, TestDb};

async fn device(c: &Collector, id: &str) -> Value {
    c.admin_get(&format!("/api/v1/devices/{id}")).await
}

/// Enrolls with the fleet secret (and the current token, if given); returns status and reply.
async fn enroll_raw(
    c: &Collector,
    secret: &str,
    machine: &str,
    token: Option<&str>,
) -> (u16, Value) {
    let mut body = json!({
        "enroll_secret": secret,
        "hostname": "h",
        "machine_id": machine,
        "platform": "linux",
        "agent_version": "0.1.0",
    });
    if let Some(token) = token {
        body["device_token"] = json!(token);
    }
    c.post_json("/api/v1/enroll", None, &body).await
}

async fn the_collector_judges_the_posture_itself(db: &TestDb) {
    let c = Collector::start(db);
    let (id, token) = c.enroll("m-1", "h").await;

    // A failing check under a "compliant" badge.
    let mut r = report(&id, "h", Status::Fail);
    r.posture = Posture::Compliant;
    assert_eq!(c.post_report(&token, &r).await.0, 200);
    assert_eq!(device(&c, &id).await["device"]["posture"], "noncompliant");

    // No checks at all.
    let mut r = report(&id, "h", Status::Pass);
    r.checks.clear();
    r.posture = Posture::Compliant;
    assert_eq!(c.post_report(&token, &r).await.0, 200);
    let d = device(&c, &id).await;
    assert_eq!(d["device"]["posture"], "unknown");

    // A check the policy enables is missing: unknown for it, and for the device.
    let mut r = report(&id, "h", Status::Pass);
    r.checks.retain(|f| f.id != "removable_media");
    r.posture = Posture::Compliant;
    assert_eq!(c.post_report(&token, &r).await.0, 200);
    let d = device(&c, &id).await;
    assert_eq!(d["device"]["posture"], "unknown");
    let missing = d["device"]["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["check_id"] == "removable_media")
        .cloned()
        .unwrap();
    assert_eq!(missing["status"], "unknown");

    // An honest passing report is compliant.
    let r = report(&id, "h", Status::Pass);
    assert_eq!(c.post_report(&token, &r).await.0, 200);
    assert_eq!(device(&c, &id).await["device"]["posture"], "compliant");
}
on_both_databases!(the_collector_judges_the_posture_itself);

async fn future_and_past_clocks_are_flagged_and_never_decide_what_is_current(db: &TestDb) {
    let c = Collector::start(db);
    let (id, token) = c.enroll("m-1", "h").await;
    let (status, _) = c
        .admin_send(
            Method::POST,
            &format!("/api/v1/devices/{id}/check-now"),
            json!({}),
        )
        .await;
    assert!(status < 300, "{status}");

    // A dead clock battery: dated 2030.
    let mut future = report(&id, "h", Status::Pass);
    future.generated_at = "2030-01-01T00:00:00Z".into();
    let (status, reply) = c.post_report(&token, &future).await;
    assert_eq!(status, 200, "{reply}");
    assert_eq!(
        reply["check_now"], false,
        "received after the request: it answers it, whatever its date"
    );
    let d = device(&c, &id).await;
    assert!(d["device"]["clock_skew_ms"].as_i64().unwrap() > 365 * 86_400_000);

    // The next report, honestly dated, is current although "older".
    let now = report(&id, "h", Status::Fail);
    assert_eq!(c.post_report(&token, &now).await.0, 200);
    let d = device(&c, &id).await;
    assert_eq!(d["device"]["posture"], "noncompliant");
    assert_eq!(d["device"]["clock_skew_ms"], Value::Null);
    assert_eq!(d["history"][0]["report_id"], now.report_id.as_str());

    // A clock a day behind, told by the Date header at sending time.
    let behind = report(&id, "h", Status::Fail);
    let yesterday = std::time::SystemTime::now() - std::time::Duration::from_secs(86_400);
    let response = c
        .http
        .post(c.url("/api/v1/reports"))
        .bearer_auth(&token)
        .header("content-type", "application/json")
        .header("date", httpdate::fmt_http_date(yesterday))
        .body(serde_json::to_vec(&behind).unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 200);
    let skew = device(&c, &id).await["device"]["clock_skew_ms"]
        .as_i64()
        .unwrap();
    assert!(skew < -80_000_000, "{skew}");
}
on_both_databases!(future_and_past_clocks_are_flagged_and_never_decide_what_is_current);

async fn reports_not_read_from_the_running_machine_are_refused(db: &TestDb) {
    let c = Collector::start(db);
    let (id, token) = c.enroll("m-1", "h").await;
    for mode in [EvidenceMode::Replay, EvidenceMode::Root] {
        let mut r = report(&id, "other-host", Status::Pass);
        r.agent.mode = mode;
        r.device.machine_id = Some("another-machine".into());
        let (status, body) = c.post_report(&token, &r).await;
        assert_eq!(status, 422, "{body}");
        assert!(body["error"].as_str().unwrap().contains("live"), "{body}");
    }
    let d = device(&c, &id).await;
    assert_eq!(d["history"].as_array().unwrap().len(), 0);
    assert_eq!(d["device"]["hostname"], "h");
    assert!(d["device"]["events"].as_array().unwrap().is_empty());
}
on_both_databases!(reports_not_read_from_the_running_machine_are_refused);

async fn identity_changes_are_recorded_as_events_and_never_applied(db: &TestDb) {
    let c = Collector::start(db);
    let (id, token) = c.enroll("machine-h", "h").await;
    assert_eq!(
        c.post_report(&token, &report(&id, "h", Status::Pass))
            .await
            .0,
        200
    );
    let mut moved = report(&id, "h", Status::Pass);
    moved.device.machine_id = Some("machine-other".into());
    moved.device.hardware.serial = Some("OTHER-SERIAL".into());
    moved.device.os.family = "windows".into();
    assert_eq!(c.post_report(&token, &moved).await.0, 200);
    // Seen again: the same events, not new ones.
    let mut again = moved.clone();
    again.report_id = support::report::fresh_report_id();
    assert_eq!(c.post_report(&token, &again).await.0, 200);

    let d = device(&c, &id).await;
    assert_eq!(d["device"]["machine_id"], "machine-h");
    assert_eq!(d["device"]["inventory"]["hw_serial"], "PF3XAMPL");
    assert_eq!(d["device"]["inventory"]["os_family"], "linux");
    let events = d["device"]["events"].as_array().unwrap();
    let mut kinds: Vec<&str> = events.iter().map(|e| e["kind"].as_str().unwrap()).collect();
    kinds.sort_unstable();
    assert_eq!(
        kinds,
        ["machine_id_changed", "os_family_changed", "serial_changed"],
        "{events:?}"
    );
    let serial = events
        .iter()
        .find(|e| e["kind"] == "serial_changed")
        .unwrap();
    assert_eq!(serial["old_value"], "PF3XAMPL");
    assert_eq!(serial["new_value"], "OTHER-SERIAL");
    assert_eq!(serial["report_id"], moved.report_id.as_str());
}
on_both_databases!(identity_changes_are_recorded_as_events_and_never_applied);

/// The embedded policy with the screen-lock limit changed: a valid fleet policy.
fn stricter_policy(minutes: u32) -> String {
    posture_policy::DEFAULT_POLICY_TOML.replace(
        "max_idle_minutes = 15",
        &format!("max_idle_minutes = {minutes}"),
    )
}

async fn put_policy(c: &Collector, text: &str) -> (u16, Value) {
    let response = c
        .http
        .put(c.url("/api/v1/policy"))
        .bearer_auth(&c.admin_token)
        .header("content-type", "application/toml")
        .body(text.to_owned())
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    let bytes = response.bytes().await.unwrap();
    (
        status,
        serde_json::from_slice(&bytes).unwrap_or(Value::Null),
    )
}

async fn the_fleet_policy_is_set_fetched_and_a_mismatch_is_shown(db: &TestDb) {
    let c = Collector::start(db);
    let (id, token) = c.enroll("m-1", "h").await;
    let embedded = posture_policy::Policy::embedded();

    // None set: the embedded default is the fleet policy and check-in offers none.
    let p = c.admin_get("/api/v1/policy").await;
    assert_eq!(p["source"], "embedded");
    assert_eq!(p["digest"], embedded.digest.as_str());
    let (status, checkin) = c.get_text("/api/v1/agent/checkin", Some(&token)).await;
    assert_eq!(status, 200);
    let checkin: Value = serde_json::from_str(&checkin).unwrap();
    assert_eq!(checkin.get("policy"), None);

    // A bad policy is refused with line and column, a good one stored as a new version.
    let bad = stricter_policy(0);
    let (status, body) = put_policy(&c, &bad).await;
    assert_eq!(status, 422, "{body}");
    let line = bad
        .lines()
        .position(|l| l.starts_with("max_idle_minutes"))
        .unwrap()
        + 1;
    assert!(
        body["error"]
            .as_str()
            .unwrap()
            .starts_with(&format!("policy:{line}:1: ")),
        "{body}"
    );
    let (status, v1) = put_policy(&c, &stricter_policy(10)).await;
    assert_eq!(status, 200, "{v1}");
    let (status, v2) = put_policy(&c, &stricter_policy(5)).await;
    assert_eq!(status, 200, "{v2}");
    assert_eq!(
        v2["version"].as_i64(),
        v1["version"].as_i64().map(|v| v + 1)
    );
    let versions = c.admin_get("/api/v1/policy/versions").await;
    let versions = versions["versions"].as_array().unwrap();
    assert_eq!(versions.len(), 2);
    assert_eq!(versions[0]["digest"], v2["digest"]);
    assert!(versions[1]["set_at"].as_str().is_some());

    // Agents fetch it at check-in.
    let (_, checkin) = c.get_text("/api/v1/agent/checkin", Some(&token)).await;
    let checkin: Value = serde_json::from_str(&checkin).unwrap();
    assert_eq!(checkin["policy"]["digest"], v2["digest"]);
    assert_eq!(checkin["policy"]["toml"], stricter_policy(5).as_str());

    // A report judged with the embedded policy is stored but not compliant.
    let old = report(&id, "h", Status::Pass);
    assert_eq!(c.post_report(&token, &old).await.0, 200);
    let d = device(&c, &id).await;
    assert_eq!(d["device"]["policy_mismatch"], true);
    assert_eq!(d["device"]["posture"], "unknown");
    let listed = c.admin_get("/api/v1/devices?status=policy_mismatch").await;
    assert_eq!(listed["devices"].as_array().unwrap().len(), 1);

    // Judged with the fleet policy: compliant.
    let mut judged = report(&id, "h", Status::Pass);
    judged.policy.digest = v2["digest"].as_str().unwrap().to_owned();
    assert_eq!(c.post_report(&token, &judged).await.0, 200);
    let d = device(&c, &id).await;
    assert_eq!(d["device"]["policy_mismatch"], false);
    assert_eq!(d["device"]["posture"], "compliant");

    // The command line: the same loader, errors naming the file.
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("fleet.toml");
    fs_err::write(&file, stricter_policy(0)).unwrap();
    let out = std::process::Command::new(support::BIN)
        .args(["policy", "set", "--database", db.url()])
        .arg(&file)
        .env("POSTURE_COLLECTOR_LOG", "error")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains(&format!("{}:{line}:1: ", file.display())),
        "{stderr}"
    );
    fs_err::write(&file, stricter_policy(3)).unwrap();
    let out = std::process::Command::new(support::BIN)
        .args(["policy", "set", "--database", db.url()])
        .arg(&file)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let versions = c.admin_get("/api/v1/policy/versions").await;
    assert_eq!(versions["versions"].as_array().unwrap().len(), 3);
}
on_both_databases!(the_fleet_policy_is_set_fetched_and_a_mismatch_is_shown);

async fn re_enrolling_needs_the_current_token_or_an_administrator(db: &TestDb) {
    let c = Collector::start(db);
    let (id, token1) = c.enroll("m-1", "h").await;

    // The fleet secret and the machine id alone: pending, the device keeps its token.
    let (status, pending) = enroll_raw(&c, &c.enroll_secret, "m-1", None).await;
    assert_eq!(status, 202, "{pending}");
    assert_eq!(pending["pending"], true);
    assert_eq!(pending["device_id"], id.as_str());
    let token2 = pending["device_token"].as_str().unwrap().to_owned();
    assert_eq!(
        c.post_report(&token1, &report(&id, "h", Status::Pass))
            .await
            .0,
        200
    );
    assert_eq!(
        c.post_report(&token2, &report(&id, "h", Status::Pass))
            .await
            .0,
        401
    );
    let d = device(&c, &id).await;
    assert!(d["device"]["enrollment_pending_since"].as_i64().is_some());

    // An administrator approves: the new token works, the old one no longer.
    let (status, _) = c
        .admin_send(
            Method::POST,
            &format!("/api/v1/devices/{id}/enrollment/approve"),
            json!({}),
        )
        .await;
    assert_eq!(status, 204);
    assert_eq!(
        c.post_report(&token2, &report(&id, "h", Status::Pass))
            .await
            .0,
        200
    );
    assert_eq!(
        c.post_report(&token1, &report(&id, "h", Status::Pass))
            .await
            .0,
        401
    );

    // With its current token the device re-enrolls at once.
    let (status, again) = enroll_raw(&c, &c.enroll_secret, "m-1", Some(&token2)).await;
    assert_eq!(status, 200, "{again}");
    assert_eq!(again["pending"], false);
    assert_eq!(again["device_id"], id.as_str());
    let token3 = again["device_token"].as_str().unwrap();
    assert_eq!(
        c.post_report(token3, &report(&id, "h", Status::Pass))
            .await
            .0,
        200
    );

    let d = device(&c, &id).await;
    let kinds: Vec<&str> = d["device"]["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["kind"].as_str().unwrap())
        .collect();
    for kind in [
        "re_enroll_pending",
        "re_enroll_approved",
        "re_enrolled_with_token",
    ] {
        assert!(kinds.contains(&kind), "{kind} recorded: {kinds:?}");
    }
}
on_both_databases!(re_enrolling_needs_the_current_token_or_an_administrator);

async fn revoked_lost_and_retired_devices_cannot_re_enroll_themselves(db: &TestDb) {
    let c = Collector::start(db);
    let (revoked, _) = c.enroll("m-revoked", "h").await;
    let (status, _) = c
        .admin_send(
            Method::POST,
            &format!("/api/v1/devices/{revoked}/revoke-token"),
            json!({}),
        )
        .await;
    assert!(status < 300);
    let (status, body) = enroll_raw(&c, &c.enroll_secret, "m-revoked", None).await;
    assert_eq!(status, 202, "revoked: {body}");

    for state in ["lost", "retired"] {
        let machine = format!("m-{state}");
        let (id, token) = c.enroll(&machine, "h").await;
        let (status, _) = c
            .admin_send(
                Method::PATCH,
                &format!("/api/v1/devices/{id}"),
                json!({ "state": state }),
            )
            .await;
        assert!(status < 300, "{status}");
        let (status, body) = enroll_raw(&c, &c.enroll_secret, &machine, Some(&token)).await;
        assert_eq!(status, 202, "{state}, even with its token: {body}");
        assert_eq!(body["device_id"], id.as_str());
    }
}
on_both_databases!(revoked_lost_and_retired_devices_cannot_re_enroll_themselves);

async fn one_time_enrollment_codes_work_once(db: &TestDb) {
    let c = Collector::start(db);
    // A code for a new machine.
    let (status, code) = c
        .admin_send(Method::POST, "/api/v1/enroll-codes", json!({}))
        .await;
    assert_eq!(status, 200, "{code}");
    let code = code["code"].as_str().unwrap().to_owned();
    let (status, body) = enroll_raw(&c, &code, "m-new", None).await;
    assert_eq!(status, 200, "{body}");
    let (status, _) = enroll_raw(&c, &code, "m-new-2", None).await;
    assert_eq!(status, 401, "used up");

    // A code for one lost device re-enrolls it without its token.
    let (id, _) = c.enroll("m-lost", "h").await;
    c.admin_send(
        Method::PATCH,
        &format!("/api/v1/devices/{id}"),
        json!({ "state": "lost" }),
    )
    .await;
    let (status, code) = c
        .admin_send(
            Method::POST,
            "/api/v1/enroll-codes",
            json!({ "device_id": id }),
        )
        .await;
    assert_eq!(status, 200);
    let (status, body) = enroll_raw(&c, code["code"].as_str().unwrap(), "m-lost", None).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["device_id"], id.as_str());
    let token = body["device_token"].as_str().unwrap();
    assert_eq!(
        c.post_report(token, &report(&id, "h", Status::Pass))
            .await
            .0,
        200
    );
    // A code for another device does not re-enroll this one.
    let (other, _) = c.enroll("m-other", "h").await;
    let (_, code) = c
        .admin_send(
            Method::POST,
            "/api/v1/enroll-codes",
            json!({ "device_id": other }),
        )
        .await;
    let (status, _) = enroll_raw(&c, code["code"].as_str().unwrap(), "m-lost", None).await;
    assert_eq!(status, 202);
}
on_both_databases!(one_time_enrollment_codes_work_once);

async fn failed_enrollments_are_rate_limited_per_address(db: &TestDb) {
    let c = Collector::start(db);
    for _ in 0..10 {
        let (status, _) = enroll_raw(&c, "wrong-secret", "m-1", None).await;
        assert_eq!(status, 401);
    }
    let response = c
        .http
        .post(c.url("/api/v1/enroll"))
        .header("content-type", "application/json")
        .body(
            serde_json::to_vec(&json!({
                "enroll_secret": c.enroll_secret, "machine_id": "m-1",
            }))
            .unwrap(),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(
        response.status().as_u16(),
        429,
        "even the right secret waits"
    );
    assert!(response.headers().contains_key("retry-after"));
}
on_both_databases!(failed_enrollments_are_rate_limited_per_address);

/// A database restored from before the device enrolled: the agent re-enrolls and gets a new
/// device id; the reports it spooled before carry the old one. The real agent delivery code
/// sends them under the new id, and every one is stored.
async fn reports_spooled_before_a_database_restore_arrive_under_the_new_id(db: &TestDb) {
    use posture_client::config::Endpoint;
    use posture_client::credentials::Token;
    use posture_client::delivery::{Deliverer, Drained, RetryPolicy, SharedSpool};
    use posture_client::spool::SpoolLimits;
    use posture_client::status::StatusBook;
    use posture_client::transport::{Transport, TransportOptions};

    let before = Collector::start(db);
    let (old_id, _) = before.enroll("m-1", "h").await;
    drop(before);
    let dir = tempfile::tempdir().unwrap();
    let limits = SpoolLimits {
        max_reports: 100,
        max_bytes: 16 << 20,
    };
    let spool = SharedSpool::open(&dir.path().join("spool"), limits).unwrap();
    let mut spooled = Vec::new();
    for _ in 0..3 {
        let r = report(&old_id, "h", Status::Pass);
        spooled.push(r.report_id.clone());
        spool
            .with(|s| s.push(&serde_json::to_vec(&r).unwrap()))
            .unwrap();
    }

    // The restored database does not know the device: a fresh one of the same kind.
    let restored = match db {
        TestDb::Sqlite { .. } => TestDb::sqlite(),
        TestDb::Postgres { .. } => TestDb::postgres("restored database").await,
    };
    let c = Collector::start(&restored);
    let (new_id, token) = c.enroll("m-1", "h").await;
    assert_ne!(new_id, old_id);
    let transport = Transport::new(&TransportOptions {
        endpoint: Endpoint::parse(&c.base).unwrap(),
        ca_cert: None,
        pins: vec![],
        timeout: std::time::Duration::from_secs(10),
    })
    .unwrap();
    let mut deliverer = Deliverer::new(
        spool.clone(),
        transport,
        Some(Token::new(token)),
        RetryPolicy {
            initial: std::time::Duration::from_millis(10),
            max: std::time::Duration::from_millis(50),
        },
        std::sync::Arc::new(StatusBook::open(dir.path())),
        std::sync::Arc::new(tokio::sync::Notify::new()),
    )
    .with_device_id(Some(new_id.clone()));
    assert_eq!(deliverer.drain().await, Drained::Empty);
    assert_eq!(spool.with(|s| s.backlog()).unwrap().reports, 0);
    let history = c
        .admin_get(&format!("/api/v1/devices/{new_id}/reports"))
        .await;
    let mut stored: Vec<String> = history["reports"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["report_id"].as_str().unwrap().to_owned())
        .collect();
    stored.sort();
    spooled.sort();
    assert_eq!(stored, spooled);
    drop(c);
    restored.cleanup().await;
}
on_both_databases!(reports_spooled_before_a_database_restore_arrive_under_the_new_id);
