//! The HTTP application: shared state, error responses, authentication and the router.

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::{DefaultBodyLimit, MatchedPath, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use metrics_exporter_prometheus::PrometheusHandle;
use posture_schema::protocol;

use crate::credentials::{constant_time_eq, hash_secret, matches_setting};
use crate::ingest::Writer;
use crate::store::{Store, StoreError, setting};
use crate::{admin_api, agent_api, dashboard};

/// Seconds a client should wait before retrying when the database is unavailable.
pub const RETRY_AFTER_SECS: u64 = 5;

/// Settings the request handlers need.
#[derive(Debug, Clone)]
pub struct AppConfig {
    /// Largest accepted request body in bytes (413 above it).
    pub max_body_bytes: usize,
    /// Devices not seen for this many days are stale.
    pub stale_days: u32,
    /// Whether cookies get the `Secure` attribute (the collector serves HTTPS).
    pub secure_cookies: bool,
    /// Lifetime of a dashboard session.
    pub session_ttl: Duration,
    /// How far an agent's clock may be off before its device is flagged (ms).
    pub max_clock_skew_ms: i64,
}

impl Default for AppConfig {
    fn default() -> Self {
        Self {
            max_body_bytes: 1024 * 1024,
            stale_days: 7,
            secure_cookies: false,
            session_ttl: Duration::from_secs(12 * 60 * 60),
            max_clock_skew_ms: crate::ingest::DEFAULT_MAX_CLOCK_SKEW_MS,
        }
    }
}

/// What every handler shares. Holds no state that matters beyond the request: everything lives
/// in the store.
#[derive(Clone)]
pub struct AppState {
    /// Storage.
    pub store: Arc<dyn Store>,
    /// Group-commit queue for reports.
    pub writer: Writer,
    /// Renders `/metrics`; `None` when no recorder is installed (tests).
    pub metrics: Option<PrometheusHandle>,
    /// Settings.
    pub config: Arc<AppConfig>,
    /// The fleet policy, briefly cached (the store holds it).
    pub fleet: Arc<crate::fleet::PolicyCache>,
    /// Failed enrollments per source address.
    pub enroll_failures: Arc<crate::ratelimit::FailureLimiter>,
}

/// An error answered to an HTTP client as `{ "error": "…" }` with a fitting status.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// 400.
    #[error("{0}")]
    BadRequest(String),
    /// 401.
    #[error("missing or unknown token")]
    Unauthorized,
    /// 403.
    #[error("{0}")]
    Forbidden(String),
    /// 404.
    #[error("not found")]
    NotFound,
    /// 409: the request is well authenticated but contradicts what the collector knows.
    #[error("{0}")]
    Conflict(String),
    /// 413.
    #[error("request body is larger than {0} bytes")]
    PayloadTooLarge(usize),
    /// 429 with `Retry-After` (seconds).
    #[error("too many failed attempts from this address; retry in {0} s")]
    TooManyRequests(u64),
    /// 422.
    #[error("{0}")]
    Unprocessable(String),
    /// 503 with `Retry-After`.
    #[error("temporarily unavailable: {0}")]
    Unavailable(String),
    /// 503 with this `Retry-After` and message: the client should keep its request and send it
    /// again later (a report of a newer schema version than this collector knows).
    #[error("{message}")]
    RetryLater {
        /// What to tell the client.
        message: String,
        /// Seconds to wait.
        after_secs: u64,
    },
    /// 500.
    #[error("internal error: {0}")]
    Internal(String),
}

impl From<StoreError> for ApiError {
    fn from(err: StoreError) -> Self {
        if err.is_temporary() {
            Self::Unavailable(err.to_string())
        } else {
            Self::Internal(err.to_string())
        }
    }
}

impl From<crate::credentials::CredentialError> for ApiError {
    fn from(err: crate::credentials::CredentialError) -> Self {
        match err {
            crate::credentials::CredentialError::Store(e) => e.into(),
            other @ crate::credentials::CredentialError::Random(_) => {
                Self::Internal(other.to_string())
            }
        }
    }
}

impl ApiError {
    /// The HTTP status.
    #[must_use]
    pub fn status(&self) -> StatusCode {
        match self {
            Self::BadRequest(_) => StatusCode::BAD_REQUEST,
            Self::Unauthorized => StatusCode::UNAUTHORIZED,
            Self::Forbidden(_) => StatusCode::FORBIDDEN,
            Self::NotFound => StatusCode::NOT_FOUND,
            Self::Conflict(_) => StatusCode::CONFLICT,
            Self::PayloadTooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            Self::TooManyRequests(_) => StatusCode::TOO_MANY_REQUESTS,
            Self::Unprocessable(_) => StatusCode::UNPROCESSABLE_ENTITY,
            Self::Unavailable(_) | Self::RetryLater { .. } => StatusCode::SERVICE_UNAVAILABLE,
            Self::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = self.status();
        match &self {
            Self::Internal(msg) | Self::Unavailable(msg) => {
                tracing::warn!(status = status.as_u16(), error = %msg, "request failed");
            }
            _ => {}
        }
        // Internal details stay in the log; clients get the category.
        let message = match &self {
            Self::Internal(_) => "internal error".to_owned(),
            Self::Unavailable(_) => "database temporarily unavailable; retry later".to_owned(),
            other => other.to_string(),
        };
        let mut response =
            (status, axum::Json(protocol::ErrorReply { error: message })).into_response();
        match self {
            Self::Unavailable(_) => {
                response
                    .headers_mut()
                    .insert(header::RETRY_AFTER, HeaderValue::from(RETRY_AFTER_SECS));
            }
            Self::TooManyRequests(after_secs) | Self::RetryLater { after_secs, .. } => {
                response
                    .headers_mut()
                    .insert(header::RETRY_AFTER, HeaderValue::from(after_secs));
            }
            Self::Unauthorized => {
                response
                    .headers_mut()
                    .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
            }
            _ => {}
        }
        response
    }
}

/// The token of an `Authorization: Bearer …` header.
#[must_use]
pub fn bearer_token(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then_some(token)
}

/// The device a request's bearer token belongs to, or 401.
pub async fn authenticate_device(
    state: &AppState,
    headers: &HeaderMap,
) -> Result<String, ApiError> {
    let token = bearer_token(headers).ok_or(ApiError::Unauthorized)?;
    state
        .store
        .device_for_token(&hash_secret(token))
        .await?
        .ok_or(ApiError::Unauthorized)
}

/// Checks that a request carries the admin token, or 401.
pub async fn authenticate_admin(state: &AppState, headers: &HeaderMap) -> Result<(), ApiError> {
    let token = bearer_token(headers).ok_or(ApiError::Unauthorized)?;
    if matches_setting(state.store.as_ref(), setting::ADMIN_TOKEN_SHA256, token).await? {
        Ok(())
    } else {
        Err(ApiError::Unauthorized)
    }
}

/// Whether a presented admin token is right (dashboard login form).
pub async fn admin_token_matches(state: &AppState, token: &str) -> Result<bool, ApiError> {
    Ok(matches_setting(
        state.store.as_ref(),
        setting::ADMIN_TOKEN_SHA256,
        token.trim(),
    )
    .await?)
}

/// Whether two CSRF tokens match.
#[must_use]
pub fn csrf_matches(expected: &str, presented: &str) -> bool {
    !expected.is_empty() && constant_time_eq(expected, presented)
}

/// Milliseconds since the Unix epoch, now.
#[must_use]
pub fn now_ms() -> i64 {
    i64::try_from(time::OffsetDateTime::now_utc().unix_timestamp_nanos() / 1_000_000)
        .unwrap_or(i64::MAX)
}

/// Builds the collector's router.
pub fn router(state: AppState) -> Router {
    let limit = state.config.max_body_bytes;
    Router::new()
        .route(protocol::ENROLL_PATH, post(agent_api::enroll))
        .route(protocol::REPORTS_PATH, post(agent_api::post_report))
        .route(protocol::CHECKIN_PATH, get(agent_api::checkin))
        .merge(admin_api::routes())
        .merge(dashboard::routes())
        .route("/metrics", get(render_metrics))
        .route("/healthz", get(healthz))
        .layer(DefaultBodyLimit::max(limit))
        .layer(middleware::from_fn(record_request))
        .layer(
            // A 503 during a database outage is expected and already logged once as a warning.
            tower_http::trace::TraceLayer::new_for_http()
                .on_failure(tower_http::trace::DefaultOnFailure::new().level(tracing::Level::WARN)),
        )
        .with_state(state)
}

/// Records the latency of every request by route template and status.
async fn record_request(request: Request, next: Next) -> Response {
    let started = Instant::now();
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "unmatched".to_owned(), |p| p.as_str().to_owned());
    let method = request.method().as_str().to_owned();
    let response = next.run(request).await;
    metrics::histogram!(
        "posture_http_request_duration_seconds",
        "method" => method,
        "route" => route,
        "status" => response.status().as_u16().to_string(),
    )
    .record(started.elapsed().as_secs_f64());
    response
}

async fn healthz(State(state): State<AppState>) -> Response {
    match state.store.ping().await {
        Ok(()) => (StatusCode::OK, "ok\n").into_response(),
        Err(err) => ApiError::from(err).into_response(),
    }
}

async fn render_metrics(State(state): State<AppState>) -> Response {
    let Some(handle) = &state.metrics else {
        return (StatusCode::NOT_FOUND, "metrics are not enabled\n").into_response();
    };
    // Device counts come from the store at scrape time, so every collector sharing a database
    // reports the same fleet.
    match state
        .store
        .fleet_summary("9999-12-31")
        .await
        .map(|s| s.by_posture)
    {
        Ok(counts) => {
            for posture in ["compliant", "noncompliant", "unknown", "never"] {
                let n = counts
                    .iter()
                    .find(|c| c.key == posture)
                    .map_or(0, |c| c.count);
                metrics::gauge!("posture_devices", "posture" => posture).set(n as f64);
            }
        }
        Err(err) => tracing::warn!(error = %err, "cannot count devices for /metrics"),
    }
    handle.run_upkeep();
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        handle.render(),
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bearer_token_is_read_case_insensitively_and_trimmed() {
        let mut h = HeaderMap::new();
        h.insert(
            header::AUTHORIZATION,
            HeaderValue::from_static("bearer  abc "),
        );
        assert_eq!(bearer_token(&h), Some("abc"));
        h.insert(header::AUTHORIZATION, HeaderValue::from_static("Basic abc"));
        assert_eq!(bearer_token(&h), None);
        h.insert(header::AUTHORIZATION, HeaderValue::from_static("Bearer "));
        assert_eq!(bearer_token(&h), None);
    }

    #[test]
    fn an_unavailable_database_answers_503_with_retry_after() {
        let response = ApiError::Unavailable("down".into()).into_response();
        assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(response.headers()[header::RETRY_AFTER], "5");
    }
}
