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

// Whether management enforces each rule: the system's own files, enforced when only root can
// change every file that decides the rule. Git keeps neither owners nor modes, so each case
// copies the fixtures into a fresh directory and sets the modes itself.
mod enforcement {
    use std::os::unix::fs::PermissionsExt as _;

    use posture_host::{
        CommandError, CommandOutput, CommandSpec, Host, Metadata, Platform, ReadError,
    };
    use posture_schema::{Enforced, Enforcer, Setting};

    use super::*;

    /// A copy of `layers` whose files are 0644 and directories 0755 (as packages install them).
    fn root_only_copy(layers: &[&str]) -> tempfile::TempDir {
        fn normalize(dir: &Path) {
            fs_err::set_permissions(dir, std::fs::Permissions::from_mode(0o755)).unwrap();
            for entry in fs_err::read_dir(dir).unwrap() {
                let entry = entry.unwrap();
                let kind = entry.file_type().unwrap();
                if kind.is_dir() {
                    normalize(&entry.path());
                } else if kind.is_file() {
                    chmod(&entry.path(), 0o644);
                }
            }
        }
        let dir = tempfile::tempdir().unwrap();
        for layer in layers {
            copy_tree(&fixtures().join(layer), dir.path());
        }
        normalize(&dir.path().join("etc"));
        dir
    }

    fn chmod(path: &Path, mode: u32) {
        fs_err::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
    }

    fn gather(host: &dyn Host) -> Finding {
        let system = System::gather(host);
        password_rules::evaluate_on(&password_rules::gather(host), &default_rule(), &system)
    }

    fn setting<'f>(f: &'f Finding, subject_name: &str, name: &str) -> &'f Setting {
        subject(f, subject_name)
            .settings
            .iter()
            .find(|s| s.name == name)
            .unwrap_or_else(|| panic!("no setting {name} of {subject_name}: {f:#?}"))
    }

    fn statuses(f: &Finding) -> Vec<(String, Status)> {
        f.subjects
            .iter()
            .map(|s| (s.name.clone(), s.status))
            .collect()
    }

    #[test]
    fn root_only_pam_pwquality_faillock_and_shadow_files_enforce_every_rule() {
        let dir = root_only_copy(&["ubuntu-2404-stock", "hardened"]);
        let f = gather(&RootedHost::new(dir.path()));
        assert_eq!(f.status, Status::Pass, "{f:#?}");
        let length = setting(&f, "local accounts", "minimum length");
        assert_eq!(length.value, "15");
        assert_eq!(length.enforced, Enforced::Yes, "{length:#?}");
        let by = &length.enforced_by[0];
        assert_eq!(by.kind, Enforcer::SYSTEM_SETTING);
        assert_eq!(by.id, "/etc/pam.d/passwd");
        assert_eq!(by.removable_by, Enforcer::BY_LOCAL_ADMIN);
        let lockout = setting(&f, "local accounts", "lockout");
        assert_eq!(lockout.value, "after 5 failed attempts");
        assert_eq!(lockout.enforced, Enforced::Yes, "{lockout:#?}");
        let empty = setting(&f, "alice", "empty password");
        assert_eq!(
            (empty.value.as_str(), empty.enforced),
            ("refused", Enforced::Yes)
        );
        assert_eq!(empty.enforced_by[0].id, "/etc/shadow");
        for s in &f.subjects {
            if s.kind == "rules" || s.kind == "account" {
                assert_eq!(s.enforced, Some(Enforced::Yes), "{s:#?}");
            }
        }
    }

    #[test]
    fn a_pwquality_drop_in_others_may_write_leaves_the_length_unenforced_and_the_verdict_as_it_was()
    {
        let dir = root_only_copy(&["ubuntu-2404-stock", "hardened"]);
        let before = gather(&RootedHost::new(dir.path()));
        let drop_in = dir.path().join("etc/security/pwquality.conf.d");
        let name = fs_err::read_dir(&drop_in)
            .unwrap()
            .next()
            .unwrap()
            .unwrap()
            .path();
        chmod(&name, 0o666);
        let f = gather(&RootedHost::new(dir.path()));
        assert_eq!(
            statuses(&f),
            statuses(&before),
            "enforcement never changes a verdict"
        );
        assert_eq!(f.status, before.status);
        let length = setting(&f, "local accounts", "minimum length");
        assert_eq!(length.enforced, Enforced::No, "{length:#?}");
        assert!(
            length
                .notes
                .iter()
                .any(|n| n.contains("pwquality.conf.d/") && n.contains("mode 0666")),
            "{:?}",
            length.notes
        );
        assert_eq!(length.enforced_by[0].kind, Enforcer::SYSTEM_SETTING);
        // Lockout is decided by other files.
        assert_eq!(
            setting(&f, "local accounts", "lockout").enforced,
            Enforced::Yes
        );
        assert_eq!(subject(&f, "local accounts").enforced, Some(Enforced::No));
    }

    #[test]
    fn a_writable_faillock_conf_or_pam_directory_leaves_the_rules_it_decides_unenforced() {
        let dir = root_only_copy(&["ubuntu-2404-stock", "hardened"]);
        chmod(&dir.path().join("etc/security/faillock.conf"), 0o664);
        let f = gather(&RootedHost::new(dir.path()));
        let lockout = setting(&f, "local accounts", "lockout");
        assert_eq!(lockout.enforced, Enforced::No, "{lockout:#?}");
        assert!(
            lockout.notes.iter().any(|n| n.contains("faillock.conf")),
            "{lockout:#?}"
        );
        assert_eq!(
            setting(&f, "local accounts", "minimum length").enforced,
            Enforced::Yes
        );

        // A PAM directory anyone may write lets anyone replace the stacks: nothing is pinned.
        chmod(&dir.path().join("etc/security/faillock.conf"), 0o644);
        chmod(&dir.path().join("etc/pam.d"), 0o777);
        let f = gather(&RootedHost::new(dir.path()));
        for name in ["minimum length", "lockout"] {
            assert_eq!(
                setting(&f, "local accounts", name).enforced,
                Enforced::No,
                "{name}"
            );
        }
        assert_eq!(
            setting(&f, "alice", "empty password").enforced,
            Enforced::No
        );
    }

    #[test]
    fn stock_fedora_with_root_only_files_is_enforced_through_authselects_links() {
        let dir = root_only_copy(&["fedora-40-local"]);
        let f = gather(&RootedHost::new(dir.path()));
        let length = setting(&f, "local accounts", "minimum length");
        assert_eq!(length.enforced, Enforced::Yes, "{length:#?}");
    }

    /// The fake root, but the owner of no file can be read.
    struct NoOwners(RootedHost);

    impl Host for NoOwners {
        fn platform(&self) -> Platform {
            self.0.platform()
        }
        fn read(&self, path: &str) -> Result<Vec<u8>, ReadError> {
            self.0.read(path)
        }
        fn list_dir(&self, path: &str) -> Result<Vec<String>, ReadError> {
            self.0.list_dir(path)
        }
        fn read_link(&self, path: &str) -> Result<String, ReadError> {
            self.0.read_link(path)
        }
        fn run(&self, command: &CommandSpec) -> Result<CommandOutput, CommandError> {
            self.0.run(command)
        }
        fn metadata(&self, _: &str) -> Result<Metadata, ReadError> {
            Err(ReadError::Other("permission denied".to_owned()))
        }
    }

    #[test]
    fn owners_that_cannot_be_read_make_enforcement_unknown_never_enforced() {
        let dir = root_only_copy(&["ubuntu-2404-stock", "hardened"]);
        let plain = gather(&RootedHost::new(dir.path()));
        let f = gather(&NoOwners(RootedHost::new(dir.path())));
        assert_eq!(statuses(&f), statuses(&plain));
        for (subject_name, name) in [
            ("local accounts", "minimum length"),
            ("local accounts", "lockout"),
            ("alice", "empty password"),
        ] {
            let s = setting(&f, subject_name, name);
            assert_eq!(s.enforced, Enforced::Unknown, "{s:#?}");
            assert!(
                s.notes.iter().any(|n| n.contains("permission denied")),
                "{s:#?}"
            );
        }
    }
}
