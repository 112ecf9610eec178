//! When to re-check after a change, and whether the result is worth sending: pure decisions,
//! tested without a clock or a watcher.
//!
//! A change starts a debounce: the re-check runs `debounce` after the first change of a burst,
//! so an editor's write-rename-chmod is one check, not three. Re-checks are rate-limited to one
//! per `min_gap` (measured from the start of the previous check of any kind). The regular
//! schedule is not moved by re-checks, so a stream of changes never starves it.

use std::time::{Duration, Instant};

use posture_schema::{Report, Status};

use super::Trigger;

/// Default quiet time between a change and the re-check it causes.
pub const DEFAULT_DEBOUNCE: Duration = Duration::from_secs(2);
/// Default shortest time between two checks started by changes.
pub const DEFAULT_MIN_GAP: Duration = Duration::from_secs(10);
/// Bounds of `watch_debounce`.
pub const DEBOUNCE_BOUNDS: (Duration, Duration) =
    (Duration::from_millis(100), Duration::from_secs(60));
/// Bounds of `watch_min_gap`.
pub const MIN_GAP_BOUNDS: (Duration, Duration) =
    (Duration::from_secs(1), Duration::from_secs(3600));

/// How eagerly changes cause checks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LiveSettings {
    /// Time from the first change of a burst to the re-check.
    pub debounce: Duration,
    /// Shortest time between the start of any check and a re-check caused by a change.
    pub min_gap: Duration,
}

impl Default for LiveSettings {
    fn default() -> Self {
        Self {
            debounce: DEFAULT_DEBOUNCE,
            min_gap: DEFAULT_MIN_GAP,
        }
    }
}

/// Why a check ran: decides whether an unchanged verdict is sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CheckKind {
    /// The first check, the regular schedule, or the endpoint's request: always sent.
    Scheduled,
    /// A watched change: sent only when the verdicts differ from the previous report.
    Triggered,
}

/// The pending re-check, if any.
#[derive(Debug, Clone, Default)]
pub struct LivePlan {
    settings: LiveSettings,
    first_change: Option<Instant>,
    first: Option<Trigger>,
    last_check_start: Option<Instant>,
}

impl LivePlan {
    /// A plan with nothing pending.
    #[must_use]
    pub fn new(settings: LiveSettings) -> Self {
        Self {
            settings,
            ..Self::default()
        }
    }

    /// A watched thing changed at `now`. The first change of a burst sets the debounce and is
    /// the one the re-check reports; later ones join it.
    pub fn changed(&mut self, now: Instant, trigger: &Trigger) {
        if self.first_change.is_none() {
            self.first_change = Some(now);
            self.first = Some(trigger.clone());
        }
    }

    /// When the re-check should start, or `None` when no change is pending.
    #[must_use]
    pub fn due(&self) -> Option<Instant> {
        let first = self.first_change?;
        let debounced = first + self.settings.debounce;
        Some(match self.last_check_start {
            Some(last) => debounced.max(last + self.settings.min_gap),
            None => debounced,
        })
    }

    /// A check of any kind started at `now`: it sees every change made before, so pending
    /// changes are settled. Returns the first change of the pending burst, if there was one.
    pub fn check_started(&mut self, now: Instant) -> Option<Trigger> {
        self.last_check_start = Some(now);
        self.first_change = None;
        self.first.take()
    }
}

/// What a report decided, without its evidence and timestamps: two reports with the same
/// verdicts have equal fingerprints.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verdicts(Vec<(String, Status, Vec<SubjectVerdict>)>);

/// A subject's kind, name and verdict.
type SubjectVerdict = (String, String, Status);

impl Verdicts {
    /// The per-check and per-subject verdicts of a report.
    #[must_use]
    pub fn of(report: &Report) -> Self {
        let mut checks: Vec<_> = report
            .checks
            .iter()
            .map(|c| {
                let mut subjects: Vec<_> = c
                    .subjects
                    .iter()
                    .map(|s| (s.kind.clone(), s.name.clone(), s.status))
                    .collect();
                subjects.sort_by(|a, b| (&a.0, &a.1).cmp(&(&b.0, &b.1)));
                (c.id.clone(), c.status, subjects)
            })
            .collect();
        checks.sort_by(|a, b| a.0.cmp(&b.0));
        Self(checks)
    }
}

/// Whether a report goes to the spool: always for a scheduled check; for a triggered one only
/// when its verdicts differ from the last report sent (an unchanged verdict waits for the
/// regular interval).
#[must_use]
pub fn should_send(kind: CheckKind, last_sent: Option<&Verdicts>, current: &Verdicts) -> bool {
    match kind {
        CheckKind::Scheduled => true,
        CheckKind::Triggered => last_sent != Some(current),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secs(n: u64) -> Duration {
        Duration::from_secs(n)
    }

    fn change(cause: &str) -> Trigger {
        Trigger {
            cause: cause.to_owned(),
            detected_at: std::time::UNIX_EPOCH,
        }
    }

    #[test]
    fn nothing_is_due_without_a_change() {
        let plan = LivePlan::new(LiveSettings::default());
        assert_eq!(plan.due(), None);
    }

    #[test]
    fn a_change_is_checked_after_the_debounce() {
        let t0 = Instant::now();
        let mut plan = LivePlan::new(LiveSettings::default());
        plan.check_started(t0);
        plan.changed(t0 + secs(60), &change("/etc/fstab changed"));
        assert_eq!(plan.due(), Some(t0 + secs(62)));
    }

    #[test]
    fn a_burst_of_changes_is_one_check_timed_from_the_first() {
        let t0 = Instant::now();
        let mut plan = LivePlan::new(LiveSettings::default());
        plan.check_started(t0);
        plan.changed(t0 + secs(60), &change("first"));
        plan.changed(t0 + secs(61), &change("second"));
        assert_eq!(plan.due(), Some(t0 + secs(62)));
        assert_eq!(
            plan.check_started(t0 + secs(62))
                .map(|t| t.cause)
                .as_deref(),
            Some("first")
        );
        assert_eq!(plan.due(), None);
    }

    #[test]
    fn re_checks_are_rate_limited_from_the_previous_check() {
        let t0 = Instant::now();
        let mut plan = LivePlan::new(LiveSettings::default());
        plan.check_started(t0);
        plan.changed(t0 + secs(1), &change("x"));
        // Debounce says t0+3 s, the gap says t0+10 s.
        assert_eq!(plan.due(), Some(t0 + secs(10)));
    }

    #[test]
    fn a_change_during_a_check_starts_a_new_debounce() {
        let t0 = Instant::now();
        let mut plan = LivePlan::new(LiveSettings {
            debounce: secs(2),
            min_gap: secs(1),
        });
        plan.check_started(t0);
        plan.changed(t0 + secs(5), &change("a"));
        plan.check_started(t0 + secs(7));
        plan.changed(t0 + secs(7), &change("b"));
        assert_eq!(plan.due(), Some(t0 + secs(9)));
    }

    fn report(statuses: &[(&str, Status)]) -> Report {
        use posture_schema::{Agent, Device, EvidenceMode, Finding, PolicyInfo, Posture};
        Report {
            schema_version: posture_schema::SCHEMA_VERSION,
            report_id: "r".into(),
            device_id: None,
            generated_at: "2026-11-23T10:00:00Z".into(),
            agent: Agent {
                name: "posture".into(),
                version: "0.1.0".into(),
                mode: EvidenceMode::Root,
            },
            posture: Posture::Compliant,
            device: Device::default(),
            policy: PolicyInfo {
                name: "Device Policy".into(),
                version: "1".into(),
                digest: "sha256:00".into(),
                source: "embedded".into(),
                organisation: "Example".into(),
                security_contact: "security@example.com".into(),
            },
            checks: statuses
                .iter()
                .map(|(id, status)| Finding {
                    id: (*id).to_owned(),
                    title: String::new(),
                    clause: String::new(),
                    status: *status,
                    summary: String::new(),
                    subjects: Vec::new(),
                    evidence: Vec::new(),
                    remediation: Vec::new(),
                })
                .collect(),
            trigger: None,
        }
    }

    #[test]
    fn an_unchanged_verdict_from_a_change_is_not_sent_but_a_scheduled_one_is() {
        let before = Verdicts::of(&report(&[("screen_lock", Status::Pass)]));
        let same = Verdicts::of(&report(&[("screen_lock", Status::Pass)]));
        assert!(!should_send(CheckKind::Triggered, Some(&before), &same));
        assert!(should_send(CheckKind::Scheduled, Some(&before), &same));
    }

    #[test]
    fn a_changed_verdict_from_a_change_is_sent_at_once() {
        let before = Verdicts::of(&report(&[("screen_lock", Status::Pass)]));
        let after = Verdicts::of(&report(&[("screen_lock", Status::Fail)]));
        assert!(should_send(CheckKind::Triggered, Some(&before), &after));
        assert!(should_send(CheckKind::Triggered, None, &after));
    }

    #[test]
    fn a_new_failing_subject_is_a_changed_verdict_even_when_the_check_still_fails() {
        let mut one = report(&[("removable_media", Status::Fail)]);
        let mut two = one.clone();
        let subject = |name: &str| posture_schema::Subject {
            kind: "device".to_owned(),
            name: name.to_owned(),
            status: Status::Fail,
            summary: String::new(),
            settings: Vec::new(),
            enforced: None,
        };
        one.checks[0].subjects = vec![subject("/dev/sdb")];
        two.checks[0].subjects = vec![subject("/dev/sdb"), subject("/dev/sdc")];
        assert_ne!(Verdicts::of(&one), Verdicts::of(&two));
    }
}
