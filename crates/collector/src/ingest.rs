//! From request body to committed row: validating a report and group-committing it.
//!
//! Validation follows `docs/protocol.md`: bytes that are not JSON, or JSON that is not a
//! [`Report`], are a 400; fields this collector does not know are ignored; a report of a newer
//! schema version than this collector knows is a retryable 503 (the agent keeps it until the
//! collector is upgraded); an older, unsupported version or values that fail validation are a
//! 422. Stored reports keep their exact bytes.
//!
//! Writes go through a [`Writer`]: request handlers queue validated reports and wait; writer tasks
//! take whatever is queued (up to a batch) and commit it in one transaction. Each request is
//! answered only after its transaction committed, so a 2xx always means "durably stored", while
//! one fsync serves many reports.

use std::sync::Arc;

use posture_schema::{EvidenceMode, Posture, Report, SCHEMA_VERSION, Status};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;
use tokio::sync::{Mutex, OwnedSemaphorePermit, Semaphore, mpsc, oneshot};

use crate::store::{
    FindingSummary, IngestItem, IngestOutcome, Inventory, ReportTrigger, Store, StoreError,
    StoreResult,
};

/// Longest accepted report id.
pub const MAX_REPORT_ID_LEN: usize = 128;

/// Default of `--max-clock-skew`: how far an agent's clock may be off before the device is
/// flagged (10 minutes).
pub const DEFAULT_MAX_CLOCK_SKEW_MS: i64 = 10 * 60 * 1000;

/// The policy the collector judges reports against: the fleet policy an administrator set, or
/// the agent's embedded default when none was set.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FleetPolicy {
    /// `sha256:` digest of the policy text; a report judged with another one is a mismatch.
    pub digest: String,
    /// The ids of the checks the policy enables.
    pub enabled_checks: Vec<String>,
}

impl FleetPolicy {
    /// The facts of a loaded policy.
    #[must_use]
    pub fn of(policy: &posture_policy::Policy) -> Self {
        Self {
            digest: policy.digest.clone(),
            enabled_checks: policy
                .rules
                .enabled_checks()
                .into_iter()
                .map(str::to_owned)
                .collect(),
        }
    }

    /// The agent's embedded default policy.
    #[must_use]
    pub fn embedded() -> Self {
        Self::of(&posture_policy::Policy::embedded())
    }
}

/// What a report is judged with besides its own content.
#[derive(Debug, Clone, Copy)]
pub struct Judging<'a> {
    /// When the collector received it (Unix ms).
    pub received_at: i64,
    /// The agent's clock when it sent the report (its `Date` header), if it said.
    pub agent_clock: Option<i64>,
    /// How far the agent's clock may be off before the device is flagged (ms).
    pub max_clock_skew_ms: i64,
    /// The fleet policy.
    pub policy: &'a FleetPolicy,
}

/// Why a report body was refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum Rejection {
    /// Not JSON, or JSON that is not a report (400).
    #[error("not a report: {0}")]
    Malformed(String),
    /// An older schema version this collector no longer accepts (422).
    #[error("unsupported schema_version {found}; this collector accepts {SCHEMA_VERSION}")]
    SchemaVersion {
        /// The version the report declared.
        found: u64,
    },
    /// A newer schema version than this collector knows (503 with `Retry-After`: keep it and
    /// send it again once the collector is upgraded).
    #[error(
        "schema_version {found} is newer than this collector knows ({SCHEMA_VERSION}); \
         keep the report and retry after the collector is upgraded"
    )]
    TooNew {
        /// The version the report declared.
        found: u64,
    },
    /// A report whose values fail validation (422).
    #[error("invalid report: {0}")]
    Invalid(String),
    /// A report whose evidence was not read from the running machine (422).
    #[error(
        "agent.mode is {0:?}: only reports read from the running machine (`live`) are accepted; \
         reports made with --root or --replay describe another system"
    )]
    NotLive(String),
    /// The report names another device (409).
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
            Self::TooNew { .. } => "schema_version_too_new",
            Self::Invalid(_) => "invalid",
            Self::NotLive(_) => "not_live",
            Self::WrongDevice => "wrong_device",
        }
    }
}

/// Parses, validates and judges a report body sent with `device_id`'s token.
///
/// The collector does not believe the report's own verdict: the posture is derived from the
/// checks, with `unknown` for each check the fleet policy enables that the report lacks, and a
/// report judged with another policy than the fleet's is never compliant.
pub fn validate(
    body: &[u8],
    device_id: &str,
    judging: &Judging<'_>,
) -> Result<IngestItem, Rejection> {
    let received_at = judging.received_at;
    let text = std::str::from_utf8(body)
        .map_err(|e| Rejection::Malformed(format!("body is not UTF-8: {e}")))?;
    // A report of a newer version may have changed the meaning of a field, and deserves "retry
    // after the upgrade", not "malformed"; an older one "unsupported". The version decides even
    // when the body parses as a report, and is looked at alone only when it does not, so that a
    // valid report is parsed once.
    let report = match serde_json::from_str::<Report>(text) {
        Ok(report) => {
            check_version(u64::from(report.schema_version))?;
            report
        }
        Err(err) => {
            #[derive(serde::Deserialize)]
            struct Versioned {
                schema_version: Option<serde_json::Value>,
            }
            let versioned: Versioned =
                serde_json::from_str(text).map_err(|e| Rejection::Malformed(e.to_string()))?;
            if let Some(v) = versioned.schema_version {
                check_version(v.as_u64().ok_or_else(|| {
                    Rejection::Malformed("schema_version is not a non-negative integer".into())
                })?)?;
            }
            return Err(Rejection::Malformed(err.to_string()));
        }
    };

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
    if report.agent.mode != EvidenceMode::Live {
        let mode = match report.agent.mode {
            EvidenceMode::Live => "live",
            EvidenceMode::Root => "root",
            EvidenceMode::Replay => "replay",
        };
        return Err(Rejection::NotLive(mode.to_owned()));
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
    let trigger = report.trigger.as_ref().map(trigger_of).transpose()?;
    let received_day = utc_day(received_at);
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

    let mut findings: Vec<FindingSummary> = report
        .checks
        .iter()
        .map(|f| FindingSummary {
            check_id: column_text(&f.id),
            title: column_text(&f.title),
            clause: column_text(&f.clause),
            status: f.status,
            summary: column_text(&f.summary),
            enforcement: Some(crate::enforcement::Enforcement::of_finding(f)),
        })
        .collect();
    for id in &judging.policy.enabled_checks {
        if !report.checks.iter().any(|f| &f.id == id) {
            findings.push(FindingSummary {
                check_id: id.clone(),
                title: id.clone(),
                clause: String::new(),
                status: Status::Unknown,
                summary: crate::store::MISSING_CHECK_SUMMARY.into(),
                enforcement: Some(crate::enforcement::Enforcement::NotApplicable),
            });
        }
    }
    let policy_mismatch = report.policy.digest != judging.policy.digest;
    let mut posture = Posture::from_statuses(findings.iter().map(|f| f.status));
    if policy_mismatch && posture == Posture::Compliant {
        posture = Posture::Unknown;
    }
    // The agent's clock at sending time, when it said; else only a report dated in the future
    // shows a wrong clock (an old date may be a report that waited in the spool).
    let skew = match judging.agent_clock {
        Some(clock) => clock - received_at,
        None => (generated_at - received_at).max(0),
    };
    let clock_skew_ms = (skew.abs() > judging.max_clock_skew_ms).then_some(skew);

    let d = &report.device;
    Ok(IngestItem {
        device_id: device_id.to_owned(),
        report_id: report.report_id.clone(),
        generated_at,
        received_at,
        received_day,
        agent_version: column_text(&report.agent.version),
        clock_skew_ms,
        machine_id: d.machine_id.as_deref().map(column_text),
        policy_digest: column_text(&report.policy.digest),
        policy_mismatch,
        posture,
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
        findings,
        trigger,
    })
}

/// The report's trigger as stored. Its detection time is the agent's clock: kept to be shown,
/// never to order anything.
pub(crate) fn trigger_of(t: &posture_schema::Trigger) -> Result<ReportTrigger, Rejection> {
    if t.kind.is_empty() || t.kind.len() > MAX_TRIGGER_KIND_LEN {
        return Err(Rejection::Invalid(format!(
            "trigger.kind must be 1 to {MAX_TRIGGER_KIND_LEN} bytes"
        )));
    }
    let detected_at_agent_clock = t
        .detected_at
        .as_deref()
        .map(|at| {
            OffsetDateTime::parse(at, &Rfc3339)
                .ok()
                .and_then(|d| i64::try_from(d.unix_timestamp_nanos() / 1_000_000).ok())
                .ok_or_else(|| {
                    Rejection::Invalid(format!(
                        "trigger.detected_at {at:?} is not an RFC 3339 time"
                    ))
                })
        })
        .transpose()?;
    Ok(ReportTrigger {
        kind: column_text(&t.kind),
        cause: t
            .cause
            .as_deref()
            .map(|c| column_text(&truncate(c, MAX_TRIGGER_CAUSE_LEN))),
        detected_at_agent_clock,
    })
}

/// Longest accepted `trigger.kind`.
const MAX_TRIGGER_KIND_LEN: usize = 64;
/// Longest `trigger.cause` kept in its query column (the stored body keeps all of it).
const MAX_TRIGGER_CAUSE_LEN: usize = 512;

/// At most `max` bytes of `s`, cut at a character boundary.
fn truncate(s: &str, max: usize) -> String {
    let mut end = s.len().min(max);
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    s[..end].to_owned()
}

/// Refuses a schema version other than this collector's: newer is "retry after the upgrade",
/// older is unsupported.
fn check_version(found: u64) -> Result<(), Rejection> {
    match found {
        n if n == u64::from(SCHEMA_VERSION) => Ok(()),
        n if n > u64::from(SCHEMA_VERSION) => Err(Rejection::TooNew { found: n }),
        n => Err(Rejection::SchemaVersion { found: n }),
    }
}

/// The UTC day of a Unix millisecond time, `YYYY-MM-DD`.
fn utc_day(ms: i64) -> String {
    let t = OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
        .unwrap_or(OffsetDateTime::UNIX_EPOCH);
    format!("{:04}-{:02}-{:02}", t.year(), u8::from(t.month()), t.day())
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

impl Drop for Reservation {
    fn drop(&mut self) {
        metrics::gauge!("posture_ingest_queue_reports").decrement(1.0);
    }
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
        metrics::gauge!("posture_ingest_queue_reports").increment(1.0);
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
    // The items move out of their jobs rather than being copied: each holds its report body.
    let (items, replies): (Vec<IngestItem>, Vec<_>) =
        jobs.into_iter().map(|j| (j.item, j.reply)).unzip();
    metrics::histogram!("posture_ingest_batch_size").record(items.len() as f64);
    match ingest_with_retry(store, &items).await {
        Ok(outcomes) => {
            for (reply, outcome) in replies.into_iter().zip(outcomes) {
                // The requester may have gone away; the report is stored all the same.
                let _ = reply.send(Ok(outcome));
            }
        }
        Err(err) if items.len() > 1 && !err.is_temporary() => {
            // One bad report must not sink the others: retry each alone.
            tracing::warn!(error = %err, batch = items.len(), "batch failed; retrying reports one by one");
            for (item, reply) in items.iter().zip(replies) {
                let result = ingest_with_retry(store, std::slice::from_ref(item))
                    .await
                    .and_then(|mut o| {
                        o.pop().ok_or_else(|| {
                            StoreError::Database("the store returned no outcome".into())
                        })
                    });
                let _ = reply.send(result);
            }
        }
        Err(err) => {
            tracing::warn!(error = %err, batch = items.len(), "cannot store reports");
            for reply in replies {
                // A refused value stays the client's error and a server fault stays one; only
                // what may pass is "retry later".
                let answer = match &err {
                    StoreError::InvalidInput(m) => StoreError::InvalidInput(m.clone()),
                    StoreError::Database(m) => StoreError::Database(m.clone()),
                    other => StoreError::Unavailable(other.to_string()),
                };
                let _ = reply.send(Err(answer));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    static EMBEDDED: std::sync::LazyLock<FleetPolicy> =
        std::sync::LazyLock::new(FleetPolicy::embedded);

    /// Received at `ms` (Unix ms), judged with the embedded policy, no `Date` header.
    fn at(ms: i64) -> Judging<'static> {
        Judging {
            received_at: ms,
            agent_clock: None,
            max_clock_skew_ms: DEFAULT_MAX_CLOCK_SKEW_MS,
            policy: &EMBEDDED,
        }
    }

    /// 2026-11-23T10:00:00Z, the `generated_at` of [`report_json`].
    const GENERATED: i64 = 1_795_428_000_000;

    /// A report with these checks (`id:status`), judged with the embedded policy's digest.
    fn with_checks(posture: &str, checks: &[(&str, &str)]) -> String {
        let checks: Vec<String> = checks
            .iter()
            .map(|(id, status)| {
                format!(
                    r#"{{"id": "{id}", "title": "T", "clause": "c", "status": "{status}",
                    "summary": "x", "subjects": [], "evidence": [], "remediation": []}}"#
                )
            })
            .collect();
        let body = report_json(1, None).replace(r#""sha256:0""#, &format!("{:?}", EMBEDDED.digest));
        let start = body.find(r#""checks": ["#).unwrap();
        format!("{}\"checks\": [{}]}}", &body[..start], checks.join(", ")).replace(
            r#""posture": "noncompliant""#,
            &format!(r#""posture": "{posture}""#),
        )
    }

    const ALL_PASS: [(&str, &str); 6] = [
        ("screen_lock", "pass"),
        ("disk_encryption", "pass"),
        ("removable_media", "not_applicable"),
        ("device_access", "pass"),
        ("credentials", "pass"),
        ("password_rules", "pass"),
    ];

    #[test]
    fn an_honest_passing_report_judged_with_the_fleet_policy_is_compliant() {
        let item = validate(
            with_checks("compliant", &ALL_PASS).as_bytes(),
            "d",
            &at(GENERATED),
        )
        .unwrap();
        assert_eq!(item.posture, Posture::Compliant);
        assert!(!item.policy_mismatch);
        assert_eq!(item.clock_skew_ms, None);
    }

    #[test]
    fn the_posture_field_of_a_report_is_not_believed() {
        let checks = [
            ("screen_lock", "fail"),
            ALL_PASS[1],
            ALL_PASS[2],
            ALL_PASS[3],
        ];
        let body = with_checks("compliant", &checks);
        let item = validate(body.as_bytes(), "d", &at(GENERATED)).unwrap();
        assert_eq!(item.posture, Posture::Noncompliant);
    }

    #[test]
    fn a_report_without_checks_is_unknown_never_compliant() {
        let body = with_checks("compliant", &[]);
        let item = validate(body.as_bytes(), "d", &at(GENERATED)).unwrap();
        assert_eq!(item.posture, Posture::Unknown);
        assert_eq!(item.findings.len(), 6, "one unknown per enabled check");
        assert!(item.findings.iter().all(|f| f.status == Status::Unknown));
    }

    #[test]
    fn a_check_the_fleet_policy_enables_but_the_report_lacks_is_unknown() {
        let body = with_checks("compliant", &ALL_PASS[..2]);
        let item = validate(body.as_bytes(), "d", &at(GENERATED)).unwrap();
        assert_eq!(item.posture, Posture::Unknown);
        let missing = item
            .findings
            .iter()
            .find(|f| f.check_id == "removable_media")
            .unwrap();
        assert_eq!(missing.status, Status::Unknown);
        assert!(missing.summary.contains("no result"), "{}", missing.summary);
    }

    #[test]
    fn a_report_judged_with_another_policy_is_a_mismatch_and_never_compliant() {
        let body = with_checks("compliant", &ALL_PASS).replace(&EMBEDDED.digest, "sha256:other");
        let item = validate(body.as_bytes(), "d", &at(GENERATED)).unwrap();
        assert!(item.policy_mismatch);
        assert_eq!(item.posture, Posture::Unknown);
    }

    #[test]
    fn reports_made_with_root_or_replay_are_refused() {
        for mode in ["root", "replay"] {
            let body = with_checks("compliant", &ALL_PASS)
                .replace(r#""mode": "live""#, &format!(r#""mode": "{mode}""#));
            let err = validate(body.as_bytes(), "d", &at(GENERATED)).unwrap_err();
            assert_eq!(err, Rejection::NotLive(mode.into()));
            assert!(err.to_string().contains("live"), "{err}");
        }
    }

    #[test]
    fn clocks_beyond_the_allowed_skew_are_flagged_either_way() {
        let body = with_checks("compliant", &ALL_PASS);
        // Dated 2026-11-23 but received an hour earlier: the agent's clock runs ahead.
        let early = GENERATED - 3_600_000;
        let item = validate(body.as_bytes(), "d", &at(early)).unwrap();
        assert_eq!(item.clock_skew_ms, Some(3_600_000));
        // Within the limit: not flagged.
        let item = validate(body.as_bytes(), "d", &at(GENERATED - 60_000)).unwrap();
        assert_eq!(item.clock_skew_ms, None);
        // Received a day later without a Date header: it may have waited in the spool.
        let item = validate(body.as_bytes(), "d", &at(GENERATED + 86_400_000)).unwrap();
        assert_eq!(item.clock_skew_ms, None);
        // The agent's Date header says its clock is a day behind.
        let judging = Judging {
            agent_clock: Some(GENERATED),
            ..at(GENERATED + 86_400_000)
        };
        let item = validate(body.as_bytes(), "d", &judging).unwrap();
        assert_eq!(item.clock_skew_ms, Some(-86_400_000));
    }

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

    proptest::proptest! {
        /// Whatever an agent (or anyone with a token) sends, validation answers, never panics.
        #[test]
        fn arbitrary_bytes_are_validated_without_panicking(body in proptest::collection::vec(proptest::num::u8::ANY, 0..600)) {
            let _ = validate(&body, "dev-1", &at(0));
        }

        #[test]
        fn a_valid_report_with_any_single_byte_changed_is_validated_without_panicking(
            offset in 0usize..1200,
            byte in proptest::num::u8::ANY,
        ) {
            let mut body = report_json(1, Some("dev-1")).into_bytes();
            let i = offset % body.len();
            body[i] = byte;
            let _ = validate(&body, "dev-1", &at(0));
        }

        #[test]
        fn a_report_id_is_accepted_exactly_when_it_is_1_to_128_bytes_without_nul(id in "\\PC{0,140}") {
            let body = report_json(1, Some("dev-1"))
                .replace(r#""report_id": "r-1""#, &format!("\"report_id\": {}", serde_json::json!(id)));
            let ok = validate(body.as_bytes(), "dev-1", &at(0)).is_ok();
            proptest::prop_assert_eq!(ok, (1..=MAX_REPORT_ID_LEN).contains(&id.len()) && !id.contains('\0'));
        }
    }

    #[test]
    fn a_valid_report_becomes_an_ingest_item_with_its_exact_bytes() {
        let body = report_json(1, Some("dev-1"));
        let item = validate(body.as_bytes(), "dev-1", &at(5)).unwrap();
        assert_eq!(item.body, body);
        assert_eq!(
            item.received_day, "1970-01-01",
            "the collector's day, not the agent's"
        );
        assert_eq!(item.generated_at, 1_795_428_000_000);
        assert_eq!(item.findings[0].status, posture_schema::Status::Fail);
        assert_eq!(item.inventory.users.as_deref(), Some("alice"));
    }

    #[test]
    fn a_newer_schema_version_is_too_new_and_an_older_one_unsupported_not_malformed() {
        let body = report_json(2, None).replace(r#""checks""#, r#""new_field": 1, "checks""#);
        assert_eq!(
            validate(body.as_bytes(), "d", &at(0)).unwrap_err(),
            Rejection::TooNew { found: 2 }
        );
        let body = report_json(0, None);
        assert_eq!(
            validate(body.as_bytes(), "d", &at(0)).unwrap_err(),
            Rejection::SchemaVersion { found: 0 }
        );
    }

    #[test]
    fn fields_this_collector_does_not_know_are_ignored_at_every_level() {
        let body = report_json(1, Some("dev-1"))
            .replace(r#""report_id""#, r#""top_extra": {"a": [1]}, "report_id""#)
            .replace(r#""mode": "live""#, r#""mode": "live", "agent_extra": 1"#)
            .replace(r#""kernel": null"#, r#""kernel": null, "os_extra": 1"#)
            .replace(r#""serial": null"#, r#""serial": null, "hw_extra": 1"#)
            .replace(r#""mdm": null"#, r#""mdm": null, "device_extra": 1"#)
            .replace(
                r#""security_contact": "s""#,
                r#""security_contact": "s", "p_extra": 1"#,
            )
            .replace(
                r#""remediation": []"#,
                r#""remediation": [], "finding_extra": 1"#,
            );
        assert_eq!(body.matches("_extra").count(), 7, "{body}");
        let item = validate(body.as_bytes(), "dev-1", &at(5)).unwrap();
        assert_eq!(
            item.body, body,
            "stored as received, unknown fields included"
        );
    }

    #[test]
    fn a_trigger_is_kept_with_its_agent_clock_time_and_an_over_long_cause_is_cut_for_its_column() {
        let cause = "é".repeat(400);
        let body = report_json(1, Some("dev-1")).replace(
            r#""checks""#,
            &format!(
                r#""trigger": {{"kind": "change", "cause": "{cause}",
                "detected_at": "2026-11-23T09:59:58.5Z"}}, "checks""#
            ),
        );
        let item = validate(body.as_bytes(), "dev-1", &at(5)).unwrap();
        let trigger = item.trigger.unwrap();
        assert_eq!(trigger.kind, "change");
        assert_eq!(trigger.detected_at_agent_clock, Some(GENERATED - 1_500));
        let kept = trigger.cause.unwrap();
        assert_eq!(kept.len(), MAX_TRIGGER_CAUSE_LEN);
        assert!(cause.starts_with(&kept));
        assert_eq!(item.body, body, "the stored body keeps all of it");
        let none = validate(report_json(1, None).as_bytes(), "d", &at(5)).unwrap();
        assert_eq!(none.trigger, None);
    }

    #[test]
    fn broken_json_is_malformed() {
        assert!(matches!(
            validate(b"{not json", "d", &at(0)),
            Err(Rejection::Malformed(_))
        ));
    }

    #[test]
    fn a_report_naming_another_device_is_refused() {
        let body = report_json(1, Some("dev-2"));
        assert_eq!(
            validate(body.as_bytes(), "dev-1", &at(0)).unwrap_err(),
            Rejection::WrongDevice
        );
    }

    #[test]
    fn a_report_with_an_unparseable_time_is_invalid() {
        let body = report_json(1, None).replace("2026-11-23T10:00:00Z", "yesterday");
        assert!(matches!(
            validate(body.as_bytes(), "d", &at(0)),
            Err(Rejection::Invalid(_))
        ));
    }
}
