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
    /// Largest accepted report body in bytes (413 above it).
    pub max_body_bytes: usize,
    /// Largest body of every other request: enrollment, admin writes, dashboard forms (413).
    pub max_small_body_bytes: usize,
    /// Time allowed for a whole request body to arrive.
    pub body_timeout: Duration,
    /// The origin browsers see (`https://posture.example.com`) when a reverse proxy rewrites
    /// `Host`; the dashboard's same-origin check compares with it.
    pub public_origin: Option<String>,
    /// SHA-256 of the token `/metrics` requires on the main listener; `None` serves no metrics
    /// there.
    pub metrics_token_sha256: Option<String>,
    /// Devices not seen for this many days are stale.
    pub stale_days: u32,
    /// Whether cookies get the `Secure` attribute (the collector serves HTTPS).
    pub secure_cookies: bool,
    /// Lifetime of a dashboard session.
    pub session_ttl: Duration,
    /// How far an agent's clock may be off before its device is flagged (ms).
    pub max_clock_skew_ms: i64,
    /// How long the OCSF export waits before it includes a report (ms): reports received
    /// within this window of a request are left for the next poll, so one whose commit is
    /// still under way is not passed by the client's cursor.
    pub export_settle_ms: i64,
    /// Rows an export reads per page.
    pub export_page_rows: u32,
}

impl Default for AppConfig {
    fn default() -> Self {
        Self {
            max_body_bytes: crate::limits::DEFAULT_MAX_REPORT_BYTES,
            max_small_body_bytes: crate::limits::DEFAULT_MAX_SMALL_BODY_BYTES,
            body_timeout: Duration::from_secs(crate::limits::DEFAULT_BODY_TIMEOUT_SECS),
            public_origin: None,
            metrics_token_sha256: None,
            stale_days: 7,
            secure_cookies: false,
            session_ttl: Duration::from_secs(12 * 60 * 60),
            max_clock_skew_ms: crate::ingest::DEFAULT_MAX_CLOCK_SKEW_MS,
            export_settle_ms: i64::from(crate::export::DEFAULT_EXPORT_SETTLE_SECS) * 1000,
            export_page_rows: crate::export::EXPORT_PAGE_ROWS,
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
    /// 408: the body did not arrive in time.
    #[error("the request body did not arrive in time")]
    RequestTimeout,
    /// 409: the request is well authenticated but contradicts what the collector knows.
    #[error("{0}")]
    Conflict(String),
    /// 413.
    #[error("request body is larger than {0} bytes")]
    PayloadTooLarge(usize),
    /// 415.
    #[error("this route takes a body of type application/json")]
    UnsupportedMediaType,
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
    /// 503 with `Retry-After`: the ingest queue is full.
    #[error("{0}")]
    Overloaded(String),
    /// 500.
    #[error("internal error: {0}")]
    Internal(String),
}

impl From<StoreError> for ApiError {
    fn from(err: StoreError) -> Self {
        if let StoreError::InvalidInput(reason) = &err {
            Self::BadRequest(format!("invalid input: {reason}"))
        } else if err.is_temporary() {
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
            Self::RequestTimeout => StatusCode::REQUEST_TIMEOUT,
            Self::Conflict(_) => StatusCode::CONFLICT,
            Self::PayloadTooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            Self::UnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            Self::TooManyRequests(_) => StatusCode::TOO_MANY_REQUESTS,
            Self::Unprocessable(_) => StatusCode::UNPROCESSABLE_ENTITY,
            Self::Unavailable(_) | Self::Overloaded(_) | Self::RetryLater { .. } => {
                StatusCode::SERVICE_UNAVAILABLE
            }
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
            Self::Overloaded(msg) => {
                tracing::debug!(status = status.as_u16(), error = %msg, "request refused");
            }
            _ => {}
        }
        // Internal details stay in the log; clients get the category.
        let message = match &self {
            Self::Internal(_) => "internal error".to_owned(),
            Self::Unavailable(_) => "database temporarily unavailable; retry later".to_owned(),
            Self::Overloaded(_) => "the collector is busy; retry later".to_owned(),
            other => other.to_string(),
        };
        let mut response =
            (status, axum::Json(protocol::ErrorReply { error: message })).into_response();
        match self {
            Self::Unavailable(_) | Self::Overloaded(_) => {
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

/// `Content-Security-Policy` of every response: no scripts but the collector's own files, no
/// framing, forms only to this site. Styles may be inline (the dashboard's bars are sized with
/// `style`).
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; script-src 'self'; \
     style-src 'self' 'unsafe-inline'; img-src 'self' data:; form-action 'self'; \
     frame-ancestors 'none'; base-uri 'none'";

/// Builds the collector's router.
pub fn router(state: AppState) -> Router {
    use tower_http::limit::RequestBodyLimitLayer;
    use tower_http::set_header::SetResponseHeaderLayer;

    let config = Arc::clone(&state.config);
    let big = config.max_body_bytes;
    let small = config.max_small_body_bytes;
    let json_only = || middleware::from_fn(require_json);
    // Reports may be large; they are authenticated before their body is read.
    let reports = Router::new()
        .route(
            protocol::REPORTS_PATH,
            post(agent_api::post_report).route_layer(json_only()),
        )
        .layer(DefaultBodyLimit::max(big))
        .layer(RequestBodyLimitLayer::new(big));
    // Everything else is small: the limit holds before authentication (enrollment is
    // authenticated by its body).
    let rest = Router::new()
        .route(
            protocol::ENROLL_PATH,
            post(agent_api::enroll).route_layer(json_only()),
        )
        .route(protocol::CHECKIN_PATH, get(agent_api::checkin))
        .merge(admin_api::routes())
        .merge(dashboard::routes())
        .route("/metrics", get(render_metrics))
        .route("/healthz", get(healthz))
        .layer(DefaultBodyLimit::max(small))
        .layer(RequestBodyLimitLayer::new(small));
    let header = |name, value: &'static str| {
        SetResponseHeaderLayer::if_not_present(name, HeaderValue::from_static(value))
    };
    reports
        .merge(rest)
        .layer(tower_http::timeout::RequestBodyDeadlineLayer::new(
            config.body_timeout,
        ))
        .layer(middleware::from_fn(reject_nul))
        .layer(header(
            header::CONTENT_SECURITY_POLICY,
            CONTENT_SECURITY_POLICY,
        ))
        .layer(header(header::X_CONTENT_TYPE_OPTIONS, "nosniff"))
        .layer(header(header::X_FRAME_OPTIONS, "DENY"))
        .layer(header(header::REFERRER_POLICY, "same-origin"))
        // Fleet data must not linger in browser or proxy caches.
        .layer(header(header::CACHE_CONTROL, "no-store"))
        .layer(middleware::from_fn(record_request))
        .layer(middleware::from_fn(close_after_refused_body))
        .layer(
            // A 503 during a database outage is expected and already logged once as a warning.
            // Spans name the path only: a query string is the client's to log, not ours.
            tower_http::trace::TraceLayer::new_for_http()
                .make_span_with(|request: &Request| {
                    tracing::debug_span!(
                        "request",
                        method = %request.method(),
                        path = %request.uri().path(),
                    )
                })
                .on_failure(tower_http::trace::DefaultOnFailure::new().level(tracing::Level::WARN)),
        )
        .with_state(state)
}

/// The router of a separate metrics listener (`--metrics-listen`, loopback only): `/metrics`
/// without a token, and `/healthz`.
pub fn metrics_router(state: AppState) -> Router {
    Router::new()
        .route("/metrics", get(render_metrics_open))
        .route("/healthz", get(healthz))
        .with_state(state)
}

/// 400 for a request whose path or query carries an encoded NUL (`%00`): no database column can
/// hold it (PostgreSQL refuses it outright), and no id or filter contains it.
async fn reject_nul(request: Request, next: Next) -> Response {
    let uri = request.uri();
    let has_nul = |s: &str| s.contains("%00");
    if has_nul(uri.path()) || uri.query().is_some_and(has_nul) {
        return ApiError::BadRequest("the URL contains a NUL character (%00)".into())
            .into_response();
    }
    next.run(request).await
}

/// 415 for a request with a body whose type is not `application/json`.
pub(crate) async fn require_json(request: Request, next: Next) -> Response {
    let headers = request.headers();
    let has_body = has_body(headers);
    if has_body && !is_json(headers) {
        return ApiError::UnsupportedMediaType.into_response();
    }
    next.run(request).await
}

/// Whether a request announces a body (chunked, or a non-zero `Content-Length`).
fn has_body(headers: &HeaderMap) -> bool {
    headers.contains_key(header::TRANSFER_ENCODING)
        || headers
            .get(header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.trim() != "0")
}

/// Whether `Content-Type` is `application/json` (parameters such as `charset` allowed).
#[must_use]
pub fn is_json(headers: &HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|media| media.trim().eq_ignore_ascii_case("application/json"))
}

/// `Connection: close` on an error answer to a request with a body. Such answers often come before
/// the body was read (over the limit, no token, full queue, too slow), and the server then closes
/// the connection; without the header a client would reuse it and its next request would fail as
/// an incomplete message.
async fn close_after_refused_body(request: Request, next: Next) -> Response {
    let headers = request.headers();
    let has_body = has_body(headers);
    let mut response = next.run(request).await;
    let status = response.status();
    if has_body && (status.is_client_error() || status.is_server_error()) {
        response
            .headers_mut()
            .insert(header::CONNECTION, HeaderValue::from_static("close"));
    }
    response
}

/// Records the latency of every request by route template and status, and names the collector
/// and its version in the `Server` header.
async fn record_request(request: Request, next: Next) -> Response {
    let started = Instant::now();
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "unmatched".to_owned(), |p| p.as_str().to_owned());
    let method = request.method().as_str().to_owned();
    let mut response = next.run(request).await;
    // Agents queue reports this collector refused again when the version here changes.
    response.headers_mut().insert(
        header::SERVER,
        HeaderValue::from_static(concat!("posture-collector/", env!("CARGO_PKG_VERSION"))),
    );
    if route == "/api/v1/reports" && response.status() == StatusCode::PAYLOAD_TOO_LARGE {
        // Most are answered by the body limit layer, before the handler runs.
        metrics::counter!("posture_reports_rejected_total", "reason" => "too_large").increment(1);
    }
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

/// `/metrics` on the main listener: only with the metrics token.
async fn render_metrics(State(state): State<AppState>, headers: HeaderMap) -> Response {
    let Some(expected) = &state.config.metrics_token_sha256 else {
        return (
            StatusCode::NOT_FOUND,
            "metrics are served on --metrics-listen, or here with --metrics-token-file\n",
        )
            .into_response();
    };
    let presented = bearer_token(&headers).map(hash_secret).unwrap_or_default();
    if !constant_time_eq(expected, &presented) {
        return ApiError::Unauthorized.into_response();
    }
    render_metrics_open(State(state)).await
}

async fn render_metrics_open(State(state): State<AppState>) -> Response {
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
