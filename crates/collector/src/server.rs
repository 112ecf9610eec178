//! Starting the collector: open the store, create the first secrets, bind, serve.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use metrics_exporter_prometheus::PrometheusHandle;

use crate::app::{AppConfig, AppState, router};
use crate::credentials::{CredentialError, FirstStart, ensure_initial_secrets};
use crate::ingest::Writer;
use crate::limits::{ConnectionLimit, Limits};
use crate::retention::{self, Retention};
use crate::store::{self, OpenOptions, Store, StoreError, redact_url};

/// Default listen address: loopback only.
pub const DEFAULT_LISTEN: &str = "127.0.0.1:8443";

/// Everything `posture-collector serve` needs.
#[derive(Debug, Clone)]
pub struct ServeConfig {
    /// Address to listen on.
    pub listen: SocketAddr,
    /// `sqlite:PATH` or `postgres://…`.
    pub database_url: String,
    /// PEM certificate chain and private key; plain HTTP (loopback only) without them.
    pub tls: Option<(PathBuf, PathBuf)>,
    /// Report retention.
    pub retention: Retention,
    /// Request handling settings.
    pub app: AppConfig,
    /// Database timeouts and pool size.
    pub open: OpenOptions,
    /// Connection, time and queue bounds.
    pub limits: Limits,
    /// A second, loopback-only address serving `/metrics` without a token.
    pub metrics_listen: Option<SocketAddr>,
}

/// Why the collector could not start.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    /// Plain HTTP was asked for on an address other machines can reach.
    #[error(
        "refusing to serve plain HTTP on {0}, which is not a loopback address: agent and admin \
         tokens would cross the network in clear text. Give --tls-cert and --tls-key, or listen \
         on 127.0.0.1 behind a TLS-terminating proxy"
    )]
    PlainHttpOffLoopback(SocketAddr),
    /// The metrics listener was asked for on an address other machines can reach.
    #[error(
        "refusing to serve metrics without a token on {0}, which is not a loopback address; \
         use a loopback address, or --metrics-token-file on the main listener"
    )]
    MetricsOffLoopback(SocketAddr),
    /// Only one of certificate and key was given.
    #[error("--tls-cert and --tls-key must be given together")]
    IncompleteTls,
    /// The database could not be opened or migrated.
    #[error("cannot open the database {url}: {source}")]
    Database {
        /// The URL, password redacted.
        url: String,
        /// Why.
        source: StoreError,
    },
    /// The first secrets could not be created.
    #[error(transparent)]
    Credentials(#[from] CredentialError),
    /// The certificate or key could not be loaded.
    #[error("cannot load TLS certificate {cert} / key {key}: {reason}")]
    Tls {
        /// Certificate path.
        cert: String,
        /// Key path.
        key: String,
        /// Why.
        reason: String,
    },
    /// The address could not be bound.
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// Why.
        source: std::io::Error,
    },
    /// The server stopped with an I/O error.
    #[error("server error: {0}")]
    Serve(std::io::Error),
}

/// A collector whose database is open and whose socket is bound, ready to serve.
pub struct Prepared {
    /// The bound address (useful with port 0).
    pub local_addr: SocketAddr,
    /// Secrets created by this start, to be shown once.
    pub first_start: FirstStart,
    /// Whether it serves HTTPS.
    pub tls: bool,
    /// The bound metrics address, if any.
    pub metrics_addr: Option<SocketAddr>,
    listener: std::net::TcpListener,
    metrics_listener: Option<std::net::TcpListener>,
    tls_config: Option<axum_server::tls_rustls::RustlsConfig>,
    tls_files: Option<(PathBuf, PathBuf)>,
    state: AppState,
    retention: Retention,
    limits: Limits,
}

/// Reads a PEM certificate chain and private key into a server configuration that speaks
/// HTTP/1.1 only (the collector's timeouts are HTTP/1.1's; agents and browsers both speak it).
pub fn load_tls(
    cert: &std::path::Path,
    key: &std::path::Path,
) -> Result<rustls::ServerConfig, ServeError> {
    use rustls_pki_types::pem::PemObject as _;
    use rustls_pki_types::{CertificateDer, PrivateKeyDer};
    let fail = |reason: String| ServeError::Tls {
        cert: cert.display().to_string(),
        key: key.display().to_string(),
        reason,
    };
    let chain = CertificateDer::pem_file_iter(cert)
        .map_err(|e| fail(format!("certificate: {e}")))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| fail(format!("certificate: {e}")))?;
    if chain.is_empty() {
        return Err(fail("the certificate file holds no certificate".into()));
    }
    let key_der =
        PrivateKeyDer::from_pem_file(key).map_err(|e| fail(format!("private key: {e}")))?;
    // Ring is the one TLS provider in the workspace; installing twice is harmless.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let mut config = rustls::ServerConfig::builder()
        .with_no_client_auth()
        .with_single_cert(chain, key_der)
        .map_err(|e| fail(e.to_string()))?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(config)
}

/// Checks the configuration, opens and migrates the store, creates first secrets, binds.
pub async fn prepare(
    config: ServeConfig,
    metrics: Option<PrometheusHandle>,
) -> Result<Prepared, ServeError> {
    if config.tls.is_none() && !config.listen.ip().is_loopback() {
        return Err(ServeError::PlainHttpOffLoopback(config.listen));
    }
    if let Some(addr) = config.metrics_listen
        && !addr.ip().is_loopback()
    {
        return Err(ServeError::MetricsOffLoopback(addr));
    }
    let tls_config = match &config.tls {
        Some((cert, key)) => Some(axum_server::tls_rustls::RustlsConfig::from_config(
            Arc::new(load_tls(cert, key)?),
        )),
        None => None,
    };
    let store: Arc<dyn Store> = store::open(&config.database_url, &config.open)
        .await
        .map_err(|source| ServeError::Database {
            url: redact_url(&config.database_url),
            source,
        })?;
    let first_start = ensure_initial_secrets(store.as_ref()).await?;
    let listener =
        std::net::TcpListener::bind(config.listen).map_err(|source| ServeError::Bind {
            addr: config.listen,
            source,
        })?;
    listener
        .set_nonblocking(true)
        .map_err(|source| ServeError::Bind {
            addr: config.listen,
            source,
        })?;
    let local_addr = listener.local_addr().map_err(|source| ServeError::Bind {
        addr: config.listen,
        source,
    })?;
    let (metrics_listener, metrics_addr) = match config.metrics_listen {
        Some(addr) => {
            let bind_err = |source| ServeError::Bind { addr, source };
            let l = std::net::TcpListener::bind(addr).map_err(bind_err)?;
            l.set_nonblocking(true).map_err(bind_err)?;
            let bound = l.local_addr().map_err(bind_err)?;
            (Some(l), Some(bound))
        }
        None => (None, None),
    };
    let writers = if config.database_url.starts_with("sqlite:") {
        1
    } else {
        4
    };
    let mut app = config.app.clone();
    app.secure_cookies = config.tls.is_some();
    app.body_timeout = config.limits.body_timeout;
    let state = AppState {
        writer: Writer::start(
            Arc::clone(&store),
            writers,
            config.limits.ingest_queue_reports,
            config.limits.ingest_queue_bytes,
        ),
        store,
        metrics,
        config: Arc::new(app),
        fleet: Arc::default(),
        enroll_failures: Arc::default(),
    };
    Ok(Prepared {
        local_addr,
        first_start,
        tls: tls_config.is_some(),
        metrics_addr,
        listener,
        metrics_listener,
        tls_config,
        tls_files: config.tls,
        state,
        retention: config.retention,
        limits: config.limits,
    })
}

impl Prepared {
    /// Serves until `shutdown` completes, then finishes in-flight requests (at most 10 s).
    /// Under TLS, SIGHUP reloads the certificate and key; open connections keep theirs.
    pub async fn serve(
        self,
        shutdown: impl std::future::Future<Output = ()> + Send + 'static,
    ) -> Result<(), ServeError> {
        let prune = retention::spawn(Arc::clone(&self.state.store), self.retention);
        let upkeep = retention::spawn_upkeep(Arc::clone(&self.state.store));
        let handle = axum_server::Handle::new();
        let on_signal = handle.clone();
        tokio::spawn(async move {
            shutdown.await;
            on_signal.graceful_shutdown(Some(Duration::from_secs(10)));
        });
        let limits = self.limits;
        let metrics = match self.metrics_listener {
            Some(listener) => {
                let mut server = axum_server::from_tcp(listener)
                    .map_err(ServeError::Serve)?
                    .acceptor(ConnectionLimit::new(
                        axum_server::accept::DefaultAcceptor::new(),
                        64,
                    ))
                    .handle(handle.clone())
                    .http1_only()
                    .first_request_timeout(limits.idle_timeout);
                server
                    .http_builder()
                    .http1()
                    .header_read_timeout(Some(limits.header_timeout));
                let app = crate::app::metrics_router(self.state.clone());
                Some(tokio::spawn(server.serve(app.into_make_service())))
            }
            None => None,
        };
        let app = router(self.state);
        // Installed even without TLS, so that a SIGHUP (`systemctl reload`) never ends the
        // process.
        let reload = tokio::spawn(reload_on_sighup(
            self.tls_config.clone().zip(self.tls_files.clone()),
        ));
        let acceptor = ConnectionLimit::new(
            axum_server::accept::DefaultAcceptor::new(),
            limits.max_open_connections,
        );
        let result = match self.tls_config {
            Some(tls) => {
                let tls_acceptor = axum_server::tls_rustls::RustlsAcceptor::new(tls)
                    .handshake_timeout(limits.idle_timeout)
                    .acceptor(acceptor);
                let mut server = axum_server::from_tcp(self.listener)
                    .map_err(ServeError::Serve)?
                    .acceptor(tls_acceptor)
                    .handle(handle)
                    .http1_only()
                    .first_request_timeout(limits.idle_timeout);
                server
                    .http_builder()
                    .http1()
                    .header_read_timeout(Some(limits.header_timeout));
                server
                    .serve(app.into_make_service_with_connect_info::<std::net::SocketAddr>())
                    .await
                    .map_err(ServeError::Serve)
            }
            None => {
                let mut server = axum_server::from_tcp(self.listener)
                    .map_err(ServeError::Serve)?
                    .acceptor(acceptor)
                    .handle(handle)
                    .http1_only()
                    .first_request_timeout(limits.idle_timeout);
                server
                    .http_builder()
                    .http1()
                    .header_read_timeout(Some(limits.header_timeout));
                server
                    .serve(app.into_make_service_with_connect_info::<std::net::SocketAddr>())
                    .await
                    .map_err(ServeError::Serve)
            }
        };
        if let Some(task) = metrics {
            task.abort();
        }
        reload.abort();
        prune.abort();
        upkeep.abort();
        result
    }
}

/// Reloads the certificate and key on every SIGHUP. New connections get the new certificate;
/// connections already open keep theirs. A file that cannot be read leaves the current one in
/// place.
async fn reload_on_sighup(
    tls: Option<(axum_server::tls_rustls::RustlsConfig, (PathBuf, PathBuf))>,
) {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let mut hangups = match signal(SignalKind::hangup()) {
            Ok(s) => s,
            Err(err) => {
                tracing::warn!(error = %err, "cannot listen for SIGHUP; TLS reload disabled");
                return;
            }
        };
        while hangups.recv().await.is_some() {
            let Some((tls, (cert, key))) = &tls else {
                tracing::info!("SIGHUP: serving plain HTTP, no certificate to reload");
                continue;
            };
            match load_tls(cert, key) {
                Ok(config) => {
                    tls.reload_from_config(Arc::new(config));
                    tracing::info!(cert = %cert.display(), "TLS certificate and key reloaded");
                }
                Err(err) => {
                    tracing::error!(error = %err, "TLS reload failed; keeping the current certificate");
                }
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tls;
    }
}
