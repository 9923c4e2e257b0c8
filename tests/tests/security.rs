//! TLS certificates are verified: a self-signed `wss://` server is refused unless trusted.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use futures_util::StreamExt;
use realtime_agent::RealtimeAgent;
use realtime_protocol::Ga;
use realtime_runner::{RealtimeRunner, SessionEvent};
use realtime_transport::{Auth, RealtimeConnection, TransportError};
use std::time::Duration;
use tests::{KEY, WAIT};

#[tokio::test]
async fn tls_certificates_are_verified() {
    let (addr, der) = tests::tls::server().await;
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
