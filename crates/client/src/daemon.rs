//! The scheduler of `posture run`: checks at start, every interval (±10%), and when the
//! endpoint asks; every report spooled before delivery; delivery and check-in as separate tasks.
//!
//! The check itself is the caller's ([`CheckFn`]): this crate never decides a verdict. It runs
//! on tokio's blocking pool so the scheduler stays responsive, and is abandoned (not awaited) on
//! shutdown. Between ticks every task is parked on a timer or a notification: the daemon uses no
//! CPU while idle.

use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use posture_schema::Report;
use tokio::sync::{Notify, watch};

use crate::backoff::{Backoff, jittered};
use crate::credentials::{Credentials, Token};
use crate::delivery::{Deliverer, RetryPolicy, SharedSpool, stopped};
use crate::fleet_policy::FleetPolicySlot;
use crate::live::{CheckKind, Live, LivePlan, Trigger, Verdicts, should_send};
use crate::spool::{SpoolError, SpoolLimits};
use crate::status::{StatusBook, now_rfc3339, rfc3339};
use crate::transport::{Checkin, Transport};

/// Produces one report. Called on a blocking thread.
pub type CheckFn = Arc<dyn Fn() -> Result<Report, String> + Send + Sync>;

/// Name of the spool directory inside the state directory.
pub const SPOOL_DIR: &str = "spool";

/// How the daemon runs.
#[derive(Debug, Clone)]
pub struct DaemonOptions {
    /// State directory (spool, status).
    pub state_dir: PathBuf,
    /// Time between scheduled checks, before jitter.
    pub interval: Duration,
    /// Time between check-ins.
    pub checkin_interval: Duration,
    /// Spool bounds.
    pub spool_limits: SpoolLimits,
    /// Retry timing.
    pub retry: RetryPolicy,
}

/// Why a check runs, which decides whether its report is sent unchanged and what its
/// `trigger` says.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Reason {
    /// The first check or the regular schedule.
    Schedule,
    /// The endpoint asked for a check, or the fleet policy changed.
    CheckNow(Trigger),
    /// A watched change, after its debounce.
    Change,
}

impl Reason {
    fn kind(&self) -> CheckKind {
        match self {
            Self::Schedule | Self::CheckNow(_) => CheckKind::Scheduled,
            Self::Change => CheckKind::Triggered,
        }
    }

    /// The report's `trigger`: the check-now request, or the first watched change of the burst
    /// this check settles (`pending`). A scheduled check that settles a pending change is the
    /// first report to reflect it, so it says so; one that settles none carries no trigger.
    fn report_trigger(&self, pending: Option<&Trigger>) -> Option<posture_schema::Trigger> {
        let (kind, trigger) = match (self, pending) {
            (Self::CheckNow(t), _) => (posture_schema::Trigger::CHECK_NOW, t),
            (Self::Schedule | Self::Change, Some(t)) => (posture_schema::Trigger::CHANGE, t),
            (Self::Schedule, None) => return None,
            // A re-check always settles the burst that made it due; without its first change
            // (which the plan always keeps), still say why the report was made.
            (Self::Change, None) => {
                return Some(posture_schema::Trigger {
                    kind: posture_schema::Trigger::CHANGE.to_owned(),
                    cause: None,
                    detected_at: None,
                });
            }
        };
        Some(posture_schema::Trigger {
            kind: kind.to_owned(),
            cause: Some(trigger.cause.clone()),
            detected_at: Some(rfc3339(trigger.detected_at)),
        })
    }
}

/// The cause of the pending check-now request, left by whoever asked for it (the check-in
/// when the fleet policy changes) for the check loop, which notes it in the report.
#[derive(Debug, Clone, Default)]
struct CheckNowCause(Arc<Mutex<Option<Trigger>>>);

impl CheckNowCause {
    fn put(&self, cause: &str) {
        let mut slot = self
            .0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        // The first request is the one the coming check answers first; keep its time.
        if slot.is_none() {
            *slot = Some(Trigger {
                cause: cause.to_owned(),
                detected_at: std::time::SystemTime::now(),
            });
        }
    }

    /// The cause left for the request just noticed, or the collector's request when none was
    /// left (the reply to a delivered report asks without a separate cause).
    fn take(&self) -> Trigger {
        self.0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .take()
            .unwrap_or_else(|| Trigger {
                cause: CHECK_NOW_REQUESTED.to_owned(),
                detected_at: std::time::SystemTime::now(),
            })
    }
}

/// The cause of a check the collector asked for.
const CHECK_NOW_REQUESTED: &str = "the collector asked for a check";
/// The cause of a check after the fleet policy changed.
const CHECK_NOW_POLICY: &str = "the fleet policy changed";

/// Whether the check loop makes progress, for the service manager's watchdog: the watchdog is
/// fed only while no check has been running longer than a cycle may take, so a daemon wedged in
/// a check is restarted instead of being seen as healthy because a timer still ticks.
#[derive(Debug, Clone, Default)]
pub struct Progress {
    /// When the check in progress started; `None` between checks.
    running_since: Arc<Mutex<Option<Instant>>>,
}

impl Progress {
    fn set(&self, value: Option<Instant>) {
        *self
            .running_since
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = value;
    }

    /// How long the check in progress has been running, if one is.
    #[must_use]
    pub fn running_for(&self) -> Option<Duration> {
        self.running_since
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .map(|t| t.elapsed())
    }

    /// True unless a check has been running for longer than `cycle_limit`.
    #[must_use]
    pub fn is_progressing(&self, cycle_limit: Duration) -> bool {
        self.running_for().is_none_or(|d| d <= cycle_limit)
    }
}

/// The daemon, ready to run.
pub struct Daemon {
    options: DaemonOptions,
    spool: Arc<SharedSpool>,
    status: Arc<StatusBook>,
    transport: Option<Transport>,
    credentials: Option<Credentials>,
    check: CheckFn,
    progress: Progress,
    live: Option<Live>,
    fleet_policy: Option<FleetPolicySlot>,
    /// Why changes are noticed on the schedule only, when there is no [`Live`].
    schedule_only: Option<String>,
}

impl std::fmt::Debug for Daemon {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Daemon")
            .field("options", &self.options)
            .finish_non_exhaustive()
    }
}

impl Daemon {
    /// Prepares the daemon: opens (and locks) the spool and the status.
    ///
    /// `transport` is `None` when no endpoint is configured: reports are then only spooled.
    ///
    /// # Errors
    /// When another process holds the spool.
    pub fn new(
        options: DaemonOptions,
        transport: Option<Transport>,
        credentials: Option<Credentials>,
        check: CheckFn,
    ) -> Result<Self, SpoolError> {
        // Owner-only (Unix) or SYSTEM and Administrators only (Windows): the status and the
        // spooled reports describe the device and its users.
        if let Err(e) = crate::fsutil::create_private_dir(&options.state_dir) {
            tracing::error!(error = %e, "cannot create the state directory with private permissions");
        }
        let spool = SharedSpool::open(&options.state_dir.join(SPOOL_DIR), options.spool_limits)?;
        let status = Arc::new(StatusBook::open(&options.state_dir));
        Ok(Self {
            options,
            spool,
            status,
            transport,
            credentials,
            check,
            progress: Progress::default(),
            live: None,
            fleet_policy: None,
            schedule_only: None,
        })
    }

    /// Whether the check loop makes progress (for a watchdog).
    #[must_use]
    pub fn progress(&self) -> Progress {
        self.progress.clone()
    }

    /// Also re-checks when something the last check read changes (see [`crate::live`]).
    #[must_use]
    pub fn with_live(mut self, live: Live) -> Self {
        self.live = Some(live);
        self.schedule_only = None;
        self
    }

    /// Checks on the schedule only, for `reason` (shown by `posture status` as the watch mode).
    #[must_use]
    pub fn schedule_only(mut self, reason: impl Into<String>) -> Self {
        self.live = None;
        self.schedule_only = Some(reason.into());
        self
    }

    /// Check-in updates `slot` with the fleet policy the collector hands out (the check
    /// function is expected to judge with it), and asks for a fresh check when it changes.
    #[must_use]
    pub fn with_fleet_policy(mut self, slot: FleetPolicySlot) -> Self {
        self.fleet_policy = Some(slot);
        self
    }

    /// One cycle: check, spool, then send everything spooled (one attempt, no retry wait).
    /// Returns the delivery outcome, or `None` when no endpoint is configured.
    pub async fn run_once(self) -> Option<crate::delivery::Drained> {
        let wake = Notify::new();
        let device_id = self.credentials.as_ref().and_then(|c| c.device_id.clone());
        let run = self.check.clone();
        match tokio::task::spawn_blocking(move || run()).await {
            // Spooled without a device id: delivery stamps the current one when it sends.
            Ok(Ok(report)) => record(&report, &self.spool, &self.status, &wake),
            Ok(Err(message)) => {
                tracing::error!(error = %message, "the check failed");
                self.status
                    .update(|s| s.last_check_error = Some(message.clone()));
            }
            Err(e) => tracing::error!(error = %e, "the check panicked"),
        }
        let transport = self.transport?;
        let token = self.credentials.as_ref().and_then(|c| c.token.clone());
        let mut deliverer = Deliverer::new(
            self.spool.clone(),
            transport,
            token,
            self.options.retry,
            self.status.clone(),
            Arc::new(Notify::new()),
        )
        .with_device_id(device_id);
        Some(deliverer.drain().await)
    }

    /// Runs until `shutdown` turns true.
    pub async fn run(self, shutdown: watch::Receiver<bool>) {
        let watch_mode = match (&self.live, &self.schedule_only) {
            (Some(l), _) => l.mode.clone(),
            (None, Some(reason)) => format!("schedule only: {reason}"),
            (None, None) => "schedule only".to_owned(),
        };
        self.status.update(|s| {
            s.daemon_started_at = Some(now_rfc3339());
            s.daemon_pid = Some(std::process::id());
            s.watch_mode = Some(watch_mode);
        });
        let wake = Arc::new(Notify::new());
        let check_now = Arc::new(Notify::new());
        let check_now_cause = CheckNowCause::default();
        let token: Option<Token> = self.credentials.as_ref().and_then(|c| c.token.clone());
        let device_id = self.credentials.as_ref().and_then(|c| c.device_id.clone());
        let mut tasks = Vec::new();
        if let Some(transport) = &self.transport {
            let deliverer = Deliverer::new(
                self.spool.clone(),
                transport.clone(),
                token.clone(),
                self.options.retry,
                self.status.clone(),
                check_now.clone(),
            )
            .with_device_id(device_id);
            tasks.push(tokio::spawn(deliverer.run(wake.clone(), shutdown.clone())));
            tasks.push(tokio::spawn(checkin_loop(
                transport.clone(),
                token,
                self.fleet_policy.clone(),
                self.options.checkin_interval,
                self.options.interval,
                check_now.clone(),
                check_now_cause.clone(),
                shutdown.clone(),
            )));
        } else {
            tracing::warn!("no endpoint configured: reports are spooled but not sent");
        }
        check_loop(
            &self.options,
            &self.spool,
            &self.status,
            &self.check,
            &wake,
            &check_now,
            &check_now_cause,
            &self.progress,
            self.live,
            shutdown,
        )
        .await;
        for task in tasks {
            // Each task watches the same shutdown signal and returns promptly.
            let _ = tokio::time::timeout(Duration::from_secs(3), task).await;
        }
        tracing::info!("stopped");
    }
}

#[allow(clippy::too_many_arguments)]
async fn check_loop(
    options: &DaemonOptions,
    spool: &Arc<SharedSpool>,
    status: &Arc<StatusBook>,
    check: &CheckFn,
    wake: &Arc<Notify>,
    check_now: &Arc<Notify>,
    check_now_cause: &CheckNowCause,
    progress: &Progress,
    mut live: Option<Live>,
    mut shutdown: watch::Receiver<bool>,
) {
    let mut rng = fastrand::Rng::new();
    let mut plan = LivePlan::new(live.as_ref().map(|l| l.settings).unwrap_or_default());
    let mut last_sent: Option<Verdicts> = None;
    let mut reason = Reason::Schedule;
    let mut next_scheduled = tokio::time::Instant::now();
    loop {
        let kind = reason.kind();
        let cause = plan.check_started(std::time::Instant::now());
        let trigger = reason.report_trigger(cause.as_ref());
        let run = check.clone();
        progress.set(Some(Instant::now()));
        let job = tokio::task::spawn_blocking(move || run());
        let outcome = tokio::select! {
            r = job => {
                progress.set(None);
                r
            }
            () = stopped(&mut shutdown) => {
                tracing::info!("shutting down; abandoning the check in progress");
                return;
            }
        };
        match outcome {
            // Spooled without a device id: delivery stamps the current one when it sends.
            Ok(Ok(mut report)) => {
                report.trigger = trigger;
                let verdicts = Verdicts::of(&report);
                let send = should_send(kind, last_sent.as_ref(), &verdicts);
                if send {
                    record(&report, spool, status, wake);
                    last_sent = Some(verdicts);
                } else {
                    tracing::info!(
                        report_id = %report.report_id,
                        "verdicts unchanged since the last report; not sent before the regular interval"
                    );
                    status.update(|s| {
                        s.last_check_at = Some(now_rfc3339());
                        s.last_posture = Some(report.posture.as_str().to_owned());
                        s.last_check_error = None;
                    });
                }
                if kind == CheckKind::Triggered {
                    let what = cause.map_or_else(|| "a watched change".to_owned(), |t| t.cause);
                    let outcome = if send {
                        "verdicts changed, report sent"
                    } else {
                        "verdicts unchanged, not sent"
                    };
                    status.update(|s| {
                        s.last_trigger = Some(format!("{what} ({outcome})"));
                        s.last_trigger_at = Some(now_rfc3339());
                    });
                }
            }
            Ok(Err(message)) => {
                tracing::error!(error = %message, "the check failed");
                status.update(|s| s.last_check_error = Some(message.clone()));
            }
            Err(e) => {
                tracing::error!(error = %e, "the check panicked");
                status.update(|s| s.last_check_error = Some(format!("the check panicked: {e}")));
            }
        }
        if let Some(l) = live.as_mut()
            && let Some(reads) = l.reads.take()
        {
            let mode = l.watcher.watch(&crate::live::targets::plan(&reads));
            status.update(|s| s.watch_mode = Some(mode));
        }
        // Re-checks on change do not move the schedule, so they never starve it.
        if kind == CheckKind::Scheduled {
            let wait = jittered(options.interval, &mut rng);
            tracing::debug!(next_check_in_s = wait.as_secs(), "waiting");
            next_scheduled = tokio::time::Instant::now() + wait;
        }
        reason = loop {
            let due = plan.due().map(tokio::time::Instant::from_std);
            tokio::select! {
                () = tokio::time::sleep_until(next_scheduled) => break Reason::Schedule,
                () = check_now.notified() => {
                    let request = check_now_cause.take();
                    tracing::info!(cause = %request.cause, "running a check the endpoint asked for");
                    break Reason::CheckNow(request);
                }
                trigger = next_trigger(&mut live) => {
                    plan.changed(std::time::Instant::now(), &trigger);
                }
                () = sleep_until_due(due) => {
                    tracing::info!("re-checking after a watched change");
                    break Reason::Change;
                }
                () = stopped(&mut shutdown) => return,
            }
        };
    }
}

/// The next change from the watcher; never, without one.
async fn next_trigger(live: &mut Option<Live>) -> crate::live::Trigger {
    match live {
        Some(l) => match l.triggers.recv().await {
            Some(t) => t,
            None => std::future::pending().await,
        },
        None => std::future::pending().await,
    }
}

async fn sleep_until_due(due: Option<tokio::time::Instant>) {
    match due {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

/// Logs the verdict, spools the report and wakes delivery. A spool failure is logged and
/// recorded in the status; the daemon carries on.
fn record(report: &Report, spool: &SharedSpool, status: &StatusBook, wake: &Notify) {
    let posture = report.posture.as_str();
    let failing: Vec<&str> = report
        .checks
        .iter()
        .filter(|c| c.status != posture_schema::Status::Pass)
        .map(|c| c.id.as_str())
        .collect();
    tracing::info!(
        report_id = %report.report_id,
        posture,
        not_passing = %failing.join(","),
        "check complete: {posture}"
    );
    let spooled = serde_json::to_vec(report)
        .map_err(|e| e.to_string())
        .and_then(|body| spool.with(|s| s.push(&body)).map_err(|e| e.to_string()));
    let error = match spooled {
        Ok(pushed) => {
            if !pushed.dropped.is_empty() {
                let n = pushed.dropped.len() as u64;
                status.update(|s| s.dropped_total += n);
            }
            wake.notify_one();
            None
        }
        Err(message) => {
            tracing::error!(report_id = %report.report_id, error = %message, "cannot spool the report; it will not be delivered");
            Some(format!(
                "cannot spool report {}: {message}",
                report.report_id
            ))
        }
    };
    let footprint = crate::footprint::measure();
    if let Some(f) = footprint {
        tracing::debug!(
            rss_bytes = f.rss_bytes,
            cpu_ms = f.cpu_ms,
            "daemon footprint after the check"
        );
    }
    status.update(|s| {
        s.last_check_at = Some(now_rfc3339());
        s.last_posture = Some(posture.to_owned());
        s.last_report_id = Some(report.report_id.clone());
        s.last_check_error = error;
        s.daemon_rss_bytes = footprint.map(|f| f.rss_bytes);
        s.daemon_cpu_ms = footprint.map(|f| f.cpu_ms);
    });
}

#[allow(clippy::too_many_arguments)]
async fn checkin_loop(
    transport: Transport,
    token: Option<Token>,
    fleet_policy: Option<FleetPolicySlot>,
    every: Duration,
    report_interval: Duration,
    check_now: Arc<Notify>,
    check_now_cause: CheckNowCause,
    mut shutdown: watch::Receiver<bool>,
) {
    let mut wait = every;
    let mut failures = Backoff::new(every, report_interval.max(every));
    let mut last_request: Option<String> = None;
    loop {
        tokio::select! {
            () = tokio::time::sleep(wait) => {}
            () = stopped(&mut shutdown) => return,
        }
        let result = tokio::select! {
            r = transport.checkin(token.as_ref()) => r,
            () = stopped(&mut shutdown) => return,
        };
        match result {
            Ok(Checkin::Reply(reply)) => {
                failures.reset();
                wait = every;
                if let Some(slot) = &fleet_policy
                    && slot.offer(reply.policy.clone())
                {
                    tracing::info!("check-in: the fleet policy changed; judging the device again");
                    check_now_cause.put(CHECK_NOW_POLICY);
                    check_now.notify_one();
                }
                // The request stays up until our next report reaches the collector; act on each
                // request once, not at every check-in.
                if reply.check_now
                    && (reply.requested_at.is_none() || reply.requested_at != last_request)
                {
                    tracing::info!(requested_at = ?reply.requested_at, "check-in: the endpoint asked for a check now");
                    last_request.clone_from(&reply.requested_at);
                    check_now_cause.put(CHECK_NOW_REQUESTED);
                    check_now.notify_one();
                }
            }
            Ok(Checkin::Unsupported) => {
                tracing::debug!(
                    "the endpoint has no check-in; checking in once per report interval"
                );
                wait = report_interval;
            }
            Err(e) => {
                wait = failures.next_delay();
                tracing::debug!(error = %e, retry_in_s = wait.as_secs(), "check-in failed");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn change(cause: &str) -> Trigger {
        Trigger {
            cause: cause.to_owned(),
            detected_at: std::time::UNIX_EPOCH + Duration::from_secs(1_795_428_000),
        }
    }

    #[test]
    fn a_scheduled_report_settling_no_change_carries_no_trigger() {
        assert_eq!(Reason::Schedule.report_trigger(None), None);
    }

    #[test]
    fn a_re_check_after_a_change_says_what_changed_and_when_it_was_seen() {
        let t = Reason::Change
            .report_trigger(Some(&change("/etc/fstab changed")))
            .unwrap();
        assert_eq!(t.kind, posture_schema::Trigger::CHANGE);
        assert_eq!(t.cause.as_deref(), Some("/etc/fstab changed"));
        assert_eq!(t.detected_at.as_deref(), Some("2026-11-23T10:00:00Z"));
    }

    #[test]
    fn a_scheduled_check_that_settles_a_pending_change_is_the_report_of_that_change() {
        let t = Reason::Schedule
            .report_trigger(Some(&change("mount table changed")))
            .unwrap();
        assert_eq!(t.kind, posture_schema::Trigger::CHANGE);
        assert_eq!(t.cause.as_deref(), Some("mount table changed"));
    }

    #[test]
    fn a_check_now_is_reported_as_check_now_even_with_a_change_pending() {
        let t = Reason::CheckNow(change(CHECK_NOW_POLICY))
            .report_trigger(Some(&change("/etc/fstab changed")))
            .unwrap();
        assert_eq!(t.kind, posture_schema::Trigger::CHECK_NOW);
        assert_eq!(t.cause.as_deref(), Some(CHECK_NOW_POLICY));
        assert_eq!(t.detected_at.as_deref(), Some("2026-11-23T10:00:00Z"));
        assert_eq!(Reason::CheckNow(change("x")).kind(), CheckKind::Scheduled);
        assert_eq!(Reason::Change.kind(), CheckKind::Triggered);
    }

    #[test]
    fn a_check_now_keeps_the_first_cause_and_time_until_the_check_takes_it() {
        let slot = CheckNowCause::default();
        slot.put(CHECK_NOW_POLICY);
        slot.put(CHECK_NOW_REQUESTED);
        assert_eq!(slot.take().cause, CHECK_NOW_POLICY);
        // Asked by the reply to a delivered report, which leaves no cause.
        assert_eq!(slot.take().cause, CHECK_NOW_REQUESTED);
    }

    #[test]
    fn progress_holds_between_checks_and_while_a_check_is_within_its_cycle_limit_only() {
        let progress = Progress::default();
        assert!(progress.is_progressing(Duration::from_secs(1)));
        let Some(ten_seconds_ago) = Instant::now().checked_sub(Duration::from_secs(10)) else {
            return; // a clock too close to its origin to go back ten seconds
        };
        progress.set(Some(ten_seconds_ago));
        assert!(!progress.is_progressing(Duration::from_secs(5)));
        assert!(progress.is_progressing(Duration::from_secs(3600)));
        progress.set(None);
        assert!(progress.is_progressing(Duration::from_secs(5)));
    }
}
