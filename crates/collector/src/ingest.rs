//! From request body to committed row: validating a report and group-committing it.
//!
//! Validation follows `docs/protocol.md`: bytes that are not JSON, or JSON that is not a
//! [`Report`], are a 400; a report of another schema version or with values that fail
//! validation is a 422. Stored reports keep their exact bytes.
//!
//! Writes go through a [`Writer`]: request handlers queue validated reports and wait; writer tasks
//! take whatever is queued (up to a batch) and commit it in one transaction. Each request is
//! answered only after its transaction committed, so a 2xx always means "durably stored", while
//! one fsync serves many reports.

use std::sync::Arc;

use posture_schema::{Report, SCHEMA_VERSION};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;
use tokio::sync::{Mutex, OwnedSemaphorePermit, Semaphore, mpsc, oneshot};

use crate::store::{
    FindingSummary, IngestItem, IngestOutcome, Inventory, Store, StoreError, StoreResult,
};

/// Longest accepted report id.
pub const MAX_REPORT_ID_LEN: usize = 128;

/// Why a report body was refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum Rejection {
    /// Not JSON, or JSON that is not a report (400).
    #[error("not a report: {0}")]
    Malformed(String),
    /// A schema version this collector does not know (422).
    #[error("unsupported schema_version {found}; this collector accepts {SCHEMA_VERSION}")]
    SchemaVersion {
        /// The version the report declared.
        found: u64,
    },
    /// A report whose values fail validation (422).
    #[error("invalid report: {0}")]
    Invalid(String),
    /// The report names another device (403).
    #[error("the report's device_id is not the device this token belongs to")]
    WrongDevice,
}

impl Rejection {
    /// The label used in the `posture_reports_rejected_total` metric.
    #[must_use]
    pub fn reason(&self) -> &'static str {
        match self {
            Self::Malformed(_) => "malformed",
            Self::SchemaVersion { .. } => "schema_version",
            Self::Invalid(_) => "invalid",
            Self::WrongDevice => "wrong_device",
        }
    }
}

/// Parses and validates a report body sent with `device_id`'s token.
pub fn validate(body: &[u8], device_id: &str, received_at: i64) -> Result<IngestItem, Rejection> {
    let text = std::str::from_utf8(body)
        .map_err(|e| Rejection::Malformed(format!("body is not UTF-8: {e}")))?;
    // Look at the version first: a report of a newer version has fields this one does not
    // know, and that deserves "unsupported version", not "unknown field".
    #[derive(serde::Deserialize)]
    struct Versioned {
        schema_version: Option<serde_json::Value>,
    }
    let versioned: Versioned =
        serde_json::from_str(text).map_err(|e| Rejection::Malformed(e.to_string()))?;
    if let Some(v) = versioned.schema_version {
        match v.as_u64() {
            Some(n) if n == u64::from(SCHEMA_VERSION) => {}
            Some(n) => return Err(Rejection::SchemaVersion { found: n }),
            None => {
                return Err(Rejection::Malformed(
                    "schema_version is not a non-negative integer".into(),
                ));
            }
        }
    }
    let report: Report =
        serde_json::from_str(text).map_err(|e| Rejection::Malformed(e.to_string()))?;

    if report.report_id.is_empty() || report.report_id.len() > MAX_REPORT_ID_LEN {
        return Err(Rejection::Invalid(format!(
            "report_id must be 1 to {MAX_REPORT_ID_LEN} bytes"
        )));
    }
    if report.report_id.contains('\0') {
        return Err(Rejection::Invalid(
            "report_id contains a NUL character".into(),
        ));
    }
    if let Some(claimed) = &report.device_id
        && claimed != device_id
    {
        return Err(Rejection::WrongDevice);
    }
    let generated = OffsetDateTime::parse(&report.generated_at, &Rfc3339).map_err(|e| {
        Rejection::Invalid(format!(
            "generated_at {:?} is not an RFC 3339 time: {e}",
            report.generated_at
        ))
    })?;
    let generated_at = i64::try_from(generated.unix_timestamp_nanos() / 1_000_000)
        .map_err(|_| Rejection::Invalid("generated_at is out of range".into()))?;
    let utc = generated.to_offset(time::UtcOffset::UTC);
    let generated_day = format!(
        "{:04}-{:02}-{:02}",
        utc.year(),
        u8::from(utc.month()),
        utc.day()
    );
    let mut seen = std::collections::HashSet::new();
    for f in &report.checks {
        if f.id.is_empty() {
            return Err(Rejection::Invalid("a check has an empty id".into()));
        }
        if !seen.insert(f.id.as_str()) {
            return Err(Rejection::Invalid(format!(
                "check {:?} appears twice",
                f.id
            )));
        }
    }

    let d = &report.device;
    Ok(IngestItem {
        device_id: device_id.to_owned(),
        report_id: report.report_id.clone(),
        generated_at,
        generated_day,
        received_at,
        posture: report.posture.as_str().to_owned(),
        body: text.to_owned(),
        inventory: Inventory {
            hostname: d.hostname.as_deref().map(column_text),
            os_family: Some(column_text(&d.os.family)),
            os_name: d.os.name.as_deref().map(column_text),
            os_version: d.os.version.as_deref().map(column_text),
            hw_vendor: d.hardware.vendor.as_deref().map(column_text),
            hw_model: d.hardware.model.as_deref().map(column_text),
            hw_serial: d.hardware.serial.as_deref().map(column_text),
            users: (!d.users.is_empty()).then(|| column_text(&d.users.join(", "))),
        },
        findings: report
            .checks
            .iter()
            .map(|f| FindingSummary {
                check_id: column_text(&f.id),
                title: column_text(&f.title),
                clause: column_text(&f.clause),
                status: f.status.as_str().to_owned(),
                summary: column_text(&f.summary),
            })
            .collect(),
    })
}

/// Text copied out of a report into a query column. PostgreSQL text cannot hold NUL, so it
/// becomes U+FFFD there; the stored report body keeps the original.
fn column_text(s: &str) -> String {
    s.replace('\0', "\u{FFFD}")
}

struct Job {
    item: IngestItem,
    reply: oneshot::Sender<StoreResult<IngestOutcome>>,
}

/// Queues reports for group commit. Cloning shares the queue.
///
/// The queue is bounded in reports and in bytes: a request takes its place with
/// [`Writer::reserve`] before its body is read, and gives it back when it is answered.
#[derive(Clone)]
pub struct Writer {
    queue: mpsc::Sender<Job>,
    slots: Arc<Semaphore>,
    bytes: Arc<Semaphore>,
    max_bytes: usize,
}

/// A report's place in the ingest queue, held from before its body is read until its answer.
#[derive(Debug)]
pub struct Reservation {
    _slot: OwnedSemaphorePermit,
    _bytes: OwnedSemaphorePermit,
}

/// The ingest queue has no room for another report (503 with `Retry-After`).
#[derive(Debug, thiserror::Error)]
#[error("the ingest queue is full ({reports} reports or {bytes} bytes in flight)")]
pub struct QueueFull {
    /// Reports the queue holds at most.
    pub reports: usize,
    /// Bytes the queue holds at most.
    pub bytes: usize,
}

/// Most reports committed in one transaction.
const MAX_BATCH: usize = 256;

impl Writer {
    /// Starts `tasks` writer tasks committing to `store` (1 suits SQLite, which has one writer;
    /// a few suit PostgreSQL).
    /// `max_reports` and `max_bytes` bound what [`Writer::reserve`] hands out.
    #[must_use]
    pub fn start(
        store: Arc<dyn Store>,
        tasks: usize,
        max_reports: usize,
        max_bytes: usize,
    ) -> Self {
        let max_reports = max_reports.clamp(1, Semaphore::MAX_PERMITS);
        let max_bytes = max_bytes.clamp(1, Semaphore::MAX_PERMITS);
        let (queue, receiver) = mpsc::channel::<Job>(max_reports);
        let receiver = Arc::new(Mutex::new(receiver));
        for _ in 0..tasks.max(1) {
            let store = Arc::clone(&store);
            let receiver = Arc::clone(&receiver);
            tokio::spawn(async move {
                loop {
                    let mut jobs = Vec::new();
                    {
                        let mut rx = receiver.lock().await;
                        match rx.recv().await {
                            Some(job) => jobs.push(job),
                            None => return,
                        }
                        while jobs.len() < MAX_BATCH {
                            match rx.try_recv() {
                                Ok(job) => jobs.push(job),
                                Err(_) => break,
                            }
                        }
                    }
                    commit(store.as_ref(), jobs).await;
                }
            });
        }
        Self {
            queue,
            slots: Arc::new(Semaphore::new(max_reports)),
            bytes: Arc::new(Semaphore::new(max_bytes)),
            max_bytes,
        }
    }

    /// Takes a place for a report of at most `len` bytes, or says the queue is full. Never waits:
    /// a full queue is answered at once so that waiting clients hold nothing.
    pub fn reserve(&self, len: usize) -> Result<Reservation, QueueFull> {
        let full = || QueueFull {
            reports: self.slots_total(),
            bytes: self.max_bytes,
        };
        let len = u32::try_from(len.clamp(1, self.max_bytes)).map_err(|_| full())?;
        let slot = Arc::clone(&self.slots)
            .try_acquire_owned()
            .map_err(|_| full())?;
        let bytes = Arc::clone(&self.bytes)
            .try_acquire_many_owned(len)
            .map_err(|_| full())?;
        Ok(Reservation {
            _slot: slot,
            _bytes: bytes,
        })
    }

    fn slots_total(&self) -> usize {
        self.queue.max_capacity()
    }

    /// Stores one report; returns once it is committed (or failed).
    pub async fn store(&self, item: IngestItem) -> StoreResult<IngestOutcome> {
        let (reply, answer) = oneshot::channel();
        self.queue
            .send(Job { item, reply })
            .await
            .map_err(|_| StoreError::Unavailable("the report writer has stopped".into()))?;
        answer
            .await
            .map_err(|_| StoreError::Unavailable("the report writer has stopped".into()))?
    }
}

/// Runs a batch, again after a short pause when it lost a race with another transaction.
async fn ingest_with_retry(
    store: &dyn Store,
    items: &[IngestItem],
) -> StoreResult<Vec<IngestOutcome>> {
    let mut attempt = 0u64;
    loop {
        match store.ingest(items).await {
            Err(StoreError::Conflict(reason)) if attempt < 5 => {
                attempt += 1;
                metrics::counter!("posture_ingest_conflicts_total").increment(1);
                tracing::debug!(%reason, attempt, "batch conflicted; running it again");
                tokio::time::sleep(std::time::Duration::from_millis(attempt * 10)).await;
            }
            other => return other,
        }
    }
}

async fn commit(store: &dyn Store, jobs: Vec<Job>) {
    let items: Vec<IngestItem> = jobs.iter().map(|j| j.item.clone()).collect();
    metrics::histogram!("posture_ingest_batch_size").record(items.len() as f64);
    match ingest_with_retry(store, &items).await {
        Ok(outcomes) => {
            for (job, outcome) in jobs.into_iter().zip(outcomes) {
                // The requester may have gone away; the report is stored all the same.
                let _ = job.reply.send(Ok(outcome));
            }
        }
        Err(err) if jobs.len() > 1 && !err.is_temporary() => {
            // One bad report must not sink the others: retry each alone.
            tracing::warn!(error = %err, batch = jobs.len(), "batch failed; retrying reports one by one");
            for job in jobs {
                let result = ingest_with_retry(store, std::slice::from_ref(&job.item))
                    .await
                    .and_then(|mut o| {
                        o.pop().ok_or_else(|| {
                            StoreError::Database("the store returned no outcome".into())
                        })
                    });
                let _ = job.reply.send(result);
            }
        }
        Err(err) => {
            tracing::warn!(error = %err, batch = jobs.len(), "cannot store reports");
            for job in jobs {
                // A refused value stays the client's error and a server fault stays one; only
                // what may pass is "retry later".
                let answer = match &err {
                    StoreError::InvalidInput(m) => StoreError::InvalidInput(m.clone()),
                    StoreError::Database(m) => StoreError::Database(m.clone()),
                    other => StoreError::Unavailable(other.to_string()),
                };
                let _ = job.reply.send(Err(answer));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn report_json(version: u32, device: Option<&str>) -> String {
        let device_field = device
            .map(|d| format!(r#""device_id": "{d}","#))
            .unwrap_or_default();
        format!(
            r#"{{"schema_version": {version}, "report_id": "r-1", {device_field}
            "generated_at": "2026-11-23T10:00:00Z",
            "agent": {{"name": "posture", "version": "0.1.0", "mode": "live"}},
            "posture": "noncompliant",
            "device": {{"hostname": "h", "os": {{"family": "linux", "name": null, "version": null,
                "build": null, "kernel": null}}, "hardware": {{"vendor": null, "model": null,
                "serial": null}}, "machine_id": "m", "users": ["alice"], "mdm": null}},
            "policy": {{"name": "p", "version": "1", "digest": "sha256:0", "source": "embedded",
                "organisation": "o", "security_contact": "s"}},
            "checks": [{{"id": "screen_lock", "title": "Screen lock", "clause": "3.1",
                "status": "fail", "summary": "x", "subjects": [], "evidence": [],
                "remediation": []}}]}}"#
        )
    }

    #[test]
    fn a_valid_report_becomes_an_ingest_item_with_its_exact_bytes() {
        let body = report_json(1, Some("dev-1"));
        let item = validate(body.as_bytes(), "dev-1", 5).unwrap();
        assert_eq!(item.body, body);
        assert_eq!(item.generated_day, "2026-11-23");
        assert_eq!(item.generated_at, 1_795_428_000_000);
        assert_eq!(item.findings[0].status, "fail");
        assert_eq!(item.inventory.users.as_deref(), Some("alice"));
    }

    #[test]
    fn another_schema_version_is_refused_as_unsupported_not_malformed() {
        let body = report_json(2, None).replace(r#""checks""#, r#""new_field": 1, "checks""#);
        assert_eq!(
            validate(body.as_bytes(), "d", 0).unwrap_err(),
            Rejection::SchemaVersion { found: 2 }
        );
    }

    #[test]
    fn unknown_fields_and_broken_json_are_malformed() {
        let body = report_json(1, None).replace(r#""checks""#, r#""extra": 1, "checks""#);
        assert!(matches!(
            validate(body.as_bytes(), "d", 0),
            Err(Rejection::Malformed(_))
        ));
        assert!(matches!(
            validate(b"{not json", "d", 0),
            Err(Rejection::Malformed(_))
        ));
    }

    #[test]
    fn a_report_naming_another_device_is_refused() {
        let body = report_json(1, Some("dev-2"));
        assert_eq!(
            validate(body.as_bytes(), "dev-1", 0).unwrap_err(),
            Rejection::WrongDevice
        );
    }

    #[test]
    fn a_report_with_an_unparseable_time_is_invalid() {
        let body = report_json(1, None).replace("2026-11-23T10:00:00Z", "yesterday");
        assert!(matches!(
            validate(body.as_bytes(), "d", 0),
            Err(Rejection::Invalid(_))
        ));
    }
}
