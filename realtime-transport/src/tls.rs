//! TLS for `wss://` and `https://`: rustls with an explicitly chosen crypto provider (`ring`),
//! never the process-wide default, so nothing panics for want of one and it builds with just a
//! C compiler; or, with the `native-tls` feature, the platform's TLS. Extra root certificates
//! are trusted by either.

use crate::config::TlsBackend;
use crate::error::{Result, TransportError};
use std::sync::Arc;
use tokio_tungstenite::Connector;

pub(crate) fn client_config(extra_roots: &[Vec<u8>]) -> Result<Arc<rustls::ClientConfig>> {
    let mut roots = rustls::RootCertStore::empty();
    roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
    for der in extra_roots {
        roots
            .add(rustls::pki_types::CertificateDer::from(der.clone()))
            .map_err(|e| TransportError::InvalidConfig {
                reason: format!("bad root certificate: {e}"),
            })?;
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| TransportError::InvalidConfig {
            reason: format!("TLS configuration: {e}"),
        })?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(Arc::new(config))
}

/// The WebSocket handshake's TLS connector for `backend`.
pub(crate) fn connector(backend: TlsBackend, extra_roots: &[Vec<u8>]) -> Result<Connector> {
    match backend {
        TlsBackend::Rustls => Ok(Connector::Rustls(client_config(extra_roots)?)),
        #[cfg(feature = "native-tls")]
        TlsBackend::Native => {
            let bad = |e: native_tls::Error| TransportError::InvalidConfig {
                reason: format!("native TLS: {e}"),
            };
            let mut builder = native_tls::TlsConnector::builder();
            for der in extra_roots {
                builder.add_root_certificate(native_tls::Certificate::from_der(der).map_err(bad)?);
            }
            Ok(Connector::NativeTls(builder.build().map_err(bad)?))
        }
    }
}
