//! A `wss://` server on 127.0.0.1 with a self-signed certificate, for the TLS and proxy tests.

use futures_util::StreamExt;
use std::net::SocketAddr;
use std::sync::Arc;

/// The first frame every connection of [`server`] gets.
pub const FIRST_EVENT: &str = r#"{"type":"input_audio_buffer.cleared","event_id":"e1"}"#;

/// A self-signed certificate for `localhost` and `127.0.0.1`, and its key.
fn self_signed() -> (
    rustls::pki_types::CertificateDer<'static>,
    rustls::pki_types::PrivateKeyDer<'static>,
) {
    let cert =
        rcgen::generate_simple_self_signed(vec!["localhost".to_owned(), "127.0.0.1".to_owned()])
            .unwrap();
    let der = cert.cert.der().clone();
    let key = rustls::pki_types::PrivateKeyDer::try_from(cert.signing_key.serialize_der()).unwrap();
    (der, key)
}

/// Starts a `wss://` server that sends [`FIRST_EVENT`] to each connection, then reads until it
/// closes. Returns its address and its certificate (DER), which clients must trust explicitly.
pub async fn server() -> (SocketAddr, Vec<u8>) {
    let (cert, key) = self_signed();
    let der = cert.to_vec();
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(vec![cert], key)
        .unwrap();
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            let acceptor = acceptor.clone();
            tokio::spawn(async move {
                let Ok(tls) = acceptor.accept(tcp).await else {
                    return;
                };
                let Ok(mut ws) = tokio_tungstenite::accept_async(tls).await else {
                    return;
                };
                let _ = futures_util::SinkExt::send(
                    &mut ws,
                    tokio_tungstenite::tungstenite::Message::text(FIRST_EVENT),
                )
                .await;
                while let Some(Ok(_)) = ws.next().await {}
            });
        }
    });
    (addr, der)
}
