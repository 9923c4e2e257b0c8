//! The relay without a browser: a WebSocket client speaks protocol v1 to the router over the
//! fake Realtime server. Microphone audio is heard, answers come back as labelled audio and
//! transcripts, the limits and hooks refuse what they should.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use futures_util::{SinkExt, StreamExt};
use realtime_agent::RealtimeAgent;
use realtime_runner::protocol::Dialect;
use realtime_runner::transport::{Auth, RestClient};
use realtime_runner::{OpenAIRealtimeModel, RealtimeRunner};
use realtime_testkit::{
    tone, FakeRealtimeServer, FakeServerConfig, FnResponder, Pacing, ResponseContext, ResponsePart,
    ResponsePlan,
};
use realtime_web::protocol::{parse_audio_frame, Down};
use realtime_web::{router, WebOptions};
use serde_json::json;
use std::time::Duration;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::Message;

const WAIT: Duration = Duration::from_secs(10);

fn answer(_: &ResponseContext) -> ResponsePlan {
    ResponsePlan::new([ResponsePart::Audio {
        pcm: tone(300.0, 2_000),
        transcript: "Hello from the relay.".into(),
    }])
}

async fn start(
    options: WebOptions,
) -> (
    FakeRealtimeServer,
    std::net::SocketAddr,
    tokio::task::JoinHandle<()>,
) {
    let fake = FakeRealtimeServer::start(
        FakeServerConfig::default()
            .with_responder(FnResponder(answer as fn(&ResponseContext) -> ResponsePlan))
            .with_pacing(Pacing::RealTime)
            .with_input_transcript("Hi there."),
    )
    .await
    .unwrap();
    let agent = RealtimeAgent::<()>::builder("Guide")
        .instructions("Help.")
        .build()
        .unwrap();
    let model = OpenAIRealtimeModel::new()
        .dialect(Dialect::Ga)
        .endpoint(fake.base_url())
        .auth(Auth::api_key("sk-relay-test"));
    let runner = RealtimeRunner::builder(agent).model(model).build();
    let app = router(runner, |_| (), options);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let task = tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    (fake, addr, task)
}

type Ws =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

async fn connect(addr: std::net::SocketAddr, headers: &[(&str, &str)]) -> Result<Ws, u16> {
    let mut req = format!("ws://{addr}/ws").into_client_request().unwrap();
    for (k, v) in headers {
        req.headers_mut().insert(
            tokio_tungstenite::tungstenite::http::HeaderName::from_bytes(k.as_bytes()).unwrap(),
            v.parse().unwrap(),
        );
    }
    match tokio::time::timeout(WAIT, tokio_tungstenite::connect_async(req))
        .await
        .unwrap()
    {
        Ok((ws, _)) => Ok(ws),
        Err(tokio_tungstenite::tungstenite::Error::Http(r)) => Err(r.status().as_u16()),
        Err(e) => panic!("{e}"),
    }
}

async fn next_down(ws: &mut Ws) -> Result<Down, Vec<u8>> {
    loop {
        match tokio::time::timeout(WAIT, ws.next())
            .await
            .expect("a message")
            .expect("open")
            .unwrap()
        {
            Message::Text(t) => return Ok(serde_json::from_str(t.as_str()).unwrap()),
            Message::Binary(b) => return Err(b.to_vec()),
            _ => continue,
        }
    }
}

fn speech_pcm(ms: u64, loud: bool) -> Vec<u8> {
    (0..ms * 24)
        .flat_map(|n| {
            let v = if loud {
                ((n as f64 / 24_000.0 * 2.0 * std::f64::consts::PI * 200.0).sin() * 8_000.0) as i16
            } else {
                0
            };
            v.to_le_bytes()
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn microphone_audio_is_heard_and_the_answer_comes_back_labelled() {
    let (fake, addr, _task) = start(WebOptions::default()).await;
    let mut ws = connect(addr, &[]).await.unwrap();
    assert_eq!(
        next_down(&mut ws).await,
        Ok(Down::Ready {
            protocol: 1,
            agent: "Guide".into(),
            sample_rate: 24_000
        })
    );
    // Real-time microphone: silence, speech, silence, in 20 ms frames.
    let mut audio = speech_pcm(300, false);
    audio.extend(speech_pcm(800, true));
    audio.extend(speech_pcm(900, false));
    for frame in audio.chunks(960) {
        ws.send(Message::binary(frame.to_vec())).await.unwrap();
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let (mut user, mut speaking, mut audio_item, mut transcript) =
        (false, false, None, String::new());
    for _ in 0..500 {
        match next_down(&mut ws).await {
            Ok(Down::Transcript {
                role: realtime_web::protocol::Speaker::User,
                text,
                ..
            }) => user = text == "Hi there.",
            Ok(Down::Speaking { agent }) => speaking = agent == "Guide",
            Ok(Down::Transcript { agent, text, .. }) => {
                assert_eq!(agent.as_deref(), Some("Guide"));
                transcript.push_str(&text);
            }
            Err(frame) => {
                let (id, pcm) = parse_audio_frame(&frame).unwrap();
                assert!(!pcm.is_empty());
                audio_item = Some(id.to_owned());
            }
            Ok(_) => {}
        }
        if user && speaking && audio_item.is_some() && transcript.contains("relay") {
            break;
        }
    }
    assert!(
        user && speaking && transcript.contains("relay"),
        "{user} {speaking} {transcript:?}"
    );
    // The page reports 400 ms played and interrupts: the truncation is where it said.
    let item = audio_item.unwrap();
    ws.send(Message::text(
        json!({"type": "played", "item_id": item, "ms": 250.0}).to_string(),
    ))
    .await
    .unwrap();
    ws.send(Message::text(
        json!({"type": "played", "item_id": item, "ms": 400.0}).to_string(),
    ))
    .await
    .unwrap();
    ws.send(Message::text(json!({"type": "interrupt"}).to_string()))
        .await
        .unwrap();
    let conn = fake.connections()[0].clone();
    let truncate = conn
        .wait_for("conversation.item.truncate", WAIT)
        .await
        .unwrap()
        .json();
    assert_eq!(truncate["audio_end_ms"], 400);
    loop {
        if let Ok(Down::Interrupted {
            item_id,
            audio_end_ms,
        }) = next_down(&mut ws).await
        {
            assert_eq!((item_id, audio_end_ms), (item, 400));
            break;
        }
    }
    // Unknown types are ignored; bad JSON is reported and the connection goes on.
    ws.send(Message::text(r#"{"type":"future_thing"}"#))
        .await
        .unwrap();
    ws.send(Message::text("not json")).await.unwrap();
    loop {
        if let Ok(Down::Error { code, .. }) = next_down(&mut ws).await {
            assert_eq!(code.as_deref(), Some("bad_message"));
            break;
        }
    }
    ws.send(Message::text(
        json!({"type": "text", "text": "Thanks"}).to_string(),
    ))
    .await
    .unwrap();
    assert!(conn
        .wait_for("conversation.item.create", WAIT)
        .await
        .is_some());
    ws.close(None).await.unwrap();
    assert!(
        conn.wait_closed(WAIT).await,
        "the session ends with the page"
    );
    fake.shutdown().await;
}

#[tokio::test]
async fn limits_origin_and_authorization_are_enforced() {
    let options = WebOptions::default()
        .with_max_sessions(1)
        .with_audio_rate(48_000)
        .with_authorize(|h| {
            h.get("authorization")
                .is_some_and(|v| v == "Bearer page-token")
        });
    let (fake, addr, _task) = start(options).await;
    assert_eq!(connect(addr, &[]).await.err(), Some(401));
    let auth = [("authorization", "Bearer page-token")];
    let with_origin = [
        ("authorization", "Bearer page-token"),
        ("origin", "https://evil.example"),
    ];
    assert_eq!(connect(addr, &with_origin).await.err(), Some(403));
    let host = format!("http://{addr}");
    let same_origin = [
        ("authorization", "Bearer page-token"),
        ("origin", host.as_str()),
    ];
    let mut first = connect(addr, &same_origin).await.unwrap();
    assert!(matches!(
        next_down(&mut first).await,
        Ok(Down::Ready { .. })
    ));
    // A second page while the only session is in use: told, then closed with 1013.
    let mut second = connect(addr, &auth).await.unwrap();
    match next_down(&mut second).await {
        Ok(Down::Error { code, .. }) => assert_eq!(code.as_deref(), Some("too_many_sessions")),
        other => panic!("{other:?}"),
    }
    // Audio faster than the rate: dropped, and the page is told once.
    let burst = vec![0u8; 96_000];
    first.send(Message::binary(burst.clone())).await.unwrap();
    first.send(Message::binary(burst)).await.unwrap();
    loop {
        if let Ok(Down::Error { code, .. }) = next_down(&mut first).await {
            assert_eq!(code.as_deref(), Some("audio_rate"));
            break;
        }
    }
    fake.shutdown().await;
}

#[tokio::test]
async fn session_tokens_are_minted_on_the_server() {
    let probe = FakeRealtimeServer::start(FakeServerConfig::default())
        .await
        .unwrap();
    let rest = RestClient::new()
        .base_url(probe.rest_url())
        .auth(Auth::api_key("sk-server-only"));
    let (fake, addr, _task) = start(WebOptions::default().with_session_tokens(rest)).await;
    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    s.write_all(format!("POST /session-token HTTP/1.1\r\nhost: {addr}\r\ncontent-length: 0\r\nconnection: close\r\n\r\n").as_bytes()).await.unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).await.unwrap();
    assert!(out.starts_with("HTTP/1.1 200"), "{out}");
    let body: serde_json::Value =
        serde_json::from_str(out.split_once("\r\n\r\n").unwrap().1).unwrap();
    assert!(body["value"].as_str().unwrap().starts_with("ek_"), "{body}");
    assert!(!out.contains("sk-server-only"));
    fake.shutdown().await;
    probe.shutdown().await;
}
