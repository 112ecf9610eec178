//! The exports (CSV, NDJSON, OCSF) of the real binary on loopback, on SQLite and PostgreSQL:
//! they honour the device list's filters, name the report every row comes from, page through
//! a fleet that reports meanwhile without skipping or repeating a row, refuse bad filters, and
//! the OCSF events validate against the OCSF 1.3.0 class schemas kept in
//! `tests/fixtures/ocsf/`.

mod support;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Duration;

use posture_schema::Status;
use reqwest::Method;
use serde_json::Value;
use support::report::{fresh_report_id, report};
use support::{Collector, TestDb};

/// An export's lines as JSON, after checking the answer is a 200 of NDJSON.
async fn ndjson(c: &Collector, path: &str) -> Vec<Value> {
    let (lines, _) = ndjson_with_cursor(c, path).await;
    lines
}

/// An export's lines and its `posture-next-since` header.
async fn ndjson_with_cursor(c: &Collector, path: &str) -> (Vec<Value>, Option<String>) {
    let response = c
        .http
        .get(c.url(path))
        .bearer_auth(&c.admin_token)
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    let kind = response
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    let next = response
        .headers()
        .get("posture-next-since")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let text = response.text().await.unwrap();
    assert_eq!(status, 200, "GET {path}: {text}");
    assert_eq!(kind, "application/x-ndjson", "GET {path}");
    let lines = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("GET {path}: {e}: {l}")))
        .collect();
    (lines, next)
}

/// The rows of a CSV export, header first, split into cells (RFC 4180: quoted cells with
/// doubled quotes; the test's values hold no line breaks).
async fn csv(c: &Collector, path: &str) -> Vec<Vec<String>> {
    let (status, text) = c.get_text(path, Some(&c.admin_token)).await;
    assert_eq!(status, 200, "GET {path}: {text}");
    text.split("\r\n")
        .filter(|l| !l.is_empty())
        .map(|line| {
            let mut cells = vec![String::new()];
            let mut quoted = false;
            let mut chars = line.chars().peekable();
            while let Some(ch) = chars.next() {
                match (ch, quoted) {
                    ('"', true) if chars.peek() == Some(&'"') => {
                        chars.next();
                        cells.last_mut().unwrap().push('"');
                    }
                    ('"', _) => quoted = !quoted,
                    (',', false) => cells.push(String::new()),
                    (other, _) => cells.last_mut().unwrap().push(other),
                }
            }
            cells
        })
        .collect()
}

fn column(rows: &[Vec<String>], name: &str) -> usize {
    rows[0]
        .iter()
        .position(|h| h == name)
        .unwrap_or_else(|| panic!("no column {name} in {:?}", rows[0]))
}

fn ids_of(values: &[Value], key: &str) -> BTreeSet<String> {
    values
        .iter()
        .map(|v| v[key].as_str().unwrap().to_owned())
        .collect()
}

/// The ids `GET /api/v1/devices` lists for a query.
async fn listed(c: &Collector, q: &str) -> BTreeSet<String> {
    let list = c.admin_get(&query("/api/v1/devices", q)).await;
    ids_of(list["devices"].as_array().unwrap(), "id")
}

fn query(path: &str, q: &str) -> String {
    if q.is_empty() {
        path.to_owned()
    } else {
        format!("{path}?{q}")
    }
}

async fn every_export_honours_the_device_list_filters_and_names_its_report(db: &TestDb) {
    // Settle 0: the OCSF export includes what was just received.
    let c = Collector::start_with(db, &["--export-settle-secs", "0"], None);
    let (a, ta) = c.enroll("m-a", "alpha").await;
    let (b, tb) = c.enroll("m-b", "bravo").await;
    let (ch, tc) = c.enroll("m-c", "charlie").await;
    let (d, _) = c.enroll("m-d", "delta").await;
    let (e, te) = c.enroll("m-e", "echo").await;

    let mut ra = report(&a, "alpha", Status::Fail);
    ra.agent.version = "9.9.9".into();
    let mut rb = report(&b, "bravo", Status::Pass);
    rb.device.os.family = "windows".into();
    let rc = report(&ch, "charlie", Status::Pass);
    let re = report(&e, "echo", Status::Unknown);
    for (token, r) in [(&ta, &ra), (&tb, &rb), (&tc, &rc), (&te, &re)] {
        let (status, body) = c.post_report(token, r).await;
        assert_eq!(status, 200, "{body}");
    }
    for (id, update) in [
        (&ch, serde_json::json!({ "owner": "Alice Example" })),
        (&e, serde_json::json!({ "state": "retired" })),
    ] {
        let (status, body) = c
            .admin_send(Method::PATCH, &format!("/api/v1/devices/{id}"), update)
            .await;
        assert_eq!(status, 200, "{body}");
    }

    for q in [
        "",
        "status=noncompliant",
        "status=compliant",
        "status=never",
        "os=windows",
        "os=linux",
        "owner=ALI",
        "hostname=arl",
        "check=screen_lock&check_status=fail",
        "check=screen_lock&check_status=pass",
        "state=retired",
        "state=all",
        "seen_within_days=1",
        "stale_days=1",
    ] {
        // The device exports list every asset state unless `state` is given; the findings and
        // OCSF exports leave retired devices out, as the list does.
        let all_states = if q.contains("state=") {
            q.to_owned()
        } else if q.is_empty() {
            "state=all".to_owned()
        } else {
            format!("{q}&state=all")
        };
        let expected_devices = listed(&c, &all_states).await;
        let expected_findings: BTreeSet<String> = listed(&c, q)
            .await
            .into_iter()
            .filter(|id| *id != d)
            .collect();

        let devices = ndjson(&c, &query("/api/v1/export/devices.ndjson", q)).await;
        assert_eq!(ids_of(&devices, "device_id"), expected_devices, "?{q}");
        assert_eq!(devices.len(), expected_devices.len(), "?{q}");
        let rows = csv(&c, &query("/api/v1/export/devices.csv", q)).await;
        let csv_ids: BTreeSet<String> = rows[1..].iter().map(|r| r[0].clone()).collect();
        assert_eq!(csv_ids, expected_devices, "devices.csv?{q}");

        let findings = ndjson(&c, &query("/api/v1/export/findings.ndjson", q)).await;
        assert_eq!(ids_of(&findings, "device_id"), expected_findings, "?{q}");
        let rows = csv(&c, &query("/api/v1/export/findings.csv", q)).await;
        let csv_ids: BTreeSet<String> = rows[1..].iter().map(|r| r[0].clone()).collect();
        assert_eq!(csv_ids, expected_findings, "findings.csv?{q}");
        assert_eq!(rows.len() - 1, findings.len(), "findings.csv?{q}");

        let events = ndjson(&c, &query("/api/v1/export/ocsf.ndjson", q)).await;
        let inventory: Vec<Value> = events
            .iter()
            .filter(|e| e["class_uid"] == 5001)
            .cloned()
            .collect();
        let inventory_ids: BTreeSet<String> = inventory
            .iter()
            .map(|e| e["device"]["uid"].as_str().unwrap().to_owned())
            .collect();
        assert_eq!(inventory_ids, expected_findings, "ocsf.ndjson?{q}");
        assert_eq!(
            events.len(),
            inventory.len() + findings.len(),
            "ocsf.ndjson?{q}: one inventory event per device and one finding per check"
        );
    }

    // Every row names the report it comes from.
    let devices = ndjson(&c, "/api/v1/export/devices.ndjson").await;
    let row = |id: &str| devices.iter().find(|r| r["device_id"] == id).unwrap();
    let alpha = row(&a);
    assert_eq!(alpha["report_id"], ra.report_id.as_str());
    assert_eq!(alpha["policy_digest"], ra.policy.digest.as_str());
    assert_eq!(
        alpha["agent_version"], "9.9.9",
        "the version the report names"
    );
    assert!(alpha["generated_at"].as_str().unwrap().ends_with('Z'));
    assert!(alpha["received_at"].as_str().unwrap().ends_with('Z'));
    assert_eq!(alpha["posture"], "noncompliant");
    let delta = row(&d);
    assert_eq!(delta["report_id"], Value::Null);
    assert_eq!(delta["posture"], "never");
    assert_eq!(delta["agent_version"], "0.1.0", "the enrollment's version");

    let findings = ndjson(&c, "/api/v1/export/findings.ndjson?check=screen_lock").await;
    let screen = findings
        .iter()
        .find(|f| f["device_id"] == a && f["check_id"] == "screen_lock")
        .unwrap();
    assert_eq!(screen["status"], "fail");
    assert_eq!(screen["report_id"], ra.report_id.as_str());
    assert_eq!(screen["agent_version"], "9.9.9");
    assert_eq!(screen["policy_digest"], ra.policy.digest.as_str());

    for path in [
        "/api/v1/export/devices.csv?status=noncompliant",
        "/api/v1/export/findings.csv?status=noncompliant",
    ] {
        let rows = csv(&c, path).await;
        assert!(rows.len() > 1, "{path}");
        for name in ["report_id", "policy_digest", "agent_version"] {
            let i = column(&rows, name);
            for r in &rows[1..] {
                assert_eq!(
                    r[i],
                    match name {
                        "report_id" => ra.report_id.as_str(),
                        "policy_digest" => ra.policy.digest.as_str(),
                        _ => "9.9.9",
                    },
                    "{path} {name}"
                );
            }
        }
        for name in ["report_generated_at", "report_received_at"] {
            let i = column(&rows, name);
            assert!(
                rows[1..].iter().all(|r| r[i].ends_with('Z')),
                "{path} {name}"
            );
        }
    }
}
on_both_databases!(every_export_honours_the_device_list_filters_and_names_its_report);

async fn a_filter_value_no_filter_takes_is_a_400_with_a_json_error(db: &TestDb) {
    let c = Collector::start(db);
    for route in [
        "/api/v1/devices",
        "/api/v1/export/devices.csv",
        "/api/v1/export/findings.csv",
        "/api/v1/export/devices.ndjson",
        "/api/v1/export/findings.ndjson",
        "/api/v1/export/ocsf.ndjson",
    ] {
        for (q, names) in [
            ("status=noncompliance", "status"),
            ("state=stolen", "state"),
            ("check=screen_lock&check_status=failed", "check_status"),
            ("check_status=fail", "check_status"),
            ("stale_days=a+week", "stale_days"),
            ("seen_within_days=-1", "seen_within_days"),
            ("cursor=yesterday", "cursor"),
            ("owner=a%00b", "NUL"),
        ] {
            let path = format!("{route}?{q}");
            let (status, text) = c.get_text(&path, Some(&c.admin_token)).await;
            assert_eq!(status, 400, "GET {path}: {text}");
            let body: Value = serde_json::from_str(&text)
                .unwrap_or_else(|e| panic!("GET {path}: not JSON ({e}): {text}"));
            let error = body["error"].as_str().unwrap_or_default();
            assert!(error.contains(names), "GET {path}: {error}");
        }
        // Unauthenticated, the filters are not even read.
        let (status, _) = c.get_text(&format!("{route}?status=x"), None).await;
        assert_eq!(status, 401, "{route}");
    }
    for since in ["yesterday", "12:", "-5", "1.5:abc"] {
        let path = format!("/api/v1/export/ocsf.ndjson?since={since}");
        let (status, text) = c.get_text(&path, Some(&c.admin_token)).await;
        assert_eq!(status, 400, "GET {path}: {text}");
        let body: Value = serde_json::from_str(&text).unwrap();
        assert!(body["error"].as_str().unwrap().contains("since"), "{text}");
    }
}
on_both_databases!(a_filter_value_no_filter_takes_is_a_400_with_a_json_error);

fn schema(name: &str) -> jsonschema::Validator {
    let path = format!("{}/tests/fixtures/ocsf/{name}", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    let value: Value = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{path}: {e}"));
    jsonschema::validator_for(&value).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// Checks one OCSF event against the schema of its class; panics naming each error.
fn validate(event: &Value, inventory: &jsonschema::Validator, finding: &jsonschema::Validator) {
    let validator = match event["class_uid"].as_u64() {
        Some(5001) => inventory,
        Some(2003) => finding,
        other => panic!("an event of class {other:?}: {event}"),
    };
    let errors: Vec<String> = validator
        .iter_errors(event)
        .map(|e| format!("{} at {}", e, e.instance_path()))
        .collect();
    assert!(errors.is_empty(), "{errors:#?}\n{event:#}");
}

async fn ocsf_events_follow_the_class_schemas_and_never_call_undecided_a_pass(db: &TestDb) {
    let inventory = schema("inventory_info.schema.json");
    let finding = schema("compliance_finding.schema.json");

    // The schemas can fail: an event without its device, or with an invented attribute, is
    // refused.
    let broken = serde_json::json!({
        "class_uid": 5001, "category_uid": 5, "activity_id": 2, "type_uid": 500102,
        "severity_id": 1, "time": 1, "metadata": {
            "version": "1.3.0", "product": { "name": "p", "vendor_name": "v" } }
    });
    assert!(!inventory.is_valid(&broken));
    let mut invented = broken.clone();
    invented["device"] = serde_json::json!({ "uid": "d", "type_id": 0 });
    assert!(inventory.is_valid(&invented));
    invented["compliance_status"] = "Pass".into();
    assert!(!inventory.is_valid(&invented));

    let c = Collector::start_with(db, &["--export-settle-secs", "0"], None);
    let mut sent = BTreeMap::new();
    for (n, status) in [Status::Pass, Status::Fail, Status::Unknown]
        .into_iter()
        .enumerate()
    {
        let host = format!("host-{n}");
        let (id, token) = c.enroll(&format!("m-{n}"), &host).await;
        let mut r = report(&id, &host, status);
        if n == 1 {
            r.device.hardware.serial = Some("C02XYZ".into());
        }
        let (code, body) = c.post_report(&token, &r).await;
        assert_eq!(code, 200, "{body}");
        sent.insert(id, (r.report_id.clone(), status));
    }
    let (owner_id, _) = sent
        .iter()
        .next()
        .map(|(k, v)| (k.clone(), v.clone()))
        .unwrap();
    let (code, _) = c
        .admin_send(
            Method::PATCH,
            &format!("/api/v1/devices/{owner_id}"),
            serde_json::json!({ "owner": "alice" }),
        )
        .await;
    assert_eq!(code, 200);

    let (events, next) = ndjson_with_cursor(&c, "/api/v1/export/ocsf.ndjson").await;
    assert!(next.is_some(), "the answer names the next cursor");
    assert!(!events.is_empty());
    let mut inventory_seen = BTreeSet::new();
    for event in &events {
        validate(event, &inventory, &finding);
        assert_eq!(event["metadata"]["version"], "1.3.0");
        let device = event["device"]["uid"].as_str().unwrap().to_owned();
        let (report_id, screen) = &sent[&device];
        assert_eq!(event["unmapped"]["report_id"], report_id.as_str());
        if event["class_uid"] == 5001 {
            inventory_seen.insert(device);
            continue;
        }
        let compliance = &event["compliance"];
        let code = compliance["status_code"].as_str().unwrap();
        let expected = match code {
            "pass" => 1,
            "unknown" => 2,
            "fail" => 3,
            "not_applicable" | "error" => 99,
            other => panic!("status {other}"),
        };
        assert_eq!(compliance["status_id"], expected, "{event}");
        if code != "pass" {
            assert_ne!(compliance["status_id"], 1, "only a pass is a Pass: {event}");
            assert_ne!(compliance["status"], "Pass", "{event}");
        }
        if event["compliance"]["control"] == "screen_lock" {
            assert_eq!(code, screen.as_str(), "{event}");
        }
    }
    assert_eq!(
        inventory_seen,
        sent.keys().cloned().collect::<BTreeSet<_>>()
    );
    let owned = events
        .iter()
        .find(|e| e["class_uid"] == 5001 && e["device"]["uid"] == owner_id.as_str())
        .unwrap();
    assert_eq!(owned["device"]["owner"]["name"], "alice");
    let failing = events
        .iter()
        .find(|e| e["class_uid"] == 5001 && e["device"]["hw_info"]["serial_number"] == "C02XYZ")
        .expect("the serial number is the device's hw_info");
    assert_eq!(failing["device"]["is_compliant"], false);
    assert_eq!(failing["device"]["os"]["type_id"], 200, "Linux");
}
on_both_databases!(ocsf_events_follow_the_class_schemas_and_never_call_undecided_a_pass);

/// Devices in the paging test, and rounds of reports each sends while the exports run.
const PAGING_DEVICES: usize = 20;
const PAGING_ROUNDS: usize = 6;

async fn paged_exports_give_every_row_exactly_once_while_devices_report(db: &TestDb) {
    // Pages of three rows: many page boundaries for a few devices. A settle window of two
    // seconds: reports are acknowledged only after their commit, so none of this test's is
    // still being committed two seconds after it was received.
    let c = Arc::new(Collector::start_with(
        db,
        &["--export-page-rows", "3", "--export-settle-secs", "2"],
        None,
    ));
    let mut devices = Vec::new();
    for n in 0..PAGING_DEVICES {
        let host = format!("h-{n}");
        let (id, token) = c.enroll(&format!("m-{n}"), &host).await;
        let r = report(&id, &host, Status::Pass);
        assert_eq!(c.post_report(&token, &r).await.0, 200);
        devices.push((id, token, host));
    }
    let all: BTreeSet<String> = devices.iter().map(|(id, _, _)| id.clone()).collect();
    let checks_per_device =
        ndjson(&c, "/api/v1/export/findings.ndjson").await.len() / PAGING_DEVICES;
    assert!(checks_per_device > 0);

    let ingest = {
        let c = Arc::clone(&c);
        let devices = devices.clone();
        tokio::spawn(async move {
            let mut latest = BTreeMap::new();
            for round in 0..PAGING_ROUNDS {
                for (id, token, host) in &devices {
                    let status = if round % 2 == 0 {
                        Status::Fail
                    } else {
                        Status::Pass
                    };
                    let mut r = report(id, host, status);
                    r.report_id = fresh_report_id();
                    let (code, body) = c.post_report(token, &r).await;
                    assert_eq!(code, 200, "{body}");
                    latest.insert(id.clone(), r.report_id.clone());
                }
            }
            latest
        })
    };

    let mut since: Option<String> = None;
    let mut seen_reports = BTreeSet::new();
    let mut polls = 0;
    let poll = |events: Vec<Value>, seen: &mut BTreeSet<(String, String)>| {
        let mut in_this_answer = BTreeSet::new();
        let mut last_received = String::new();
        for e in events.iter().filter(|e| e["class_uid"] == 5001) {
            let device = e["device"]["uid"].as_str().unwrap().to_owned();
            let report = e["unmapped"]["report_id"].as_str().unwrap().to_owned();
            let received = e["unmapped"]["received_at"].as_str().unwrap().to_owned();
            assert!(received >= last_received, "receive order");
            last_received = received;
            assert!(
                in_this_answer.insert(device.clone()),
                "{device} twice in one answer"
            );
            assert!(
                seen.insert((device.clone(), report.clone())),
                "{device} report {report} in two answers"
            );
        }
    };
    loop {
        let finished = ingest.is_finished();
        let devices_rows = ndjson(&c, "/api/v1/export/devices.ndjson").await;
        assert_eq!(devices_rows.len(), PAGING_DEVICES, "each device once");
        assert_eq!(ids_of(&devices_rows, "device_id"), all);

        let findings = ndjson(&c, "/api/v1/export/findings.ndjson").await;
        let pairs: BTreeSet<(String, String)> = findings
            .iter()
            .map(|f| {
                (
                    f["device_id"].as_str().unwrap().to_owned(),
                    f["check_id"].as_str().unwrap().to_owned(),
                )
            })
            .collect();
        assert_eq!(findings.len(), pairs.len(), "each finding once");
        assert_eq!(findings.len(), PAGING_DEVICES * checks_per_device);
        let rows = csv(&c, "/api/v1/export/findings.csv").await;
        assert_eq!(rows.len() - 1, PAGING_DEVICES * checks_per_device);

        let path = match &since {
            Some(s) => format!("/api/v1/export/ocsf.ndjson?since={s}"),
            None => "/api/v1/export/ocsf.ndjson".to_owned(),
        };
        let (events, next) = ndjson_with_cursor(&c, &path).await;
        poll(events, &mut seen_reports);
        since = Some(next.expect("a next cursor"));
        polls += 1;
        if finished {
            break;
        }
    }
    let latest = ingest.await.unwrap();
    // Past the settle window of the last report, one more poll brings every device's latest.
    tokio::time::sleep(Duration::from_millis(2500)).await;
    let path = format!(
        "/api/v1/export/ocsf.ndjson?since={}",
        since.as_deref().unwrap()
    );
    let (events, _) = ndjson_with_cursor(&c, &path).await;
    poll(events, &mut seen_reports);
    for (device, report) in &latest {
        assert!(
            seen_reports.contains(&(device.clone(), report.clone())),
            "the latest report {report} of {device} was never exported ({polls} polls)"
        );
    }
}
on_both_databases!(paged_exports_give_every_row_exactly_once_while_devices_report);
