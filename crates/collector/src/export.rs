//! CSV exports for auditors: the device inventory with its posture, and every latest finding.
//!
//! Cells that a spreadsheet would read as a formula (starting with `=`, `+`, `-`, `@`, tab or
//! carriage return) get a leading apostrophe, so a hostile host name cannot run in an auditor's
//! spreadsheet.

use std::collections::HashMap;

use crate::display::rfc3339;
use crate::store::{DeviceSummary, LatestFinding};

/// Header and rows of the device export.
#[must_use]
pub fn devices_csv(devices: &[DeviceSummary]) -> String {
    let mut out = String::new();
    push_row(
        &mut out,
        &[
            "device_id",
            "hostname",
            "owner",
            "asset_state",
            "os_family",
            "os",
            "serial",
            "users",
            "posture",
            "noncompliant_since",
            "failing_checks",
            "last_seen_at",
            "last_report_at",
        ],
    );
    for d in devices {
        push_row(
            &mut out,
            &[
                &d.id,
                &d.hostname,
                d.owner.as_deref().unwrap_or(""),
                &d.state,
                d.os_family.as_deref().unwrap_or(""),
                d.os.as_deref().unwrap_or(""),
                d.serial.as_deref().unwrap_or(""),
                d.users.as_deref().unwrap_or(""),
                d.posture.map_or("never", posture_schema::Posture::as_str),
                &d.noncompliant_since.map(rfc3339).unwrap_or_default(),
                &d.failing_checks.join(" "),
                &d.last_seen_at.map(rfc3339).unwrap_or_default(),
                &d.last_report_at.map(rfc3339).unwrap_or_default(),
            ],
        );
    }
    out
}

/// Header and rows of the findings export; `devices` supplies host names and owners.
#[must_use]
pub fn findings_csv(findings: &[LatestFinding], devices: &[DeviceSummary]) -> String {
    let by_id: HashMap<&str, &DeviceSummary> = devices.iter().map(|d| (d.id.as_str(), d)).collect();
    let mut out = String::new();
    push_row(
        &mut out,
        &[
            "device_id",
            "hostname",
            "owner",
            "check_id",
            "title",
            "clause",
            "status",
            "status_since",
            "summary",
        ],
    );
    for f in findings {
        let device = by_id.get(f.device_id.as_str());
        push_row(
            &mut out,
            &[
                &f.device_id,
                device.map_or("", |d| d.hostname.as_str()),
                device.and_then(|d| d.owner.as_deref()).unwrap_or(""),
                &f.finding.check_id,
                &f.finding.title,
                &f.finding.clause,
                f.finding.status.as_str(),
                &rfc3339(f.status_since),
                &f.finding.summary,
            ],
        );
    }
    out
}

fn push_row(out: &mut String, cells: &[&str]) {
    for (i, cell) in cells.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        push_cell(out, cell);
    }
    out.push_str("\r\n");
}

fn push_cell(out: &mut String, cell: &str) {
    let formula = cell.starts_with(['=', '+', '-', '@', '\t', '\r']);
    let quote = formula || cell.contains([',', '"', '\n', '\r']);
    if quote {
        out.push('"');
    }
    if formula {
        out.push('\'');
    }
    for c in cell.chars() {
        if c == '"' {
            out.push('"');
        }
        out.push(c);
    }
    if quote {
        out.push('"');
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cell(s: &str) -> String {
        let mut out = String::new();
        push_cell(&mut out, s);
        out
    }

    #[test]
    fn commas_quotes_and_newlines_are_quoted_rfc4180_style() {
        assert_eq!(cell("plain"), "plain");
        assert_eq!(cell("a,b"), "\"a,b\"");
        assert_eq!(cell("say \"hi\""), "\"say \"\"hi\"\"\"");
        assert_eq!(cell("two\nlines"), "\"two\nlines\"");
    }

    #[test]
    fn spreadsheet_formulas_are_defused() {
        assert_eq!(cell("=HYPERLINK(\"x\")"), "\"'=HYPERLINK(\"\"x\"\")\"");
        assert_eq!(cell("@SUM(A1)"), "\"'@SUM(A1)\"");
    }
}
