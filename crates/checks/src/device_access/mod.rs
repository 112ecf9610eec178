//! Device access (Device Policy 2: "Providing access to another individual, either deliberately
//! or through failure to secure a device is prohibited").
//!
//! The check fails when the machine lets someone in without the owner's password: automatic
//! login, guest access, a sign-in stack that lets a user or group in without a password, or a
//! human account without a password. Remote-access services (SSH, Remote Desktop, VNC, Screen
//! Sharing) are reported one by one and fail only under `remote_access = "deny"`; a remote
//! service that accepts an empty password fails always.
//!
//! Each way in is one [`Door`]: what it is, whether it is open, closed or could not be read, and
//! the evidence. A door the machine did not describe is `unknown`, never closed.

mod linux;
pub(crate) mod macos;
mod macos_password;
pub(crate) mod windows;

use posture_host::{Host, Platform};
use posture_policy::{DeviceAccessRule, RemoteAccessMode};
use posture_schema::{Evidence, Finding, Status, Subject, Setting};

use crate::system::System;

/// Check id in reports.
pub const ID: &str = "device_access";
/// Check title in reports.
pub const TITLE: &str = "Device access";

/// This check, as the registry lists it.
pub const CHECK: crate::Check = crate::Check {
    id: ID,
    title: TITLE,
    rule: |rules| &rules.device_access,
    run: |host, rules, system| evaluate_on(&gather(host), &rules.device_access, system),
};

/// What the probe found.
#[derive(Debug, Clone, PartialEq)]
pub struct AccessFacts {
    /// Every way in that was looked at.
    pub doors: Vec<Door>,
    /// Everything read, with its source.
    pub evidence: Vec<Evidence>,
}

/// One way into the device.
#[derive(Debug, Clone, PartialEq)]
pub struct Door {
    /// What kind of way in it is.
    pub kind: DoorKind,
    /// What it is: "GDM automatic login", "alice", "SSH server".
    pub name: String,
    /// Whether it lets someone in.
    pub state: DoorState,
    /// The settings that decide it, with whether management enforces them (empty where
    /// posture does not read that).
    pub settings: Vec<Setting>,
}

/// Kinds of ways in; they say how the verdict treats an open one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DoorKind {
    /// The machine signs a user in by itself.
    AutoLogin,
    /// A sign-in stack lets a user or a group in without a password.
    PasswordlessSignIn,
    /// A guest account or guest session.
    Guest,
    /// A human account without a password.
    EmptyPassword,
    /// A remote-access service: reported, failing only under `remote_access = "deny"`.
    RemoteService,
    /// A remote-access service that accepts an account's empty password: always a failure.
    RemoteEmptyPassword,
}

impl DoorKind {
    /// The subject kind in reports.
    fn subject_kind(self) -> &'static str {
        match self {
            Self::AutoLogin => "automatic_login",
            Self::PasswordlessSignIn => "sign_in",
            Self::Guest => "guest",
            Self::EmptyPassword => "account",
            Self::RemoteService | Self::RemoteEmptyPassword => "remote_access",
        }
    }
}

/// Whether a way in is open.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DoorState {
    /// It lets someone in without the owner's password (or, for a remote service, it is on).
    Open {
        /// What the machine says, with its source.
        what: String,
    },
    /// It is off.
    Closed {
        /// What the machine says, with its source.
        what: String,
    },
    /// The machine did not say.
    Unknown {
        /// Why.
        reason: String,
    },
}

impl Door {
    /// A door.
    pub fn new(kind: DoorKind, name: impl Into<String>, state: DoorState) -> Self {
        Self {
            kind,
            name: name.into(),
            state,
            settings: Vec::new(),
        }
    }

    /// The same door with the settings that decide it.
    #[must_use]
    pub fn with_settings(mut self, settings: Vec<Setting>) -> Self {
        self.settings = settings;
        self
    }
}

/// An open door.
pub fn open(what: impl Into<String>) -> DoorState {
    DoorState::Open { what: what.into() }
}

/// A closed door.
pub fn closed(what: impl Into<String>) -> DoorState {
    DoorState::Closed { what: what.into() }
}

/// A door that could not be read.
pub fn unknown(reason: impl Into<String>) -> DoorState {
    DoorState::Unknown {
        reason: reason.into(),
    }
}

/// Reads the ways into the device.
pub fn gather(host: &dyn Host) -> AccessFacts {
    match host.platform() {
        Platform::Linux => linux::gather(host),
        Platform::Macos => macos::gather(host),
        Platform::Windows => windows::gather(host),
    }
}

/// Judges the facts against the rule.
#[must_use]
pub fn evaluate(facts: &AccessFacts, rule: &DeviceAccessRule, platform: Platform) -> Finding {
    evaluate_on(facts, rule, &System::unknown(platform))
}

/// Judges the facts against the rule, with fix steps for this system.
#[must_use]
pub fn evaluate_on(facts: &AccessFacts, rule: &DeviceAccessRule, system: &System) -> Finding {
    let deny = rule.remote_access == RemoteAccessMode::Deny;
    let subjects: Vec<Subject> = facts
        .doors
        .iter()
        .map(|door| {
            let (status, summary) = judge(door, deny);
            Subject {
                kind: door.kind.subject_kind().to_owned(),
                name: door.name.clone(),
                status,
                summary,
                settings: door.settings.clone(),
                enforced: crate::enforcement::all_of(&door.settings),
            }
        })
        .collect();
    let status = if subjects.is_empty() {
        Status::Unknown
    } else {
        Status::combine(subjects.iter().map(|s| s.status))
    };
    let summary = match status {
        Status::Pass => {
            let remote: Vec<&str> = facts
                .doors
                .iter()
                .filter(|d| {
                    d.kind == DoorKind::RemoteService && matches!(d.state, DoorState::Open { .. })
                })
                .map(|d| d.name.as_str())
                .collect();
            if remote.is_empty() {
                "no automatic login, guest access or passwordless account; no remote-access service is on".to_owned()
            } else {
                format!(
                    "no automatic login, guest access or passwordless account; remote access on (reported, the policy allows it): {}",
                    remote.join(", ")
                )
            }
        }
        _ if subjects.is_empty() => "nothing was examined".to_owned(),
        _ => subjects
            .iter()
            .filter(|s| s.status == status)
            .map(|s| s.summary.as_str())
            .collect::<Vec<_>>()
            .join("; "),
    };
    let remediation = if status == Status::Fail {
        remediation(system.platform, facts, deny)
    } else {
        Vec::new()
    };
    let finding = Finding {
        id: ID.to_owned(),
        title: TITLE.to_owned(),
        clause: rule.clause.clone(),
        status,
        summary,
        subjects,
        evidence: facts.evidence.clone(),
        remediation,
    };
    crate::enforcement::require(finding, rule.require_enforced, system.platform)
}

fn judge(door: &Door, deny: bool) -> (Status, String) {
    let name = &door.name;
    match (&door.state, door.kind) {
        (DoorState::Open { what }, DoorKind::RemoteService) if !deny => (
            Status::Pass,
            format!("{name} is on: {what} (reported; the policy allows remote access)"),
        ),
        (DoorState::Open { what }, DoorKind::RemoteService) => (
            Status::Fail,
            format!("{name} is on: {what}; the policy denies remote access"),
        ),
        (DoorState::Open { what }, _) => (Status::Fail, what.clone()),
        (DoorState::Closed { what }, DoorKind::EmptyPassword) => (Status::Pass, what.clone()),
        (DoorState::Closed { what }, _) => (Status::Pass, format!("off: {what}")),
        (DoorState::Unknown { reason }, DoorKind::RemoteService) if !deny => (
            Status::Pass,
            format!("could not tell whether {name} is on ({reason}); reported only"),
        ),
        (DoorState::Unknown { reason }, _) => (
            Status::Unknown,
            format!("could not tell about {name}: {reason}"),
        ),
    }
}

fn is_open(facts: &AccessFacts, kinds: &[DoorKind]) -> bool {
    facts
        .doors
        .iter()
        .any(|d| kinds.contains(&d.kind) && matches!(d.state, DoorState::Open { .. }))
}

fn remediation(platform: Platform, facts: &AccessFacts, deny: bool) -> Vec<String> {
    let mut steps = Vec::new();
    let auto = is_open(facts, &[DoorKind::AutoLogin]);
    let pam = is_open(facts, &[DoorKind::PasswordlessSignIn]);
    let guest = is_open(facts, &[DoorKind::Guest]);
    let empty = is_open(facts, &[DoorKind::EmptyPassword, DoorKind::RemoteEmptyPassword]);
    let remote = deny && is_open(facts, &[DoorKind::RemoteService]);
    match platform {
        Platform::Linux => {
            if auto {
                let open_names: Vec<&str> = facts
                    .doors
                    .iter()
                    .filter(|d| {
                        d.kind == DoorKind::AutoLogin && matches!(d.state, DoorState::Open { .. })
                    })
                    .map(|d| d.name.as_str())
                    .collect();
                let has = |prefix: &str| open_names.iter().any(|n| n.starts_with(prefix));
                if has("GDM") {
                    steps.push("Turn automatic login off: Settings > Users > Automatic Login off, or as root set AutomaticLoginEnable=false and TimedLoginEnable=false under [daemon] in the GDM file named in the finding.".to_owned());
                }
                if has("LightDM") {
                    steps.push("As root remove autologin-user (and autologin-guest) from the LightDM file named in the finding.".to_owned());
                }
                if has("SDDM") {
                    steps.push("Turn automatic login off: System Settings > Login Screen (SDDM) > Behavior > \"Automatically log in\" off, or as root empty User= under [Autologin] in the SDDM file named in the finding.".to_owned());
                }
                if has("greetd") {
                    steps.push("As root remove the [initial_session] table from /etc/greetd/config.toml.".to_owned());
                }
                if has("getty") {
                    steps.push("As root remove --autologin from the getty drop-in named in the finding, then `systemctl daemon-reload`.".to_owned());
                }
            }
            if pam {
                steps.push("Remove the rule that signs users in without a password from the display manager's PAM file (the line named in the finding), or empty the group it names (e.g. `gpasswd -d USER nopasswdlogin`).".to_owned());
            }
            if guest {
                steps.push("Turn LightDM's guest session off: allow-guest=false under [Seat:*] in /etc/lightdm/lightdm.conf.d/.".to_owned());
            }
            if empty {
                steps.push("Give every account named in the finding a password (`sudo passwd USER`), or lock it (`sudo passwd -l USER`).".to_owned());
            }
            if remote {
                steps.push("Turn off the remote-access services named in the finding: `sudo systemctl disable --now ssh.service` (sshd.service on Fedora), xrdp.service, or the VNC service; or ask IT for an exception in the policy.".to_owned());
            }
        }
        Platform::Macos => {
            if auto {
                steps.push("Turn automatic login off: System Settings > Users & Groups > \"Automatically log in as\" > Off (or `sudo defaults delete /Library/Preferences/com.apple.loginwindow autoLoginUser` and `sudo rm /etc/kcpassword`).".to_owned());
            }
            if guest {
                steps.push("Turn the guest user off: System Settings > Users & Groups > Guest User > off, or ask IT for a profile with DisableGuestAccount.".to_owned());
            }
            if empty {
                steps.push("Give every account named in the finding a password (System Settings > Users & Groups).".to_owned());
            }
            if remote {
                steps.push("Turn off the remote-access services named in the finding: System Settings > General > Sharing > Remote Login and Screen Sharing.".to_owned());
            }
        }
        Platform::Windows => {
            if auto {
                steps.push("Turn automatic sign-in off: as Administrator set AutoAdminLogon to 0 under HKLM\\SOFTWARE\\Microsoft\\Windows NT\\CurrentVersion\\Winlogon (and delete DefaultPassword there if present), or run `netplwiz` and tick \"Users must enter a user name and password to use this computer\".".to_owned());
            }
            if guest {
                steps.push("Disable the Guest account: `net user Guest /active:no` as Administrator (the account with RID 501, whatever its name), or the policy \"Accounts: Guest account status\" = Disabled.".to_owned());
            }
            if empty {
                steps.push("Give every account named in the finding a password and require one (`net user NAME /passwordreq:yes`, then set a password).".to_owned());
            }
            if remote {
                steps.push("Turn Remote Desktop off: Settings > System > Remote Desktop > Off, or ask IT for an exception in the policy.".to_owned());
            }
        }
    }
    steps
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(remote_access: RemoteAccessMode) -> DeviceAccessRule {
        DeviceAccessRule {
            remote_access,
            ..DeviceAccessRule::default()
        }
    }

    fn facts(doors: Vec<Door>) -> AccessFacts {
        AccessFacts {
            doors,
            evidence: vec![],
        }
    }

    #[test]
    fn an_open_automatic_login_fails_with_a_fix_for_this_os() {
        let f = facts(vec![
            Door::new(
                DoorKind::AutoLogin,
                "GDM automatic login",
                open("GDM signs alice in without a password"),
            ),
            Door::new(DoorKind::Guest, "LightDM guest session", closed("x")),
        ]);
        let finding = evaluate(&f, &rule(RemoteAccessMode::Report), Platform::Linux);
        assert_eq!(finding.status, Status::Fail);
        assert!(finding.summary.contains("GDM signs alice in"));
        assert!(finding.remediation[0].contains("AutomaticLoginEnable"));
        assert_eq!(finding.remediation.len(), 1, "only the fix for GDM");
    }

    #[test]
    fn a_remote_service_is_reported_and_fails_only_when_the_policy_denies_it() {
        let f = facts(vec![Door::new(
            DoorKind::RemoteService,
            "SSH server",
            open("ssh.service enabled"),
        )]);
        let report = evaluate(&f, &rule(RemoteAccessMode::Report), Platform::Linux);
        assert_eq!(report.status, Status::Pass);
        assert!(report.summary.contains("SSH server"), "{}", report.summary);
        let deny = evaluate(&f, &rule(RemoteAccessMode::Deny), Platform::Linux);
        assert_eq!(deny.status, Status::Fail);
        assert!(!deny.remediation.is_empty());
    }

    #[test]
    fn an_unreadable_remote_service_is_unknown_only_when_the_policy_denies_remote_access() {
        let f = facts(vec![Door::new(
            DoorKind::RemoteService,
            "SSH server",
            unknown("could not list units"),
        )]);
        assert_eq!(
            evaluate(&f, &rule(RemoteAccessMode::Report), Platform::Linux).status,
            Status::Pass
        );
        assert_eq!(
            evaluate(&f, &rule(RemoteAccessMode::Deny), Platform::Linux).status,
            Status::Unknown
        );
    }

    #[test]
    fn a_remote_service_with_an_empty_password_fails_even_in_report_mode() {
        let f = facts(vec![Door::new(
            DoorKind::RemoteEmptyPassword,
            "SSH password login",
            open("PermitEmptyPasswords yes and bob has no password"),
        )]);
        assert_eq!(
            evaluate(&f, &rule(RemoteAccessMode::Report), Platform::Linux).status,
            Status::Fail
        );
    }

    #[test]
    fn an_unknown_door_is_never_a_pass_and_nothing_examined_is_unknown() {
        let f = facts(vec![Door::new(
            DoorKind::EmptyPassword,
            "human accounts",
            unknown("/etc/shadow is readable by root only"),
        )]);
        assert_eq!(
            evaluate(&f, &rule(RemoteAccessMode::Report), Platform::Linux).status,
            Status::Unknown
        );
        assert_eq!(
            evaluate(&facts(vec![]), &rule(RemoteAccessMode::Report), Platform::Linux).status,
            Status::Unknown
        );
    }
}
