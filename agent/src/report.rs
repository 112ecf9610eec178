//! Turning an assessment into the report the agent prints, spools and sends.

use posture_checks::Assessment;
use posture_policy::Policy;
use posture_schema::{
    Agent, EvidenceMode, Finding, PolicyInfo, Posture, Report, SCHEMA_VERSION, Status,
};

/// The agent's name and version as reported.
pub(crate) const AGENT_NAME: &str = "posture";
pub(crate) const AGENT_VERSION: &str = env!("CARGO_PKG_VERSION");

/// Builds a report with a fresh id and the current time.
pub(crate) fn build(
    assessment: Assessment,
    policy: &Policy,
    mode: EvidenceMode,
    device_id: Option<String>,
) -> Report {
    let generated_at = time::OffsetDateTime::now_utc()
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_else(|_| "1970-01-01T00:00:00Z".to_owned());
    let posture = Posture::from_checks(&assessment.findings);
    Report {
        schema_version: SCHEMA_VERSION,
        report_id: uuid::Uuid::now_v7().to_string(),
        device_id,
        generated_at,
        agent: Agent {
            name: AGENT_NAME.to_owned(),
            version: AGENT_VERSION.to_owned(),
            mode,
        },
        posture,
        device: assessment.device,
        policy: policy_info(policy),
        checks: assessment.findings,
        trigger: None,
    }
}

/// The policy as described in a report.
pub(crate) fn policy_info(policy: &Policy) -> PolicyInfo {
    PolicyInfo {
        name: policy.rules.name.clone(),
        version: policy.rules.version.clone(),
        digest: policy.digest.clone(),
        source: policy.source.clone(),
        organisation: policy.rules.organisation.clone(),
        security_contact: policy.rules.security_contact.clone(),
    }
}

/// The fix step of an `unknown` that a permission caused, when the agent did not run as root.
pub(crate) const SUDO_STEP: &str = "Run it as root to let posture read what it was denied: sudo posture --check (add the same flags).";

/// Adds [`SUDO_STEP`] to every `unknown` finding whose reason or evidence is a permission
/// denial: run by an ordinary user, posture cannot read root-only files (LUKS headers, other
/// users' settings), and the fix is to run it as root, not to change the machine.
pub(crate) fn suggest_sudo(findings: &mut [Finding]) {
    let denied = |text: &str| {
        let t = text.to_ascii_lowercase();
        t.contains("permission denied") || t.contains("operation not permitted")
    };
    for f in findings.iter_mut().filter(|f| f.status == Status::Unknown) {
        let by_permission = denied(&f.summary)
            || f.subjects
                .iter()
                .any(|s| s.status == Status::Unknown && denied(&s.summary))
            || f.evidence.iter().any(|e| denied(&e.value));
        if by_permission && !f.remediation.iter().any(|r| r == SUDO_STEP) {
            f.remediation.insert(0, SUDO_STEP.to_owned());
        }
    }
}

#[cfg(test)]
mod tests {
    use posture_schema::{Evidence, EvidenceKind, Subject};

    use super::*;

    fn finding(status: Status, summary: &str, evidence: &str) -> Finding {
        Finding {
            id: "disk_encryption".into(),
            title: "Disk encryption".into(),
            clause: "Device Policy 4".into(),
            status,
            summary: summary.into(),
            subjects: vec![Subject {
                kind: "volume".into(),
                name: "/".into(),
                status,
                summary: summary.into(),
                settings: Vec::new(),
                enforced: None,
            }],
            evidence: vec![Evidence {
                kind: EvidenceKind::File,
                source: "/dev/sda2".into(),
                key: None,
                value: evidence.into(),
                subject: None,
            }],
            remediation: vec![],
        }
    }

    #[test]
    fn only_unknowns_caused_by_a_permission_get_the_sudo_step() {
        let mut findings = vec![
            finding(
                Status::Unknown,
                "could not tell",
                "could not read /dev/sda2: permission denied",
            ),
            finding(Status::Unknown, "no desktop found", "not found"),
            finding(Status::Fail, "not encrypted", "permission denied"),
        ];
        suggest_sudo(&mut findings);
        suggest_sudo(&mut findings);
        assert_eq!(findings[0].remediation, [SUDO_STEP]);
        assert!(findings[1].remediation.is_empty());
        assert!(findings[2].remediation.is_empty());
    }
}
