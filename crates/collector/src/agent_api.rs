//! The agent side of `docs/protocol.md`: enrollment, report delivery and check-in.

use std::net::{IpAddr, Ipv6Addr, SocketAddr};
use std::time::Instant;

use axum::Json;
use axum::body::Bytes;
use axum::extract::ConnectInfo;
use axum::extract::rejection::BytesRejection;
use axum::extract::{FromRequest as _, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use posture_schema::protocol::{
    self, CheckinResponse, EnrollRequest, EnrollResponse, ReportResponse,
};

use crate::app::{ApiError, AppState, authenticate_device, now_ms};
use crate::credentials::{generate_secret, hash_secret, matches_setting};
use crate::ingest::{Judging, Rejection, validate};
use crate::store::{EnrollOutcome, Enrollment, IngestOutcome, setting};

/// Seconds an agent should wait before sending again a report of a newer schema version than
/// this collector knows: long enough not to hammer it, short enough to catch the upgrade soon.
const TOO_NEW_RETRY_AFTER_SECS: u64 = 600;

/// Longest accepted enrollment field.
const MAX_ENROLL_FIELD: usize = 256;

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

/// Enrolls a device with the fleet enrollment secret or a one-time enrollment code.
///
/// A new machine is enrolled at once. A machine the collector knows is re-enrolled only with its
/// current device token (while active) or a code an administrator issued for that device;
/// otherwise the new token waits for an administrator's approval (`202`, `pending`). Failed
/// attempts are rate limited per source address.
pub async fn enroll(
    State(state): State<AppState>,
    extensions: axum::http::Extensions,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let source = extensions
        .get::<ConnectInfo<SocketAddr>>()
        .map_or(IpAddr::V6(Ipv6Addr::UNSPECIFIED), |c| c.0.ip());
    if let Some(wait) = state.enroll_failures.blocked(source, Instant::now()) {
        metrics::counter!("posture_enrollments_total", "outcome" => "rate_limited").increment(1);
        return Err(ApiError::TooManyRequests(wait.as_secs().max(1)));
    }
    let body = body.map_err(|r| body_rejection(&r, state.config.max_small_body_bytes))?;
    let request: EnrollRequest = serde_json::from_slice(&body)
        .map_err(|e| ApiError::BadRequest(format!("not an enrollment request: {e}")))?;
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
    let now = now_ms();
    let approved_device = if matches_setting(
        state.store.as_ref(),
        setting::ENROLL_SECRET_SHA256,
        &request.enroll_secret,
    )
    .await?
    {
        None
    } else {
        match state
            .store
            .consume_enroll_code(&hash_secret(request.enroll_secret.trim()), now)
            .await?
        {
            Some(device) => device,
            None => {
                state.enroll_failures.record_failure(source, Instant::now());
                metrics::counter!("posture_enrollments_total", "outcome" => "refused").increment(1);
                return Err(ApiError::Unauthorized);
            }
        }
    };
    let token = generate_secret()?;
    let outcome = state
        .store
        .enroll(
            &Enrollment {
                presented_token_sha256: request.device_token.as_deref().map(hash_secret),
                approved_device,
                machine_id: request.machine_id,
                hostname: request.hostname,
                platform: request.platform,
                agent_version: request.agent_version,
            },
            &hash_secret(&token),
            now,
        )
        .await?;
    let (status, device_id, pending, label) = match outcome {
        EnrollOutcome::Enrolled {
            device_id,
            re_enrolled,
        } => (
            StatusCode::OK,
            device_id,
            false,
            if re_enrolled {
                "re_enrolled"
            } else {
                "enrolled"
            },
        ),
        EnrollOutcome::Pending { device_id } => (StatusCode::ACCEPTED, device_id, true, "pending"),
    };
    metrics::counter!("posture_enrollments_total", "outcome" => label).increment(1);
    tracing::info!(device_id = %device_id, outcome = label, "enrollment");
    Ok((
        status,
        Json(EnrollResponse {
            device_id,
            device_token: token,
            pending,
        }),
    )
        .into_response())
}

/// The agent's clock when it sent the request: its `Date` header, Unix ms.
fn agent_clock(headers: &HeaderMap) -> Option<i64> {
    let text = headers.get(axum::http::header::DATE)?.to_str().ok()?;
    let time = httpdate::parse_http_date(text).ok()?;
    let since = time.duration_since(std::time::UNIX_EPOCH).ok()?;
    i64::try_from(since.as_millis()).ok()
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
    let sent_at = agent_clock(headers);
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
    let policy = state
        .fleet
        .current(state.store.as_ref())
        .await
        .map_err(|e| reject("unavailable", e.into()))?
        .judging;
    let judging = Judging {
        received_at: now_ms(),
        agent_clock: sent_at,
        max_clock_skew_ms: state.config.max_clock_skew_ms,
        policy: &policy,
    };
    let item = validate(&body, &device_id, &judging).map_err(|rejection| {
        let reason = rejection.reason();
        let err = match &rejection {
            Rejection::Malformed(_) => ApiError::BadRequest(rejection.to_string()),
            Rejection::SchemaVersion { .. } | Rejection::Invalid(_) | Rejection::NotLive(_) => {
                ApiError::Unprocessable(rejection.to_string())
            }
            Rejection::TooNew { .. } => ApiError::RetryLater {
                message: rejection.to_string(),
                after_secs: TOO_NEW_RETRY_AFTER_SECS,
            },
            // Well authenticated, wrong in content: the agent sets it aside (never 401/403,
            // which mean "your credentials", and would make the agent retry it forever).
            Rejection::WrongDevice => ApiError::Conflict(rejection.to_string()),
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
                ApiError::Conflict("this report_id belongs to another device".into()),
            ));
        }
    };
    let outcome = if duplicate { "duplicate" } else { "stored" };
    metrics::counter!("posture_reports_received_total", "outcome" => outcome).increment(1);
    tracing::debug!(device_id = %device_id, report_id = %report_id, outcome, "report accepted");
    Ok(Json(ReportResponse {
        report_id: Some(report_id),
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
    let policy = state.fleet.current(state.store.as_ref()).await?.stored;
    Ok(Json(CheckinResponse {
        check_now: requested.is_some(),
        requested_at: requested.map(crate::display::rfc3339),
        policy: policy.map(|p| protocol::FleetPolicy {
            digest: p.digest,
            toml: p.text,
            version: p.version,
        }),
    }))
}
