//! TLS certificates are verified: a self-signed `wss://` server is refused unless trusted.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use futures_util::StreamExt;
use realtime_agent::RealtimeAgent;
use realtime_protocol::Ga;
use realtime_runner::{RealtimeRunner, SessionEvent};
use realtime_transport::{Auth, RealtimeConnection, TransportError};
use std::sync::Arc;
use std::time::Duration;
use tests::{KEY, WAIT};

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

/// A `wss://` echo of the handshake on 127.0.0.1 with a self-signed certificate.
async fn tls_server() -> (std::net::SocketAddr, Vec<u8>) {
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
                    tokio_tungstenite::tungstenite::Message::text(
                        r#"{"type":"input_audio_buffer.cleared","event_id":"e1"}"#,
                    ),
                )
                .await;
                while let Some(Ok(_)) = ws.next().await {}
            });
        }
    });
    (addr, der)
}

#[tokio::test]
async fn tls_certificates_are_verified() {
    let (addr, der) = tls_server().await;
    let url = format!("wss://localhost:{}/v1/realtime", addr.port());
    let builder = RealtimeConnection::<Ga>::builder()
        .endpoint(&url)
        .auth(Auth::api_key(KEY))
        .handshake_timeout(WAIT);
    let err = builder.connect().await.unwrap_err();
    assert!(
        matches!(err, TransportError::Tls { .. }),
        "a self-signed server must be refused: {err:?}"
    );
    assert!(!err.is_retryable());
    let cause = std::error::Error::source(&err)
        .map(|c| c.to_string())
        .unwrap_or_default();
    assert!(cause.to_lowercase().contains("certificate"), "{cause}");
    // Trusted explicitly, it works (and still verifies the name).
    let (tx, mut rx) = builder
        .clone()
        .add_root_certificate(der)
        .connect()
        .await
        .unwrap()
        .split();
    let first = tokio::time::timeout(WAIT, rx.next())
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert_eq!(first.event_type(), "input_audio_buffer.cleared");
    tx.close().await.unwrap();
    // The session level reports the same refusal.
    let runner = RealtimeRunner::builder(RealtimeAgent::<()>::builder("A").build().unwrap())
        .model(
            realtime_runner::OpenAIRealtimeModel::new()
                .endpoint(url)
                .auth(Auth::api_key(KEY))
                .connect_timeout(Duration::from_secs(5)),
        )
        .build();
    assert!(matches!(
        runner.run(()).await,
        Err(realtime_runner::RunnerError::Transport(
            TransportError::Tls { .. }
        ))
    ));
    let _ = SessionEvent::Closed;
}
