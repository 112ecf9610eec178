//! The agent side of `docs/protocol.md`: enrollment, report delivery and check-in.

use axum::Json;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{FromRequest as _, State};
use axum::http::{HeaderMap, StatusCode};
use serde::{Deserialize, Serialize};

use crate::app::{ApiError, AppState, authenticate_device, now_ms};
use crate::credentials::{generate_secret, hash_secret, matches_setting};
use crate::ingest::{Rejection, validate};
use crate::store::{Enrollment, IngestOutcome, setting};

/// Longest accepted enrollment field.
const MAX_ENROLL_FIELD: usize = 256;

/// `POST /api/v1/enroll` request.
#[derive(Debug, Deserialize)]
pub struct EnrollRequest {
    /// The enrollment secret.
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
}

/// `POST /api/v1/enroll` answer.
#[derive(Debug, Serialize)]
pub struct EnrollResponse {
    /// The device's id; the agent puts it in every report.
    pub device_id: String,
    /// The device's bearer token.
    pub device_token: String,
}

/// `POST /api/v1/reports` answer.
#[derive(Debug, Serialize)]
pub struct ReportResponse {
    /// The stored report's id.
    pub report_id: String,
    /// Whether this device had sent this report before.
    pub duplicate: bool,
    /// Whether an administrator asked for a fresh check.
    pub check_now: bool,
}

/// `GET /api/v1/agent/checkin` answer.
#[derive(Debug, Serialize)]
pub struct CheckinResponse {
    /// Whether an administrator asked for a fresh check.
    pub check_now: bool,
    /// When, RFC 3339.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub requested_at: Option<String>,
}

/// The answer to a body that could not be read: 413 over the limit, else 400.
pub(crate) fn body_rejection(rejection: &BytesRejection, limit: usize) -> ApiError {
    if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
        ApiError::PayloadTooLarge(limit)
    } else {
        ApiError::BadRequest(rejection.body_text())
    }
}

/// The answer to a body that failed while streaming in: 413 over the limit, 408 past the body
/// deadline, else 400.
fn read_error(rejection: &BytesRejection, limit: usize) -> ApiError {
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(rejection);
    while let Some(e) = source {
        if e.is::<tower_http::timeout::TimeoutError>() {
            return ApiError::RequestTimeout;
        }
        source = e.source();
    }
    body_rejection(rejection, limit)
}

/// The bytes a request announces (`Content-Length`), else the limit.
fn announced_length(headers: &HeaderMap, limit: usize) -> usize {
    headers
        .get(axum::http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<usize>().ok())
        .map_or(limit, |n| n.min(limit))
}

fn reject(reason: &'static str, err: ApiError) -> ApiError {
    metrics::counter!("posture_reports_rejected_total", "reason" => reason).increment(1);
    err
}

/// Enrolls a device with the enrollment secret.
pub async fn enroll(
    State(state): State<AppState>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<EnrollResponse>, ApiError> {
    let body = body.map_err(|r| body_rejection(&r, state.config.max_small_body_bytes))?;
    let request: EnrollRequest = serde_json::from_slice(&body)
        .map_err(|e| ApiError::BadRequest(format!("not an enrollment request: {e}")))?;
    if !matches_setting(
        state.store.as_ref(),
        setting::ENROLL_SECRET_SHA256,
        &request.enroll_secret,
    )
    .await?
    {
        metrics::counter!("posture_enrollments_total", "outcome" => "refused").increment(1);
        return Err(ApiError::Unauthorized);
    }
    for (name, value) in [
        ("machine_id", &request.machine_id),
        ("hostname", &request.hostname),
        ("platform", &request.platform),
        ("agent_version", &request.agent_version),
    ] {
        if value.len() > MAX_ENROLL_FIELD || value.contains('\0') {
            return Err(ApiError::Unprocessable(format!(
                "{name} must be at most {MAX_ENROLL_FIELD} bytes without NUL characters"
            )));
        }
    }
    if request.machine_id.trim().is_empty() {
        return Err(ApiError::Unprocessable(
            "machine_id must not be empty".into(),
        ));
    }
    let token = generate_secret()?;
    let device_id = state
        .store
        .enroll(
            &Enrollment {
                machine_id: request.machine_id,
                hostname: request.hostname,
                platform: request.platform,
                agent_version: request.agent_version,
            },
            &hash_secret(&token),
            now_ms(),
        )
        .await?;
    metrics::counter!("posture_enrollments_total", "outcome" => "enrolled").increment(1);
    tracing::info!(device_id = %device_id, "device enrolled");
    Ok(Json(EnrollResponse {
        device_id,
        device_token: token,
    }))
}

/// Stores a report from an enrolled device. The token is checked and a place in the ingest
/// queue taken before the body is read, so neither strangers nor a flood of reports can make
/// the collector hold bodies in memory.
pub async fn post_report(
    State(state): State<AppState>,
    request: axum::extract::Request,
) -> Result<Json<ReportResponse>, ApiError> {
    let (parts, body) = request.into_parts();
    let headers = &parts.headers;
    let device_id = authenticate_device(&state, headers)
        .await
        .map_err(|e| match e {
            ApiError::Unauthorized => reject("unauthorized", e),
            ApiError::Unavailable(_) => reject("unavailable", e),
            other => other,
        })?;
    let limit = state.config.max_body_bytes;
    let _place = state
        .writer
        .reserve(announced_length(headers, limit))
        .map_err(|full| reject("busy", ApiError::Overloaded(full.to_string())))?;
    let request = axum::extract::Request::from_parts(parts, body);
    let body = Bytes::from_request(request, &state).await.map_err(|e| {
        let err = read_error(&e, limit);
        match err {
            // Counted with the 413s of the body limit layer, in `app::record_request`.
            ApiError::PayloadTooLarge(_) => err,
            ApiError::RequestTimeout => reject("timeout", err),
            other => reject("malformed", other),
        }
    })?;
    let item = validate(&body, &device_id, now_ms()).map_err(|rejection| {
        let reason = rejection.reason();
        let err = match &rejection {
            Rejection::Malformed(_) => ApiError::BadRequest(rejection.to_string()),
            Rejection::SchemaVersion { .. } | Rejection::Invalid(_) => {
                ApiError::Unprocessable(rejection.to_string())
            }
            Rejection::WrongDevice => ApiError::Forbidden(rejection.to_string()),
        };
        tracing::info!(device_id = %device_id, reason, error = %rejection, "report rejected");
        reject(reason, err)
    })?;
    // The item holds its own copy; the request's is not needed while the commit waits.
    drop(body);
    let report_id = item.report_id.clone();
    let outcome = state.writer.store(item).await.map_err(|e| {
        let reason = if e.is_temporary() {
            "unavailable"
        } else {
            "invalid"
        };
        reject(reason, e.into())
    })?;
    let (duplicate, check_now) = match outcome {
        IngestOutcome::Stored { check_now } => (false, check_now),
        IngestOutcome::Duplicate { check_now } => (true, check_now),
        IngestOutcome::ForeignReportId => {
            return Err(reject(
                "foreign_report_id",
                ApiError::Forbidden("this report_id belongs to another device".into()),
            ));
        }
    };
    let outcome = if duplicate { "duplicate" } else { "stored" };
    metrics::counter!("posture_reports_received_total", "outcome" => outcome).increment(1);
    tracing::debug!(device_id = %device_id, report_id = %report_id, outcome, "report accepted");
    Ok(Json(ReportResponse {
        report_id,
        duplicate,
        check_now: check_now.is_some(),
    }))
}

/// Tells an agent whether an administrator asked for a fresh check.
pub async fn checkin(
    State(state): State<AppState>,
    headers: HeaderMap,
) -> Result<Json<CheckinResponse>, ApiError> {
    let device_id = authenticate_device(&state, &headers).await?;
    let requested = state.store.checkin(&device_id, now_ms()).await?;
    Ok(Json(CheckinResponse {
        check_now: requested.is_some(),
        requested_at: requested.map(crate::display::rfc3339),
    }))
}
