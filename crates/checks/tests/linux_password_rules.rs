//! `password_rules` on Linux against fake roots composed from
//! `tests/fixtures/linux/password-rules`: a stock Ubuntu 24.04 desktop (`ubuntu-2404-stock`)
//! plus the overlays of one case, and a stock Fedora 40 (`fedora-40-local`). Where each file's
//! format comes from is in that folder's README.

#![cfg(unix)]

use std::path::Path;

use posture_checks::password_rules::{self, RulesFacts, ScopeState};
use posture_checks::system::System;
use posture_host::RootedHost;
use posture_policy::{PasswordRulesRule, Policy};
use posture_schema::{Finding, Status};

fn fixtures() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures/linux/password-rules")
}

fn copy_tree(from: &Path, to: &Path) {
    for entry in fs_err::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        let kind = entry.file_type().unwrap();
        if kind.is_symlink() {
            let link = fs_err::read_link(entry.path()).unwrap();
            let _ = fs_err::remove_file(&target);
            std::os::unix::fs::symlink(link, &target).unwrap();
        } else if kind.is_dir() {
            fs_err::create_dir_all(&target).unwrap();
            copy_tree(&entry.path(), &target);
        } else {
            fs_err::copy(entry.path(), &target).unwrap();
        }
    }
}

/// Gathers the facts of `base` plus `overlays`, and judges them with `rule`.
fn judge_with(base: &str, overlays: &[&str], rule: &PasswordRulesRule) -> (RulesFacts, Finding) {
    let dir = tempfile::tempdir().unwrap();
    for layer in std::iter::once(base).chain(overlays.iter().copied()) {
        copy_tree(&fixtures().join(layer), dir.path());
    }
    let host = RootedHost::new(dir.path());
    let system = System::gather(&host);
    let facts = password_rules::gather(&host);
    let finding = password_rules::evaluate_on(&facts, rule, &system);
    (facts, finding)
}

fn judge(overlays: &[&str]) -> Finding {
    judge_with("ubuntu-2404-stock", overlays, &default_rule()).1
}

fn default_rule() -> PasswordRulesRule {
    Policy::embedded().rules.password_rules
}

fn says(f: &Finding, text: &str) -> bool {
    f.summary.contains(text) || f.subjects.iter().any(|s| s.summary.contains(text))
}

#[track_caller]
fn expect(f: &Finding, status: Status, text: &str) {
    assert_eq!(f.status, status, "{f:#?}");
    assert!(says(f, text), "expected {text:?} in {f:#?}");
}

fn subject<'a>(f: &'a Finding, name: &str) -> &'a posture_schema::Subject {
    f.subjects
        .iter()
        .find(|s| s.name == name)
        .unwrap_or_else(|| panic!("no subject {name}: {f:#?}"))
}

#[test]
fn stock_ubuntu_2404_gets_pwqualitys_default_8_and_fails_the_single_factor_15() {
    let f = judge(&[]);
    expect(
        &f,
        Status::Fail,
        "minimum length 8 (pam_pwquality.so (/etc/pam.d/common-password line 7): minlen 8; built-in defaults)",
    );
    assert!(says(
        &f,
        "the policy asks for 15 (the password is the only factor)"
    ));
    // Debian's login has `optional pam_faildelay.so delay=3000000`: throttling, which the
    // default policy accepts.
    let machine = subject(&f, "local accounts");
    assert!(
        machine.summary.contains("minimum length 8"),
        "{}",
        machine.summary
    );
    assert!(
        f.evidence
            .iter()
            .any(|e| e.value.contains("a delay of 3 s per failure")),
        "{:#?}",
        f.evidence
    );
    assert_eq!(subject(&f, "alice").status, Status::Pass);
    assert!(
        f.remediation[0].contains("minlen = 15"),
        "{:?}",
        f.remediation
    );
}

#[test]
fn stock_debian_12_without_pwquality_gets_pam_unixs_debian_default_6() {
    expect(
        &judge(&["debian-12-no-pwquality"]),
        Status::Fail,
        "minimum length 6 (pam_unix.so without minlen= (/etc/pam.d/common-password line 3): its default 6)",
    );
}

#[test]
fn stock_fedora_40_follows_authselects_substacks_and_its_2_second_delay() {
    let (facts, f) = judge_with("fedora-40-local", &[], &default_rule());
    expect(&f, Status::Fail, "minimum length 8");
    assert!(
        says(&f, "/etc/pam.d/system-auth line"),
        "the rules come from authselect's system-auth: {f:#?}"
    );
    assert!(
        f.evidence
            .iter()
            .any(|e| e.value.contains("pam_faildelay.so delay=2000000")),
        "{:#?}",
        f.evidence
    );
    // -password optional pam_gnome_keyring: optional, counts for nothing.
    assert!(matches!(facts.scopes[0].state, ScopeState::Rules(_)));
}

#[test]
fn a_hardened_stack_passes_with_lockout_history_and_no_nullok() {
    let f = judge(&["hardened"]);
    expect(&f, Status::Pass, "minimum length 15");
    assert!(says(&f, "locks after 5 failed attempts"), "{f:#?}");
    assert!(says(&f, "remembers 24 old passwords"), "{f:#?}");
    let strict = PasswordRulesRule {
        min_history: 24,
        accept_throttling_as_lockout: false,
        ..default_rule()
    };
    let (_, f) = judge_with("ubuntu-2404-stock", &["hardened"], &strict);
    assert_eq!(f.status, Status::Pass, "{f:#?}");
}

#[test]
fn the_main_pwquality_file_wins_over_a_drop_in_because_it_is_read_last() {
    expect(
        &judge(&["dropin-vs-main"]),
        Status::Fail,
        "minimum length 10",
    );
}

#[test]
fn a_pam_argument_overrides_the_pwquality_files() {
    let f = judge(&["pam-args-override"]);
    expect(&f, Status::Fail, "minimum length 9");
    assert!(
        says(&f, "minlen=9 (/etc/pam.d/common-password line 1 argument)"),
        "{f:#?}"
    );
}

#[test]
fn positive_credits_lower_the_minimum_and_minclass_is_composition_only_when_forbidden() {
    let f = judge(&["composition-credits"]);
    expect(&f, Status::Fail, "minimum length 13");
    let rule = PasswordRulesRule {
        min_length_single_factor: 13,
        ..default_rule()
    };
    let (_, f) = judge_with("ubuntu-2404-stock", &["composition-credits"], &rule);
    expect(&f, Status::Pass, "forces character classes: minclass=4");
    let forbid = PasswordRulesRule {
        forbid_composition_rules: true,
        ..rule
    };
    let (_, f) = judge_with("ubuntu-2404-stock", &["composition-credits"], &forbid);
    expect(&f, Status::Fail, "the policy forbids composition rules");
}

#[test]
fn nullok_with_an_empty_shadow_field_fails_for_that_account_only() {
    let f = judge(&["hardened", "nullok-empty-password"]);
    // hardened removed nullok: bob's empty field is refused at sign-in.
    assert_eq!(subject(&f, "bob").status, Status::Pass, "{f:#?}");
    let f = judge(&["nullok-empty-password"]);
    let bob = subject(&f, "bob");
    assert_eq!(bob.status, Status::Fail);
    assert!(
        bob.summary.contains("an empty password is accepted"),
        "{}",
        bob.summary
    );
    assert!(bob.summary.contains("nullok"), "{}", bob.summary);
    assert_eq!(subject(&f, "alice").status, Status::Pass);
}

#[test]
fn faillock_only_in_auth_locks_nothing_and_without_a_delay_there_is_no_throttling() {
    let f = judge(&["faillock-auth-only"]);
    expect(
        &f,
        Status::Fail,
        "no lockout or delay after failed attempts",
    );
    assert!(
        f.evidence
            .iter()
            .any(|e| e.value.contains("not in the account stack too")),
        "{:#?}",
        f.evidence
    );
}

#[test]
fn a_commented_out_pwquality_line_leaves_pam_unixs_minlen() {
    expect(
        &judge(&["hardened", "pwquality-commented"]),
        Status::Fail,
        "pam_unix.so minlen=12",
    );
}

#[test]
fn directory_accounts_are_not_applicable_with_the_reason() {
    let f = judge(&["hardened", "sssd"]);
    let sss = subject(&f, "accounts from sss");
    assert_eq!(sss.status, Status::NotApplicable);
    assert!(sss.summary.contains("the directory's"), "{}", sss.summary);
    assert_eq!(f.status, Status::Pass);
}

#[test]
fn expiry_is_judged_per_account_from_shadow_only_when_the_policy_asks() {
    let rule = PasswordRulesRule {
        max_age_days: 365,
        ..default_rule()
    };
    let (_, f) = judge_with("ubuntu-2404-stock", &["hardened"], &rule);
    expect(
        &f,
        Status::Fail,
        "passwords never expire (/etc/shadow maximum age field)",
    );
    let (_, f) = judge_with("ubuntu-2404-stock", &["hardened", "ageing-365"], &rule);
    assert_eq!(f.status, Status::Pass, "{f:#?}");
    assert!(says(&f, "passwords expire after 365 days"));
}

#[test]
fn an_unreadable_shadow_file_is_unknown_for_the_accounts_never_a_pass() {
    let dir = tempfile::tempdir().unwrap();
    for layer in ["ubuntu-2404-stock", "hardened"] {
        copy_tree(&fixtures().join(layer), dir.path());
    }
    fs_err::remove_file(dir.path().join("etc/shadow")).unwrap();
    let host = RootedHost::new(dir.path());
    let system = System::gather(&host);
    let f = password_rules::evaluate_on(&password_rules::gather(&host), &default_rule(), &system);
    assert_eq!(f.status, Status::Unknown, "{f:#?}");
    assert_eq!(subject(&f, "alice").status, Status::Unknown);
}

#[test]
fn no_hash_reaches_the_evidence() {
    let (_, f) = judge_with("ubuntu-2404-stock", &["hardened"], &default_rule());
    for e in &f.evidence {
        assert!(!e.value.contains("$posture$"), "{e:?}");
    }
}
