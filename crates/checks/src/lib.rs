//! The checks of posture.
//!
//! Each check is a folder (`screen_lock`, `disk_encryption`, `removable_media`) with the same
//! shape:
//!
//! - `gather(host) -> Facts`: the probe. It reads the machine only through a
//!   [`posture_host::Host`], dispatching on the host's platform (`linux.rs`, `macos.rs`,
//!   `windows.rs`), and returns plain facts with the evidence they rest on. A probe that cannot
//!   read something says so in the facts; it never guesses.
//! - `evaluate_on(&Facts, &rule, &System) -> Finding`: the judgement, a pure function. The
//!   check's title and remediation text live beside it; the clause comes from the policy.
//! - `CHECK`: its [`Check`] descriptor (id, title, policy section, run = gather then evaluate).
//!
//! Every check is listed once, in [`REGISTRY`], by the `registered_checks!` line below; [`assess`],
//! [`assess_within`], the report and the tests follow that list. Adding a check is its folder
//! plus its name on that line, and its section in the policy crate (see
//! [`posture_policy::PolicyRules::check_rules`]); the registry's order is the order of the
//! findings and must be the order of the policy's sections (a test here says so), and the
//! README's check table names every registered check (tested too).
//!
//! `inventory` gathers the device facts of the report. Nothing here prints, exits or touches the
//! machine other than through the host.

pub mod accounts;
pub mod catalog;
pub mod deadline;
pub mod enforcement;
pub mod evidence;
pub mod inventory;
pub mod pam;
pub mod shadow;
pub mod system;

pub use deadline::assess_within;
use posture_host::Host;
use posture_policy::{CheckRule, Policy, PolicyRules};
use posture_schema::{Device, Finding};

/// One check, as the registry knows it. Each check module defines its own as `CHECK`.
#[derive(Debug, Clone, Copy)]
pub struct Check {
    /// Stable id: the finding's id and the name of the check's policy section.
    pub id: &'static str,
    /// Human title in reports.
    pub title: &'static str,
    /// The check's policy section: whether it runs and the clause it enforces.
    pub rule: fn(&PolicyRules) -> &dyn CheckRule,
    /// Gathers the facts through the host and judges them against the check's section; fix
    /// steps are tailored to `system`.
    pub run: fn(&dyn Host, &PolicyRules, &system::System) -> Finding,
}

impl Check {
    /// Whether the policy runs this check.
    #[must_use]
    pub fn enabled(&self, rules: &PolicyRules) -> bool {
        (self.rule)(rules).enabled()
    }

    /// The clause this check enforces under the policy.
    #[must_use]
    pub fn clause<'a>(&self, rules: &'a PolicyRules) -> &'a str {
        (self.rule)(rules).clause()
    }
}

/// Declares each check's module and lists its descriptor in [`REGISTRY`], in this order.
macro_rules! registered_checks {
    ($($check:ident),* $(,)?) => {
        $(pub mod $check;)*

        /// Every check, in the order of the findings and of the policy's sections.
        pub static REGISTRY: &[Check] = &[$($check::CHECK),*];
    };
}

// The registry: one name per check.
registered_checks![
    screen_lock,
    disk_encryption,
    removable_media,
    device_access,
    credentials,
    password_rules,
];

/// What one run found: the device and one finding per enabled check, in policy order.
#[derive(Debug, Clone, PartialEq)]
pub struct Assessment {
    /// Inventory facts.
    pub device: Device,
    /// One finding per enabled check.
    pub findings: Vec<Finding>,
}

/// Runs every check the policy enables against a host.
pub fn assess(host: &dyn Host, policy: &Policy) -> Assessment {
    let rules = &policy.rules;
    // Fix steps name this system's tools (kwriteconfig5 or 6, update-initramfs or dracut).
    let system = system::System::gather(host);
    let findings = REGISTRY
        .iter()
        .filter(|check| check.enabled(rules))
        .map(|check| (check.run)(host, rules, &system))
        .collect();
    Assessment {
        device: inventory::gather(host),
        findings,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn registry_ids_are_unique() {
        for (i, check) in REGISTRY.iter().enumerate() {
            assert!(
                REGISTRY[..i].iter().all(|earlier| earlier.id != check.id),
                "{} is registered twice",
                check.id
            );
        }
    }

    #[test]
    fn registry_follows_the_policy_sections_in_order() {
        let rules = Policy::embedded().rules;
        let registered: Vec<&str> = REGISTRY.iter().map(|c| c.id).collect();
        let sections: Vec<&str> = rules.check_rules().iter().map(|(id, _)| *id).collect();
        assert_eq!(registered, sections);
        for check in REGISTRY {
            let by_id = rules.check_rule(check.id).unwrap();
            assert!(
                std::ptr::addr_eq((check.rule)(&rules), by_id),
                "{} reads another check's policy section",
                check.id
            );
        }
    }

    #[test]
    fn the_readme_check_table_names_every_registered_check() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../README.md");
        let readme = fs_err::read_to_string(path).unwrap();
        for check in REGISTRY {
            let row = format!("| `{}` |", check.id);
            assert!(
                readme.lines().any(|l| l.starts_with(&row)),
                "README.md has no check table row for {}",
                check.id
            );
        }
    }

    #[test]
    fn every_enabled_check_gives_one_finding_in_registry_order() {
        let mut policy = Policy::embedded();
        policy.rules.disk_encryption.enabled = false;
        let host = posture_host::ReplayHost::new(posture_host::EvidenceBundle::new(
            posture_host::Platform::Linux,
        ));
        let ids: Vec<String> = assess(&host, &policy)
            .findings
            .into_iter()
            .map(|f| f.id)
            .collect();
        assert_eq!(
            ids,
            [
                "screen_lock",
                "removable_media",
                "device_access",
                "credentials",
                "password_rules"
            ]
        );
    }
}
