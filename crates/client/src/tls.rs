//! The rustls configuration of the agent: OS roots plus an optional extra CA, the webpki
//! verifier, and optional public-key pinning on top of it.
//!
//! Pinning never replaces verification: the chain, name and validity are checked by webpki
//! first, and only a certificate that passes is then compared with the pins.

use std::path::Path;
use std::sync::Arc;

use rustls::client::WebPkiServerVerifier;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::pki_types::pem::PemObject as _;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{DigitallySignedStruct, RootCertStore, SignatureScheme};
use sha2::{Digest as _, Sha256};

use crate::config::SpkiPin;

/// Why the TLS configuration could not be built.
#[derive(Debug, thiserror::Error)]
pub enum TlsSetupError {
    /// The extra CA file could not be read or holds no certificate.
    #[error("CA certificate file {path}: {message}")]
    CaFile {
        /// The file.
        path: String,
        /// What is wrong.
        message: String,
    },
    /// rustls refused the configuration (for example, no trusted roots at all).
    #[error("TLS setup: {0}")]
    Rustls(#[from] rustls::Error),
    /// The verifier could not be built.
    #[error("TLS setup: {0}")]
    Verifier(#[from] rustls::client::VerifierBuilderError),
}

/// The crypto provider of the agent: ring, so no C toolchain beyond a compiler is needed.
pub(crate) fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// Builds the rustls client configuration for the endpoint.
pub(crate) fn client_config(
    extra_ca: Option<&Path>,
    pins: &[SpkiPin],
) -> Result<rustls::ClientConfig, TlsSetupError> {
    let provider = provider();
    let mut roots = RootCertStore::empty();
    let native = rustls_native_certs::load_native_certs();
    for e in &native.errors {
        tracing::debug!(error = %e, "could not load some OS root certificates");
    }
    let (added, ignored) = roots.add_parsable_certificates(native.certs);
    tracing::debug!(added, ignored, "loaded OS root certificates");
    if let Some(path) = extra_ca {
        let ca_err = |message: String| TlsSetupError::CaFile {
            path: path.display().to_string(),
            message,
        };
        let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(path)
            .map_err(|e| ca_err(e.to_string()))?
            .collect::<Result<_, _>>()
            .map_err(|e| ca_err(e.to_string()))?;
        if certs.is_empty() {
            return Err(ca_err("no PEM certificate in it".to_owned()));
        }
        for cert in certs {
            roots
                .add(cert)
                .map_err(|e| ca_err(format!("not a usable CA certificate: {e}")))?;
        }
    }
    if roots.is_empty() {
        // A minimal system without a CA bundle: plain http to a loopback endpoint must still
        // work, and https fails at the handshake with a message saying what is missing.
        let verifier: Arc<dyn ServerCertVerifier> = Arc::new(NoRoots {
            algorithms: provider.signature_verification_algorithms,
        });
        return Ok(rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()?
            .dangerous()
            .with_custom_certificate_verifier(verifier)
            .with_no_client_auth());
    }
    let webpki =
        WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider.clone()).build()?;
    let verifier: Arc<dyn ServerCertVerifier> = if pins.is_empty() {
        webpki
    } else {
        Arc::new(PinnedVerifier {
            inner: webpki,
            pins: pins.to_vec(),
        })
    };
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .dangerous()
        .with_custom_certificate_verifier(verifier)
        .with_no_client_auth();
    Ok(config)
}

/// The SHA-256 of a certificate's SubjectPublicKeyInfo (the value a pin names).
pub(crate) fn spki_sha256(cert: &CertificateDer<'_>) -> Result<[u8; 32], rustls::Error> {
    let parsed = webpki::EndEntityCert::try_from(cert)
        .map_err(|e| rustls::Error::General(format!("cannot parse server certificate: {e}")))?;
    let spki = parsed.subject_public_key_info();
    Ok(Sha256::digest(spki.as_ref()).into())
}

/// Refuses every server certificate: this machine trusts no CA at all.
#[derive(Debug)]
struct NoRoots {
    algorithms: rustls::crypto::WebPkiSupportedAlgorithms,
}

impl ServerCertVerifier for NoRoots {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Err(rustls::Error::General(
            "this machine has no CA certificates (install ca-certificates) and no `ca_cert` is set"
                .to_owned(),
        ))
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.algorithms.supported_schemes()
    }
}

/// Verifies with webpki, then requires the leaf's public key to match one of the pins.
#[derive(Debug)]
struct PinnedVerifier {
    inner: Arc<WebPkiServerVerifier>,
    pins: Vec<SpkiPin>,
}

impl ServerCertVerifier for PinnedVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let verified = self.inner.verify_server_cert(
            end_entity,
            intermediates,
            server_name,
            ocsp_response,
            now,
        )?;
        let digest = spki_sha256(end_entity)?;
        if self.pins.iter().any(|p| p.0 == digest) {
            Ok(verified)
        } else {
            Err(rustls::Error::General(format!(
                "server public key {} matches none of the pinned keys (pinned_spki_sha256)",
                SpkiPin(digest)
            )))
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.inner.supported_verify_schemes()
    }
}
