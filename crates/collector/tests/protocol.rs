//! The protocol evolves without losing reports: unknown fields are ignored, a report of the
//! previous release is accepted, a report too new for this collector is kept by the agent.

mod support;

use posture_schema::Status;
use serde_json::{Value, json};
use support::report::report;
use support::{Collector, TestDb};

/// A report the agent of the previous release printed (`posture --check --format json`); see
/// tests/fixtures/protocol/README.md.
const PREVIOUS_RELEASE_REPORT: &str = include_str!(concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../tests/fixtures/protocol/report-0.1.0-linux.json"
));

/// Adds `"<where>_later_field"` to every object of a report: the top, the agent, the device, its
/// OS, hardware and MDM, the policy, every finding, subject and piece of evidence.
fn with_unknown_fields_everywhere(mut v: Value) -> (Value, usize) {
    let mut added = 0;
    let mut add = |o: &mut Value, name: &str| {
        if let Some(map) = o.as_object_mut() {
            map.insert(format!("{name}_later_field"), json!({"nested": [1, "two"]}));
            added += 1;
        }
    };
    add(&mut v, "report");
    add(&mut v["agent"], "agent");
    add(&mut v["device"], "device");
    add(&mut v["device"]["os"], "os");
    add(&mut v["device"]["hardware"], "hardware");
    add(&mut v["device"]["mdm"], "mdm");
    add(&mut v["policy"], "policy");
    if let Some(checks) = v["checks"].as_array_mut() {
        for check in checks {
            add(check, "finding");
            for list in ["subjects", "evidence"] {
                if let Some(items) = check[list].as_array_mut() {
                    for item in items {
                        add(item, list);
                    }
                }
            }
        }
    }
    (v, added)
}

async fn a_report_with_unknown_fields_at_every_level_is_accepted(db: &TestDb) {
    let c = Collector::start(db);
    let (id, token) = c.enroll("m-1", "h").await;
    let r = report(&id, "h", Status::Fail);
    let (v, added) = with_unknown_fields_everywhere(serde_json::to_value(&r).unwrap());
    assert!(added > 10, "{added}");
    let body = serde_json::to_vec(&v).unwrap();
    let (status, reply) = c
        .post_raw("/api/v1/reports", Some(&token), body.clone())
        .await;
    assert_eq!(status, 200, "{reply}");
    assert_eq!(reply["duplicate"], false);

    let detail = c.admin_get(&format!("/api/v1/devices/{id}")).await;
    assert_eq!(detail["device"]["posture"], "noncompliant");
    let (status, stored) = c
        .get_text(
            &format!("/api/v1/devices/{id}/reports/{}", r.report_id),
            Some(&c.admin_token),
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(
        stored.as_bytes(),
        body,
        "stored byte for byte, unknown fields kept"
    );
}
on_both_databases!(a_report_with_unknown_fields_at_every_level_is_accepted);

async fn a_report_from_the_previous_release_is_accepted(db: &TestDb) {
    let c = Collector::start(db);
    let fixture: Value = serde_json::from_str(PREVIOUS_RELEASE_REPORT).unwrap();
    let machine = fixture["device"]["machine_id"].as_str().unwrap_or("m-old");
    let (id, token) = c.enroll(machine, "previous-release").await;
    let (status, reply) = c
        .post_raw(
            "/api/v1/reports",
            Some(&token),
            PREVIOUS_RELEASE_REPORT.as_bytes().to_vec(),
        )
        .await;
    assert_eq!(status, 200, "{reply}");
    assert_eq!(reply["report_id"], fixture["report_id"]);
    let detail = c.admin_get(&format!("/api/v1/devices/{id}")).await;
    assert_eq!(
        detail["device"]["posture"], fixture["posture"],
        "the collector's own verdict agrees with the agent's on an honest report"
    );
    assert_eq!(detail["history"].as_array().unwrap().len(), 1, "{detail}");
}
on_both_databases!(a_report_from_the_previous_release_is_accepted);

async fn a_report_too_new_for_the_collector_is_answered_retry_later(db: &TestDb) {
    let c = Collector::start(db);
    let (id, token) = c.enroll("m-1", "h").await;
    let mut v = serde_json::to_value(report(&id, "h", Status::Pass)).unwrap();
    v["schema_version"] = json!(99);
    v["a_field_of_version_99"] = json!(true);
    let response = c
        .http
        .post(c.url("/api/v1/reports"))
        .bearer_auth(&token)
        .header("content-type", "application/json")
        .body(serde_json::to_vec(&v).unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 503);
    let retry_after: u64 = response.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(retry_after > 0);
    let body: Value = serde_json::from_slice(&response.bytes().await.unwrap()).unwrap();
    assert!(
        body["error"]
            .as_str()
            .unwrap()
            .contains("schema_version 99"),
        "{body}"
    );
    let history = c.admin_get(&format!("/api/v1/devices/{id}/reports")).await;
    assert!(history["reports"].as_array().unwrap().is_empty());
}
on_both_databases!(a_report_too_new_for_the_collector_is_answered_retry_later);
