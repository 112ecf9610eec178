//! Starting the collector: open the store, create the first secrets, bind, serve.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use metrics_exporter_prometheus::PrometheusHandle;

use crate::app::{AppConfig, AppState, router};
use crate::credentials::{CredentialError, FirstStart, ensure_initial_secrets};
use crate::ingest::Writer;
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
    listener: std::net::TcpListener,
    tls_config: Option<axum_server::tls_rustls::RustlsConfig>,
    state: AppState,
    retention: Retention,
}

/// Checks the configuration, opens and migrates the store, creates first secrets, binds.
pub async fn prepare(
    config: ServeConfig,
    metrics: Option<PrometheusHandle>,
) -> Result<Prepared, ServeError> {
    if config.tls.is_none() && !config.listen.ip().is_loopback() {
        return Err(ServeError::PlainHttpOffLoopback(config.listen));
    }
    let tls_config = match &config.tls {
        Some((cert, key)) => {
            // Ring is the one TLS provider in the workspace; installing twice is harmless.
            let _ = rustls::crypto::ring::default_provider().install_default();
            Some(
                axum_server::tls_rustls::RustlsConfig::from_pem_file(cert, key)
                    .await
                    .map_err(|e| ServeError::Tls {
                        cert: cert.display().to_string(),
                        key: key.display().to_string(),
                        reason: e.to_string(),
                    })?,
            )
        }
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
    let writers = if config.database_url.starts_with("sqlite:") {
        1
    } else {
        4
    };
    let mut app = config.app.clone();
    app.secure_cookies = config.tls.is_some();
    let state = AppState {
        writer: Writer::start(Arc::clone(&store), writers),
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
        listener,
        tls_config,
        state,
        retention: config.retention,
    })
}

impl Prepared {
    /// Serves until `shutdown` completes, then finishes in-flight requests (at most 10 s).
    pub async fn serve(
        self,
        shutdown: impl std::future::Future<Output = ()> + Send + 'static,
    ) -> Result<(), ServeError> {
        let prune = retention::spawn(Arc::clone(&self.state.store), self.retention);
        let app = router(self.state);
        let result = match self.tls_config {
            Some(tls) => {
                let handle = axum_server::Handle::new();
                let on_signal = handle.clone();
                tokio::spawn(async move {
                    shutdown.await;
                    on_signal.graceful_shutdown(Some(Duration::from_secs(10)));
                });
                axum_server::from_tcp_rustls(self.listener, tls)
                    .map_err(ServeError::Serve)?
                    .handle(handle)
                    .serve(app.into_make_service_with_connect_info::<std::net::SocketAddr>())
                    .await
                    .map_err(ServeError::Serve)
            }
            None => {
                let listener =
                    tokio::net::TcpListener::from_std(self.listener).map_err(ServeError::Serve)?;
                axum::serve(
                    listener,
                    app.into_make_service_with_connect_info::<std::net::SocketAddr>(),
                )
                .with_graceful_shutdown(shutdown)
                .await
                .map_err(ServeError::Serve)
            }
        };
        prune.abort();
        result
    }
}
