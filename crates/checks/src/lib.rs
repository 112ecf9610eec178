//! The checks of posture.
//!
//! Each check is a module (`screen_lock`, `disk_encryption`, `removable_media`) with the same
//! shape:
//!
//! - `gather(host) -> Facts`: the probe. It reads the machine only through a
//!   [`posture_host::Host`], dispatching on the host's platform (`linux.rs`, `macos.rs`,
//!   `windows.rs`), and returns plain facts with the evidence they rest on. A probe that cannot
//!   read something says so in the facts; it never guesses.
//! - `evaluate(&Facts, &rule, platform) -> Finding`: the judgement, a pure function. The check's
//!   title, clause and remediation text live beside it.
//!
//! `inventory` gathers the device facts of the report. [`assess`] runs everything a policy
//! enables. Nothing here prints, exits or touches the machine other than through the host.

pub mod accounts;
pub mod catalog;
pub mod deadline;
pub mod disk_encryption;
pub mod evidence;
pub mod inventory;
pub mod pam;
pub mod removable_media;
pub mod screen_lock;
pub mod shadow;
pub mod system;

pub use deadline::assess_within;
use posture_host::Host;
use posture_policy::Policy;
use posture_schema::{Device, Finding};

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
    let mut findings = Vec::new();
    if rules.screen_lock.enabled {
        let facts = screen_lock::gather(host);
        findings.push(screen_lock::evaluate_on(
            &facts,
            &rules.screen_lock,
            &system,
        ));
    }
    if rules.disk_encryption.enabled {
        let facts = disk_encryption::gather(host);
        findings.push(disk_encryption::evaluate_on(
            &facts,
            &rules.disk_encryption,
            &system,
        ));
    }
    if rules.removable_media.enabled {
        let facts = removable_media::gather(host);
        findings.push(removable_media::evaluate_on(
            &facts,
            &rules.removable_media,
            &system,
        ));
    }
    Assessment {
        device: inventory::gather(host),
        findings,
    }
}
