//! The agent protocol of `docs/protocol.md`: its paths, requests and replies, shared by the
//! agent (`posture-client`) and `posture-collector` so the two cannot drift apart.
//!
//! Readers ignore fields they do not know (no `deny_unknown_fields` here), and optional fields
//! default when absent, so either side may add an optional field before the other is upgraded.

use serde::{Deserialize, Serialize};

/// Path of the enrollment call (`POST`).
pub const ENROLL_PATH: &str = "/api/v1/enroll";
/// Path of the report call (`POST`).
pub const REPORTS_PATH: &str = "/api/v1/reports";
/// Path of the check-in call (`GET`).
pub const CHECKIN_PATH: &str = "/api/v1/agent/checkin";

/// `POST /api/v1/enroll` request.
#[derive(Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct EnrollRequest {
    /// The fleet-wide enrollment secret, or a per-device one-time enrollment code.
    pub enroll_secret: String,
    /// Host name.
    #[serde(default)]
    pub hostname: String,
    /// Stable machine identifier.
    pub machine_id: String,
    /// `linux`, `macos` or `windows`.
    #[serde(default)]
    pub platform: String,
    /// Agent version.
    #[serde(default)]
    pub agent_version: String,
    /// The device token the agent holds from an earlier enrollment, if any: re-enrolling a
    /// machine the collector already knows needs it (or an administrator's approval).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub device_token: Option<String>,
}

impl std::fmt::Debug for EnrollRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EnrollRequest")
            .field("enroll_secret", &"[redacted]")
            .field("hostname", &self.hostname)
            .field("machine_id", &self.machine_id)
            .field("platform", &self.platform)
            .field("agent_version", &self.agent_version)
            .field(
                "device_token",
                &self.device_token.as_ref().map(|_| "[redacted]"),
            )
            .finish()
    }
}

/// `POST /api/v1/enroll` reply.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EnrollResponse {
    /// The device's id; the agent puts it in every report it sends.
    pub device_id: String,
    /// The device's bearer token.
    pub device_token: String,
    /// The machine was known and did not prove it is the same device (its current token, or an
    /// administrator's code for it): the token works once an administrator approves
    /// (answered with `202 Accepted`).
    #[serde(default)]
    pub pending: bool,
}

impl std::fmt::Debug for EnrollResponse {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EnrollResponse")
            .field("device_id", &self.device_id)
            .field("device_token", &"[redacted]")
            .field("pending", &self.pending)
            .finish()
    }
}

/// `POST /api/v1/reports` reply to an accepted report.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReportResponse {
    /// The stored report's id (absent from plain webhooks).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub report_id: Option<String>,
    /// Whether this device had sent this report before.
    #[serde(default)]
    pub duplicate: bool,
    /// Whether an administrator asked for a fresh check.
    #[serde(default)]
    pub check_now: bool,
}

/// `GET /api/v1/agent/checkin` reply.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CheckinResponse {
    /// Whether an administrator asked for a fresh check.
    #[serde(default)]
    pub check_now: bool,
    /// When, RFC 3339.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub requested_at: Option<String>,
    /// The fleet policy the agent must judge with; absent when the collector has none (the
    /// agent's embedded default policy is then the fleet policy).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub policy: Option<FleetPolicy>,
}

/// The fleet policy as a collector hands it out.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FleetPolicy {
    /// `sha256:` digest of `toml`; the agent checks it before use.
    pub digest: String,
    /// The policy file's text (the format of `posture-policy`).
    pub toml: String,
    /// The collector's version number of this policy.
    #[serde(default)]
    pub version: i64,
}

/// The body of every error reply: `{"error": "…"}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorReply {
    /// What went wrong, for logs and `posture status`.
    pub error: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replies_with_fields_this_reader_does_not_know_are_read() {
        let r: ReportResponse = serde_json::from_str(
            r#"{"report_id":"r","duplicate":true,"check_now":false,"later_field":{"x":1}}"#,
        )
        .unwrap();
        assert_eq!(r.report_id.as_deref(), Some("r"));
        assert!(r.duplicate);
        let c: CheckinResponse =
            serde_json::from_str(r#"{"check_now":true,"later":{"digest":"d"}}"#).unwrap();
        assert!(c.check_now);
        let e: EnrollRequest =
            serde_json::from_str(r#"{"enroll_secret":"s","machine_id":"m","new":[1]}"#).unwrap();
        assert_eq!(e.machine_id, "m");
    }

    #[test]
    fn secrets_never_appear_in_debug_output() {
        let request = EnrollRequest {
            enroll_secret: "fleet-secret".into(),
            machine_id: "m".into(),
            device_token: Some("device-token".into()),
            ..EnrollRequest::default()
        };
        let reply = EnrollResponse {
            device_id: "d".into(),
            device_token: "device-token".into(),
            pending: false,
        };
        let text = format!("{request:?} {reply:?}");
        assert!(
            !text.contains("fleet-secret") && !text.contains("device-token"),
            "{text}"
        );
    }
}
