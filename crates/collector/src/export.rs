//! CSV exports for auditors: the device inventory with its posture, and every latest finding.
//!
//! Both stream: the store is read a page at a time (keyset pages, in id order, so a device
//! that reports during the export is neither skipped nor repeated) and each page is sent before
//! the next is read, so an export holds one page in memory whatever the fleet's size.
//!
//! The findings export ends with `enforcement`: whether management enforces the result
//! (`crate::enforcement::export_word`, the one mapping every export uses).
//!
//! Cells that a spreadsheet would read as a formula (starting with `=`, `+`, `-`, `@`, tab or
//! carriage return) get a leading apostrophe, so a hostile host name cannot run in an auditor's
//! spreadsheet.

use std::sync::Arc;

use axum::body::Body;

use crate::display::rfc3339;
use crate::store::{DeviceSummary, ExportFinding, Store, StoreError};

/// Rows read from the store per page of an export.
pub const EXPORT_PAGE_ROWS: u32 = 500;

const DEVICE_HEADER: [&str; 13] = [
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
];

// New columns go at the end, so that readers of the older columns by position keep working.
const FINDING_HEADER: [&str; 10] = [
    "device_id",
    "hostname",
    "owner",
    "check_id",
    "title",
    "clause",
    "status",
    "status_since",
    "summary",
    "enforcement",
];

/// Header and rows of the device export (a whole export in memory: tests and small lists).
#[must_use]
pub fn devices_csv(devices: &[DeviceSummary]) -> String {
    let mut out = String::new();
    push_row(&mut out, &DEVICE_HEADER);
    for d in devices {
        push_device(&mut out, d);
    }
    out
}

fn push_device(out: &mut String, d: &DeviceSummary) {
    push_row(
        out,
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

fn push_finding(out: &mut String, f: &ExportFinding) {
    push_row(
        out,
        &[
            &f.finding.device_id,
            &f.hostname,
            f.owner.as_deref().unwrap_or(""),
            &f.finding.finding.check_id,
            &f.finding.finding.title,
            &f.finding.finding.clause,
            f.finding.finding.status.as_str(),
            &rfc3339(f.finding.status_since),
            &f.finding.finding.summary,
            crate::enforcement::export_word(f.finding.finding.enforcement),
        ],
    );
}

/// Where a streamed export is: the header is still to send, or the key after which the next
/// page starts, or it is finished.
enum Cursor<K> {
    Start,
    After(K),
    Done,
}

/// The device export (every device, retired ones included, by id), streamed page by page.
pub fn devices_csv_body(store: Arc<dyn Store>) -> Body {
    let pages = futures_util::stream::try_unfold(Cursor::<String>::Start, move |cursor| {
        let store = Arc::clone(&store);
        async move {
            let (mut out, after) = match cursor {
                Cursor::Done => return Ok::<_, StoreError>(None),
                Cursor::Start => {
                    let mut out = String::new();
                    push_row(&mut out, &DEVICE_HEADER);
                    (out, None)
                }
                Cursor::After(id) => (String::new(), Some(id)),
            };
            let page = store
                .devices_page(after.as_deref(), EXPORT_PAGE_ROWS)
                .await
                .inspect_err(|e| tracing::warn!(error = %e, "device export stopped"))?;
            for d in &page {
                push_device(&mut out, d);
            }
            let next = match page.last() {
                Some(last) if page.len() == EXPORT_PAGE_ROWS as usize => {
                    Cursor::After(last.id.clone())
                }
                _ => Cursor::Done,
            };
            Ok(Some((out, next)))
        }
    });
    Body::from_stream(pages)
}

/// The findings export (latest findings of devices in service, by device and check), streamed
/// page by page.
pub fn findings_csv_body(store: Arc<dyn Store>) -> Body {
    let pages =
        futures_util::stream::try_unfold(Cursor::<(String, String)>::Start, move |cursor| {
            let store = Arc::clone(&store);
            async move {
                let (mut out, after) = match cursor {
                    Cursor::Done => return Ok::<_, StoreError>(None),
                    Cursor::Start => {
                        let mut out = String::new();
                        push_row(&mut out, &FINDING_HEADER);
                        (out, None)
                    }
                    Cursor::After(key) => (String::new(), Some(key)),
                };
                let page = store
                    .findings_page(
                        after.as_ref().map(|(d, c)| (d.as_str(), c.as_str())),
                        EXPORT_PAGE_ROWS,
                    )
                    .await
                    .inspect_err(|e| tracing::warn!(error = %e, "findings export stopped"))?;
                for f in &page {
                    push_finding(&mut out, f);
                }
                let next = match page.last() {
                    Some(last) if page.len() == EXPORT_PAGE_ROWS as usize => Cursor::After((
                        last.finding.device_id.clone(),
                        last.finding.finding.check_id.clone(),
                    )),
                    _ => Cursor::Done,
                };
                Ok(Some((out, next)))
            }
        });
    Body::from_stream(pages)
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
