//! The administrator's JSON API (bearer admin token): devices, history, fleet summary, asset
//! management, check-now, exports (CSV, NDJSON, OCSF) and secret rotation. Every route is listed in
//! `docs/collector-api.md`.

use axum::body::Bytes;
use axum::extract::rejection::{BytesRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::middleware;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;

use crate::agent_api::body_rejection;
use crate::app::{ApiError, AppState, authenticate_admin, now_ms, require_json};
use crate::credentials::{generate_secret, hash_secret, rotate};
use crate::display::{day_before, rfc3339};
use crate::export::{
    ExportSource, OcsfWindow, devices_csv_body, devices_ndjson_body, export_filter,
    findings_csv_body, findings_ndjson_body, ocsf_body,
};
use crate::store::{AssetUpdate, DeviceFilter, ReceivedCursor, setting};

/// How long a one-time dashboard login link stays valid.
pub const LOGIN_LINK_TTL_MS: i64 = 5 * 60 * 1000;

pub(crate) fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/v1/devices", get(list_devices))
        .route(
            "/api/v1/devices/{id}",
            get(device_detail)
                .patch(update_asset)
                .route_layer(middleware::from_fn(require_json)),
        )
        .route("/api/v1/devices/{id}/reports", get(device_reports))
        .route("/api/v1/devices/{id}/reports/{report_id}", get(one_report))
        .route("/api/v1/devices/{id}/check-now", post(check_now))
        .route("/api/v1/devices/{id}/revoke-token", post(revoke_token))
        .route("/api/v1/summary", get(summary))
        .route("/api/v1/export/devices.csv", get(export_devices))
        .route("/api/v1/export/findings.csv", get(export_findings))
        .route("/api/v1/export/devices.ndjson", get(export_devices_ndjson))
        .route(
            "/api/v1/export/findings.ndjson",
            get(export_findings_ndjson),
        )
        .route("/api/v1/export/ocsf.ndjson", get(export_ocsf))
        .route("/api/v1/enroll-secret/rotate", post(rotate_enroll_secret))
        .route(
            "/api/v1/login-links",
            post(create_login_link).route_layer(middleware::from_fn(require_json)),
        )
        // The policy is TOML, not JSON: this route takes any body type (it is admin-token only,
        // and a browser cannot send a cross-site PUT without a preflight).
        .route("/api/v1/policy", get(get_policy).put(put_policy))
        .route(
            "/api/v1/devices/{id}/enrollment/approve",
            post(approve_enrollment),
        )
        .route(
            "/api/v1/devices/{id}/enrollment/refuse",
            post(refuse_enrollment),
        )
        .route(
            "/api/v1/enroll-codes",
            post(create_enroll_code).route_layer(middleware::from_fn(require_json)),
        )
        .route("/api/v1/policy/versions", get(policy_versions))
}

/// The fleet policy in force: the newest version set, or the agent's embedded default.
async fn get_policy(
    State(state): State<AppState>,
    headers: HeaderMap,
) -> Result<Json<serde_json::Value>, ApiError> {
    authenticate_admin(&state, &headers).await?;
    let current = state.fleet.current(state.store.as_ref()).await?;
    Ok(Json(match current.stored {
        Some(p) => serde_json::json!({
            "source": crate::fleet::FLEET_SOURCE,
            "version": p.version,
            "digest": p.digest,
            "set_at": rfc3339(p.set_at),
            "text": p.text,
        }),
        None => serde_json::json!({
            "source": posture_policy::EMBEDDED_SOURCE,
            "version": null,
            "digest": current.judging.digest,
            "set_at": null,
            "text": posture_policy::DEFAULT_POLICY_TOML,
        }),
    }))
}

/// Sets a new fleet policy version from a TOML body.
async fn put_policy(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<serde_json::Value>, ApiError> {
    authenticate_admin(&state, &headers).await?;
    let body = body.map_err(|r| body_rejection(&r, state.config.max_small_body_bytes))?;
    let text = std::str::from_utf8(&body)
        .map_err(|e| ApiError::BadRequest(format!("the policy is not UTF-8: {e}")))?;
    let stored = crate::fleet::set(state.store.as_ref(), "policy", text, now_ms())
        .await
        .map_err(|e| match e {
            Ok(message) => ApiError::Unprocessable(message),
            Err(store) => store.into(),
        })?;
    state.fleet.invalidate();
    tracing::info!(version = stored.version, digest = %stored.digest, "fleet policy set");
    Ok(Json(serde_json::json!({
        "version": stored.version,
        "digest": stored.digest,
        "set_at": rfc3339(stored.set_at),
    })))
}

/// Every fleet policy version, newest first.
async fn policy_versions(
    State(state): State<AppState>,
    headers: HeaderMap,
) -> Result<Json<serde_json::Value>, ApiError> {
    authenticate_admin(&state, &headers).await?;
    let versions: Vec<serde_json::Value> = state
        .store
        .policy_versions()
        .await?
        .into_iter()
        .map(|p| {
            serde_json::json!({
                "version": p.version,
                "digest": p.digest,
                "set_at": rfc3339(p.set_at),
                "text": p.text,
            })
        })
        .collect();
    Ok(Json(serde_json::json!({ "versions": versions })))
}

/// The device-list filter of a request, checked: a value no filter takes is a 400 naming it,
/// for the list and every export alike.
pub(crate) fn device_filter(
    query: Result<Query<DeviceFilter>, QueryRejection>,
) -> Result<DeviceFilter, ApiError> {
    let Query(filter) = query.map_err(|r| ApiError::BadRequest(r.body_text()))?;
    filter.validate().map_err(ApiError::BadRequest)?;
    Ok(filter)
}

async fn list_devices(
    State(state): State<AppState>,
    headers: HeaderMap,
    query: Result<Query<DeviceFilter>, QueryRejection>,
) -> Result<Json<serde_json::Value>, ApiError> {
    authenticate_admin(&state, &headers).await?;
    let mut filter = device_filter(query)?;
    let limit = filter.limit.unwrap_or(1000).min(10_000);
    filter.limit = Some(limit);
    let devices = state.store.list_devices(&filter, now_ms()).await?;
    // A full page may have a next one: its cursor continues the list where this page ends.
    let next_cursor = devices
        .last()
        .filter(|_| limit > 0 && devices.len() == limit as usize)
        .map(crate::store::DeviceSummary::cursor);
    Ok(Json(
        serde_json::json!({ "devices": devices, "next_cursor": next_cursor }),
    ))
}

#[derive(Debug, Deserialize)]
struct HistoryQuery {
    limit: Option<u32>,
}

async fn device_detail(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
    Query(q): Query<HistoryQuery>,
) -> Result<Json<serde_json::Value>, ApiError> {
    authenticate_admin(&state, &headers).await?;
    let mut detail = state.store.device(&id).await?.ok_or(ApiError::NotFound)?;
    let history = state
        .store
        .history(&id, q.limit.unwrap_or(50).min(1000))
        .await?;
    let latest = detail
        .latest_report
        .take()
        .map(|body| serde_json::from_str::<serde_json::Value>(&body))
        .transpose()
        .map_err(|e| ApiError::Internal(format!("stored report is not JSON: {e}")))?;
    Ok(Json(serde_json::json!({
        "device": detail,
        "latest_report": latest,
        "history": history,
    })))
}

async fn device_reports(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
    Query(q): Query<HistoryQuery>,
) -> Result<Json<serde_json::Value>, ApiError> {
    authenticate_admin(&state, &headers).await?;
    if state.store.device(&id).await?.is_none() {
        return Err(ApiError::NotFound);
    }
    let history = state
        .store
        .history(&id, q.limit.unwrap_or(100).min(10_000))
        .await?;
    Ok(Json(serde_json::json!({ "reports": history })))
}

async fn one_report(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path((id, report_id)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    authenticate_admin(&state, &headers).await?;
    let body = state
        .store
        .report(&id, &report_id)
        .await?
        .ok_or(ApiError::NotFound)?;
    // The body exactly as the agent sent it.
    Ok(([(header::CONTENT_TYPE, "application/json")], body).into_response())
}

async fn check_now(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Json<serde_json::Value>, ApiError> {
    authenticate_admin(&state, &headers).await?;
    let now = now_ms();
    if !state.store.request_check_now(&id, now).await? {
        return Err(ApiError::NotFound);
    }
    tracing::info!(device_id = %id, "check-now requested");
    Ok(Json(
        serde_json::json!({ "device_id": id, "requested_at": rfc3339(now) }),
    ))
}

async fn update_asset(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<serde_json::Value>, ApiError> {
    authenticate_admin(&state, &headers).await?;
    let body = body.map_err(|r| body_rejection(&r, state.config.max_small_body_bytes))?;
    let update: AssetUpdate = serde_json::from_slice(&body)
        .map_err(|e| ApiError::BadRequest(format!("not an asset update: {e}")))?;
    for (name, value) in [("owner", &update.owner), ("note", &update.note)] {
        if value.as_ref().is_some_and(|v| v.contains('\0')) {
            return Err(ApiError::BadRequest(format!(
                "{name} contains a NUL character"
            )));
        }
        if value.as_ref().is_some_and(|v| v.len() > 1024) {
            return Err(ApiError::Unprocessable(format!(
                "{name} must be at most 1024 bytes"
            )));
        }
    }
    if !state.store.update_asset(&id, &update, now_ms()).await? {
        return Err(ApiError::NotFound);
    }
    tracing::info!(device_id = %id, state = ?update.state, "asset record updated");
    let device = state.store.device(&id).await?.ok_or(ApiError::NotFound)?;
    Ok(Json(
        serde_json::json!({ "device": device.summary, "note": device.note }),
    ))
}

async fn revoke_token(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    authenticate_admin(&state, &headers).await?;
    if !state.store.revoke_token(&id).await? {
        return Err(ApiError::NotFound);
    }
    tracing::info!(device_id = %id, "device token revoked");
    Ok(StatusCode::NO_CONTENT)
}

async fn approve_enrollment(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    decide_enrollment(&state, &headers, &id, true).await
}

async fn refuse_enrollment(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    decide_enrollment(&state, &headers, &id, false).await
}

/// Approves or refuses a device's pending re-enrollment (404 when none is pending).
async fn decide_enrollment(
    state: &AppState,
    headers: &HeaderMap,
    id: &str,
    approve: bool,
) -> Result<StatusCode, ApiError> {
    authenticate_admin(state, headers).await?;
    if !state.store.decide_enrollment(id, approve, now_ms()).await? {
        return Err(ApiError::NotFound);
    }
    tracing::info!(device_id = %id, approve, "pending re-enrollment decided");
    Ok(StatusCode::NO_CONTENT)
}

/// Default lifetime of a one-time enrollment code.
const ENROLL_CODE_TTL_HOURS: u32 = 72;

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct EnrollCodeRequest {
    /// The device the code re-enrolls; absent for a code that enrolls a new machine.
    #[serde(default)]
    device_id: Option<String>,
    /// Hours the code stays valid (default 72, at most 720).
    #[serde(default)]
    ttl_hours: Option<u32>,
}

/// Creates a one-time enrollment code, shown only in this answer.
async fn create_enroll_code(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<serde_json::Value>, ApiError> {
    authenticate_admin(&state, &headers).await?;
    let body = body.map_err(|r| body_rejection(&r, state.config.max_small_body_bytes))?;
    let request: EnrollCodeRequest = if body.is_empty() {
        EnrollCodeRequest::default()
    } else {
        serde_json::from_slice(&body)
            .map_err(|e| ApiError::BadRequest(format!("not an enrollment code request: {e}")))?
    };
    if let Some(id) = &request.device_id
        && state.store.device(id).await?.is_none()
    {
        return Err(ApiError::NotFound);
    }
    let now = now_ms();
    let hours = request
        .ttl_hours
        .unwrap_or(ENROLL_CODE_TTL_HOURS)
        .clamp(1, 720);
    let expires_at = now + i64::from(hours) * 3_600_000;
    let code = generate_secret()?;
    state
        .store
        .create_enroll_code(
            &hash_secret(&code),
            request.device_id.as_deref(),
            expires_at,
            now,
        )
        .await?;
    tracing::info!(device_id = ?request.device_id, "one-time enrollment code created");
    Ok(Json(serde_json::json!({
        "code": code,
        "device_id": request.device_id,
        "expires_at": rfc3339(expires_at),
    })))
}

#[derive(Debug, Deserialize)]
struct SummaryQuery {
    days: Option<u32>,
}

async fn summary(
    State(state): State<AppState>,
    headers: HeaderMap,
    Query(q): Query<SummaryQuery>,
) -> Result<Json<serde_json::Value>, ApiError> {
    authenticate_admin(&state, &headers).await?;
    let days = q.days.unwrap_or(30).min(3650);
    let summary = state
        .store
        .fleet_summary(&day_before(now_ms(), days))
        .await?;
    Ok(Json(
        serde_json::to_value(summary).map_err(|e| ApiError::Internal(e.to_string()))?,
    ))
}

pub(crate) fn csv_response(name: &str, body: axum::body::Body) -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/csv; charset=utf-8".to_owned()),
            (
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"{name}\""),
            ),
        ],
        body,
    )
        .into_response()
}

/// What an export of this request reads.
pub(crate) fn export_source(state: &AppState, filter: DeviceFilter) -> ExportSource {
    ExportSource {
        store: std::sync::Arc::clone(&state.store),
        filter: std::sync::Arc::new(filter),
        now: now_ms(),
        page_rows: state.config.export_page_rows.max(1),
    }
}

/// An NDJSON download (one JSON object per line).
pub(crate) fn ndjson_response(name: &str, body: axum::body::Body) -> Response {
    (
        [
            (header::CONTENT_TYPE, "application/x-ndjson".to_owned()),
            (
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"{name}\""),
            ),
        ],
        body,
    )
        .into_response()
}

async fn export_devices(
    State(state): State<AppState>,
    headers: HeaderMap,
    query: Result<Query<DeviceFilter>, QueryRejection>,
) -> Result<Response, ApiError> {
    authenticate_admin(&state, &headers).await?;
    let filter = export_filter(device_filter(query)?, true);
    Ok(csv_response(
        "devices.csv",
        devices_csv_body(export_source(&state, filter)),
    ))
}

async fn export_findings(
    State(state): State<AppState>,
    headers: HeaderMap,
    query: Result<Query<DeviceFilter>, QueryRejection>,
) -> Result<Response, ApiError> {
    authenticate_admin(&state, &headers).await?;
    let filter = export_filter(device_filter(query)?, false);
    Ok(csv_response(
        "findings.csv",
        findings_csv_body(export_source(&state, filter)),
    ))
}

async fn export_devices_ndjson(
    State(state): State<AppState>,
    headers: HeaderMap,
    query: Result<Query<DeviceFilter>, QueryRejection>,
) -> Result<Response, ApiError> {
    authenticate_admin(&state, &headers).await?;
    let filter = export_filter(device_filter(query)?, true);
    Ok(ndjson_response(
        "devices.ndjson",
        devices_ndjson_body(export_source(&state, filter)),
    ))
}

async fn export_findings_ndjson(
    State(state): State<AppState>,
    headers: HeaderMap,
    query: Result<Query<DeviceFilter>, QueryRejection>,
) -> Result<Response, ApiError> {
    authenticate_admin(&state, &headers).await?;
    let filter = export_filter(device_filter(query)?, false);
    Ok(ndjson_response(
        "findings.ndjson",
        findings_ndjson_body(export_source(&state, filter)),
    ))
}

/// The OCSF export's own parameter; the filters are read separately.
#[derive(Debug, Deserialize)]
struct SinceQuery {
    since: Option<String>,
}

/// The response header that carries the cursor of the next OCSF poll.
pub const NEXT_SINCE_HEADER: &str = "posture-next-since";

async fn export_ocsf(
    State(state): State<AppState>,
    headers: HeaderMap,
    query: Result<Query<DeviceFilter>, QueryRejection>,
    since: Result<Query<SinceQuery>, QueryRejection>,
) -> Result<Response, ApiError> {
    authenticate_admin(&state, &headers).await?;
    let filter = export_filter(device_filter(query)?, false);
    let Query(since) = since.map_err(|r| ApiError::BadRequest(r.body_text()))?;
    let since = since
        .since
        .as_deref()
        .filter(|s| !s.is_empty())
        .map(ReceivedCursor::parse)
        .transpose()
        .map_err(ApiError::BadRequest)?;
    let source = export_source(&state, filter);
    let window = OcsfWindow {
        since,
        until: source.now - state.config.export_settle_ms,
    };
    let next = window.next_cursor().to_string();
    let mut response = ndjson_response("ocsf.ndjson", ocsf_body(source, window));
    let value = header::HeaderValue::from_str(&next)
        .map_err(|e| ApiError::Internal(format!("next cursor {next:?}: {e}")))?;
    response.headers_mut().insert(NEXT_SINCE_HEADER, value);
    Ok(response)
}

async fn rotate_enroll_secret(
    State(state): State<AppState>,
    headers: HeaderMap,
) -> Result<Json<serde_json::Value>, ApiError> {
    authenticate_admin(&state, &headers).await?;
    let secret = rotate(state.store.as_ref(), setting::ENROLL_SECRET_SHA256).await?;
    tracing::info!("enrollment secret rotated");
    Ok(Json(serde_json::json!({ "enroll_secret": secret })))
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct LoginLinkRequest {
    next: Option<String>,
}

/// Whether `next` is a path on this site (not `//host` or a URL), so a login link can only lead
/// here.
pub(crate) fn is_local_path(next: &str) -> bool {
    next.starts_with('/')
        && !next.starts_with("//")
        && !next.starts_with("/\\")
        && !next.chars().any(|c| c.is_control())
}

async fn create_login_link(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Json<serde_json::Value>, ApiError> {
    authenticate_admin(&state, &headers).await?;
    let request: LoginLinkRequest = if body.is_empty() {
        LoginLinkRequest::default()
    } else {
        serde_json::from_slice(&body)
            .map_err(|e| ApiError::BadRequest(format!("not a login-link request: {e}")))?
    };
    let next = request.next.unwrap_or_else(|| "/".to_owned());
    if !is_local_path(&next) || next.len() > 2048 {
        return Err(ApiError::Unprocessable(
            "next must be a path on this collector, starting with a single /".into(),
        ));
    }
    let token = generate_secret()?;
    let expires_at = now_ms() + LOGIN_LINK_TTL_MS;
    state
        .store
        .create_login_link(&hash_secret(&token), &next, expires_at)
        .await?;
    Ok(Json(serde_json::json!({
        // In the fragment, which browsers never send: the token stays out of request lines,
        // proxy logs and Referer headers. The page at /login/link posts it.
        "path": format!("/login/link#{token}"),
        "expires_at": rfc3339(expires_at),
    })))
}

#[cfg(test)]
mod tests {
    use super::is_local_path;

    #[test]
    fn login_links_only_lead_to_paths_on_this_site() {
        assert!(is_local_path("/"));
        assert!(is_local_path("/devices/abc?x=1"));
        assert!(!is_local_path("//evil.example"));
        assert!(!is_local_path("/\\evil.example"));
        assert!(!is_local_path("https://evil.example"));
        assert!(!is_local_path("/a\r\nSet-Cookie: x"));
    }
}
