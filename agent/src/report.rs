//! Turning an assessment into the report the agent prints, spools and sends.

use posture_checks::Assessment;
use posture_policy::Policy;
use posture_schema::{Agent, EvidenceMode, PolicyInfo, Posture, Report, SCHEMA_VERSION};

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
