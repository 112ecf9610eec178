//! A real collector stand-in for tests: axum over HTTP or HTTPS on 127.0.0.1, with replies the
//! test can change at any time (500, 429 with Retry-After, slow, garbage, redirect).

#![allow(dead_code, unreachable_pub, clippy::new_without_default)]

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use posture_schema::{Agent, Device, EvidenceMode, PolicyInfo, Posture, Report};

/// How the server answers reports.
#[derive(Debug, Clone)]
pub enum Reply {
    Ok,
    Status(u16, Option<&'static str>),
    Slow(Duration),
    GarbageBody,
    Redirect(String),
    CheckNow,
}

#[derive(Debug, Default)]
pub struct Seen {
    pub report_ids: Vec<String>,
    pub device_ids: Vec<Option<String>>,
    pub auth: Vec<Option<String>>,
    pub attempts: usize,
    pub checkins: usize,
}

#[derive(Clone)]
pub struct Collector {
    pub seen: Arc<Mutex<Seen>>,
    pub reply: Arc<Mutex<Reply>>,
    pub checkin_check_now: Arc<Mutex<bool>>,
    /// The `Server` header of replies to reports, if any.
    pub server: Arc<Mutex<Option<&'static str>>>,
}

impl Collector {
    pub fn new() -> Self {
        Self {
            seen: Arc::default(),
            reply: Arc::new(Mutex::new(Reply::Ok)),
            checkin_check_now: Arc::default(),
            server: Arc::default(),
        }
    }

    /// Names the server (and its version) in the `Server` header of replies to reports.
    pub fn set_server(&self, server: &'static str) {
        *self.server.lock().unwrap() = Some(server);
    }

    pub fn set(&self, reply: Reply) {
        *self.reply.lock().unwrap() = reply;
    }

    pub fn ids(&self) -> Vec<String> {
        self.seen.lock().unwrap().report_ids.clone()
    }

    pub fn attempts(&self) -> usize {
        self.seen.lock().unwrap().attempts
    }

    pub fn router(&self) -> Router {
        Router::new()
            .route("/api/v1/reports", post(receive_report))
            .route("/api/v1/agent/checkin", get(checkin))
            .route("/api/v1/enroll", post(enroll))
            .with_state(self.clone())
    }

    /// Serves plain HTTP on a loopback port (0 for any).
    pub async fn serve_http(&self, port: u16) -> (SocketAddr, tokio::task::JoinHandle<()>) {
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", port))
            .await
            .unwrap();
        let addr = listener.local_addr().unwrap();
        let app = self.router();
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        (addr, task)
    }

    /// Serves HTTPS with a certificate for 127.0.0.1/localhost signed by `pki`'s CA.
    pub async fn serve_https(&self, pki: &Pki) -> (SocketAddr, axum_server::Handle<SocketAddr>) {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let config = axum_server::tls_rustls::RustlsConfig::from_pem(
            pki.leaf_pem.clone().into_bytes(),
            pki.leaf_key_pem.clone().into_bytes(),
        )
        .await
        .unwrap();
        let std_listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        std_listener.set_nonblocking(true).unwrap();
        let addr = std_listener.local_addr().unwrap();
        let handle = axum_server::Handle::new();
        let server = axum_server::from_tcp_rustls(std_listener, config)
            .unwrap()
            .handle(handle.clone());
        let app = self.router();
        tokio::spawn(async move {
            let _ = server.serve(app.into_make_service()).await;
        });
        (addr, handle)
    }
}

async fn receive_report(
    State(c): State<Collector>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Response {
    let server = *c.server.lock().unwrap();
    let mut response = answer_report(&c, &headers, &body).await;
    if let Some(server) = server {
        response
            .headers_mut()
            .insert(header::SERVER, server.parse().unwrap());
    }
    response
}

async fn answer_report(c: &Collector, headers: &HeaderMap, body: &[u8]) -> Response {
    let reply = c.reply.lock().unwrap().clone();
    c.seen.lock().unwrap().attempts += 1;
    let record = |c: &Collector| {
        let value: serde_json::Value = serde_json::from_slice(body).unwrap();
        let id = value["report_id"].as_str().unwrap().to_owned();
        let mut seen = c.seen.lock().unwrap();
        seen.report_ids.push(id.clone());
        seen.device_ids
            .push(value["device_id"].as_str().map(str::to_owned));
        seen.auth.push(
            headers
                .get(header::AUTHORIZATION)
                .map(|v| v.to_str().unwrap().to_owned()),
        );
        id
    };
    match reply {
        Reply::Ok => {
            let id = record(c);
            axum::Json(serde_json::json!({"report_id": id, "duplicate": false, "check_now": false}))
                .into_response()
        }
        Reply::CheckNow => {
            let id = record(c);
            c.set(Reply::Ok);
            axum::Json(serde_json::json!({"report_id": id, "duplicate": false, "check_now": true}))
                .into_response()
        }
        Reply::Status(code, retry_after) => {
            let mut r = (
                StatusCode::from_u16(code).unwrap(),
                axum::Json(serde_json::json!({"error": "test says no"})),
            )
                .into_response();
            if let Some(ra) = retry_after {
                r.headers_mut()
                    .insert(header::RETRY_AFTER, ra.parse().unwrap());
            }
            r
        }
        Reply::Slow(d) => {
            tokio::time::sleep(d).await;
            record(c);
            StatusCode::OK.into_response()
        }
        Reply::GarbageBody => {
            record(c);
            (StatusCode::OK, "\u{1}\u{2}not json at all").into_response()
        }
        Reply::Redirect(to) => {
            (StatusCode::MOVED_PERMANENTLY, [(header::LOCATION, to)]).into_response()
        }
    }
}

async fn checkin(State(c): State<Collector>) -> Response {
    c.seen.lock().unwrap().checkins += 1;
    let now = std::mem::take(&mut *c.checkin_check_now.lock().unwrap());
    if now {
        axum::Json(serde_json::json!({"check_now": true, "requested_at": "2026-11-23T10:00:00Z"}))
            .into_response()
    } else {
        axum::Json(serde_json::json!({"check_now": false})).into_response()
    }
}

async fn enroll(body: axum::body::Bytes) -> Response {
    let value: serde_json::Value = serde_json::from_slice(&body).unwrap();
    if value["enroll_secret"] == "right-secret" {
        axum::Json(serde_json::json!({"device_id": "dev-42", "device_token": "tok-SECRET-123"}))
            .into_response()
    } else {
        (
            StatusCode::UNAUTHORIZED,
            axum::Json(serde_json::json!({"error": "bad secret"})),
        )
            .into_response()
    }
}

/// A CA and a leaf certificate for 127.0.0.1 and localhost.
pub struct Pki {
    pub ca_pem: String,
    pub leaf_pem: String,
    pub leaf_key_pem: String,
    pub leaf_spki_der: Vec<u8>,
}

impl Pki {
    pub fn new() -> Self {
        let ca_key = rcgen::KeyPair::generate().unwrap();
        let mut ca_params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
        ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        ca_params
            .distinguished_name
            .push(rcgen::DnType::CommonName, "posture test CA");
        let ca_cert = ca_params.self_signed(&ca_key).unwrap();
        let issuer = rcgen::Issuer::new(ca_params, ca_key);
        let leaf_key = rcgen::KeyPair::generate().unwrap();
        let leaf_params =
            rcgen::CertificateParams::new(vec!["127.0.0.1".to_owned(), "localhost".to_owned()])
                .unwrap();
        let leaf = leaf_params.signed_by(&leaf_key, &issuer).unwrap();
        Self {
            ca_pem: ca_cert.pem(),
            leaf_pem: leaf.pem(),
            leaf_key_pem: leaf_key.serialize_pem(),
            leaf_spki_der: rcgen::PublicKeyData::subject_public_key_info(&leaf_key),
        }
    }
}

/// A minimal valid report with a fresh, time-ordered id.
pub fn report(n: usize) -> Report {
    Report {
        schema_version: posture_schema::SCHEMA_VERSION,
        report_id: format!("report-{n:06}"),
        device_id: None,
        generated_at: "2026-11-23T10:00:00Z".into(),
        agent: Agent {
            name: "posture".into(),
            version: "0.1.0".into(),
            mode: EvidenceMode::Replay,
        },
        posture: Posture::Compliant,
        device: Device::default(),
        policy: PolicyInfo {
            name: "Device Policy".into(),
            version: "1".into(),
            digest: "sha256:00".into(),
            source: "embedded".into(),
            organisation: "Example".into(),
            security_contact: "security@example.com".into(),
        },
        checks: vec![],
        trigger: None,
    }
}

/// Waits until `cond` holds, polling every 20 ms, for at most `limit`.
pub async fn wait_until(limit: Duration, mut cond: impl FnMut() -> bool) -> bool {
    let deadline = tokio::time::Instant::now() + limit;
    while tokio::time::Instant::now() < deadline {
        if cond() {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    cond()
}
