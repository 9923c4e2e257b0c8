//! The transport against `realtime-testkit` and small ad-hoc local servers. Every wait has a
//! timeout.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use futures_util::StreamExt;
use realtime_protocol::{beta, ga, Beta, Dialect, Ga, Protocol};
use realtime_testkit::{
    Auth as ServerAuth, ConnectionHandle, FakeRealtimeServer, FakeServerConfig, ResponsePlan,
    Scripted,
};
use realtime_transport::{
    ApiKey, Auth, ConnectionBuilder, EventReceiver, RealtimeConnection, TransportError,
};
use std::sync::{Arc, Mutex};
use std::time::Duration;

const WAIT: Duration = Duration::from_secs(5);
const KEY: &str = "sk-proj-SECRETSECRET0123456789";

async fn server(config: FakeServerConfig) -> FakeRealtimeServer {
    FakeRealtimeServer::start(config.with_auth(ServerAuth::keys([KEY])))
        .await
        .unwrap()
}

fn builder<P: Protocol>(server: &FakeRealtimeServer) -> ConnectionBuilder<P> {
    RealtimeConnection::<P>::builder()
        .endpoint(server.base_url())
        .api_key(KEY)
}

async fn next<P: Protocol>(
    rx: &mut EventReceiver<P>,
) -> Option<realtime_transport::Result<P::ServerEvent>> {
    tokio::time::timeout(WAIT, rx.next())
        .await
        .expect("timed out waiting for an event")
}

async fn open<P: Protocol>(
    config: FakeServerConfig,
) -> (
    FakeRealtimeServer,
    realtime_transport::EventSender<P>,
    EventReceiver<P>,
    ConnectionHandle,
) {
    let server = server(config).await;
    let (tx, mut rx) = builder::<P>(&server).connect().await.unwrap().split();
    let conn = server.next_connection(WAIT).await.unwrap();
    let first = next(&mut rx).await.unwrap().unwrap();
    assert_eq!(P::server_event_type(&first), "session.created");
    (server, tx, rx, conn)
}

#[tokio::test]
async fn ga_end_to_end() {
    let (server, tx, mut rx, conn) = open::<Ga>(
        FakeServerConfig::default().with_responder(Scripted::new([ResponsePlan::text("Hi there")])),
    )
    .await;
    tx.send(&ga::ClientEvent::user_text("Hello")).await.unwrap();
    tx.send(&ga::ClientEvent::response_create()).await.unwrap();
    let mut text = String::new();
    loop {
        match next(&mut rx).await.unwrap().unwrap() {
            ga::ServerEvent::ResponseOutputTextDelta(d) => text.push_str(&d.delta),
            ga::ServerEvent::ResponseDone(d) => {
                assert_eq!(
                    d.response.status.as_ref().map(|s| s.as_str()),
                    Some("completed")
                );
                break;
            }
            _ => {}
        }
    }
    assert_eq!(text, "Hi there");
    assert_eq!(
        conn.received_types(),
        ["conversation.item.create", "response.create"]
    );
    let hs = conn.handshake();
    assert_eq!(
        (hs.path.as_str(), hs.query.as_str()),
        ("/v1/realtime", "model=gpt-realtime")
    );
    assert_eq!(hs.header("authorization"), Some("Bearer [redacted]"));
    assert!(hs.header("user-agent").unwrap().starts_with("realtime-rs/"));
    assert_eq!(hs.header("openai-beta"), None);
    assert_eq!(conn.dialect(), Dialect::Ga);
    tx.close().await.unwrap();
    // What was already received is still delivered; then a normal close ends the stream.
    while let Some(item) = next(&mut rx).await {
        assert!(item.is_ok(), "{item:?}");
    }
    assert!(conn.wait_closed(WAIT).await);
    server.shutdown().await;
}

#[tokio::test]
async fn beta_end_to_end() {
    let (server, tx, mut rx, conn) = open::<Beta>(
        FakeServerConfig::default().with_responder(Scripted::new([ResponsePlan::speech("Hello")])),
    )
    .await;
    tx.send(&beta::ClientEvent::user_text("Hi")).await.unwrap();
    tx.send(&beta::ClientEvent::response_create())
        .await
        .unwrap();
    let mut pcm = Vec::new();
    loop {
        match next(&mut rx).await.unwrap().unwrap() {
            beta::ServerEvent::ResponseAudioDelta(d) => d.decode_pcm_into(&mut pcm).unwrap(),
            beta::ServerEvent::ResponseDone(_) => break,
            _ => {}
        }
    }
    assert_eq!(pcm, realtime_testkit::tone_for_text("Hello"));
    assert_eq!(conn.dialect(), Dialect::Beta);
    assert_eq!(conn.handshake().header("openai-beta"), Some("realtime=v1"));
    assert_eq!(conn.handshake().query, "model=gpt-4o-realtime-preview");
    drop(rx);
    assert!(
        conn.wait_closed(WAIT).await,
        "dropping the receiver closes the connection"
    );
    let err = tx
        .send(&beta::ClientEvent::response_cancel())
        .await
        .unwrap_err();
    match err {
        TransportError::SendOnClosed { unsent } => {
            assert_eq!(unsent, r#"{"type":"response.cancel"}"#)
        }
        other => panic!("{other:?}"),
    }
    server.shutdown().await;
}

#[tokio::test]
async fn a_rejected_key_says_so() {
    let server = server(FakeServerConfig::default()).await;
    let err = RealtimeConnection::<Ga>::builder()
        .endpoint(server.base_url())
        .api_key("sk-wrong-0123456789abcdef")
        .connect()
        .await
        .unwrap_err();
    assert!(
        matches!(err, TransportError::Rejected { status: 401, .. }),
        "{err:?}"
    );
    let shown = err.to_string();
    assert!(
        shown.starts_with("the API key was rejected (HTTP 401: Incorrect API key provided"),
        "{shown}"
    );
    assert!(
        !shown.contains("sk-wrong-0123456789abcdef")
            && !format!("{err:?}").contains("sk-wrong-0123456789abcdef")
    );
    assert!(!err.is_retryable());
    let err = RealtimeConnection::<Ga>::builder()
        .endpoint(server.base_url())
        .api_key("  ")
        .connect()
        .await
        .unwrap_err();
    assert!(matches!(err, TransportError::MissingApiKey));
    server.shutdown().await;
}

#[tokio::test]
async fn abnormal_close_is_an_error_with_code_and_reason() {
    let (server, _tx, mut rx, conn) = open::<Ga>(FakeServerConfig::default()).await;
    conn.close(1011, "overloaded").await;
    match next(&mut rx).await.unwrap() {
        Err(TransportError::Closed { code: 1011, reason }) => assert_eq!(reason, "overloaded"),
        other => panic!("{other:?}"),
    }
    assert!(next(&mut rx).await.is_none());
    server.shutdown().await;
}

#[tokio::test]
async fn server_normal_close_ends_the_stream() {
    let (server, tx, mut rx, conn) = open::<Ga>(FakeServerConfig::default()).await;
    conn.close(1000, "done").await;
    assert!(next(&mut rx).await.is_none());
    assert!(matches!(
        tx.send(&ga::ClientEvent::response_create()).await,
        Err(TransportError::SendOnClosed { .. })
    ));
    server.shutdown().await;
}

#[tokio::test]
async fn a_dropped_socket_is_connection_lost() {
    let (server, _tx, mut rx, conn) = open::<Ga>(FakeServerConfig::default()).await;
    conn.drop_socket().await;
    match next(&mut rx).await.unwrap() {
        Err(e @ TransportError::ConnectionLost(_)) => assert!(e.is_retryable() && e.is_fatal()),
        other => panic!("{other:?}"),
    }
    assert!(next(&mut rx).await.is_none());
    server.shutdown().await;
}

#[tokio::test]
async fn malformed_and_unknown_frames_do_not_end_the_stream() {
    let (server, _tx, mut rx, conn) = open::<Ga>(FakeServerConfig::default()).await;
    conn.send_malformed().await;
    conn.send_unknown_event().await;
    conn.send_event(serde_json::json!({"type": "input_audio_buffer.cleared"}))
        .await;
    conn.send_raw(r#"{"type":"input_audio_buffer.cleared"}"#)
        .await; // missing event_id
    conn.send_event(serde_json::json!({"type": "input_audio_buffer.cleared"}))
        .await;
    match next(&mut rx).await.unwrap() {
        Err(TransportError::Decode(e)) => assert!(e
            .raw()
            .unwrap()
            .starts_with(r#"{"type":"response.output_text.delta""#)),
        other => panic!("{other:?}"),
    }
    assert!(next(&mut rx).await.unwrap().unwrap().is_unknown());
    assert_eq!(
        next(&mut rx).await.unwrap().unwrap().event_type(),
        "input_audio_buffer.cleared"
    );
    match next(&mut rx).await.unwrap() {
        Err(e @ TransportError::Decode(_)) => assert!(!e.is_fatal()),
        other => panic!("{other:?}"),
    }
    assert_eq!(
        next(&mut rx).await.unwrap().unwrap().event_type(),
        "input_audio_buffer.cleared"
    );
    server.shutdown().await;
}

#[tokio::test]
async fn a_frame_over_the_limit_is_a_clear_error() {
    let server = server(FakeServerConfig::default()).await;
    let (_tx, mut rx) = builder::<Ga>(&server)
        .max_message_size(1 << 20)
        .connect()
        .await
        .unwrap()
        .split();
    let conn = server.next_connection(WAIT).await.unwrap();
    next(&mut rx).await.unwrap().unwrap();
    conn.send_oversized(2 << 20).await;
    match next(&mut rx).await.unwrap() {
        Err(TransportError::FrameTooLarge { size, max }) => {
            assert_eq!(max, 1 << 20);
            assert!(size > max);
        }
        other => panic!("{other:?}"),
    }
    assert!(next(&mut rx).await.is_none());
    // The defaults take a 15 MiB frame and refuse a 20 MiB one (frames are capped at 16 MiB).
    let (_tx, mut rx) = builder::<Ga>(&server).connect().await.unwrap().split();
    let conn = server.next_connection(WAIT).await.unwrap();
    next(&mut rx).await.unwrap().unwrap();
    conn.send_oversized(15 << 20).await;
    assert!(next(&mut rx).await.unwrap().unwrap().is_unknown());
    conn.send_oversized(20 << 20).await;
    assert!(matches!(
        next(&mut rx).await.unwrap(),
        Err(TransportError::FrameTooLarge {
            size: 20_971_520,
            max: 16_777_216
        })
    ));
    server.shutdown().await;
}

#[tokio::test]
async fn keep_alive_notices_a_silent_peer() {
    let server = server(FakeServerConfig::default()).await;
    let b = builder::<Ga>(&server)
        .keep_alive(Some(Duration::from_millis(100)), Duration::from_millis(300));
    // A healthy peer answers: no error for a while.
    let (_tx, mut rx) = b.connect().await.unwrap().split();
    next(&mut rx).await.unwrap().unwrap();
    assert!(
        tokio::time::timeout(Duration::from_millis(800), rx.next())
            .await
            .is_err(),
        "a live connection stays quiet"
    );
    // A peer that stops reading does not.
    let (_tx2, mut rx2) = b.connect().await.unwrap().split();
    let _ = server.next_connection(WAIT).await.unwrap();
    let conn = server.next_connection(WAIT).await.unwrap();
    next(&mut rx2).await.unwrap().unwrap();
    conn.stop_answering_pings().await;
    match next(&mut rx2).await.unwrap() {
        Err(TransportError::KeepAliveTimeout { after }) => {
            assert_eq!(after, Duration::from_millis(300))
        }
        other => panic!("{other:?}"),
    }
    server.shutdown().await;
}

/// Keep-alive judges the connection, not the application: an app that stops reading for 5 s
/// (five keep-alive periods) while a healthy server floods it resumes with every frame and no
/// error, although the pongs sat behind the unread frames all that time.
#[tokio::test]
async fn an_app_stall_is_not_a_dead_server() {
    const FRAMES: usize = 3_000;
    let server = server(FakeServerConfig::default()).await;
    let b = builder::<Ga>(&server).keep_alive(
        Some(Duration::from_millis(200)),
        Duration::from_millis(1000),
    );
    let (_tx, mut rx) = b.connect().await.unwrap().split();
    let conn = server.next_connection(WAIT).await.unwrap();
    assert!(!rx.next_raw().await.unwrap().unwrap().as_str().is_empty());
    let payload = "A".repeat(8 * 1024);
    let flood = tokio::spawn(async move {
        for i in 0..FRAMES {
            conn.send_raw(format!(
                r#"{{"type":"response.output_audio.delta","event_id":"e{i}","response_id":"r","item_id":"i","output_index":0,"content_index":0,"delta":"{payload}"}}"#
            ))
            .await;
        }
    });
    // The app stalls: nothing is read for 5 s.
    tokio::time::sleep(Duration::from_secs(5)).await;
    let mut got = 0;
    while got < FRAMES {
        match tokio::time::timeout(WAIT, rx.next_raw()).await {
            Ok(Some(Ok(text))) => {
                assert!(
                    text.as_str().contains(&format!(r#""event_id":"e{got}""#)),
                    "frame {got} out of order"
                );
                got += 1;
            }
            other => panic!("after {got} frames: {other:?}"),
        }
    }
    flood.await.unwrap();
    // And the connection is still healthy afterwards.
    assert!(
        tokio::time::timeout(Duration::from_millis(1500), rx.next_raw())
            .await
            .is_err(),
        "a live connection stays quiet"
    );
    server.shutdown().await;
}

#[tokio::test]
async fn handshake_timeout_against_a_silent_listener() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let hold = tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((s, _)) = listener.accept().await {
            held.push(s); // accept, never answer
        }
    });
    let err = RealtimeConnection::<Ga>::builder()
        .endpoint(format!("ws://{addr}/v1/realtime"))
        .api_key(KEY)
        .handshake_timeout(Duration::from_millis(300))
        .connect()
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            TransportError::Timeout {
                stage: "handshaking",
                ..
            }
        ),
        "{err:?}"
    );
    assert!(err.is_retryable());
    hold.abort();

    // Nothing listening: a connect error.
    let free = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .unwrap()
        .local_addr()
        .unwrap();
    let err = RealtimeConnection::<Ga>::builder()
        .endpoint(format!("ws://{free}/v1/realtime"))
        .api_key(KEY)
        .connect()
        .await
        .unwrap_err();
    assert!(matches!(err, TransportError::Connect { .. }), "{err:?}");
}

#[tokio::test]
async fn azure_url_and_header() {
    let server = server(FakeServerConfig::default()).await;
    let resource = format!("http://{}", server.addr());
    for dialect in [Dialect::Ga, Dialect::Beta] {
        let auth = Auth::AzureApiKey(ApiKey::new(KEY));
        match dialect {
            Dialect::Beta => {
                RealtimeConnection::<Beta>::builder()
                    .azure(&resource, "my-realtime", None)
                    .auth(auth)
                    .connect()
                    .await
                    .unwrap();
            }
            _ => {
                RealtimeConnection::<Ga>::builder()
                    .azure(&resource, "my-realtime", None)
                    .auth(auth)
                    .connect()
                    .await
                    .unwrap();
            }
        }
        let conn = server.next_connection(WAIT).await.unwrap();
        let hs = conn.handshake();
        let (path, query) = match dialect {
            Dialect::Beta => (
                "/openai/realtime",
                "api-version=2025-04-01-preview&deployment=my-realtime",
            ),
            _ => ("/openai/v1/realtime", "model=my-realtime"),
        };
        assert_eq!((hs.path.as_str(), hs.query.as_str()), (path, query));
        assert_eq!(hs.header("api-key"), Some("[redacted]"));
        assert_eq!(hs.header("authorization"), None);
    }
    server.shutdown().await;
}

/// A `Write` that appends to a shared buffer, for capturing logs.
#[derive(Clone, Default)]
struct Capture(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for Capture {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[tokio::test]
async fn the_key_never_reaches_debug_display_or_logs() {
    let capture = Capture::default();
    let writer = capture.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_writer(move || writer.clone())
        .with_ansi(false)
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);

    let server = server(FakeServerConfig::default()).await;
    let b = builder::<Ga>(&server).header("OpenAI-Organization", "org-visible-name");
    let conn = b.connect().await.unwrap();
    let mut shown = vec![
        format!("{b:?}"),
        format!("{conn:?}"),
        format!("{:?}", Auth::api_key(KEY)),
        format!("{:?}", ApiKey::new(KEY)),
    ];
    let (tx, mut rx) = conn.split();
    shown.push(format!("{tx:?} {rx:?}"));
    next(&mut rx).await.unwrap().unwrap();
    tx.send(&ga::ClientEvent::user_text("hello")).await.unwrap();
    tx.close().await.unwrap();
    let bad = RealtimeConnection::<Ga>::builder()
        .endpoint(server.base_url())
        .api_key(format!("{KEY}x"))
        .connect()
        .await
        .unwrap_err();
    shown.push(format!("{bad} {bad:?}"));
    let logs = String::from_utf8(capture.0.lock().unwrap().clone()).unwrap();
    assert!(
        logs.contains("realtime_connection"),
        "the span is logged: {logs}"
    );
    assert!(logs.contains("connected"));
    shown.push(logs);
    for s in &shown {
        assert!(!s.contains("SECRETSECRET"), "the key leaked into: {s}");
        assert!(
            !s.contains("org-visible-name"),
            "a header value leaked into: {s}"
        );
    }
    server.shutdown().await;
}

/// The handshake request as the server saw it, per auth mode.
#[tokio::test]
async fn handshake_snapshots() {
    let server = FakeRealtimeServer::start(FakeServerConfig::default().with_auth(ServerAuth::Open))
        .await
        .unwrap();
    let modes: Vec<(&str, Auth)> = vec![
        ("api_key", Auth::api_key(KEY)),
        (
            "client_secret",
            Auth::ClientSecret(ApiKey::new("ek_SECRETSECRET")),
        ),
        ("azure_api_key", Auth::AzureApiKey(ApiKey::new(KEY))),
        (
            "provider",
            Auth::from_fn(|| Ok(ApiKey::new("sk-from-provider-SECRETSECRET"))),
        ),
        ("none", Auth::None),
    ];
    for (name, auth) in modes {
        let _c = builder::<Ga>(&server)
            .auth(auth)
            .header("OpenAI-Organization", "org-123")
            .connect()
            .await
            .unwrap();
        let conn = server.next_connection(WAIT).await.unwrap();
        let hs = conn.handshake();
        let headers: Vec<String> = hs
            .headers
            .iter()
            .map(|(k, v)| match k.as_str() {
                "host" => "host: 127.0.0.1:[PORT]".to_owned(),
                "sec-websocket-key" => "sec-websocket-key: [random]".to_owned(),
                "user-agent" => "user-agent: realtime-rs/[VERSION] (rust)".to_owned(),
                _ => format!("{k}: {v}"),
            })
            .collect();
        insta::assert_snapshot!(
            format!("handshake_{name}"),
            format!("GET {}?{}\n{}", hs.path, hs.query, headers.join("\n"))
        );
        assert_eq!(hs.authenticated_with.is_some(), name != "none");
    }
    server.shutdown().await;
}

#[tokio::test]
async fn try_send_and_backpressure() {
    let (server, tx, mut rx, conn) = open::<Ga>(FakeServerConfig::default()).await;
    for _ in 0..100 {
        tx.try_send(&ga::ClientEvent::input_audio_append(&[0u8; 960]))
            .unwrap_or(());
    }
    tx.send(&ga::ClientEvent::input_audio_clear())
        .await
        .unwrap();
    assert!(matches!(
        next(&mut rx).await.unwrap().unwrap(),
        ga::ServerEvent::InputAudioBufferCleared(_)
    ));
    assert_eq!(
        conn.received_types().last().map(String::as_str),
        Some("input_audio_buffer.clear")
    );
    // Many tasks sending at once through clones: every event arrives once.
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..8 {
        let tx = tx.clone();
        tasks.spawn(async move {
            for _ in 0..50 {
                tx.send(&ga::ClientEvent::input_audio_append(&[1u8; 480]))
                    .await
                    .unwrap();
            }
        });
    }
    while tasks.join_next().await.is_some() {}
    tx.send(&ga::ClientEvent::input_audio_clear())
        .await
        .unwrap();
    assert!(matches!(
        next(&mut rx).await.unwrap().unwrap(),
        ga::ServerEvent::InputAudioBufferCleared(_)
    ));
    let appends = conn
        .received_types()
        .iter()
        .filter(|t| *t == "input_audio_buffer.append")
        .count();
    assert!(appends >= 400, "{appends}");
    server.shutdown().await;
}

#[tokio::test]
#[allow(clippy::result_large_err)] // the callback type is tungstenite's
async fn connect_over_a_stream_the_caller_provides() {
    // An in-memory pipe with a WebSocket server on its other end: no DNS, no TCP, no proxy.
    let (client, far) = tokio::io::duplex(64 << 10);
    let server = tokio::spawn(async move {
        let mut ws = tokio_tungstenite::accept_hdr_async(
            far,
            |req: &tokio_tungstenite::tungstenite::handshake::server::Request,
             resp: tokio_tungstenite::tungstenite::handshake::server::Response| {
                assert_eq!(req.uri().path(), "/v1/realtime");
                assert_eq!(
                    req.headers().get("authorization").unwrap(),
                    &format!("Bearer {KEY}")
                );
                Ok(resp)
            },
        )
        .await
        .unwrap();
        greet(&mut ws).await;
        // The client's event, then its close.
        let got = tokio::time::timeout(WAIT, ws.next()).await.unwrap();
        let text = got.unwrap().unwrap().into_text().unwrap();
        while let Some(Ok(_)) = ws.next().await {}
        text
    });
    let (tx, mut rx) = RealtimeConnection::<Ga>::builder()
        .endpoint("ws://in-memory.invalid/v1/realtime")
        .api_key(KEY)
        .connect_over(client)
        .await
        .unwrap()
        .split();
    let first = next(&mut rx).await.unwrap().unwrap();
    assert_eq!(first.event_type(), "input_audio_buffer.cleared");
    tx.send(&ga::ClientEvent::response_create()).await.unwrap();
    tx.close().await.unwrap();
    let sent = tokio::time::timeout(WAIT, server).await.unwrap().unwrap();
    assert!(sent.contains(r#""type":"response.create""#), "{sent}");
}

/// A binary frame comes out of `next_raw` as a recoverable `BinaryFrame` with its length, and
/// the connection goes on; once the server has closed, the sender says so and `try_send` hands
/// the unsent text back.
#[tokio::test]
async fn raw_reading_binary_frames_and_sending_on_a_closed_connection() {
    let server = server(FakeServerConfig::default()).await;
    let (tx, mut rx) = builder::<Ga>(&server).connect().await.unwrap().split();
    let conn = server.next_connection(WAIT).await.unwrap();
    let created = raw(&mut rx).await.unwrap().unwrap();
    assert!(created.as_str().contains("\"session.created\""));
    conn.send_binary(vec![7u8; 5]).await;
    match raw(&mut rx).await.unwrap() {
        Err(e @ TransportError::BinaryFrame { len: 5 }) => assert!(!e.is_fatal()),
        other => panic!("{other:?}"),
    }
    conn.send_raw(r#"{"type":"input_audio_buffer.cleared","event_id":"e1"}"#)
        .await;
    let next = raw(&mut rx).await.unwrap().unwrap();
    assert!(
        next.as_str().contains("input_audio_buffer.cleared"),
        "{}",
        next.as_str()
    );
    assert!(!tx.is_closed());

    conn.close(1000, "done").await;
    assert!(
        raw(&mut rx).await.is_none(),
        "a normal close ends the stream"
    );
    let deadline = tokio::time::Instant::now() + WAIT;
    while !tx.is_closed() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the sender never saw the close"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    match tx.try_send(&ga::ClientEvent::response_create()) {
        Err(TransportError::SendOnClosed { unsent }) => {
            assert!(unsent.contains("\"response.create\""), "{unsent}")
        }
        other => panic!("{other:?}"),
    }
    server.shutdown().await;
}

/// A server that accepts the TCP connection and hangs up before answering the handshake is a
/// lost connection (worth retrying), not a TLS failure (which is not): on plain `ws://` there
/// is no TLS to blame.
#[tokio::test]
async fn a_hang_up_during_the_handshake_is_retryable_not_tls() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let hang_up = tokio::spawn(async move {
        for _ in 0..2 {
            if let Ok((s, _)) = listener.accept().await {
                drop(s);
            }
        }
    });
    let connected = RealtimeConnection::<Ga>::builder()
        .endpoint(format!("ws://{addr}/v1/realtime"))
        .api_key(KEY)
        .connect()
        .await;
    let Err(err) = connected else {
        panic!("connected to nothing")
    };
    assert!(!matches!(err, TransportError::Tls { .. }), "{err:?}");
    assert!(err.is_retryable() && err.is_fatal(), "{err:?}");
    hang_up.abort();
}

async fn raw(
    rx: &mut EventReceiver<Ga>,
) -> Option<realtime_transport::Result<realtime_transport::Utf8Bytes>> {
    tokio::time::timeout(WAIT, rx.next_raw())
        .await
        .expect("timed out")
}

/// A peer's first event to the client.
async fn greet(ws: &mut tokio_tungstenite::WebSocketStream<tokio::io::DuplexStream>) {
    futures_util::SinkExt::send(
        ws,
        tokio_tungstenite::tungstenite::Message::text(
            r#"{"type":"input_audio_buffer.cleared","event_id":"e1"}"#,
        ),
    )
    .await
    .unwrap();
}

/// The far end of an in-memory pipe: accepts the WebSocket handshake and sends one event.
async fn accept_and_greet(
    far: tokio::io::DuplexStream,
) -> tokio_tungstenite::WebSocketStream<tokio::io::DuplexStream> {
    let mut ws = tokio_tungstenite::accept_async(far).await.unwrap();
    greet(&mut ws).await;
    ws
}

/// When the socket cannot take more (the peer stops reading), events wait in the bounded send
/// queue and the connection's driver writes them out as the socket drains: `try_send` says the
/// queue is full and hands the event back, `send` waits, nothing is lost or reordered, and a
/// close goes out after everything queued. Reading goes on meanwhile.
#[tokio::test]
async fn a_peer_that_stops_reading_fills_the_queue_and_gets_everything_in_order() {
    use tokio_tungstenite::tungstenite::Message;
    const QUEUE: usize = 4;
    let (client, far) = tokio::io::duplex(4 << 10);
    let (go, go_rx) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(async move {
        let mut ws = accept_and_greet(far).await;
        // Not a byte is read until the client has filled its queue.
        go_rx.await.unwrap();
        let mut texts = Vec::new();
        while let Some(Ok(m)) = tokio::time::timeout(WAIT, ws.next()).await.unwrap() {
            match m {
                Message::Text(t) => texts.push(t.to_string()),
                Message::Close(f) => return (texts, f.map(|f| u16::from(f.code))),
                _ => {}
            }
        }
        (texts, None)
    });
    let (tx, mut rx) = RealtimeConnection::<Ga>::builder()
        .endpoint("ws://in-memory.invalid/v1/realtime")
        .api_key(KEY)
        .send_queue(QUEUE)
        .connect_over(client)
        .await
        .unwrap()
        .split();
    // 2 KiB of audio per event: the 4 KiB pipe fills after a few.
    let event = |i: usize| ga::ClientEvent::input_audio_append(&[(i % 251) as u8; 1536]);
    let mut accepted = 0;
    let full = loop {
        match tx.try_send(&event(accepted)) {
            Ok(()) => accepted += 1,
            Err(TransportError::SendQueueFull { unsent }) => break unsent,
            Err(e) => panic!("{e:?}"),
        }
        assert!(accepted < 100, "the queue never filled");
    };
    assert!(full.contains("input_audio_buffer.append"), "{full}");
    assert!(!tx.is_closed());
    // `send` waits for room: it is still waiting a while later.
    let last = event(accepted);
    let waiting = tx.send(&last);
    tokio::pin!(waiting);
    assert!(
        tokio::time::timeout(Duration::from_millis(200), waiting.as_mut())
            .await
            .is_err(),
        "send did not wait for room"
    );
    // The receiver still reads while the sender waits.
    let first = next(&mut rx).await.unwrap().unwrap();
    assert_eq!(first.event_type(), "input_audio_buffer.cleared");
    go.send(()).unwrap();
    tokio::time::timeout(WAIT, waiting).await.unwrap().unwrap();
    accepted += 1;
    for i in accepted..accepted + 20 {
        tx.send(&event(i)).await.unwrap();
    }
    accepted += 20;
    tx.close().await.unwrap();
    let (texts, code) = tokio::time::timeout(WAIT, server).await.unwrap().unwrap();
    assert_eq!(code, Some(1000), "the close came after the queued events");
    assert_eq!(texts.len(), accepted, "every accepted event arrived once");
    for (i, text) in texts.iter().enumerate() {
        let expected = ga::ClientEvent::input_audio_append(&[(i % 251) as u8; 1536]);
        let expected = Ga::encode_client(&expected).unwrap();
        assert_eq!(text, &expected, "event {i} out of order");
    }
    assert!(
        next(&mut rx).await.is_none(),
        "the stream ends after the close"
    );
}

/// On the multi-thread runtime, many tasks send while another reads the same connection: the
/// socket's lock keeps frames whole and in each sender's order.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn senders_and_the_reader_on_different_threads() {
    let (server, tx, mut rx, conn) = open::<Ga>(FakeServerConfig::default()).await;
    let mut tasks = tokio::task::JoinSet::new();
    for t in 0..4u8 {
        let tx = tx.clone();
        tasks.spawn(async move {
            for _ in 0..100 {
                tx.send(&ga::ClientEvent::input_audio_append(&[t; 480]))
                    .await
                    .unwrap();
            }
            tx.send(&ga::ClientEvent::input_audio_clear())
                .await
                .unwrap();
        });
    }
    let mut cleared = 0;
    while cleared < 4 {
        if let ga::ServerEvent::InputAudioBufferCleared(_) = next(&mut rx).await.unwrap().unwrap() {
            cleared += 1;
        }
    }
    while tasks.join_next().await.is_some() {}
    let types = conn.received_types();
    let appends = types
        .iter()
        .filter(|t| *t == "input_audio_buffer.append")
        .count();
    assert_eq!(appends, 400, "{types:?}");
    assert!(conn.received().iter().all(|e| e.error().is_none()));
    server.shutdown().await;
}

/// A close bounded by the close timeout even when the peer never reads again: the queued
/// frames cannot drain, so the socket is dropped once the time is up, and the sender and the
/// receiver both see the end.
#[tokio::test]
async fn closing_against_a_peer_that_never_reads_is_bounded() {
    let (client, far) = tokio::io::duplex(4 << 10);
    let server = tokio::spawn(async move {
        let ws = accept_and_greet(far).await;
        // Holds the socket open without reading a byte.
        tokio::time::sleep(Duration::from_secs(30)).await;
        drop(ws);
    });
    let (tx, mut rx) = RealtimeConnection::<Ga>::builder()
        .endpoint("ws://in-memory.invalid/v1/realtime")
        .api_key(KEY)
        .send_queue(4)
        .close_timeout(Duration::from_millis(300))
        .connect_over(client)
        .await
        .unwrap()
        .split();
    next(&mut rx).await.unwrap().unwrap();
    let event = ga::ClientEvent::input_audio_append(&[7u8; 1536]);
    while tx.try_send(&event).is_ok() {}
    let started = std::time::Instant::now();
    tokio::time::timeout(WAIT, tx.close())
        .await
        .unwrap()
        .unwrap();
    let took = started.elapsed();
    assert!(took >= Duration::from_millis(250), "{took:?}");
    assert!(took < Duration::from_secs(2), "{took:?}");
    assert!(tx.is_closed());
    assert!(matches!(
        tx.try_send(&event),
        Err(TransportError::SendOnClosed { .. })
    ));
    assert!(next(&mut rx).await.is_none(), "the stream ends");
    server.abort();
}

/// A byte stream that counts the writes made to it: one write is one `sendto` on a socket.
struct CountingStream {
    inner: tokio::io::DuplexStream,
    writes: Arc<std::sync::atomic::AtomicUsize>,
}

impl tokio::io::AsyncRead for CountingStream {
    fn poll_read(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &mut tokio::io::ReadBuf<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::pin::Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl tokio::io::AsyncWrite for CountingStream {
    fn poll_write(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &[u8],
    ) -> std::task::Poll<std::io::Result<usize>> {
        self.writes
            .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        std::pin::Pin::new(&mut self.inner).poll_write(cx, buf)
    }
    fn poll_flush(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::pin::Pin::new(&mut self.inner).poll_flush(cx)
    }
    fn poll_shutdown(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::pin::Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

/// Fed events wait in the write buffer: nothing reaches the socket until a flush (or a `send`),
/// which writes all of them at once, in order. A flush with nothing fed writes nothing.
#[tokio::test]
async fn fed_events_leave_together_on_flush() {
    use std::sync::atomic::Ordering::SeqCst;
    let (client, far) = tokio::io::duplex(64 << 10);
    let writes = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let stream = CountingStream {
        inner: client,
        writes: Arc::clone(&writes),
    };
    let server = tokio::spawn(async move {
        let mut ws = accept_and_greet(far).await;
        let mut texts = Vec::new();
        while let Some(Ok(m)) = ws.next().await {
            if let tokio_tungstenite::tungstenite::Message::Text(t) = m {
                texts.push(t.to_string());
            }
        }
        texts
    });
    let (tx, mut rx) = RealtimeConnection::<Ga>::builder()
        .endpoint("ws://in-memory.invalid/v1/realtime")
        .api_key(KEY)
        .connect_over(stream)
        .await
        .unwrap()
        .split();
    next(&mut rx).await.unwrap().unwrap();
    // The connection's driver has had its first run (which flushes whatever is buffered).
    tokio::task::yield_now().await;
    let before = writes.load(SeqCst);
    tx.flush();
    assert_eq!(writes.load(SeqCst), before, "nothing fed, nothing written");

    tx.feed_raw(r#"{"type":"input_audio_buffer.clear"}"#.to_owned())
        .await
        .unwrap();
    tx.feed_raw(r#"{"type":"input_audio_buffer.commit"}"#.to_owned())
        .await
        .unwrap();
    assert_eq!(writes.load(SeqCst), before, "fed events wait for a flush");
    tx.flush();
    assert_eq!(writes.load(SeqCst), before + 1, "one write for both");
    tx.flush();
    assert_eq!(
        writes.load(SeqCst),
        before + 1,
        "a second flush has nothing to do"
    );

    // A send takes what was fed before it along, in order.
    tx.feed(&ga::ClientEvent::response_cancel()).await.unwrap();
    tx.send(&ga::ClientEvent::response_create()).await.unwrap();
    assert_eq!(writes.load(SeqCst), before + 2);

    tx.close().await.unwrap();
    let texts = tokio::time::timeout(WAIT, server).await.unwrap().unwrap();
    let types: Vec<&str> = texts
        .iter()
        .map(|t| {
            let v: serde_json::Value = serde_json::from_str(t).unwrap();
            match v["type"].as_str() {
                Some("input_audio_buffer.clear") => "clear",
                Some("input_audio_buffer.commit") => "commit",
                Some("response.cancel") => "cancel",
                Some("response.create") => "create",
                _ => "other",
            }
        })
        .collect();
    assert_eq!(types, ["clear", "commit", "cancel", "create"]);
}

/// A fed event is never stranded by a close: the close handshake writes it first.
#[tokio::test]
async fn a_close_takes_fed_events_along() {
    let (server, tx, _rx, conn) = open::<Ga>(FakeServerConfig::default()).await;
    tx.feed(&ga::ClientEvent::response_create()).await.unwrap();
    tx.close().await.unwrap();
    let got = conn.wait_for("response.create", WAIT).await;
    assert!(got.is_some(), "the fed event was lost");
    server.shutdown().await;
}
