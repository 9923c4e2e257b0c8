//! Through an HTTP CONNECT proxy: sessions, `wss://` with certificate checks, REST calls; a
//! proxy that refuses or hangs up is a typed error; the proxy's password is never shown.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use futures_util::StreamExt;
use realtime_agent::RealtimeAgent;
use realtime_protocol::{Dialect, Ga};
use realtime_runner::{Modality, RealtimeRunner, RunConfig, SessionEvent, SessionSettings};
use realtime_testkit::{Auth as FakeAuth, Echo, FakeRealtimeServer, FakeServerConfig};
use realtime_transport::{Auth, Proxy, RealtimeConnection, RestClient, TransportError};
use serde_json::json;
use tests::proxy::{Behaviour, ConnectProxy};
use tests::{model, KEY, WAIT};

const PASSWORD: &str = "pr0xy-s3cret";

fn proxy_at(proxy: &ConnectProxy) -> Proxy {
    Proxy::http(&format!("http://alice:{PASSWORD}@{}", proxy.addr)).unwrap()
}

fn basic_header() -> String {
    let plain = format!("alice:{PASSWORD}");
    format!(
        "Proxy-Authorization: Basic {}",
        realtime_protocol::audio::encode_base64(plain.as_bytes())
    )
}

async fn fake() -> FakeRealtimeServer {
    FakeRealtimeServer::start(
        FakeServerConfig::default()
            .with_auth(FakeAuth::keys([KEY]))
            .with_responder(Echo::text()),
    )
    .await
    .unwrap()
}

#[tokio::test]
async fn a_session_runs_through_a_connect_proxy() {
    let server = fake().await;
    let proxy = ConnectProxy::start(Behaviour::Tunnel).await;
    for dialect in [Dialect::Ga, Dialect::Beta] {
        let runner = RealtimeRunner::builder(RealtimeAgent::<()>::builder("A").build().unwrap())
            .config(
                RunConfig::default()
                    .with_settings(SessionSettings::default().with_output_modality(Modality::Text)),
            )
            .model(
                model(&server, dialect)
                    .proxy(proxy_at(&proxy))
                    .user_agent("proxy-test/1"),
            )
            .build();
        let session = runner.run(()).await.unwrap();
        session.send_message("through the tunnel").await.unwrap();
        let mut text = String::new();
        loop {
            match tokio::time::timeout(WAIT, session.next_event())
                .await
                .unwrap()
            {
                Some(SessionEvent::TextDelta { delta, .. }) => text.push_str(&delta),
                Some(SessionEvent::AgentEnd { .. }) => break,
                Some(_) => {}
                None => panic!("the session ended"),
            }
        }
        assert_eq!(text, "through the tunnel");
        session.close().await;
        let conn = server.next_connection(WAIT).await.unwrap();
        assert_eq!(conn.handshake().header("user-agent"), Some("proxy-test/1"));
    }
    let heads = proxy.heads();
    assert_eq!(heads.len(), 2, "one tunnel per session: {heads:?}");
    for head in heads {
        let want = format!("CONNECT {0} HTTP/1.1\r\nHost: {0}\r\n", server.addr());
        assert!(head.starts_with(&want), "{head}");
        assert!(head.contains(&basic_header()), "{head}");
    }
    server.shutdown().await;
}

#[tokio::test]
async fn wss_through_the_proxy_still_verifies_the_server() {
    let (addr, der) = tests::tls::server().await;
    let proxy = ConnectProxy::start(Behaviour::Tunnel).await;
    let builder = RealtimeConnection::<Ga>::builder()
        .endpoint(format!("wss://localhost:{}/v1/realtime", addr.port()))
        .auth(Auth::api_key(KEY))
        .proxy(proxy_at(&proxy))
        .handshake_timeout(WAIT);
    let err = builder.connect().await.unwrap_err();
    assert!(matches!(err, TransportError::Tls { .. }), "{err:?}");
    let (tx, mut rx) = builder
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
    let heads = proxy.heads();
    assert_eq!(heads.len(), 2);
    assert!(heads
        .iter()
        .all(|h| h.starts_with(&format!("CONNECT localhost:{} ", addr.port()))));
}

#[tokio::test]
async fn rest_calls_go_through_the_proxy() {
    let server = fake().await;
    let proxy = ConnectProxy::start(Behaviour::Tunnel).await;
    let answer = RestClient::new()
        .base_url(server.rest_url())
        .auth(Auth::api_key(KEY))
        .proxy(proxy_at(&proxy))
        .timeout(WAIT)
        .post_json(
            "/realtime/client_secrets",
            Some(&json!({"session": {"type": "realtime"}})),
        )
        .await
        .unwrap();
    assert_eq!(answer.status, 200);
    let v: serde_json::Value = serde_json::from_str(&answer.body).unwrap();
    assert!(v["value"].as_str().unwrap().starts_with("ek_"), "{v}");
    let heads = proxy.heads();
    assert_eq!(heads.len(), 1);
    assert!(heads[0].starts_with(&format!("CONNECT {} ", server.addr())));
    server.shutdown().await;
}

#[tokio::test]
async fn a_proxy_that_refuses_or_hangs_up_is_a_typed_error() {
    let server = fake().await;
    for (behaviour, status, retryable) in [
        (Behaviour::Refuse, Some(407), false),
        (Behaviour::HangUp, None, true),
    ] {
        let proxy = ConnectProxy::start(behaviour).await;
        let builder = RealtimeConnection::<Ga>::builder()
            .endpoint(server.base_url())
            .auth(Auth::api_key(KEY))
            .proxy(proxy_at(&proxy))
            .connect_timeout(WAIT);
        let shown = format!("{builder:?}");
        assert!(!shown.contains(PASSWORD), "{shown}");
        let err = builder.connect().await.unwrap_err();
        match &err {
            TransportError::ProxyRefused { status: s, .. } => assert_eq!(*s, status),
            other => panic!("{behaviour:?}: {other:?}"),
        }
        assert_eq!(err.is_retryable(), retryable, "{err}");
        for text in [err.to_string(), format!("{err:?}")] {
            assert!(!text.contains(PASSWORD), "{text}");
        }
        // The session level reports the same error.
        let runner = RealtimeRunner::builder(RealtimeAgent::<()>::builder("A").build().unwrap())
            .model(model(&server, Dialect::Ga).proxy(proxy_at(&proxy)))
            .build();
        match runner.run(()).await {
            Err(realtime_runner::RunnerError::Transport(TransportError::ProxyRefused {
                status: s,
                ..
            })) => assert_eq!(s, status),
            other => panic!("{behaviour:?}: {:?}", other.err()),
        }
    }
    server.shutdown().await;
}
