//! The HTTPS calls of `docs/protocol.md`: enroll, send a report, check in.
//!
//! One [`reqwest::Client`] with rustls only, redirects never followed, a time limit on every
//! request, and the agent's own trust settings ([`crate::tls`]). Each reply is classified here,
//! once, into what the agent should do next: done, retry later (possibly at the time the
//! server asked), put the report aside for good, or fix the credentials.

use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use posture_schema::protocol::{EnrollResponse, ErrorReply};
use reqwest::StatusCode;
use reqwest::header::{AUTHORIZATION, CONTENT_TYPE, DATE, HeaderValue, LOCATION, RETRY_AFTER};

use crate::backoff::parse_retry_after;
use crate::config::{Config, Endpoint, SpkiPin};
use crate::credentials::Token;
use crate::tls;
pub use crate::tls::TlsSetupError;

pub use posture_schema::protocol::{
    CHECKIN_PATH, CheckinResponse as CheckinReply, ENROLL_PATH, EnrollRequest, REPORTS_PATH,
    ReportResponse as ReportAck,
};

/// Largest reply body the agent reads; replies are tiny JSON objects.
const MAX_REPLY_BYTES: usize = 64 * 1024;

/// How to reach the endpoint.
#[derive(Debug, Clone)]
pub struct TransportOptions {
    /// The endpoint.
    pub endpoint: Endpoint,
    /// Extra CA certificates (PEM).
    pub ca_cert: Option<std::path::PathBuf>,
    /// Public-key pins; empty for none.
    pub pins: Vec<SpkiPin>,
    /// Time limit of one request, connection included.
    pub timeout: Duration,
}

impl TransportOptions {
    /// The options a configuration asks for, or `None` when it names no endpoint.
    #[must_use]
    pub fn from_config(config: &Config) -> Option<Self> {
        Some(Self {
            endpoint: config.endpoint.value.clone()?,
            ca_cert: config.ca_cert.value.clone(),
            pins: config.pinned_spki_sha256.value.clone(),
            timeout: config.request_timeout.value,
        })
    }
}

/// Why the client could not be built.
#[derive(Debug, thiserror::Error)]
pub enum TransportError {
    /// The TLS settings are unusable.
    #[error(transparent)]
    Tls(#[from] TlsSetupError),
    /// reqwest refused the configuration.
    #[error("cannot build the HTTP client: {0}")]
    Client(String),
}

/// What went wrong with one call, and so what to do next.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Failure {
    /// Try again later: network error, timeout, `5xx`, `429`, a redirect, an unexpected status.
    #[error("{message}")]
    Retry {
        /// What happened, for logs and `posture status`.
        message: String,
        /// The wait the server asked for (`Retry-After`), if any.
        retry_after: Option<Duration>,
    },
    /// The endpoint refused this report for good (`400`, `409`, `413`, `422`: well
    /// authenticated but wrong in content): set it aside.
    #[error("{message}")]
    Rejected {
        /// What happened.
        message: String,
    },
    /// The credentials were refused (`401`, `403`): enroll again. Never about a report's content.
    #[error("{message}")]
    Unauthorized {
        /// What happened.
        message: String,
    },
}

impl Failure {
    /// The wait the server asked for, if any.
    #[must_use]
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            Self::Retry { retry_after, .. } => *retry_after,
            _ => None,
        }
    }
}

/// What a check-in found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Checkin {
    /// The endpoint answered.
    Reply(CheckinReply),
    /// The endpoint has no check-in (`404`, a plain webhook).
    Unsupported,
}

/// The collector's answer to an enrollment.
#[derive(Clone)]
pub struct Enrolled {
    /// The device id to put in every report.
    pub device_id: String,
    /// The device token.
    pub device_token: Token,
    /// The token works once an administrator approves the re-enrollment.
    pub pending: bool,
}

impl std::fmt::Debug for Enrolled {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Enrolled")
            .field("device_id", &self.device_id)
            .field("device_token", &self.device_token)
            .field("pending", &self.pending)
            .finish()
    }
}

/// A client for one endpoint.
#[derive(Debug, Clone)]
pub struct Transport {
    client: reqwest::Client,
    endpoint: Endpoint,
    /// The `Server` header of the last reply to a report: which collector version answers.
    server: Arc<Mutex<Option<String>>>,
}

impl Transport {
    /// Builds the client.
    ///
    /// # Errors
    /// When the CA file is unusable or TLS cannot be set up.
    pub fn new(options: &TransportOptions) -> Result<Self, TransportError> {
        // reqwest is built without a default crypto provider; installing ring process-wide keeps
        // any other rustls user in the process from panicking. A second install is harmless.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let tls = tls::client_config(options.ca_cert.as_deref(), &options.pins)?;
        let client = reqwest::Client::builder()
            .tls_backend_preconfigured(tls)
            .redirect(reqwest::redirect::Policy::none())
            .timeout(options.timeout)
            .connect_timeout(options.timeout.min(Duration::from_secs(10)))
            .pool_idle_timeout(Duration::from_secs(30))
            .user_agent(concat!("posture/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| TransportError::Client(error_chain(&e)))?;
        Ok(Self {
            client,
            endpoint: options.endpoint.clone(),
            server: Arc::new(Mutex::new(None)),
        })
    }

    /// The `Server` header of the endpoint's last reply to a report (`posture-collector/0.1.0`),
    /// if it sent one.
    #[must_use]
    pub fn last_server(&self) -> Option<String> {
        self.server
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    /// The endpoint.
    #[must_use]
    pub fn endpoint(&self) -> &Endpoint {
        &self.endpoint
    }

    /// Exchanges an enrollment secret for a device id and token (`POST /api/v1/enroll`).
    ///
    /// # Errors
    /// [`Failure::Unauthorized`] for a wrong secret, otherwise what went wrong.
    pub async fn enroll(&self, request: &EnrollRequest) -> Result<Enrolled, Failure> {
        let url = self.endpoint.join(ENROLL_PATH);
        let body = serde_json::to_vec(request).map_err(|e| Failure::Rejected {
            message: format!("cannot encode the enrollment request: {e}"),
        })?;
        let response = self
            .client
            .post(&url)
            .header(CONTENT_TYPE, "application/json")
            .body(body)
            .send()
            .await
            .map_err(|e| network_failure(&url, &e))?;
        let status = response.status();
        let (headers, bytes) = read_reply(response, &url).await?;
        if status.is_success() {
            let reply: EnrollResponse =
                serde_json::from_slice(&bytes).map_err(|e| Failure::Retry {
                    message: format!("POST {url}: the enrollment reply is not valid JSON: {e}"),
                    retry_after: None,
                })?;
            return Ok(Enrolled {
                device_id: reply.device_id,
                device_token: Token::new(reply.device_token),
                pending: reply.pending,
            });
        }
        if status == StatusCode::UNAUTHORIZED {
            return Err(Failure::Unauthorized {
                message: format!(
                    "POST {url}: 401: the enrollment secret was refused (wrong or rotated)"
                ),
            });
        }
        Err(classify(&url, status, &headers, &bytes))
    }

    /// Sends one report (`POST /api/v1/reports`).
    ///
    /// # Errors
    /// What went wrong, classified by what to do next.
    pub async fn send_report(
        &self,
        body: Vec<u8>,
        token: Option<&Token>,
    ) -> Result<ReportAck, Failure> {
        let url = self.endpoint.join(REPORTS_PATH);
        // The agent's clock at sending time lets the collector flag a wrong clock even for a
        // report that waited in the spool.
        let mut request = self
            .client
            .post(&url)
            .header(CONTENT_TYPE, "application/json")
            .header(DATE, httpdate::fmt_http_date(SystemTime::now()))
            .body(body);
        if let Some(token) = token {
            request = request.header(AUTHORIZATION, token.bearer_header());
        }
        let response = request
            .send()
            .await
            .map_err(|e| network_failure(&url, &e))?;
        let status = response.status();
        let (headers, bytes) = read_reply(response, &url).await?;
        let server = headers
            .get(reqwest::header::SERVER)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        *self
            .server
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = server;
        if status.is_success() {
            // A plain webhook may answer anything with a 2xx: it stored the report.
            return Ok(serde_json::from_slice(&bytes).unwrap_or_default());
        }
        Err(classify(&url, status, &headers, &bytes))
    }

    /// Asks whether an administrator wants a check now (`GET /api/v1/agent/checkin`).
    ///
    /// # Errors
    /// What went wrong; a `404` is not an error but [`Checkin::Unsupported`].
    pub async fn checkin(&self, token: Option<&Token>) -> Result<Checkin, Failure> {
        let url = self.endpoint.join(CHECKIN_PATH);
        let mut request = self.client.get(&url);
        if let Some(token) = token {
            request = request.header(AUTHORIZATION, token.bearer_header());
        }
        let response = request
            .send()
            .await
            .map_err(|e| network_failure(&url, &e))?;
        let status = response.status();
        let (headers, bytes) = read_reply(response, &url).await?;
        if status.is_success() {
            return serde_json::from_slice(&bytes)
                .map(Checkin::Reply)
                .map_err(|e| Failure::Retry {
                    message: format!("GET {url}: the check-in reply is not valid JSON: {e}"),
                    retry_after: None,
                });
        }
        if status == StatusCode::NOT_FOUND {
            return Ok(Checkin::Unsupported);
        }
        Err(classify(&url, status, &headers, &bytes))
    }
}

async fn read_reply(
    mut response: reqwest::Response,
    url: &str,
) -> Result<(reqwest::header::HeaderMap, Vec<u8>), Failure> {
    let headers = response.headers().clone();
    let mut bytes = Vec::new();
    loop {
        match response.chunk().await {
            Ok(Some(chunk)) => {
                let room = MAX_REPLY_BYTES.saturating_sub(bytes.len());
                bytes.extend_from_slice(&chunk[..chunk.len().min(room)]);
                if room <= chunk.len() {
                    break;
                }
            }
            Ok(None) => break,
            Err(e) => return Err(network_failure(url, &e)),
        }
    }
    Ok((headers, bytes))
}

fn classify(
    url: &str,
    status: StatusCode,
    headers: &reqwest::header::HeaderMap,
    body: &[u8],
) -> Failure {
    let detail = reply_detail(body);
    let message = format!("POST {url}: {status}{detail}");
    if status.is_redirection() {
        let to = headers
            .get(LOCATION)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("(no Location)");
        return Failure::Retry {
            message: format!(
                "{url}: {status} redirect to {to} refused: the agent never follows redirects; \
                 set `endpoint` to the final https URL"
            ),
            retry_after: None,
        };
    }
    match status.as_u16() {
        400 | 409 | 413 | 422 => Failure::Rejected { message },
        401 | 403 => Failure::Unauthorized {
            message: format!("{message} (run `posture enroll` again if the token was revoked)"),
        },
        _ => Failure::Retry {
            message,
            retry_after: headers
                .get(RETRY_AFTER)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| parse_retry_after(v, SystemTime::now())),
        },
    }
}

/// The `error` field of a JSON reply, or a short printable prefix of the body.
fn reply_detail(body: &[u8]) -> String {
    if let Ok(reply) = serde_json::from_slice::<ErrorReply>(body) {
        return format!(": {}", truncate(&reply.error, 200));
    }
    let text = String::from_utf8_lossy(body);
    let text = text.trim();
    if text.is_empty() || text.contains('\u{fffd}') {
        String::new()
    } else {
        format!(": {}", truncate(text, 200))
    }
}

fn truncate(text: &str, max: usize) -> String {
    let mut out: String = text.chars().take(max).filter(|c| !c.is_control()).collect();
    if text.chars().count() > max {
        out.push('…');
    }
    out
}

fn network_failure(url: &str, error: &reqwest::Error) -> Failure {
    let what = if error.is_timeout() {
        "timed out"
    } else if error.is_connect() {
        "cannot connect"
    } else {
        "failed"
    };
    let chain = error_chain(error);
    // rustls says only "invalid peer certificate: UnknownIssuer"; say what to do about it.
    let hint = if chain.contains("UnknownIssuer") {
        " (the endpoint's certificate is signed by a CA this machine does not trust: set `ca_cert` in the config file, or POSTURE_CA_CERT, to that CA's PEM file)"
    } else {
        ""
    };
    Failure::Retry {
        message: format!("{url}: {what}: {chain}{hint}"),
        retry_after: None,
    }
}

/// An error and its causes on one line, without repeating a cause that its parent already said.
fn error_chain(error: &(dyn std::error::Error + 'static)) -> String {
    let mut parts: Vec<String> = Vec::new();
    let mut current: Option<&(dyn std::error::Error + 'static)> = Some(error);
    while let Some(e) = current {
        let text = e.to_string();
        if !parts.iter().any(|p| p.contains(&text)) {
            parts.push(text);
        }
        current = e.source();
    }
    parts.join(": ")
}

impl Token {
    fn bearer_header(&self) -> HeaderValue {
        let mut value = HeaderValue::from_str(&format!("Bearer {}", self.expose()))
            .unwrap_or_else(|_| HeaderValue::from_static("Bearer invalid-token"));
        value.set_sensitive(true);
        value
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bad_request_and_unprocessable_are_rejected_for_good() {
        let h = reqwest::header::HeaderMap::new();
        for code in [400, 409, 413, 422] {
            let f = classify(
                "u",
                StatusCode::from_u16(code).unwrap(),
                &h,
                b"{\"error\":\"bad\"}",
            );
            assert!(matches!(f, Failure::Rejected { .. }), "{code}: {f:?}");
        }
    }

    #[test]
    fn server_errors_and_rate_limits_are_retried_with_retry_after() {
        let mut h = reqwest::header::HeaderMap::new();
        h.insert(RETRY_AFTER, HeaderValue::from_static("12"));
        let f = classify("u", StatusCode::TOO_MANY_REQUESTS, &h, b"");
        assert_eq!(f.retry_after(), Some(Duration::from_secs(12)));
        let f = classify(
            "u",
            StatusCode::BAD_GATEWAY,
            &reqwest::header::HeaderMap::new(),
            b"",
        );
        assert!(matches!(
            f,
            Failure::Retry {
                retry_after: None,
                ..
            }
        ));
    }

    #[test]
    fn a_redirect_is_refused_and_names_its_target() {
        let mut h = reqwest::header::HeaderMap::new();
        h.insert(LOCATION, HeaderValue::from_static("http://evil.example/"));
        let f = classify("u", StatusCode::MOVED_PERMANENTLY, &h, b"");
        assert!(
            f.to_string()
                .contains("redirect to http://evil.example/ refused"),
            "{f}"
        );
    }

    #[test]
    fn binary_garbage_in_an_error_reply_is_not_echoed() {
        assert_eq!(reply_detail(&[0xff, 0xfe, 0x00]), "");
        assert_eq!(reply_detail(b"{\"error\":\"nope\"}"), ": nope");
    }
}
