//! Exports for auditors and SIEMs: the device inventory with its posture and every latest
//! finding, as CSV or NDJSON, and both as OCSF events (`crate::ocsf`).
//!
//! Every export streams: the store is read a page at a time (keyset pages, so a device that
//! reports during the export is neither skipped nor repeated) and each page is sent before the
//! next is read, so an export holds one page in memory whatever the fleet's size. Every export
//! takes the device list's filters ([`DeviceFilter`], validated as the list validates them) and
//! every row carries the report it comes from: report id, policy digest, agent version,
//! generated and received times.
//!
//! The findings exports carry `enforcement`: whether management enforces the result
//! (`crate::enforcement::export_word`, the one mapping every export uses); in the findings CSV it
//! is the last column, so that readers of the older columns by position keep working.
//!
//! CSV cells that a spreadsheet would read as a formula (starting with `=`, `+`, `-`, `@`, tab
//! or carriage return) get a leading apostrophe, so a hostile host name cannot run in an
//! auditor's spreadsheet.

use std::future::Future;
use std::sync::Arc;

use axum::body::Body;

use crate::display::rfc3339;
use crate::store::{
    DeviceFilter, DeviceSummary, ExportDevice, ExportFinding, ReceivedCursor, ReportProvenance,
    Store, StoreError, StoreResult,
};

/// Default settle window of the OCSF export, in seconds (`--export-settle-secs`).
pub const DEFAULT_EXPORT_SETTLE_SECS: u32 = 30;

/// Rows read from the store per page of an export (devices per page of the OCSF export), unless
/// the collector is told otherwise (`--export-page-rows`).
pub const EXPORT_PAGE_ROWS: u32 = 500;

/// What every export reads: the store, the rows it takes, and the page size.
#[derive(Clone)]
pub struct ExportSource {
    /// The store.
    pub store: Arc<dyn Store>,
    /// Which devices (an [`export_filter`]).
    pub filter: Arc<DeviceFilter>,
    /// The request's time, which stale filters count from.
    pub now: i64,
    /// Rows per page (at least 1).
    pub page_rows: u32,
}

const DEVICE_HEADER: [&str; 18] = [
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
    "report_id",
    "policy_digest",
    "agent_version",
    "report_generated_at",
    "report_received_at",
];

// New columns go at the end, so that readers of the older columns by position keep working.
const FINDING_HEADER: [&str; 15] = [
    "device_id",
    "hostname",
    "owner",
    "check_id",
    "title",
    "clause",
    "status",
    "status_since",
    "summary",
    "report_id",
    "policy_digest",
    "agent_version",
    "report_generated_at",
    "report_received_at",
    "enforcement",
];

/// The filter of an export: the list's filter without its paging (an export has every matching
/// row), and, for the device exports, every asset state unless `state` says otherwise (as the
/// device export always had; the findings and OCSF exports leave retired devices out, as the
/// list does).
#[must_use]
pub fn export_filter(mut filter: DeviceFilter, all_states_by_default: bool) -> DeviceFilter {
    filter.limit = None;
    filter.offset = None;
    filter.cursor = None;
    if all_states_by_default && filter.state.as_deref().is_none_or(str::is_empty) {
        filter.state = Some("all".to_owned());
    }
    filter
}

/// Header and rows of the device export (a whole export in memory: tests and small lists).
#[must_use]
pub fn devices_csv(devices: &[ExportDevice]) -> String {
    let mut out = String::new();
    push_row(&mut out, &DEVICE_HEADER);
    for d in devices {
        push_device(&mut out, d);
    }
    out
}

fn time_cell(ms: Option<i64>) -> String {
    ms.map(rfc3339).unwrap_or_default()
}

fn push_device(out: &mut String, device: &ExportDevice) {
    let d = &device.summary;
    let r = &device.report;
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
            posture_word(d),
            &time_cell(d.noncompliant_since),
            &d.failing_checks.join(" "),
            &time_cell(d.last_seen_at),
            &time_cell(d.last_report_at),
            r.report_id.as_deref().unwrap_or(""),
            r.policy_digest.as_deref().unwrap_or(""),
            &r.agent_version,
            &time_cell(r.generated_at),
            &time_cell(r.received_at),
        ],
    );
}

fn posture_word(d: &DeviceSummary) -> &'static str {
    d.posture.map_or("never", posture_schema::Posture::as_str)
}

fn push_finding(out: &mut String, f: &ExportFinding) {
    let r = &f.report;
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
            r.report_id.as_deref().unwrap_or(""),
            r.policy_digest.as_deref().unwrap_or(""),
            &r.agent_version,
            &time_cell(r.generated_at),
            &time_cell(r.received_at),
            crate::enforcement::export_word(f.finding.finding.enforcement),
        ],
    );
}

/// The provenance fields of an NDJSON row.
fn provenance_json(r: &ReportProvenance) -> serde_json::Map<String, serde_json::Value> {
    let time = |ms: Option<i64>| ms.map(rfc3339);
    let mut map = serde_json::Map::new();
    map.insert("report_id".into(), r.report_id.clone().into());
    map.insert("policy_digest".into(), r.policy_digest.clone().into());
    map.insert("agent_version".into(), r.agent_version.clone().into());
    map.insert("generated_at".into(), time(r.generated_at).into());
    map.insert("received_at".into(), time(r.received_at).into());
    map
}

/// One line of `devices.ndjson`.
#[must_use]
pub fn device_json(device: &ExportDevice) -> serde_json::Value {
    let d = &device.summary;
    let inv = &device.inventory;
    let time = |ms: Option<i64>| ms.map(rfc3339);
    let mut map = serde_json::json!({
        "device_id": d.id,
        "hostname": d.hostname,
        "owner": d.owner,
        "asset_state": d.state,
        "os_family": d.os_family,
        "os_name": inv.os_name,
        "os_version": inv.os_version,
        "hw_vendor": inv.hw_vendor,
        "hw_model": inv.hw_model,
        "serial": d.serial,
        "users": d.users,
        "posture": posture_word(d),
        "noncompliant_since": time(d.noncompliant_since),
        "failing_checks": d.failing_checks,
        "policy_mismatch": d.policy_mismatch,
        "clock_skew_ms": d.clock_skew_ms,
        "last_seen_at": time(d.last_seen_at),
    });
    if let Some(obj) = map.as_object_mut() {
        obj.extend(provenance_json(&device.report));
    }
    map
}

/// One line of `findings.ndjson`.
#[must_use]
pub fn finding_json(f: &ExportFinding) -> serde_json::Value {
    let finding = &f.finding.finding;
    let change = &f.finding.change;
    let mut map = serde_json::json!({
        "device_id": f.finding.device_id,
        "hostname": f.hostname,
        "owner": f.owner,
        "check_id": finding.check_id,
        "title": finding.title,
        "clause": finding.clause,
        "status": finding.status.as_str(),
        "status_since": rfc3339(f.finding.status_since),
        "summary": finding.summary,
        "changed_by_report": change.changed_by_report,
        "change_trigger": change.change_trigger,
        "change_cause": change.change_cause,
        "enforcement": crate::enforcement::export_word(finding.enforcement),
    });
    if let Some(obj) = map.as_object_mut() {
        obj.extend(provenance_json(&f.report));
    }
    map
}

fn push_json_line(out: &mut String, value: &serde_json::Value) {
    // A `Value` always serialises (its keys are strings).
    out.push_str(&value.to_string());
    out.push('\n');
}

/// Where a streamed export is: before its first page, after a key, or finished.
enum Cursor<K> {
    Start,
    After(K),
    Done,
}

/// A body streamed page by page: `page` reads the page after a key (`None`: the first) and
/// returns its text and the key of its last row when a further page may follow.
fn paged_body<K, F, Fut>(what: &'static str, page: F) -> Body
where
    K: Send + 'static,
    F: Fn(Option<K>) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = StoreResult<(String, Option<K>)>> + Send + 'static,
{
    let page = Arc::new(page);
    let pages = futures_util::stream::try_unfold(Cursor::<K>::Start, move |cursor| {
        let page = Arc::clone(&page);
        async move {
            let after = match cursor {
                Cursor::Done => return Ok::<_, StoreError>(None),
                Cursor::Start => None,
                Cursor::After(key) => Some(key),
            };
            let (text, next) = page(after)
                .await
                .inspect_err(|e| tracing::warn!(error = %e, export = what, "export stopped"))?;
            let next = next.map_or(Cursor::Done, Cursor::After);
            Ok(Some((text, next)))
        }
    });
    Body::from_stream(pages)
}

/// The key after a full page's last row, `None` after a short page (the last).
fn next_key<T, K>(page: &[T], rows: u32, key: impl Fn(&T) -> K) -> Option<K> {
    page.last().filter(|_| page.len() >= rows as usize).map(key)
}

/// Devices in device-id order, each page rendered by `render` (`header` first).
fn devices_body(
    source: ExportSource,
    header: Option<String>,
    render: fn(&mut String, &ExportDevice),
) -> Body {
    paged_body("devices", move |after: Option<String>| {
        let source = source.clone();
        let mut out = match (&after, &header) {
            (None, Some(h)) => h.clone(),
            _ => String::new(),
        };
        async move {
            let rows = source.page_rows;
            let page = source
                .store
                .devices_page(&source.filter, source.now, after.as_deref(), rows)
                .await?;
            for d in &page {
                render(&mut out, d);
            }
            Ok((out, next_key(&page, rows, |d| d.summary.id.clone())))
        }
    })
}

/// Latest findings by device id and check id, each page rendered by `render`.
fn findings_body(
    source: ExportSource,
    header: Option<String>,
    render: fn(&mut String, &ExportFinding),
) -> Body {
    paged_body("findings", move |after: Option<(String, String)>| {
        let source = source.clone();
        let mut out = match (&after, &header) {
            (None, Some(h)) => h.clone(),
            _ => String::new(),
        };
        async move {
            let rows = source.page_rows;
            let page = source
                .store
                .findings_page(
                    &source.filter,
                    source.now,
                    after.as_ref().map(|(d, c)| (d.as_str(), c.as_str())),
                    rows,
                )
                .await?;
            for f in &page {
                render(&mut out, f);
            }
            Ok((
                out,
                next_key(&page, rows, |f| {
                    (
                        f.finding.device_id.clone(),
                        f.finding.finding.check_id.clone(),
                    )
                }),
            ))
        }
    })
}

fn header_line(cells: &[&str]) -> String {
    let mut out = String::new();
    push_row(&mut out, cells);
    out
}

/// `devices.csv`, streamed.
pub fn devices_csv_body(source: ExportSource) -> Body {
    devices_body(source, Some(header_line(&DEVICE_HEADER)), push_device)
}

/// `findings.csv`, streamed.
pub fn findings_csv_body(source: ExportSource) -> Body {
    findings_body(source, Some(header_line(&FINDING_HEADER)), push_finding)
}

/// `devices.ndjson`, streamed: one JSON object per line.
pub fn devices_ndjson_body(source: ExportSource) -> Body {
    devices_body(source, None, |out, d| {
        push_json_line(out, &device_json(d));
    })
}

/// `findings.ndjson`, streamed: one JSON object per line.
pub fn findings_ndjson_body(source: ExportSource) -> Body {
    findings_body(source, None, |out, f| {
        push_json_line(out, &finding_json(f));
    })
}

/// What one OCSF export answer covers: devices whose latest report was received after `since`
/// and no later than `until`.
#[derive(Debug, Clone)]
pub struct OcsfWindow {
    /// Where the previous answer ended (`None`: from the start).
    pub since: Option<ReceivedCursor>,
    /// The newest receive time this answer includes: the request's time less the settle window.
    pub until: i64,
}

impl OcsfWindow {
    /// The cursor a client sends next: everything received up to `until` is in this answer.
    #[must_use]
    pub fn next_cursor(&self) -> ReceivedCursor {
        match &self.since {
            Some(since) if since.received_at >= self.until => since.clone(),
            _ => ReceivedCursor {
                received_at: self.until,
                device_id: None,
            },
        }
    }
}

/// `ocsf.ndjson`, streamed: per device a Device Inventory Info event, then a Compliance Finding
/// per check of its latest report, devices in the order the collector received their latest
/// reports.
pub fn ocsf_body(source: ExportSource, window: OcsfWindow) -> Body {
    let since = window.since.clone();
    paged_body("ocsf", move |after: Option<ReceivedCursor>| {
        let source = source.clone();
        let after = after.or_else(|| since.clone());
        let until = window.until;
        async move {
            let rows = source.page_rows;
            let page = source
                .store
                .received_page(&source.filter, source.now, after.as_ref(), until, rows)
                .await?;
            // The findings of the report each device row names, not of a newer one that came
            // in since the page was read.
            let reports: Vec<(String, String)> = page
                .iter()
                .filter_map(|d| {
                    let report = d.report.report_id.clone()?;
                    Some((d.summary.id.clone(), report))
                })
                .collect();
            let findings = source.store.latest_findings_of(&reports).await?;
            // The page is in receive order and its findings in device-id order: group them.
            let mut by_device = std::collections::HashMap::<&str, Vec<_>>::new();
            for f in &findings {
                by_device.entry(f.device_id.as_str()).or_default().push(f);
            }
            let mut out = String::new();
            for device in &page {
                push_json_line(&mut out, &crate::ocsf::inventory_event(device));
                for f in by_device
                    .remove(device.summary.id.as_str())
                    .unwrap_or_default()
                {
                    push_json_line(&mut out, &crate::ocsf::compliance_event(device, f));
                }
            }
            Ok((
                out,
                next_key(&page, rows, |d| ReceivedCursor {
                    received_at: d.report.received_at.unwrap_or(until),
                    device_id: Some(d.summary.id.clone()),
                }),
            ))
        }
    })
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
