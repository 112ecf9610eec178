//! The credentials check against Linux fake roots (tests/fixtures/linux/credentials/<case>/,
//! built by its make.py), judged with the embedded policy and with a company account set.

use posture_checks::credentials::{self, OnePassword, SshKeys};
use posture_host::{EvidenceBundle, Host, Platform, ReadError, Recorder, ReplayHost, RootedHost};
use posture_policy::{CredentialsRule, Policy, SavedBrowserLogins};
use posture_schema::{Finding, Status};

const FIXTURES: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../tests/fixtures/linux/credentials"
);

fn embedded() -> CredentialsRule {
    Policy::embedded().rules.credentials
}

fn company() -> CredentialsRule {
    CredentialsRule {
        company_account: Some("example.1password.com".to_owned()),
        ..embedded()
    }
}

fn host(case: &str) -> RootedHost {
    RootedHost::new(format!("{FIXTURES}/{case}"))
}

fn judge_with(case: &str, rule: &CredentialsRule) -> Finding {
    let facts = credentials::gather(&host(case), rule);
    credentials::evaluate(&facts, rule, Platform::Linux)
}

fn subject<'f>(f: &'f Finding, name: &str) -> &'f posture_schema::Subject {
    f.subjects
        .iter()
        .find(|s| s.name == name)
        .unwrap_or_else(|| panic!("no subject {name} in {:#?}", f.subjects))
}

#[test]
fn no_1password_at_all_fails_with_install_steps() {
    let f = judge_with("absent", &company());
    assert_eq!(f.status, Status::Fail, "{f:#?}");
    let s = subject(&f, "alice: 1Password");
    assert!(s.summary.contains("not installed"), "{}", s.summary);
    assert!(
        f.remediation
            .iter()
            .any(|r| r.contains("Install 1Password 8") && r.contains("example.1password.com")),
        "{:?}",
        f.remediation
    );
    // No browser and no ~/.ssh: those parts have nothing to fail.
    assert_eq!(subject(&f, "alice: SSH keys").status, Status::Pass);
    assert_eq!(subject(&f, "alice: browsers").status, Status::Pass);
}

#[test]
fn installed_but_signed_out_fails() {
    let f = judge_with("installed-signed-out", &company());
    assert_eq!(f.status, Status::Fail, "{f:#?}");
    let s = subject(&f, "alice: 1Password");
    assert!(
        s.summary.contains("signed in to no account"),
        "{}",
        s.summary
    );
}

#[test]
fn installed_with_no_database_is_never_signed_in() {
    // The package's binary is there; the user's database is not.
    let root = tempfile::tempdir().unwrap();
    let base = root.path();
    fs_err::create_dir_all(base.join("etc")).unwrap();
    fs_err::create_dir_all(base.join("home/alice")).unwrap();
    fs_err::create_dir_all(base.join("opt/1Password")).unwrap();
    fs_err::write(base.join("opt/1Password/1password"), "x").unwrap();
    fs_err::create_dir_all(base.join("usr/share/xsessions")).unwrap();
    fs_err::write(
        base.join("usr/share/xsessions/xfce.desktop"),
        "[Desktop Entry]\n",
    )
    .unwrap();
    fs_err::write(
        base.join("etc/passwd"),
        "alice:x:1000:1000::/home/alice:/bin/bash\n",
    )
    .unwrap();
    let facts = credentials::gather(&RootedHost::new(base), &company());
    assert!(
        matches!(facts.users[0].onepassword, OnePassword::NeverSignedIn(_)),
        "{:?}",
        facts.users[0].onepassword
    );
}

#[test]
fn a_personal_account_is_not_the_company_account() {
    let f = judge_with("other-account", &company());
    assert_eq!(f.status, Status::Fail, "{f:#?}");
    let s = subject(&f, "alice: 1Password");
    assert!(
        s.summary.contains(
            "signed in only to alice.personal@example.org at my.1password.com (individual)"
        ),
        "{}",
        s.summary
    );
    // Without a company account in the policy, a personal account does not pass either.
    assert_eq!(
        judge_with("other-account", &embedded()).status,
        Status::Fail
    );
}

#[test]
fn the_company_account_with_extensions_and_protected_keys_passes() {
    let f = judge_with("company-account", &company());
    assert_eq!(f.status, Status::Pass, "{f:#?}");
    let s = subject(&f, "alice: 1Password");
    assert!(
        s.summary
            .contains("alice@example.com at example.1password.com (business)"),
        "{}",
        s.summary
    );
    assert_eq!(
        subject(&f, "alice: Google Chrome profile Default").status,
        Status::Pass
    );
    // Chrome 136 and later: no `state`, empty `disable_reasons`.
    assert_eq!(
        subject(&f, "alice: Google Chrome profile Profile 1").status,
        Status::Pass
    );
    assert_eq!(
        subject(&f, "alice: Firefox profile t3st0001.default-release").status,
        Status::Pass
    );
    // Firefox's unused "default" profile was never opened: nothing to protect there, and
    // nothing that shows the extension either, so it is not applicable rather than a pass.
    let unused = subject(&f, "alice: Firefox profile t3st0002.default");
    assert_eq!(unused.status, Status::NotApplicable);
    assert!(
        unused.summary.contains("never opened"),
        "{}",
        unused.summary
    );
    let keys: Vec<_> = f
        .subjects
        .iter()
        .filter(|s| s.name.contains("/.ssh/"))
        .collect();
    assert_eq!(keys.len(), 3, "{keys:#?}");
    assert!(keys.iter().all(|k| k.status == Status::Pass));
}

#[test]
fn without_a_company_account_any_business_account_passes_and_the_finding_says_which() {
    let f = judge_with("company-account", &embedded());
    assert_eq!(f.status, Status::Pass, "{f:#?}");
    let s = subject(&f, "alice: 1Password");
    assert!(
        s.summary.contains("names no company_account"),
        "{}",
        s.summary
    );
    assert!(s.summary.contains("example.1password.com"), "{}", s.summary);
}

#[test]
fn a_look_alike_sign_in_address_is_another_account() {
    let rule = CredentialsRule {
        company_account: Some("example.1password.eu".to_owned()),
        ..embedded()
    };
    assert_eq!(judge_with("company-account", &rule).status, Status::Fail);
}

#[test]
fn two_accounts_pass_when_one_is_the_company_and_both_are_named() {
    let f = judge_with("two-accounts", &company());
    assert_eq!(f.status, Status::Pass, "{f:#?}");
    let s = subject(&f, "alice: 1Password");
    assert!(
        s.summary
            .contains("also signed in to alice.personal@example.org"),
        "{}",
        s.summary
    );
}

#[test]
fn snap_and_flatpak_databases_are_read() {
    let f = judge_with("snap-company-account", &company());
    assert_eq!(f.status, Status::Pass, "{f:#?}");
    // The Edge Add-ons id counts in Chromium too.
    assert_eq!(
        subject(&f, "alice: Chromium (Snap) profile Default").status,
        Status::Pass
    );
    let f = judge_with("flatpak-company-account", &company());
    assert_eq!(f.status, Status::Pass, "{f:#?}");
}

#[test]
fn an_extension_missing_or_disabled_in_one_profile_fails() {
    let f = judge_with("extension-missing", &company());
    assert_eq!(f.status, Status::Fail, "{f:#?}");
    assert_eq!(
        subject(&f, "alice: Google Chrome profile Default").status,
        Status::Pass
    );
    let missing = subject(&f, "alice: Google Chrome profile Profile 1");
    assert_eq!(missing.status, Status::Fail);
    assert!(
        missing.summary.contains("not installed"),
        "{}",
        missing.summary
    );
    let brave = subject(&f, "alice: Brave profile Default");
    assert_eq!(brave.status, Status::Fail);
    assert!(
        brave.summary.contains("disable_reasons [1]"),
        "{}",
        brave.summary
    );
    let firefox = subject(&f, "alice: Firefox profile t3st0001.default-release");
    assert_eq!(firefox.status, Status::Fail);
    assert!(
        f.remediation
            .iter()
            .any(|r| r.contains("1Password extension"))
    );
    // The extension requirement can be switched off.
    let rule = CredentialsRule {
        require_browser_extension: false,
        ..company()
    };
    assert_eq!(judge_with("extension-missing", &rule).status, Status::Pass);
}

#[test]
fn plain_ssh_keys_fail_in_every_format_and_are_found_without_a_pub_file() {
    let f = judge_with("plain-ssh-keys", &company());
    assert_eq!(f.status, Status::Fail, "{f:#?}");
    for (file, status, says) in [
        (
            "openssh-ed25519-plain",
            Status::Fail,
            "openssh ssh-ed25519 private key, not encrypted",
        ),
        (
            "openssh-ed25519-encrypted",
            Status::Pass,
            "passphrase-protected",
        ),
        (
            "pem-rsa-plain",
            Status::Fail,
            "pem rsa private key, not encrypted",
        ),
        (
            "pem-ecdsa-plain",
            Status::Fail,
            "pem ecdsa private key, not encrypted",
        ),
        ("pkcs8-rsa-plain", Status::Fail, "pkcs8"),
        (
            "keys/deploy",
            Status::Fail,
            "openssh ssh-rsa private key, not encrypted",
        ),
    ] {
        let s = subject(&f, &format!("alice: /home/alice/.ssh/{file}"));
        assert_eq!(s.status, status, "{file}: {}", s.summary);
        assert!(s.summary.contains(says), "{file}: {}", s.summary);
    }
    // Public keys, config and known_hosts are not keys.
    assert!(
        !f.subjects
            .iter()
            .any(|s| s.name.ends_with(".pub") || s.name.ends_with("known_hosts"))
    );
    assert!(f.remediation.iter().any(|r| r.contains("ssh-keygen -p")));
}

#[test]
fn a_malformed_or_unknown_database_is_unknown_never_signed_out() {
    for case in ["malformed-database", "unknown-layout"] {
        let f = judge_with(case, &company());
        assert_eq!(f.status, Status::Unknown, "{case}: {f:#?}");
        let s = subject(&f, "alice: 1Password");
        assert_eq!(s.status, Status::Unknown, "{case}");
    }
    let f = judge_with("unknown-layout", &company());
    assert!(
        subject(&f, "alice: 1Password")
            .summary
            .contains("has no column data"),
        "{f:#?}"
    );
}

/// A host whose 1Password database is held by the application (Windows' sharing violation).
struct Locked(RootedHost);

impl Host for Locked {
    fn platform(&self) -> Platform {
        Platform::Linux
    }
    fn read(&self, path: &str) -> Result<Vec<u8>, ReadError> {
        if path.ends_with("1password.sqlite") {
            return Err(ReadError::Other(
                "The process cannot access the file because it is being used by another process. (os error 32)".to_owned(),
            ));
        }
        self.0.read(path)
    }
    fn list_dir(&self, path: &str) -> Result<Vec<String>, ReadError> {
        self.0.list_dir(path)
    }
    fn read_link(&self, path: &str) -> Result<String, ReadError> {
        self.0.read_link(path)
    }
    fn run(
        &self,
        command: &posture_host::CommandSpec,
    ) -> Result<posture_host::CommandOutput, posture_host::CommandError> {
        self.0.run(command)
    }
}

#[test]
fn a_locked_database_is_unknown_with_the_reason() {
    let host = Locked(host("company-account"));
    let rule = company();
    let f = credentials::evaluate(&credentials::gather(&host, &rule), &rule, Platform::Linux);
    assert_eq!(f.status, Status::Unknown, "{f:#?}");
    assert!(
        f.summary.contains("being used by another process"),
        "{}",
        f.summary
    );
}

#[test]
fn saved_company_logins_fail_only_when_the_policy_denies_them() {
    assert_eq!(
        judge_with("saved-company-logins", &company()).status,
        Status::Pass
    );
    let rule = CredentialsRule {
        saved_browser_logins: SavedBrowserLogins::Deny,
        company_domains: vec!["example.com".to_owned()],
        ..company()
    };
    let f = judge_with("saved-company-logins", &rule);
    assert_eq!(f.status, Status::Fail, "{f:#?}");
    let s = subject(&f, "alice: Google Chrome profile Default saved logins");
    assert!(
        s.summary.contains("alice@example.com at github.com"),
        "{}",
        s.summary
    );
    assert!(
        s.summary.contains("alice at intranet.example.com"),
        "{}",
        s.summary
    );
    assert!(!s.summary.contains("example.org"), "{}", s.summary);
}

#[test]
fn a_recorded_bundle_holds_no_secret_and_replays_to_the_same_finding() {
    let rule = CredentialsRule {
        saved_browser_logins: SavedBrowserLogins::Deny,
        company_domains: vec!["example.com".to_owned()],
        ..company()
    };
    for case in ["plain-ssh-keys", "company-account", "saved-company-logins"] {
        let recorder = Recorder::new(host(case));
        let live = credentials::evaluate(
            &credentials::gather(&recorder, &rule),
            &rule,
            Platform::Linux,
        );
        let json = recorder.bundle().to_json();
        for secret in [
            "PRIVATE KEY",
            "b3BlbnNzaC1rZXktdjE",
            "placeholder",
            "enc_srp_x",
            "SQLite format 3",
            "U1FMaXRlIGZvcm1hdCAz",
            "alice.personal@example.org",
            "password_value",
        ] {
            assert!(!json.contains(secret), "{case}: the bundle holds {secret}");
        }
        let bundle = EvidenceBundle::from_json("b.json", &json).unwrap();
        let replayed = credentials::evaluate(
            &credentials::gather(&ReplayHost::new(bundle), &rule),
            &rule,
            Platform::Linux,
        );
        assert_eq!(live, replayed, "{case}");
    }
}

#[test]
fn ssh_keys_are_not_read_when_the_policy_does_not_require_passphrases() {
    let rule = CredentialsRule {
        require_ssh_key_passphrase: false,
        ..company()
    };
    let facts = credentials::gather(&host("plain-ssh-keys"), &rule);
    assert_eq!(facts.users[0].ssh, SshKeys::NoDirectory);
    let f = credentials::evaluate(&facts, &rule, Platform::Linux);
    assert_eq!(f.status, Status::Pass, "{f:#?}");
}

#[test]
fn a_machine_without_human_accounts_is_not_applicable() {
    let root = tempfile::tempdir().unwrap();
    fs_err::create_dir_all(root.path().join("etc")).unwrap();
    fs_err::write(
        root.path().join("etc/passwd"),
        "root:x:0:0::/root:/bin/bash\n",
    )
    .unwrap();
    let rule = company();
    let f = credentials::evaluate(
        &credentials::gather(&RootedHost::new(root.path()), &rule),
        &rule,
        Platform::Linux,
    );
    assert_eq!(f.status, Status::NotApplicable, "{f:#?}");
}

#[test]
fn a_server_without_a_desktop_session_is_not_applicable() {
    let root = tempfile::tempdir().unwrap();
    fs_err::create_dir_all(root.path().join("etc")).unwrap();
    fs_err::create_dir_all(root.path().join("home/alice/.ssh")).unwrap();
    fs_err::write(
        root.path().join("etc/passwd"),
        "alice:x:1000:1000::/home/alice:/bin/bash\n",
    )
    .unwrap();
    let rule = company();
    let f = credentials::evaluate(
        &credentials::gather(&RootedHost::new(root.path()), &rule),
        &rule,
        Platform::Linux,
    );
    assert_eq!(f.status, Status::NotApplicable, "{f:#?}");
    assert!(f.summary.contains("no graphical login"), "{}", f.summary);
}

#[test]
fn a_keys_passphrase_is_never_enforced_and_the_extensions_enforcement_is_unknown_not_guessed() {
    use posture_schema::Enforced;
    let f = judge_with("company-account", &company());
    let keys: Vec<_> = f
        .subjects
        .iter()
        .filter(|s| s.name.contains("/.ssh/"))
        .collect();
    assert!(!keys.is_empty());
    for k in &keys {
        // Nothing manages an SSH key's passphrase: not enforced, and nothing listed.
        let s = &k.settings[0];
        assert_eq!(
            (s.name.as_str(), s.enforced),
            ("passphrase", Enforced::No),
            "{k:#?}"
        );
        assert!(s.enforced_by.is_empty());
        assert!(k.name.ends_with(&s.source), "{k:#?}");
        assert_eq!(k.enforced, Some(Enforced::No));
    }
    // A browser policy could force-install the extension; posture does not read those, so it
    // says unknown with the reason rather than "not enforced".
    let chrome = subject(&f, "alice: Google Chrome profile Default");
    let ext = &chrome.settings[0];
    assert_eq!(
        (ext.value.as_str(), ext.enforced),
        ("enabled", Enforced::Unknown)
    );
    assert!(
        ext.notes[0].contains("ExtensionInstallForcelist"),
        "{ext:#?}"
    );
    // A profile never opened has no value to report.
    assert!(
        subject(&f, "alice: Firefox profile t3st0002.default")
            .settings
            .is_empty()
    );
    // The verdicts are as before; only require_enforced turns them.
    assert_eq!(f.status, Status::Pass);
    let strict = CredentialsRule {
        require_enforced: true,
        ..company()
    };
    let f = judge_with("company-account", &strict);
    assert_eq!(f.status, Status::Fail, "{f:#?}");
    assert!(
        keys.iter()
            .all(|k| subject(&f, &k.name).status == Status::Fail),
        "{f:#?}"
    );
}

#[test]
fn a_plain_keys_passphrase_setting_says_none() {
    let f = judge_with("plain-ssh-keys", &company());
    let s = subject(&f, "alice: /home/alice/.ssh/openssh-ed25519-plain");
    assert_eq!(s.settings[0].value, "none", "{s:#?}");
    let s = subject(&f, "alice: /home/alice/.ssh/openssh-ed25519-encrypted");
    assert_eq!(s.settings[0].value, "set", "{s:#?}");
}
