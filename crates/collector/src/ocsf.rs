//! OCSF events for SIEMs: each device as a Device Inventory Info event (class 5001) and each
//! check of its latest report as a Compliance Finding (class 2003), in OCSF [`OCSF_VERSION`].
//!
//! The mapping follows the class definitions of that version of the OCSF schema (the
//! `ocsf-schema` repository, `events/discovery/inventory_info.json`,
//! `events/findings/compliance_finding.json` and the objects they use). What OCSF has no
//! attribute for (asset state, posture, the report's provenance) goes under `unmapped`. These
//! functions never judge: a verdict the agent could not decide is never mapped to a pass.

use posture_schema::{Posture, Status};
use serde_json::{Map, Value, json};

use crate::display::rfc3339;
use crate::store::{ExportDevice, LatestFinding};

/// The OCSF schema version the events follow (`metadata.version`).
pub const OCSF_VERSION: &str = "1.3.0";

/// OCSF class of Device Inventory Info events (category 5, Discovery).
pub const INVENTORY_CLASS_UID: u32 = 5001;

/// OCSF class of Compliance Finding events (category 2, Findings).
pub const COMPLIANCE_CLASS_UID: u32 = 2003;

/// Device Inventory Info activity 2, "Collect": the inventory was collected by the agent.
const INVENTORY_ACTIVITY_COLLECT: u32 = 2;

/// Finding activity 1, "Create": this report set the check's current status.
const FINDING_ACTIVITY_CREATE: u32 = 1;
/// Finding activity 2, "Update": the status is the one an earlier report set.
const FINDING_ACTIVITY_UPDATE: u32 = 2;

/// OCSF `severity_id` 0 "Unknown" and 1 "Informational". The collector does not grade checks:
/// a failing or undecided check has no severity it could state.
const SEVERITY_UNKNOWN: (u32, &str) = (0, "Unknown");
const SEVERITY_INFORMATIONAL: (u32, &str) = (1, "Informational");

/// What the compliance standard of every finding is called: the fleet policy the collector
/// judges with (its digest is in `unmapped.policy_digest`).
const STANDARD: &str = "posture fleet policy";

/// The OCSF compliance status of a check's verdict (`compliance.status_id`, `compliance.status`).
///
/// OCSF 1.3.0 defines 1 Pass, 2 Warning ("the compliance check did not yield a result due to
/// missing information"), 3 Fail, and from the dictionary 0 Unknown and 99 Other. `unknown` is
/// a check that could not decide for lack of information: Warning, never Pass. `error` (the
/// check itself failed to run) and `not_applicable` have no OCSF status of their own: Other,
/// named in `status`.
#[must_use]
pub fn compliance_status(status: Status) -> (u32, &'static str) {
    match status {
        Status::Pass => (1, "Pass"),
        Status::Unknown => (2, "Warning"),
        Status::Fail => (3, "Fail"),
        Status::NotApplicable => (99, "Not Applicable"),
        Status::Error => (99, "Error"),
    }
}

/// OCSF `os.type_id` and its caption for an OS family word of a report.
fn os_type(family: &str) -> (u32, &'static str) {
    match family {
        "windows" => (100, "Windows"),
        "linux" => (200, "Linux"),
        "macos" => (300, "macOS"),
        _ => (99, "Other"),
    }
}

fn product() -> Value {
    json!({
        "name": "posture-collector",
        "vendor_name": "posture",
        "version": env!("CARGO_PKG_VERSION"),
    })
}

fn metadata(uid: String, device: &ExportDevice) -> Value {
    let mut m = json!({
        "version": OCSF_VERSION,
        "product": product(),
        "uid": uid,
    });
    if let Some(generated) = device.report.generated_at {
        // The time the agent's clock gave the report: shown, never used to order.
        m["original_time"] = rfc3339(generated).into();
    }
    m
}

/// The OCSF `device` object of a device.
fn device_object(device: &ExportDevice) -> Value {
    let d = &device.summary;
    let inv = &device.inventory;
    let mut obj = Map::new();
    obj.insert("uid".into(), d.id.clone().into());
    obj.insert("hostname".into(), d.hostname.clone().into());
    obj.insert("name".into(), d.hostname.clone().into());
    // Laptop, desktop or server: the report does not say.
    obj.insert("type_id".into(), 0.into());
    obj.insert("type".into(), "Unknown".into());
    if let Some(family) = d.os_family.as_deref().filter(|f| !f.is_empty()) {
        let (type_id, caption) = os_type(family);
        let mut os = json!({
            "name": inv.os_name.clone().unwrap_or_else(|| family.to_owned()),
            "type_id": type_id,
            "type": caption,
        });
        if let Some(version) = &inv.os_version {
            os["version"] = version.clone().into();
        }
        obj.insert("os".into(), os);
    }
    if let Some(serial) = &inv.hw_serial {
        obj.insert("hw_info".into(), json!({ "serial_number": serial }));
    }
    if let Some(owner) = d.owner.as_deref().filter(|o| !o.is_empty()) {
        obj.insert("owner".into(), json!({ "name": owner }));
    }
    // Only a judged posture says whether the device complies; unknown leaves it unsaid.
    match d.posture {
        Some(Posture::Compliant) => {
            obj.insert("is_compliant".into(), true.into());
        }
        Some(Posture::Noncompliant) => {
            obj.insert("is_compliant".into(), false.into());
        }
        _ => {}
    }
    if let Some(seen) = d.last_seen_at {
        obj.insert("last_seen_time".into(), seen.into());
    }
    Value::Object(obj)
}

/// What OCSF has no attribute for: the device's asset state and posture, and the report the
/// event comes from.
fn unmapped(device: &ExportDevice) -> Value {
    let d = &device.summary;
    let r = &device.report;
    json!({
        "asset_state": d.state,
        "posture": d.posture.map_or("never", Posture::as_str),
        "policy_mismatch": d.policy_mismatch,
        "report_id": r.report_id,
        "policy_digest": r.policy_digest,
        "agent_version": r.agent_version,
        "generated_at": r.generated_at.map(rfc3339),
        "received_at": r.received_at.map(rfc3339),
        "hw_vendor": device.inventory.hw_vendor,
        "hw_model": device.inventory.hw_model,
    })
}

/// The time of a device's events: when the collector received its latest report.
fn event_time(device: &ExportDevice) -> i64 {
    device
        .report
        .received_at
        .or(device.summary.last_seen_at)
        .unwrap_or(0)
}

/// The Device Inventory Info event (class 5001) of a device's latest report.
#[must_use]
pub fn inventory_event(device: &ExportDevice) -> Value {
    let report = device.report.report_id.as_deref().unwrap_or("none");
    let (severity_id, severity) = SEVERITY_INFORMATIONAL;
    json!({
        "class_uid": INVENTORY_CLASS_UID,
        "class_name": "Device Inventory Info",
        "category_uid": 5,
        "category_name": "Discovery",
        "activity_id": INVENTORY_ACTIVITY_COLLECT,
        "activity_name": "Collect",
        "type_uid": INVENTORY_CLASS_UID * 100 + INVENTORY_ACTIVITY_COLLECT,
        "type_name": "Device Inventory Info: Collect",
        "severity_id": severity_id,
        "severity": severity,
        "time": event_time(device),
        "metadata": metadata(format!("{report}/inventory"), device),
        "device": device_object(device),
        "unmapped": unmapped(device),
    })
}

/// The Compliance Finding event (class 2003) of one check of a device's latest report.
#[must_use]
pub fn compliance_event(device: &ExportDevice, finding: &LatestFinding) -> Value {
    let f = &finding.finding;
    let report = device.report.report_id.as_deref().unwrap_or("none");
    let created = finding.change.changed_by_report.as_deref() == Some(report);
    let (activity_id, activity) = if created {
        (FINDING_ACTIVITY_CREATE, "Create")
    } else {
        (FINDING_ACTIVITY_UPDATE, "Update")
    };
    let (severity_id, severity) = match f.status {
        Status::Pass | Status::NotApplicable => SEVERITY_INFORMATIONAL,
        Status::Fail | Status::Unknown | Status::Error => SEVERITY_UNKNOWN,
    };
    let (status_id, status) = compliance_status(f.status);
    let mut compliance = json!({
        "standards": [STANDARD],
        "control": f.check_id,
        "status_id": status_id,
        "status": status,
        "status_code": f.status.as_str(),
        "status_detail": f.summary,
    });
    if !f.clause.is_empty() {
        compliance["requirements"] = json!([f.clause]);
    }
    let time = event_time(device);
    let mut unmapped = unmapped(device);
    unmapped["status_since"] = rfc3339(finding.status_since).into();
    // OCSF 1.3.0 has no attribute for whether management enforces a compliance result.
    unmapped["enforcement"] = crate::enforcement::export_word(finding.finding.enforcement).into();
    json!({
        "class_uid": COMPLIANCE_CLASS_UID,
        "class_name": "Compliance Finding",
        "category_uid": 2,
        "category_name": "Findings",
        "activity_id": activity_id,
        "activity_name": activity,
        "type_uid": COMPLIANCE_CLASS_UID * 100 + activity_id,
        "type_name": format!("Compliance Finding: {activity}"),
        "severity_id": severity_id,
        "severity": severity,
        "time": time,
        "message": format!("{}: {}", f.title, f.status.as_str()),
        "metadata": metadata(format!("{report}/{}", f.check_id), device),
        "finding_info": {
            "uid": format!("{}/{}", finding.device_id, f.check_id),
            "title": f.title,
            "desc": f.summary,
            "last_seen_time": time,
            "modified_time": finding.status_since,
        },
        "compliance": compliance,
        "device": device_object(device),
        "resources": [{
            "uid": device.summary.id,
            "name": device.summary.hostname,
            "type": "Device",
        }],
        "unmapped": unmapped,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_pass_is_an_ocsf_pass() {
        for status in [
            Status::Fail,
            Status::Unknown,
            Status::NotApplicable,
            Status::Error,
        ] {
            assert_ne!(compliance_status(status).0, 1, "{status:?}");
        }
        assert_eq!(compliance_status(Status::Pass), (1, "Pass"));
        assert_eq!(compliance_status(Status::Fail), (3, "Fail"));
        assert_eq!(compliance_status(Status::Unknown), (2, "Warning"));
    }
}
