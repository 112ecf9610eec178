//! Whether management enforces a check's result on a device: one word per finding, derived by
//! the collector from the per-setting results of the report, stored with the latest finding,
//! counted for the fleet summary ("compliant, 62% enforced"), filtered on and exported.
//!
//! # The rule
//!
//! Each subject of a finding that lists settings gets one value from its settings' `enforced`
//! (`true`, `false`, `"unknown"`) with the fold below. The subject's own `enforced` is read
//! only as the agent's check-specific knowledge, and only where the settings back it:
//!
//! * it can lower the value (a subject the agent calls not enforced, or unknown, is never
//!   counted as enforced because its settings happen to say so);
//! * it can raise the value to `enforced` only if at least one of the subject's settings is
//!   enforced (checks where any one of several settings suffices, such as screen-lock timers:
//!   one enforced timer within the limit locks the screen whatever the others say).
//!
//! When some subject lists settings, a passing subject that lists none counts as `unknown`
//! (what holds its result was not read); one that does not pass and lists none adds nothing.
//! The finding's value is the same fold over its subjects' values:
//!
//! | values seen                                 | result          |
//! |---------------------------------------------|-----------------|
//! | none (no subject lists settings)            | `not_applicable` |
//! | `partly`, or both `enforced` and `not_enforced` | `partly`    |
//! | `not_enforced` (with or without `unknown`)  | `not_enforced`  |
//! | `unknown` (with or without `enforced`)      | `unknown`       |
//! | only `enforced`                             | `enforced`      |
//!
//! A finding-level summary a report might carry is never read: what is stored is what the
//! settings say. `not_applicable` covers reports of agents that predate per-setting results,
//! checks that report no settings, and the findings the collector adds for checks a report
//! lacks.

use posture_schema::{Enforced, Finding, Status, Subject};

/// Whether management enforces a finding's result (see the module documentation for the rule).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Enforcement {
    /// Every setting the result rests on is pinned by management.
    Enforced,
    /// Nothing pins any of them (some may be unknown).
    NotEnforced,
    /// Some are pinned and some are not.
    Partly,
    /// The machine did not say for some of them, and none is known not to be pinned.
    Unknown,
    /// The finding lists no settings.
    NotApplicable,
}

impl Enforcement {
    /// Every value, in the order the summary lists them.
    pub const ALL: [Self; 5] = [
        Self::Enforced,
        Self::Partly,
        Self::NotEnforced,
        Self::Unknown,
        Self::NotApplicable,
    ];

    /// The word stored in `latest_findings.enforcement`, counted in `fleet_counts` and shown in
    /// the summary.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Enforced => "enforced",
            Self::NotEnforced => "not_enforced",
            Self::Partly => "partly",
            Self::Unknown => "unknown",
            Self::NotApplicable => "not_applicable",
        }
    }

    /// Reads a stored word.
    #[must_use]
    pub fn parse(word: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|e| e.as_str() == word)
    }

    /// Derives a finding's value from its subjects and their settings.
    #[must_use]
    pub fn of_finding(finding: &Finding) -> Self {
        let lists_settings = finding.subjects.iter().any(|s| !s.settings.is_empty());
        fold(finding.subjects.iter().filter_map(|s| match of_subject(s) {
            None if lists_settings && s.status == Status::Pass => Some(Enforcement::Unknown),
            value => value,
        }))
    }
}

/// The word a finding's stored enforcement is exported as (CSV, and every other export), one
/// place for all of them: the stored word, and `unknown` for a finding whose value was not
/// derived yet (stored before migration 0017 and not yet backfilled).
#[must_use]
pub fn export_word(stored: Option<Enforcement>) -> &'static str {
    stored.unwrap_or(Enforcement::Unknown).as_str()
}

/// The values of `?enforced=` on the device list, each with the stored values it matches.
pub const FILTER_VALUES: [(&str, &[Enforcement]); 3] = [
    ("true", &[Enforcement::Enforced]),
    ("false", &[Enforcement::NotEnforced, Enforcement::Partly]),
    (
        "unknown",
        &[Enforcement::Unknown, Enforcement::NotApplicable],
    ),
];

/// The stored values that `?enforced=WORD` matches, or `None` for a word that is not one of
/// [`FILTER_VALUES`].
#[must_use]
pub fn filter_matches(word: &str) -> Option<&'static [Enforcement]> {
    FILTER_VALUES
        .iter()
        .find(|(w, _)| *w == word)
        .map(|(_, matches)| *matches)
}

/// One subject's value, `None` when it lists no settings.
fn of_subject(subject: &Subject) -> Option<Enforcement> {
    if subject.settings.is_empty() {
        return None;
    }
    let from_settings = fold(subject.settings.iter().map(|s| match s.enforced {
        Enforced::Yes => Enforcement::Enforced,
        Enforced::No => Enforcement::NotEnforced,
        Enforced::Unknown => Enforcement::Unknown,
    }));
    let any_enforced = subject.settings.iter().any(|s| s.enforced == Enforced::Yes);
    Some(match subject.enforced {
        None => from_settings,
        Some(Enforced::Yes) if any_enforced => Enforcement::Enforced,
        Some(Enforced::Yes) => from_settings,
        Some(Enforced::No) if from_settings == Enforcement::Enforced => Enforcement::NotEnforced,
        Some(Enforced::Unknown) if from_settings == Enforcement::Enforced => Enforcement::Unknown,
        Some(_) => from_settings,
    })
}

/// Folds several values into one (the table in the module documentation).
fn fold(values: impl IntoIterator<Item = Enforcement>) -> Enforcement {
    let (mut yes, mut no, mut partly, mut unknown) = (false, false, false, false);
    for v in values {
        match v {
            Enforcement::Enforced => yes = true,
            Enforcement::NotEnforced => no = true,
            Enforcement::Partly => partly = true,
            Enforcement::Unknown => unknown = true,
            Enforcement::NotApplicable => {}
        }
    }
    if !(yes || no || partly || unknown) {
        Enforcement::NotApplicable
    } else if partly || (yes && no) {
        Enforcement::Partly
    } else if no {
        Enforcement::NotEnforced
    } else if unknown {
        Enforcement::Unknown
    } else {
        Enforcement::Enforced
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use posture_schema::{Setting, Status};

    fn setting(enforced: Enforced) -> Setting {
        Setting {
            name: "idle-delay".into(),
            value: "300".into(),
            source: "dconf".into(),
            enforced,
            enforced_by: Vec::new(),
            notes: Vec::new(),
        }
    }

    fn subject(settings: &[Enforced], stated: Option<Enforced>) -> Subject {
        let mut s = Subject::new("user", "alice", Status::Pass, "locks".into());
        s.settings = settings.iter().copied().map(setting).collect();
        s.enforced = stated;
        s
    }

    fn finding(subjects: Vec<Subject>) -> Finding {
        Finding {
            id: "screen_lock".into(),
            title: "Screen lock".into(),
            clause: "Device Policy 3.1".into(),
            status: Status::Pass,
            summary: "ok".into(),
            subjects,
            evidence: Vec::new(),
            remediation: Vec::new(),
        }
    }

    use Enforced::{No, Unknown, Yes};

    #[test]
    fn a_finding_without_settings_is_not_applicable() {
        assert_eq!(
            Enforcement::of_finding(&finding(vec![subject(&[], Some(Yes))])),
            Enforcement::NotApplicable
        );
        assert_eq!(
            Enforcement::of_finding(&finding(Vec::new())),
            Enforcement::NotApplicable
        );
    }

    #[test]
    fn settings_decide_when_the_subject_does_not_say() {
        let of = |s: &[Enforced]| Enforcement::of_finding(&finding(vec![subject(s, None)]));
        assert_eq!(of(&[Yes, Yes]), Enforcement::Enforced);
        assert_eq!(of(&[No, No]), Enforcement::NotEnforced);
        assert_eq!(of(&[Yes, No]), Enforcement::Partly);
        assert_eq!(of(&[Yes, Unknown]), Enforcement::Unknown);
        assert_eq!(of(&[No, Unknown]), Enforcement::NotEnforced);
        assert_eq!(of(&[Yes, No, Unknown]), Enforcement::Partly);
    }

    #[test]
    fn subjects_combine_like_settings() {
        let of = |subjects: Vec<Subject>| Enforcement::of_finding(&finding(subjects));
        assert_eq!(
            of(vec![subject(&[Yes], None), subject(&[No], None)]),
            Enforcement::Partly
        );
        assert_eq!(
            of(vec![subject(&[Yes], None), subject(&[Unknown], None)]),
            Enforcement::Unknown
        );
        // A subject without settings that does not pass (nothing to enforce) adds nothing.
        let mut idle = subject(&[], None);
        idle.status = Status::NotApplicable;
        assert_eq!(of(vec![subject(&[Yes], None), idle]), Enforcement::Enforced);
        // A passing one beside subjects that list settings: what holds it is not read.
        assert_eq!(
            of(vec![subject(&[Yes], None), subject(&[], None)]),
            Enforcement::Unknown
        );
    }

    #[test]
    fn a_subject_said_enforced_needs_one_enforced_setting_behind_it() {
        let of = |s: &[Enforced]| Enforcement::of_finding(&finding(vec![subject(s, Some(Yes))]));
        // One enforced timer within the limit locks the screen whatever the other says.
        assert_eq!(of(&[Yes, No]), Enforcement::Enforced);
        // Nothing backs the claim: the settings decide.
        assert_eq!(of(&[No, No]), Enforcement::NotEnforced);
        assert_eq!(of(&[Unknown]), Enforcement::Unknown);
    }

    #[test]
    fn a_subject_said_not_enforced_is_never_counted_enforced() {
        let of = |stated| Enforcement::of_finding(&finding(vec![subject(&[Yes], Some(stated))]));
        assert_eq!(of(No), Enforcement::NotEnforced);
        assert_eq!(of(Unknown), Enforcement::Unknown);
    }

    #[test]
    fn stored_words_round_trip_and_filters_name_what_they_match() {
        for e in Enforcement::ALL {
            assert_eq!(Enforcement::parse(e.as_str()), Some(e));
        }
        assert_eq!(Enforcement::parse("true"), None);
        assert_eq!(filter_matches("true"), Some(&[Enforcement::Enforced][..]));
        assert_eq!(filter_matches("yes"), None);
        // Every stored value is matched by exactly one filter word.
        for e in Enforcement::ALL {
            assert_eq!(
                FILTER_VALUES.iter().filter(|(_, m)| m.contains(&e)).count(),
                1,
                "{e:?}"
            );
        }
        assert_eq!(export_word(None), "unknown");
        assert_eq!(export_word(Some(Enforcement::Partly)), "partly");
    }
}
