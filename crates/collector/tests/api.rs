//! The agent and admin APIs of the real binary on loopback, on SQLite and on PostgreSQL.

mod support;

use posture_schema::Status;
use reqwest::Method;
use support::report::report;
use support::{Collector, TestDb};

async fn a_device_report_is_stored_listed_and_explained(db: &TestDb) {
    let c = Collector::start(db);
    let (id, token) = c.enroll("m-1", "alice-laptop").await;
    let r = report(&id, "alice-laptop", Status::Fail);
    let (status, body) = c.post_report(&token, &r).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["report_id"], r.report_id.as_str());
    assert_eq!(body["duplicate"], false);
    assert_eq!(body["check_now"], false);

    let list = c.admin_get("/api/v1/devices?status=noncompliant").await;
    let devices = list["devices"].as_array().unwrap();
    assert_eq!(devices.len(), 1);
    assert_eq!(devices[0]["id"], id.as_str());
    assert_eq!(devices[0]["hostname"], "alice-laptop");
    assert_eq!(devices[0]["failing_checks"][0], "screen_lock");
    assert!(devices[0]["noncompliant_since"].as_i64().is_some());
    let none = c.admin_get("/api/v1/devices?status=compliant").await;
    assert_eq!(none["devices"].as_array().unwrap().len(), 0);
    let by_check = c.admin_get("/api/v1/devices?check=screen_lock").await;
    assert_eq!(by_check["devices"].as_array().unwrap().len(), 1);
    let by_os = c.admin_get("/api/v1/devices?os=windows").await;
    assert_eq!(by_os["devices"].as_array().unwrap().len(), 0);
    let seen = c.admin_get("/api/v1/devices?seen_within_days=1").await;
    assert_eq!(seen["devices"].as_array().unwrap().len(), 1);
    let stale = c.admin_get("/api/v1/devices?stale_days=1").await;
    assert_eq!(stale["devices"].as_array().unwrap().len(), 0);

    let detail = c.admin_get(&format!("/api/v1/devices/{id}")).await;
    assert_eq!(detail["device"]["inventory"]["hw_serial"], "PF3XAMPL");
    assert_eq!(
        detail["latest_report"]["checks"][0]["evidence"][1]["value"],
        "uint32 900"
    );
    assert_eq!(detail["history"].as_array().unwrap().len(), 1);
    let (status, raw) = c
        .get_text(
            &format!("/api/v1/devices/{id}/reports/{}", r.report_id),
            Some(&c.admin_token),
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(
        raw,
        serde_json::to_string(&r).unwrap(),
        "stored byte for byte"
    );

    let summary = c.admin_get("/api/v1/summary").await;
    assert_eq!(summary["by_posture"][0]["key"], "noncompliant");
    assert_eq!(summary["by_posture"][0]["count"], 1);
    assert!(
        summary["by_check"]
            .as_array()
            .unwrap()
            .iter()
            .any(|c| c["check_id"] == "screen_lock" && c["status"] == "fail" && c["count"] == 1)
    );
    assert_eq!(summary["by_day"][0]["posture"], "noncompliant");

    let (status, csv) = c
        .get_text("/api/v1/export/devices.csv", Some(&c.admin_token))
        .await;
    assert_eq!(status, 200);
    assert!(csv.starts_with("device_id,hostname,owner"));
    assert!(csv.contains(&id) && csv.contains("screen_lock"));
    let (status, csv) = c
        .get_text("/api/v1/export/findings.csv", Some(&c.admin_token))
        .await;
    assert_eq!(status, 200);
    assert_eq!(csv.lines().count(), 7, "a header and six checks: {csv}");
}
on_both_databases!(a_device_report_is_stored_listed_and_explained);

async fn a_replayed_report_id_is_accepted_once_and_acknowledged_twice(db: &TestDb) {
    let c = Collector::start(db);
    let (id, token) = c.enroll("m-1", "h").await;
    let r = report(&id, "h", Status::Pass);
    let (s1, b1) = c.post_report(&token, &r).await;
    let (s2, b2) = c.post_report(&token, &r).await;
    assert_eq!((s1, s2), (200, 200));
    assert_eq!(b1["duplicate"], false);
    assert_eq!(b2["duplicate"], true);
    assert_eq!(b2["report_id"], r.report_id.as_str());
    let history = c.admin_get(&format!("/api/v1/devices/{id}/reports")).await;
    assert_eq!(history["reports"].as_array().unwrap().len(), 1);
}
on_both_databases!(a_replayed_report_id_is_accepted_once_and_acknowledged_twice);

async fn a_device_cannot_post_as_another_device(db: &TestDb) {
    let c = Collector::start(db);
    let (a, token_a) = c.enroll("m-a", "a").await;
    let (b, token_b) = c.enroll("m-b", "b").await;
    // A report naming device b, sent with a's token: well authenticated, wrong in content, so
    // 409 (the agent sets it aside), never 401/403 (which mean "enroll again").
    let (status, body) = c
        .post_report(&token_a, &report(&b, "b", Status::Pass))
        .await;
    assert_eq!(status, 409, "{body}");
    // A report id that device a already used, sent by device b.
    let r = report(&a, "a", Status::Pass);
    assert_eq!(c.post_report(&token_a, &r).await.0, 200);
    let mut stolen = r.clone();
    stolen.device_id = Some(b.clone());
    let (status, body) = c.post_report(&token_b, &stolen).await;
    assert_eq!(status, 409, "{body}");
    let history = c.admin_get(&format!("/api/v1/devices/{b}/reports")).await;
    assert!(history["reports"].as_array().unwrap().is_empty());
}
on_both_databases!(a_device_cannot_post_as_another_device);

async fn missing_or_wrong_tokens_are_refused_with_401(db: &TestDb) {
    let c = Collector::start(db);
    let (id, _token) = c.enroll("m-1", "h").await;
    let body = serde_json::to_vec(&report(&id, "h", Status::Pass)).unwrap();
    assert_eq!(
        c.post_raw("/api/v1/reports", None, body.clone()).await.0,
        401
    );
    assert_eq!(
        c.post_raw("/api/v1/reports", Some("not-a-token"), body)
            .await
            .0,
        401
    );
    assert_eq!(c.get_text("/api/v1/agent/checkin", None).await.0, 401);
    assert_eq!(c.get_text("/api/v1/agent/checkin", Some("x")).await.0, 401);
    assert_eq!(c.get_text("/api/v1/devices", None).await.0, 401);
    assert_eq!(c.get_text("/api/v1/devices", Some("wrong")).await.0, 401);
    // A device token is not an admin token.
    let (_, device_token) = c.enroll("m-2", "h2").await;
    assert_eq!(
        c.get_text("/api/v1/devices", Some(&device_token)).await.0,
        401
    );
    assert_eq!(c.get_text("/api/v1/export/devices.csv", None).await.0, 401);
    let (status, _) = c
        .post_json(
            "/api/v1/enroll",
            None,
            &serde_json::json!({"enroll_secret": "wrong", "machine_id": "m", "hostname": "h",
                "platform": "linux", "agent_version": "0"}),
        )
        .await;
    assert_eq!(status, 401);
}
on_both_databases!(missing_or_wrong_tokens_are_refused_with_401);

async fn malformed_unsupported_and_oversized_reports_are_refused(db: &TestDb) {
    let c = Collector::start_with(db, &["--max-body-bytes", "65536"], None);
    let (id, token) = c.enroll("m-1", "h").await;
    let (status, body) = c
        .post_raw(
            "/api/v1/reports",
            Some(&token),
            b"{\"schema_version\": 1,".to_vec(),
        )
        .await;
    assert_eq!(status, 400, "{body}");
    assert!(body["error"].as_str().is_some());
    let (status, _) = c
        .post_raw("/api/v1/reports", Some(&token), b"[1, 2, 3]".to_vec())
        .await;
    assert_eq!(status, 400);

    // Unknown fields are accepted (tests/protocol.rs); an older, unsupported schema version is
    // refused for good, a newer one is a retryable 503 (the agent keeps the report).
    let mut v = serde_json::to_value(report(&id, "h", Status::Pass)).unwrap();
    v["schema_version"] = serde_json::json!(0);
    let (status, body) = c.post_json("/api/v1/reports", Some(&token), &v).await;
    assert_eq!(status, 422, "{body}");
    assert!(body["error"].as_str().unwrap().contains("schema_version 0"));

    let mut r = report(&id, "h", Status::Pass);
    r.generated_at = "not a time".into();
    assert_eq!(c.post_report(&token, &r).await.0, 422);

    let mut r = report(&id, "h", Status::Pass);
    r.checks[0].evidence[0].value = "x".repeat(70_000);
    let (status, _) = c.post_report(&token, &r).await;
    assert_eq!(status, 413);

    let metrics = c.get_text("/metrics", Some(&c.metrics_token)).await.1;
    for reason in ["malformed", "schema_version", "invalid", "too_large"] {
        assert!(
            metrics.contains(&format!(
                "posture_reports_rejected_total{{reason=\"{reason}\"}}"
            )),
            "{reason} counted: {metrics}"
        );
    }
    // Nothing was stored.
    let history = c.admin_get(&format!("/api/v1/devices/{id}/reports")).await;
    assert!(history["reports"].as_array().unwrap().is_empty());
}
on_both_databases!(malformed_unsupported_and_oversized_reports_are_refused);

const NASTY: &str = "'; DROP TABLE reports; -- \" OR 1=1 /* \\ % _ ` $1 ? \u{0}nul <b>&amp;";

async fn sql_metacharacters_in_every_string_field_are_stored_verbatim(db: &TestDb) {
    let c = Collector::start(db);
    let machine = format!("m-{NASTY}").replace('\0', "");
    let (id, token) = c.enroll(&machine, &NASTY.replace('\0', "")).await;
    let mut r = report(&id, NASTY, Status::Fail);
    r.report_id = format!("r-{}", NASTY.replace('\0', ""));
    r.agent.name = NASTY.into();
    r.agent.version = NASTY.into();
    r.device.os.family = NASTY.into();
    r.device.os.name = Some(NASTY.into());
    r.device.os.version = Some(NASTY.into());
    r.device.os.build = Some(NASTY.into());
    r.device.os.kernel = Some(NASTY.into());
    r.device.hardware.vendor = Some(NASTY.into());
    r.device.hardware.model = Some(NASTY.into());
    r.device.hardware.serial = Some(NASTY.into());
    r.device.machine_id = Some(NASTY.into());
    r.device.users = vec![NASTY.into(), NASTY.into()];
    r.policy.name = NASTY.into();
    r.policy.version = NASTY.into();
    r.policy.digest = NASTY.into();
    r.policy.source = NASTY.into();
    r.policy.organisation = NASTY.into();
    r.policy.security_contact = NASTY.into();
    for f in &mut r.checks {
        f.id = format!("{}{NASTY}", f.id);
        f.title = NASTY.into();
        f.clause = NASTY.into();
        f.summary = NASTY.into();
        f.remediation = vec![NASTY.into()];
        for s in &mut f.subjects {
            s.kind = NASTY.into();
            s.name = NASTY.into();
            s.summary = NASTY.into();
        }
        for e in &mut f.evidence {
            e.source = NASTY.into();
            e.key = Some(NASTY.into());
            e.value = NASTY.into();
            e.subject = Some(NASTY.into());
        }
    }
    let (status, body) = c.post_report(&token, &r).await;
    assert_eq!(status, 200, "{body}");

    let path = format!("/api/v1/devices/{id}/reports/{}", urlencode(&r.report_id));
    let (status, raw) = c.get_text(&path, Some(&c.admin_token)).await;
    assert_eq!(status, 200);
    let back: posture_schema::Report = serde_json::from_str(&raw).unwrap();
    assert_eq!(back, r);

    let (status, _) = c
        .admin_send(
            Method::PATCH,
            &format!("/api/v1/devices/{id}"),
            serde_json::json!({ "owner": NASTY.replace('\0', ""), "note": "'; --" }),
        )
        .await;
    assert_eq!(status, 200);
    let list = c
        .admin_get(&format!(
            "/api/v1/devices?owner={}",
            urlencode("DROP TABLE")
        ))
        .await;
    assert_eq!(list["devices"][0]["owner"], NASTY.replace('\0', ""));
    assert_eq!(
        list["devices"][0]["hostname"],
        NASTY.replace('\0', "\u{FFFD}")
    );
    let filtered = c
        .admin_get(&format!(
            "/api/v1/devices?owner={}",
            urlencode("%' OR '1'='1")
        ))
        .await;
    assert!(filtered["devices"].as_array().unwrap().is_empty());
    // The tables are all still there.
    assert_eq!(
        c.admin_get("/api/v1/summary").await["by_posture"][0]["count"],
        1
    );
}
on_both_databases!(sql_metacharacters_in_every_string_field_are_stored_verbatim);

fn urlencode(s: &str) -> String {
    s.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b == b'-' || b == b'_' {
                char::from(b).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

async fn concurrent_reports_from_many_devices_are_all_stored(db: &TestDb) {
    let c = std::sync::Arc::new(Collector::start(db));
    let mut devices = Vec::new();
    for i in 0..24 {
        devices.push(c.enroll(&format!("m-{i}"), &format!("host-{i}")).await);
    }
    let mut tasks = Vec::new();
    for (i, (id, token)) in devices.iter().cloned().enumerate() {
        let c = std::sync::Arc::clone(&c);
        tasks.push(tokio::spawn(async move {
            for n in 0..8 {
                let status = if (i + n) % 3 == 0 {
                    Status::Fail
                } else {
                    Status::Pass
                };
                let (code, body) = c.post_report(&token, &report(&id, "h", status)).await;
                assert_eq!(code, 200, "{body}");
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    for (id, _) in &devices {
        let h = c.admin_get(&format!("/api/v1/devices/{id}/reports")).await;
        assert_eq!(h["reports"].as_array().unwrap().len(), 8);
    }
    let all = c.admin_get("/api/v1/devices").await;
    assert_eq!(all["devices"].as_array().unwrap().len(), 24);
}
on_both_databases!(concurrent_reports_from_many_devices_are_all_stored);

async fn a_check_now_request_reaches_the_device_and_is_cleared_by_its_next_report(db: &TestDb) {
    let c = Collector::start(db);
    let (id, token) = c.enroll("m-1", "h").await;
    let (_, body) = c.get_text("/api/v1/agent/checkin", Some(&token)).await;
    assert_eq!(
        serde_json::from_str::<serde_json::Value>(&body).unwrap()["check_now"],
        false
    );
    let (status, _) = c
        .admin_send(
            Method::POST,
            &format!("/api/v1/devices/{id}/check-now"),
            serde_json::json!({}),
        )
        .await;
    assert_eq!(status, 200);
    let (_, body) = c.get_text("/api/v1/agent/checkin", Some(&token)).await;
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(v["check_now"], true);
    assert!(v["requested_at"].as_str().unwrap().ends_with('Z'));

    // A report generated long before the request does not answer it.
    let mut old = report(&id, "h", Status::Pass);
    old.generated_at = "2020-01-01T00:00:00Z".into();
    let (_, reply) = c.post_report(&token, &old).await;
    assert_eq!(reply["check_now"], true);
    // A fresh one does.
    let (_, reply) = c.post_report(&token, &report(&id, "h", Status::Pass)).await;
    assert_eq!(reply["check_now"], false);
    let (_, body) = c.get_text("/api/v1/agent/checkin", Some(&token)).await;
    assert_eq!(
        serde_json::from_str::<serde_json::Value>(&body).unwrap()["check_now"],
        false
    );
    let (status, _) = c
        .admin_send(
            Method::POST,
            "/api/v1/devices/nope/check-now",
            serde_json::json!({}),
        )
        .await;
    assert_eq!(status, 404);
}
on_both_databases!(a_check_now_request_reaches_the_device_and_is_cleared_by_its_next_report);

async fn owners_and_lost_or_retired_marks_shape_the_inventory(db: &TestDb) {
    let c = Collector::start(db);
    let (a, ta) = c.enroll("m-a", "a").await;
    let (b, tb) = c.enroll("m-b", "b").await;
    c.post_report(&ta, &report(&a, "a", Status::Fail)).await;
    c.post_report(&tb, &report(&b, "b", Status::Pass)).await;
    let (status, body) = c
        .admin_send(
            Method::PATCH,
            &format!("/api/v1/devices/{a}"),
            serde_json::json!({ "owner": "Alice Example", "state": "lost", "note": "INC-42" }),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["device"]["state"], "lost");
    let (status, _) = c
        .admin_send(
            Method::PATCH,
            &format!("/api/v1/devices/{b}"),
            serde_json::json!({ "state": "retired" }),
        )
        .await;
    assert_eq!(status, 200);
    let (status, _) = c
        .admin_send(
            Method::PATCH,
            &format!("/api/v1/devices/{b}"),
            serde_json::json!({ "state": "stolen" }),
        )
        .await;
    assert_eq!(status, 400);

    let owned = c.admin_get("/api/v1/devices?owner=alice").await;
    assert_eq!(owned["devices"][0]["id"], a.as_str());
    let default = c.admin_get("/api/v1/devices").await;
    assert_eq!(
        default["devices"].as_array().unwrap().len(),
        1,
        "retired devices are hidden"
    );
    let all = c.admin_get("/api/v1/devices?state=all").await;
    assert_eq!(all["devices"].as_array().unwrap().len(), 2);
    let lost = c.admin_get("/api/v1/devices?state=lost").await;
    assert_eq!(lost["devices"][0]["owner"], "Alice Example");
    let summary = c.admin_get("/api/v1/summary").await;
    let total: i64 = summary["by_posture"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["count"].as_i64().unwrap())
        .sum();
    assert_eq!(total, 1, "retired devices leave the fleet summary");
    // Clearing the owner.
    c.admin_send(
        Method::PATCH,
        &format!("/api/v1/devices/{a}"),
        serde_json::json!({ "owner": "" }),
    )
    .await;
    let detail = c.admin_get(&format!("/api/v1/devices/{a}")).await;
    assert!(detail["device"]["owner"].is_null());
    assert_eq!(detail["device"]["note"], "INC-42");
}
on_both_databases!(owners_and_lost_or_retired_marks_shape_the_inventory);

async fn revoked_tokens_and_rotated_secrets_stop_working(db: &TestDb) {
    let c = Collector::start(db);
    let (id, token) = c.enroll("m-1", "h").await;
    let (status, _) = c
        .admin_send(
            Method::POST,
            &format!("/api/v1/devices/{id}/revoke-token"),
            serde_json::json!({}),
        )
        .await;
    assert_eq!(status, 204);
    assert_eq!(
        c.post_report(&token, &report(&id, "h", Status::Pass))
            .await
            .0,
        401
    );

    // Re-enrolling the revoked machine keeps its id; its new token works once an administrator
    // approves (a revoked device cannot re-enroll itself).
    let enroll_m1 = |token: Option<&str>| {
        let mut body = serde_json::json!({"enroll_secret": c.enroll_secret, "machine_id": "m-1",
            "hostname": "h", "platform": "linux", "agent_version": "0.1.0"});
        if let Some(t) = token {
            body["device_token"] = serde_json::json!(t);
        }
        body
    };
    let (status, body) = c.post_json("/api/v1/enroll", None, &enroll_m1(None)).await;
    assert_eq!(status, 202, "{body}");
    let again = body["device_id"].as_str().unwrap().to_owned();
    let new_token = body["device_token"].as_str().unwrap().to_owned();
    assert_eq!(again, id);
    let (status, _) = c
        .admin_send(
            Method::POST,
            &format!("/api/v1/devices/{id}/enrollment/approve"),
            serde_json::json!({}),
        )
        .await;
    assert_eq!(status, 204);
    assert_eq!(
        c.post_report(&new_token, &report(&id, "h", Status::Pass))
            .await
            .0,
        200
    );
    // With its current token it re-enrolls at once, and the old token stops working.
    let (status, body) = c
        .post_json("/api/v1/enroll", None, &enroll_m1(Some(&new_token)))
        .await;
    assert_eq!(status, 200, "{body}");
    let newer_token = body["device_token"].as_str().unwrap().to_owned();
    assert_eq!(
        c.post_report(&new_token, &report(&id, "h", Status::Pass))
            .await
            .0,
        401
    );
    assert_eq!(
        c.post_report(&newer_token, &report(&id, "h", Status::Pass))
            .await
            .0,
        200
    );

    let (status, body) = c
        .admin_send(
            Method::POST,
            "/api/v1/enroll-secret/rotate",
            serde_json::json!({}),
        )
        .await;
    assert_eq!(status, 200);
    let fresh = body["enroll_secret"].as_str().unwrap().to_owned();
    let enroll = |secret: &str| {
        serde_json::json!({"enroll_secret": secret, "machine_id": "m-2", "hostname": "h2",
            "platform": "linux", "agent_version": "0.1.0"})
    };
    assert_eq!(
        c.post_json("/api/v1/enroll", None, &enroll(&c.enroll_secret))
            .await
            .0,
        401
    );
    assert_eq!(
        c.post_json("/api/v1/enroll", None, &enroll(&fresh)).await.0,
        200
    );
    // Devices enrolled before the rotation keep reporting.
    assert_eq!(
        c.post_report(&newer_token, &report(&id, "h", Status::Pass))
            .await
            .0,
        200
    );
}
on_both_databases!(revoked_tokens_and_rotated_secrets_stop_working);

async fn retention_keeps_the_latest_report_of_each_device_forever(db: &TestDb) {
    let c = Collector::start(db);
    let (id, token) = c.enroll("m-1", "h").await;
    let mut last = None;
    for _ in 0..3 {
        let r = report(&id, "h", Status::Fail);
        assert_eq!(c.post_report(&token, &r).await.0, 200);
        last = Some(r.report_id);
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    }
    let output = std::process::Command::new(support::BIN)
        .args(["prune", "--retention-days", "0", "--database", db.url()])
        .env("POSTURE_COLLECTOR_LOG", "warn")
        .output()
        .unwrap();
    assert!(output.status.success(), "{output:?}");
    assert!(String::from_utf8_lossy(&output.stdout).contains("pruned 2 reports"));
    let history = c.admin_get(&format!("/api/v1/devices/{id}/reports")).await;
    let reports = history["reports"].as_array().unwrap();
    assert_eq!(reports.len(), 1);
    assert_eq!(reports[0]["report_id"], last.unwrap().as_str());
    let detail = c.admin_get(&format!("/api/v1/devices/{id}")).await;
    assert_eq!(detail["device"]["posture"], "noncompliant");
    assert!(detail["latest_report"]["checks"].is_array());
}
on_both_databases!(retention_keeps_the_latest_report_of_each_device_forever);

async fn health_and_metrics_describe_the_collector(db: &TestDb) {
    let c = Collector::start(db);
    let (id, token) = c.enroll("m-1", "h").await;
    c.post_report(&token, &report(&id, "h", Status::Fail)).await;
    let (status, body) = c.get_text("/healthz", None).await;
    assert_eq!((status, body.as_str()), (200, "ok\n"));
    let (status, metrics) = c.get_text("/metrics", Some(&c.metrics_token)).await;
    assert_eq!(status, 200);
    assert!(
        metrics.contains("posture_reports_received_total{outcome=\"stored\"} 1"),
        "{metrics}"
    );
    assert!(
        metrics.contains("posture_devices{posture=\"noncompliant\"} 1"),
        "{metrics}"
    );
    assert!(
        metrics.contains("posture_http_request_duration_seconds_bucket"),
        "{metrics}"
    );
}
on_both_databases!(health_and_metrics_describe_the_collector);

/// `report` with the screen-lock subjects' settings enforced as given (one setting per value,
/// dconf-style, the shape the agent sends since issue 23).
fn report_with_enforcement(
    device_id: &str,
    hostname: &str,
    enforced: &[posture_schema::Enforced],
) -> posture_schema::Report {
    let mut r = report(device_id, hostname, Status::Pass);
    let screen = r.checks.iter_mut().find(|f| f.id == "screen_lock").unwrap();
    for subject in &mut screen.subjects {
        subject.status = Status::Pass;
        subject.settings = enforced
            .iter()
            .enumerate()
            .map(|(n, e)| posture_schema::Setting {
                name: format!("setting-{n}"),
                value: "300".into(),
                source: "/etc/dconf/db/local".into(),
                enforced: *e,
                enforced_by: Vec::new(),
                notes: Vec::new(),
            })
            .collect();
    }
    r
}

async fn enforcement_is_summarised_filtered_and_exported(db: &TestDb) {
    use posture_schema::Enforced::{No, Unknown, Yes};
    let c = Collector::start(db);
    let mut ids = Vec::new();
    for (n, settings) in [&[Yes, Yes][..], &[No, No], &[Yes, Unknown], &[Yes, No]]
        .into_iter()
        .enumerate()
    {
        let host = format!("host-{n}");
        let (id, token) = c.enroll(&format!("m-{n}"), &host).await;
        let (status, body) = c
            .post_report(&token, &report_with_enforcement(&id, &host, settings))
            .await;
        assert_eq!(status, 200, "{body}");
        ids.push(id);
    }

    // Four passes: one enforced, one not, one unknown, one partly. 1 of 4 is 25%.
    let summary = c.admin_get("/api/v1/summary").await;
    let share = summary["pass_enforcement"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["check_id"] == "screen_lock")
        .unwrap_or_else(|| panic!("no screen_lock share: {summary}"));
    assert_eq!(share["passing"], 4, "{share}");
    assert_eq!(share["enforced"], 1, "{share}");
    assert_eq!(share["partly"], 1, "{share}");
    assert_eq!(share["not_enforced"], 1, "{share}");
    assert_eq!(share["unknown"], 1, "{share}");
    assert_eq!(share["enforced_percent"], 25, "{share}");
    // A check without per-setting results passes with nothing to say about enforcement.
    let disk = summary["by_enforcement"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["check_id"] == "disk_encryption" && e["status"] == "pass")
        .unwrap();
    assert_eq!(disk["enforcement"], "not_applicable");
    assert_eq!(disk["count"], 4);

    let listed = |query: &'static str| {
        let c = &c;
        async move {
            let page = c.admin_get(&format!("/api/v1/devices?{query}")).await;
            let mut ids: Vec<String> = page["devices"]
                .as_array()
                .unwrap()
                .iter()
                .map(|d| d["id"].as_str().unwrap().to_owned())
                .collect();
            ids.sort();
            ids
        }
    };
    let sorted = |mut v: Vec<String>| {
        v.sort();
        v
    };
    assert_eq!(
        listed("check=screen_lock&check_status=pass&enforced=true").await,
        vec![ids[0].clone()]
    );
    assert_eq!(
        listed("check=screen_lock&check_status=pass&enforced=false").await,
        sorted(vec![ids[1].clone(), ids[3].clone()])
    );
    assert_eq!(
        listed("check=screen_lock&check_status=pass&enforced=unknown").await,
        vec![ids[2].clone()]
    );
    // The status of the check still applies (it defaults to fail, and nothing fails).
    assert!(listed("check=screen_lock&enforced=true").await.is_empty());

    for (query, words) in [
        (
            "check=screen_lock&enforced=yes",
            &["enforced=\"yes\"", "true, false, unknown"][..],
        ),
        ("enforced=true", &["enforced needs check"][..]),
    ] {
        let (status, body) = c
            .get_text(&format!("/api/v1/devices?{query}"), Some(&c.admin_token))
            .await;
        assert_eq!(status, 400, "{query}: {body}");
        let error: serde_json::Value = serde_json::from_str(&body).unwrap();
        let message = error["error"].as_str().unwrap();
        for word in words {
            assert!(message.contains(word), "{query}: {message}");
        }
    }

    // The findings export ends with the enforcement column.
    let (status, csv) = c
        .get_text("/api/v1/export/findings.csv", Some(&c.admin_token))
        .await;
    assert_eq!(status, 200);
    let mut lines = csv.lines();
    assert!(
        lines
            .next()
            .unwrap()
            .ends_with(",report_received_at,enforcement"),
        "{csv}"
    );
    let screen_of = |id: &str| {
        csv.lines()
            .find(|l| l.starts_with(id) && l.contains(",screen_lock,"))
            .unwrap_or_else(|| panic!("no screen_lock row for {id}: {csv}"))
            .to_owned()
    };
    assert!(screen_of(&ids[0]).ends_with(",enforced"), "{csv}");
    assert!(screen_of(&ids[1]).ends_with(",not_enforced"), "{csv}");
    assert!(screen_of(&ids[2]).ends_with(",unknown"), "{csv}");
    assert!(screen_of(&ids[3]).ends_with(",partly"), "{csv}");
}
on_both_databases!(enforcement_is_summarised_filtered_and_exported);

/// Findings stored before the collector kept enforcement (migration 0017 leaves them NULL) get
/// it from their stored report when the collector starts, and the counters follow.
async fn findings_stored_before_enforcement_was_kept_are_derived_at_start(db: &TestDb) {
    use posture_schema::Enforced::{No, Yes};
    let c = Collector::start(db);
    let (id, token) = c.enroll("m-0", "host-0").await;
    let (status, body) = c
        .post_report(&token, &report_with_enforcement(&id, "host-0", &[Yes, No]))
        .await;
    assert_eq!(status, 200, "{body}");
    let secrets = c.secrets();
    c.kill();

    let forget = "UPDATE latest_findings SET enforcement = NULL";
    use sqlx::Connection as _;
    if db.url().starts_with("sqlite:") {
        let mut conn = sqlx::SqliteConnection::connect(db.url()).await.unwrap();
        sqlx::query(forget).execute(&mut conn).await.unwrap();
    } else {
        let mut conn = sqlx::PgConnection::connect(db.url()).await.unwrap();
        sqlx::query(forget).execute(&mut conn).await.unwrap();
    }

    let c = Collector::start_with(db, &[], Some(secrets));
    let detail = c.admin_get(&format!("/api/v1/devices/{id}")).await;
    let enforcement = |check: &str| {
        detail["device"]["findings"]
            .as_array()
            .unwrap()
            .iter()
            .find(|f| f["check_id"] == check)
            .unwrap()["enforcement"]
            .clone()
    };
    assert_eq!(enforcement("screen_lock"), "partly", "{detail}");
    assert_eq!(enforcement("disk_encryption"), "not_applicable", "{detail}");
    let summary = c.admin_get("/api/v1/summary").await;
    let partly = summary["by_enforcement"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["check_id"] == "screen_lock" && e["status"] == "pass")
        .unwrap()
        .clone();
    assert_eq!(partly["enforcement"], "partly", "{summary}");
    assert_eq!(partly["count"], 1, "{summary}");
}
on_both_databases!(findings_stored_before_enforcement_was_kept_are_derived_at_start);
