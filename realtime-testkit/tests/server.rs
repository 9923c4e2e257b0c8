//! The fake server driven by a plain tokio-tungstenite client, both dialects. Every wait has a
//! timeout; every frame the server sends must parse as a known event of its dialect.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use futures_util::{SinkExt, StreamExt};
use realtime_protocol::{ga, Dialect};
use realtime_testkit::{
    Auth, Echo, FakeRealtimeServer, FakeServerConfig, Fault, Pacing, ResponsePart, ResponsePlan,
    Scripted, ToolCaller,
};
use serde_json::{json, Value};
use std::time::Duration;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::{self, Message};

mod common;
use common::*;

/// The reply (frame types) to each client event, in both dialects.
#[tokio::test]
async fn replies_to_each_client_event() {
    for dialect in both() {
        let ga = dialect == Dialect::Ga;
        let config = FakeServerConfig::default()
            .with_responder(Echo::text())
            .with_rate_limit_events(false);
        let (server, mut c, conn) = start(config, dialect).await;

        let update = if ga {
            json!({"type": "session.update", "session": {"type": "realtime", "instructions": "Be brief.", "output_modalities": ["text"]}})
        } else {
            json!({"type": "session.update", "session": {"instructions": "Be brief.", "modalities": ["text"]}})
        };
        c.send(update).await;
        let v = c.recv().await;
        assert_eq!(v["type"], "session.updated");
        assert_eq!(v["session"]["instructions"], "Be brief.");
        assert_eq!(conn.session()["instructions"], "Be brief.");

        c.send(user_text("hello there")).await;
        let added = if ga {
            let a = c.recv().await;
            assert_eq!(a["type"], "conversation.item.added");
            let d = c.recv().await;
            assert_eq!(d["type"], "conversation.item.done");
            a
        } else {
            let a = c.recv().await;
            assert_eq!(a["type"], "conversation.item.created");
            a
        };
        let first_id = added["item"]["id"].as_str().unwrap().to_owned();
        assert_eq!(added["previous_item_id"], Value::Null);

        // `previous_item_id` is honoured: insert at the root, before the first item.
        let mut root = user_text("first");
        root["previous_item_id"] = json!("root");
        root["item"]["id"] = json!("item_root");
        c.send(root).await;
        let v = c.recv().await;
        assert_eq!(v["item"]["id"], "item_root");
        if ga {
            c.recv().await;
        }
        let order: Vec<String> = conn.conversation().iter().map(|i| i.id.clone()).collect();
        assert_eq!(order, ["item_root".to_owned(), first_id.clone()]);

        let mut bad_prev = user_text("x");
        bad_prev["previous_item_id"] = json!("item_missing");
        c.send(bad_prev).await;
        let v = c.recv().await;
        assert_eq!(
            (v["type"].as_str(), v["error"]["code"].as_str()),
            (Some("error"), Some("invalid_value"))
        );

        c.send(json!({"type": "conversation.item.retrieve", "item_id": first_id}))
            .await;
        let v = c.recv().await;
        assert_eq!(v["type"], "conversation.item.retrieved");
        assert_eq!(v["item"]["content"][0]["text"], "hello there");

        c.send(json!({"type": "conversation.item.retrieve", "item_id": "nope", "event_id": "evt_client_1"})).await;
        let v = c.recv().await;
        assert_eq!(v["error"]["code"], "item_not_found");
        assert_eq!(
            v["error"]["event_id"], "evt_client_1",
            "errors name the client event"
        );

        c.send(json!({"type": "conversation.item.delete", "item_id": "item_root"}))
            .await;
        let v = c.recv().await;
        assert_eq!(
            (v["type"].as_str(), v["item_id"].as_str()),
            (Some("conversation.item.deleted"), Some("item_root"))
        );
        assert_eq!(conn.conversation().len(), 1);

        // Input audio: too little → the service's error; enough → committed + item.
        c.send(json!({"type": "input_audio_buffer.commit"})).await;
        let v = c.recv().await;
        assert_eq!(v["error"]["code"], "input_audio_buffer_commit_empty");
        let pcm = vec![0u8; 9_600];
        c.send(json!({"type": "input_audio_buffer.append", "audio": realtime_protocol::audio::encode_base64(&pcm)})).await;
        c.send(json!({"type": "input_audio_buffer.commit"})).await;
        let v = c.recv().await;
        assert_eq!(v["type"], "input_audio_buffer.committed");
        assert_eq!(v["previous_item_id"], first_id.as_str());
        let v = c.recv().await;
        assert_eq!(v["item"]["content"][0]["type"], "input_audio");
        if ga {
            c.recv().await;
        }
        c.send(json!({"type": "input_audio_buffer.append", "audio": "not base64!"}))
            .await;
        assert_eq!(c.recv().await["error"]["param"], "audio");
        c.send(json!({"type": "input_audio_buffer.clear"})).await;
        assert_eq!(c.recv().await["type"], "input_audio_buffer.cleared");

        // Responses.
        c.send(json!({"type": "response.cancel"})).await;
        assert_eq!(
            c.recv().await["error"]["code"],
            "response_cancel_not_active"
        );
        c.send(json!({"type": "response.create"})).await;
        let frames = c.recv_until("response.done").await;
        let text_delta = if ga {
            "response.output_text.delta"
        } else {
            "response.text.delta"
        };
        assert!(
            types(&frames).contains(&text_delta.to_owned()),
            "{:?}",
            types(&frames)
        );
        let done = frames.last().unwrap();
        assert_eq!(done["response"]["status"], "completed");
        assert_eq!(
            done["response"]["output"][0]["content"][0]["text"], "Hello there.",
            "echoes the last user turn (audio transcript)"
        );

        // Truncate: only within the audio an assistant item has.
        let assistant = done["response"]["output"][0]["id"]
            .as_str()
            .unwrap()
            .to_owned();
        c.send(json!({"type": "conversation.item.truncate", "item_id": assistant, "content_index": 0, "audio_end_ms": 10})).await;
        assert_eq!(c.recv().await["error"]["code"], "invalid_value");

        // Unknown type, bad JSON, missing type, wrong shape.
        c.send(json!({"type": "session.close"})).await;
        let v = c.recv().await;
        assert_eq!(v["error"]["code"], "invalid_value");
        assert!(v["error"]["message"]
            .as_str()
            .unwrap()
            .contains("session.close"));
        c.send_raw("{not json").await;
        assert_eq!(c.recv().await["error"]["code"], "invalid_json");
        c.send(json!({"event_id": "x"})).await;
        assert_eq!(
            c.recv().await["error"]["code"],
            "missing_required_parameter"
        );
        c.send(json!({"type": "conversation.item.truncate", "item_id": "x"}))
            .await;
        let v = c.recv().await;
        assert_eq!(
            (v["error"]["code"].as_str(), v["error"]["param"].as_str()),
            (Some("missing_required_parameter"), Some("content_index"))
        );
        if ga {
            c.send(json!({"type": "session.update", "session": {"instructions": "no type"}}))
                .await;
            let v = c.recv().await;
            assert_eq!(
                (v["error"]["code"].as_str(), v["error"]["param"].as_str()),
                (Some("missing_required_parameter"), Some("session.type"))
            );
        }

        // Every client event was recorded, typed, in order.
        let received = conn.received_types();
        assert_eq!(received[0], "session.update");
        assert_eq!(
            received.iter().filter(|t| *t == "<invalid>").count(),
            2,
            "{received:?}"
        );
        let first = conn.next_client_event(WAIT).await.unwrap();
        assert_eq!(first.event_type(), "session.update");
        assert_eq!(first.ga().is_some(), ga);
        assert_eq!(first.beta().is_some(), !ga);
        let retrieve = conn
            .wait_for("conversation.item.retrieve", WAIT)
            .await
            .unwrap();
        assert_eq!(retrieve.json()["type"], "conversation.item.retrieve");
        server.shutdown().await;
    }
}

#[tokio::test]
async fn overlapping_response_create_and_cancel() {
    for dialect in both() {
        let config = FakeServerConfig::default()
            .with_responder(Echo::audio())
            .with_audio_chunk_bytes(480);
        let (server, mut c, _conn) = start(config, dialect).await;
        c.send(user_text(
            "a fairly long sentence so the audio takes a while",
        ))
        .await;
        c.send(json!({"type": "response.create"})).await;
        c.send(json!({"type": "response.create", "event_id": "evt_second"}))
            .await;
        let mut saw_error = false;
        let mut saw_delta = false;
        let delta = if dialect == Dialect::Ga {
            "response.output_audio.delta"
        } else {
            "response.audio.delta"
        };
        for _ in 0..200 {
            let v = c.recv().await;
            if v["type"] == "error" {
                assert_eq!(
                    v["error"]["code"],
                    "conversation_already_has_active_response"
                );
                assert_eq!(v["error"]["event_id"], "evt_second");
                saw_error = true;
            }
            if v["type"] == delta {
                saw_delta = true;
            }
            if saw_error && saw_delta {
                break;
            }
        }
        assert!(saw_error && saw_delta);
        c.send(json!({"type": "response.cancel"})).await;
        let frames = c.recv_until("response.done").await;
        let done = frames.last().unwrap();
        assert_eq!(done["response"]["status"], "cancelled");
        assert_eq!(
            done["response"]["status_details"]["reason"],
            "client_cancelled"
        );
        assert_eq!(done["response"]["output"][0]["status"], "incomplete");
        server.shutdown().await;
    }
}

#[tokio::test]
async fn dialect_is_chosen_by_the_beta_header() {
    for dialect in both() {
        let (server, mut c, conn) = start(
            FakeServerConfig::default().with_responder(Echo::audio()),
            dialect,
        )
        .await;
        assert_eq!(conn.dialect(), dialect);
        assert_eq!(conn.handshake().path, "/v1/realtime");
        assert_eq!(conn.handshake().query, "model=gpt-realtime");
        assert_eq!(
            conn.handshake().header("Authorization"),
            Some("Bearer [redacted]")
        );
        assert_eq!(
            conn.handshake().header("openai-beta").is_some(),
            dialect == Dialect::Beta
        );
        c.send(user_text("hi")).await;
        c.send(json!({"type": "response.create"})).await;
        let t = types(&c.recv_until("response.done").await);
        let (audio, transcript) = match dialect {
            Dialect::Beta => ("response.audio.delta", "response.audio_transcript.delta"),
            _ => (
                "response.output_audio.delta",
                "response.output_audio_transcript.delta",
            ),
        };
        assert!(
            t.iter().any(|x| x == audio) && t.iter().any(|x| x == transcript),
            "{t:?}"
        );
        server.shutdown().await;
    }
}

#[tokio::test]
async fn bad_or_missing_key_is_refused_with_401() {
    let server = FakeRealtimeServer::start(
        FakeServerConfig::default().with_auth(Auth::keys(["sk-good-key-0001"])),
    )
    .await
    .unwrap();
    for (key, expected) in [
        (
            Some("sk-wrong-key-9999"),
            "Incorrect API key provided: sk-***9999.",
        ),
        (None, "You didn't provide an API key."),
    ] {
        match connect_with(&server, Dialect::Ga, key).await {
            Err(tungstenite::Error::Http(resp)) => {
                assert_eq!(resp.status(), 401);
                let body = String::from_utf8(resp.body().clone().unwrap_or_default()).unwrap();
                let v: Value = serde_json::from_str(&body).unwrap();
                assert!(
                    v["error"]["message"]
                        .as_str()
                        .unwrap()
                        .starts_with(expected),
                    "{body}"
                );
                assert!(
                    !body.contains("sk-wrong-key-9999"),
                    "the key must not be echoed"
                );
            }
            Err(other) => panic!("expected HTTP 401, got {other}"),
            Ok(_) => panic!("a bad key was accepted"),
        }
    }
    assert!(connect_with(&server, Dialect::Ga, Some("sk-good-key-0001"))
        .await
        .is_ok());
    // Azure's header works too.
    let mut req = server.url().into_client_request().unwrap();
    req.headers_mut()
        .insert("api-key", "sk-good-key-0001".parse().unwrap());
    assert!(tokio_tungstenite::connect_async(req).await.is_ok());
    server.shutdown().await;
}

#[tokio::test]
async fn unknown_path_is_404() {
    let server = FakeRealtimeServer::start(FakeServerConfig::default())
        .await
        .unwrap();
    let mut req = format!("ws://{}/v1/chat", server.addr())
        .into_client_request()
        .unwrap();
    req.headers_mut()
        .insert("Authorization", "Bearer k".parse().unwrap());
    match tokio_tungstenite::connect_async(req).await {
        Err(tungstenite::Error::Http(resp)) => assert_eq!(resp.status(), 404),
        other => panic!("expected 404, got {other:?}"),
    }
    server.shutdown().await;
}

async fn faulty(fault: Fault) -> (FakeRealtimeServer, Client) {
    let config = FakeServerConfig::default()
        .with_responder(Echo::text())
        .with_fault(fault);
    let server = FakeRealtimeServer::start(config).await.unwrap();
    let mut c = connect_with(&server, Dialect::Ga, Some("k")).await.unwrap();
    c.strict = false;
    (server, c)
}

#[tokio::test]
async fn fault_drop_after_frames() {
    let (server, mut c) = faulty(Fault::DropAfterFrames(1)).await;
    assert_eq!(c.recv().await["type"], "session.created");
    c.send(user_text("hi")).await;
    match c.frame().await {
        None | Some(Err(_)) => {}
        Some(Ok(Message::Close(_))) => panic!("a dropped socket must not send a close frame"),
        Some(Ok(m)) => panic!("expected the socket to drop, got {m:?}"),
    }
    server.shutdown().await;
}

#[tokio::test]
async fn fault_close_with_code_and_reason() {
    let (server, mut c) = faulty(Fault::CloseAfterFrames {
        frames: 1,
        code: 1011,
        reason: "overloaded".into(),
    })
    .await;
    assert_eq!(c.recv().await["type"], "session.created");
    c.send(user_text("hi")).await;
    match c.frame().await {
        Some(Ok(Message::Close(Some(f)))) => {
            assert_eq!(f.code, CloseCode::from(1011));
            assert_eq!(f.reason.as_str(), "overloaded");
        }
        other => panic!("expected a close frame, got {other:?}"),
    }
    server.shutdown().await;
}

#[tokio::test]
async fn fault_malformed_unknown_and_oversized_frames() {
    for (fault, check) in [
        (Fault::MalformedAfterFrames(1), 0),
        (Fault::UnknownEventAfterFrames(1), 1),
        (
            Fault::OversizedAfterFrames {
                frames: 1,
                bytes: 3 * 1024 * 1024,
            },
            2,
        ),
    ] {
        let (server, mut c) = faulty(fault).await;
        assert_eq!(c.recv().await["type"], "session.created");
        c.send(user_text("hi")).await;
        let Some(Ok(Message::Text(t))) = c.frame().await else {
            panic!("expected a text frame")
        };
        match check {
            0 => assert!(serde_json::from_str::<Value>(&t).is_err(), "{t}"),
            1 => assert!(ga::ServerEvent::from_json(&t).unwrap().is_unknown()),
            _ => {
                assert!(t.len() >= 3 * 1024 * 1024);
                assert!(ga::ServerEvent::from_json(&t).unwrap().is_unknown());
            }
        }
        // The connection goes on.
        assert_eq!(c.recv().await["type"], "conversation.item.added");
        server.shutdown().await;
    }
}

#[tokio::test]
async fn fault_stall_delays_the_next_frame() {
    let (server, mut c) = faulty(Fault::StallAfterFrames {
        frames: 1,
        duration: Duration::from_millis(300),
    })
    .await;
    assert_eq!(c.recv().await["type"], "session.created");
    let t0 = std::time::Instant::now();
    c.send(user_text("hi")).await;
    assert_eq!(c.recv().await["type"], "conversation.item.added");
    assert!(
        t0.elapsed() >= Duration::from_millis(300),
        "the stall did not hold the frame back"
    );
    server.shutdown().await;
}

#[tokio::test]
async fn fault_ignore_pings() {
    for ignore in [false, true] {
        let config = if ignore {
            FakeServerConfig::default().with_fault(Fault::IgnorePings)
        } else {
            FakeServerConfig::default()
        };
        let server = FakeRealtimeServer::start(config).await.unwrap();
        let mut c = connect_with(&server, Dialect::Ga, Some("k")).await.unwrap();
        assert_eq!(c.recv().await["type"], "session.created");
        c.ws.send(Message::Ping(b"are you there".to_vec().into()))
            .await
            .unwrap();
        let got_pong = tokio::time::timeout(Duration::from_millis(500), async {
            while let Some(Ok(m)) = c.ws.next().await {
                if let Message::Pong(p) = m {
                    return p.as_ref() == b"are you there";
                }
            }
            false
        })
        .await
        .unwrap_or(false);
        assert_eq!(got_pong, !ignore);
        server.shutdown().await;
    }
}

#[tokio::test]
async fn handle_injects_faults_and_events() {
    let (server, mut c, conn) = start(FakeServerConfig::default(), Dialect::Ga).await;
    c.strict = false;
    conn.send_unknown_event().await;
    assert!(ga::ServerEvent::from_json(&c.recv().await.to_string())
        .unwrap()
        .is_unknown());
    conn.send_event(json!({"type": "input_audio_buffer.timeout_triggered", "audio_start_ms": 0, "audio_end_ms": 5000, "item_id": "item_x"})).await;
    assert_eq!(
        c.recv().await["type"],
        "input_audio_buffer.timeout_triggered"
    );
    conn.send_malformed().await;
    let Some(Ok(Message::Text(t))) = c.frame().await else {
        panic!()
    };
    assert!(serde_json::from_str::<Value>(&t).is_err());
    conn.close(4000, "test over").await;
    match c.frame().await {
        Some(Ok(Message::Close(Some(f)))) => {
            assert_eq!((u16::from(f.code), f.reason.as_str()), (4000, "test over"))
        }
        other => panic!("{other:?}"),
    }
    assert!(conn.wait_closed(WAIT).await);
    server.shutdown().await;
}

#[tokio::test]
async fn server_vad_injection_interrupts_and_starts_a_turn() {
    for dialect in both() {
        let config = FakeServerConfig::default()
            .with_responder(Echo::audio())
            .with_audio_chunk_bytes(480)
            .with_input_transcript("What time is it?")
            .with_rate_limit_events(false);
        let (server, mut c, conn) = start(config, dialect).await;
        c.send(user_text(
            "tell me a long story about the sea and the stars",
        ))
        .await;
        c.send(json!({"type": "response.create"})).await;
        let delta = if dialect == Dialect::Ga {
            "response.output_audio.delta"
        } else {
            "response.audio.delta"
        };
        c.recv_until(delta).await;
        conn.speech_started(1200).await;
        let frames = c.recv_until("response.done").await;
        let t = types(&frames);
        assert!(
            t.contains(&"input_audio_buffer.speech_started".to_owned()),
            "{t:?}"
        );
        let done = frames.last().unwrap();
        assert_eq!(done["response"]["status"], "cancelled");
        assert_eq!(
            done["response"]["status_details"]["reason"],
            "turn_detected"
        );
        conn.speech_stopped(2400).await;
        let frames = c.recv_until("response.done").await;
        let t = types(&frames);
        assert_eq!(
            &t[..2],
            [
                "input_audio_buffer.speech_stopped",
                "input_audio_buffer.committed"
            ]
        );
        assert_eq!(frames[0]["item_id"], frames[1]["item_id"]);
        let done = frames.last().unwrap();
        assert_eq!(done["response"]["status"], "completed");
        assert_eq!(
            done["response"]["output"][0]["content"][0]["transcript"],
            "What time is it?"
        );
        assert!(conn.conversation().len() >= 4);
        server.shutdown().await;
    }
}

#[tokio::test]
async fn truncate_within_and_beyond_the_audio() {
    let config = FakeServerConfig::default()
        .with_responder(Scripted::new([ResponsePlan::new([ResponsePart::Audio {
            pcm: vec![0u8; 48_000],
            transcript: "one second".into(),
        }])]))
        .with_rate_limit_events(false);
    let (server, mut c, conn) = start(config, Dialect::Ga).await;
    c.send(json!({"type": "response.create"})).await;
    let frames = c.recv_until("response.done").await;
    let item = frames.last().unwrap()["response"]["output"][0]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    c.send(json!({"type": "conversation.item.truncate", "item_id": item, "content_index": 0, "audio_end_ms": 1500})).await;
    let v = c.recv().await;
    assert_eq!(
        v["error"]["message"],
        "Audio content of 1000ms is already shorter than 1500ms"
    );
    c.send(json!({"type": "conversation.item.truncate", "item_id": item, "content_index": 0, "audio_end_ms": 400})).await;
    let v = c.recv().await;
    assert_eq!(
        (v["type"].as_str(), v["audio_end_ms"].as_u64()),
        (Some("conversation.item.truncated"), Some(400))
    );
    assert_eq!(conn.conversation()[0].audio_bytes(0), Some(400 * 48));
    server.shutdown().await;
}

#[tokio::test]
async fn voice_cannot_change_once_audio_exists() {
    let (server, mut c, _conn) = start(
        FakeServerConfig::default()
            .with_responder(Echo::audio())
            .with_rate_limit_events(false),
        Dialect::Beta,
    )
    .await;
    c.send(json!({"type": "session.update", "session": {"voice": "ash"}}))
        .await;
    assert_eq!(c.recv().await["session"]["voice"], "ash");
    c.send(json!({"type": "response.create"})).await;
    c.recv_until("response.done").await;
    c.send(json!({"type": "session.update", "session": {"voice": "coral", "instructions": "x"}}))
        .await;
    assert_eq!(c.recv().await["error"]["code"], "cannot_update_voice");
    c.send(json!({"type": "session.update", "session": {"voice": "ash", "instructions": "same voice is fine"}})).await;
    assert_eq!(c.recv().await["type"], "session.updated");
    server.shutdown().await;
}

#[tokio::test]
async fn real_time_pacing_streams_audio_at_playback_speed() {
    let plan = ResponsePlan::new([ResponsePart::Audio {
        pcm: vec![0u8; 48 * 300],
        transcript: "x".into(),
    }]);
    let config = FakeServerConfig::default()
        .with_pacing(Pacing::RealTime)
        .with_responder(Scripted::new([plan]));
    let (server, mut c, _conn) = start(config, Dialect::Ga).await;
    let t0 = std::time::Instant::now();
    c.send(json!({"type": "response.create"})).await;
    c.recv_until("response.done").await;
    // 300 ms of audio in 20 ms deltas: the last one leaves 280 ms after the first.
    assert!(
        t0.elapsed() >= Duration::from_millis(280),
        "{:?}",
        t0.elapsed()
    );
    server.shutdown().await;
}

#[tokio::test]
async fn many_concurrent_connections() {
    let server =
        FakeRealtimeServer::start(FakeServerConfig::default().with_responder(Echo::text()))
            .await
            .unwrap();
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..25 {
        let mut c = connect_with(
            &server,
            if i % 2 == 0 {
                Dialect::Ga
            } else {
                Dialect::Beta
            },
            Some("k"),
        )
        .await
        .unwrap();
        tasks.spawn(async move {
            assert_eq!(c.recv().await["type"], "session.created");
            c.send(user_text(&format!("hello {i}"))).await;
            c.send(json!({"type": "response.create"})).await;
            let frames = c.recv_until("response.done").await;
            assert_eq!(
                frames.last().unwrap()["response"]["output"][0]["content"][0]["text"],
                format!("hello {i}")
            );
        });
    }
    while let Some(r) = tokio::time::timeout(WAIT, tasks.join_next()).await.unwrap() {
        r.unwrap();
    }
    assert_eq!(server.connections().len(), 25);
    server.shutdown().await;
}

#[tokio::test]
async fn shutdown_closes_clients_with_1001() {
    let (server, mut c, conn) = start(FakeServerConfig::default(), Dialect::Ga).await;
    tokio::time::timeout(WAIT, server.shutdown()).await.unwrap();
    match c.frame().await {
        Some(Ok(Message::Close(Some(f)))) => assert_eq!(f.code, CloseCode::Away),
        other => panic!("{other:?}"),
    }
    assert!(conn.is_closed());
}

/// The exact frames of one audio turn and one tool-call turn, per dialect.
#[tokio::test]
async fn frame_sequence_snapshots() {
    for dialect in both() {
        let name = if dialect == Dialect::Ga { "ga" } else { "beta" };
        let responder =
            ToolCaller::new().tool("get_weather", ["weather"], json!({"city": "Paris"}));
        let config = FakeServerConfig::default()
            .with_responder(responder)
            .with_audio_chunk_bytes(4_800);
        let (server, mut c, _conn) = start(config, dialect).await;
        let tools = json!([{"type": "function", "name": "get_weather", "description": "Weather", "parameters": {"type": "object"}}]);
        let update = if dialect == Dialect::Ga {
            json!({"type": "session.update", "session": {"type": "realtime", "tools": tools}})
        } else {
            json!({"type": "session.update", "session": {"tools": tools}})
        };
        c.send(update).await;
        c.recv().await;

        c.send(user_text("Hi!")).await;
        c.send(json!({"type": "response.create"})).await;
        let audio_turn = summarize(c.recv_until("response.done").await);
        c.recv().await; // rate_limits.updated

        c.send(user_text("What is the weather in Paris?")).await;
        c.send(json!({"type": "response.create"})).await;
        let mut tool_turn = c.recv_until("response.done").await;
        c.recv().await;
        let call_id = tool_turn
            .iter()
            .find(|f| f["type"] == "response.function_call_arguments.done")
            .unwrap()["call_id"]
            .clone();
        c.send(json!({"type": "conversation.item.create", "item": {"type": "function_call_output", "call_id": call_id, "output": "{\"temp\":21}"}})).await;
        c.send(json!({"type": "response.create"})).await;
        tool_turn.extend(c.recv_until("response.done").await);
        let tool_turn = summarize(tool_turn);

        insta::with_settings!({ sort_maps => true }, {
            insta::assert_json_snapshot!(format!("{name}_echo_audio_turn"), audio_turn, {
                ".**.event_id" => "[event_id]", ".**.item_id" => "[item_id]", ".**.previous_item_id" => "[item_id]",
                ".**.response_id" => "[response_id]", ".**.id" => "[id]", ".**.call_id" => "[call_id]",
            });
            insta::assert_json_snapshot!(format!("{name}_tool_call_turn"), tool_turn, {
                ".**.event_id" => "[event_id]", ".**.item_id" => "[item_id]", ".**.previous_item_id" => "[item_id]",
                ".**.response_id" => "[response_id]", ".**.id" => "[id]", ".**.call_id" => "[call_id]",
            });
        });
        server.shutdown().await;
    }
}

/// Audio deltas become their decoded length, to keep snapshots readable.
fn summarize(frames: Vec<Value>) -> Vec<Value> {
    frames
        .into_iter()
        .map(|mut f| {
            let t = f["type"].as_str().unwrap_or_default().to_owned();
            if t.ends_with("audio.delta") {
                let n = realtime_protocol::audio::decode_base64(f["delta"].as_str().unwrap())
                    .unwrap()
                    .len();
                f["delta"] = json!(format!("<{n} bytes of PCM>"));
            }
            f
        })
        .collect()
}

/// Every frame of a full session is written as the service writes it: `type` first, then
/// `event_id`, whatever serde_json features this build has.
#[tokio::test]
async fn every_frame_starts_with_type_then_event_id() {
    for dialect in both() {
        let config = FakeServerConfig::default().with_responder(Scripted::new([
            ResponsePlan::new([ResponsePart::Audio {
                pcm: vec![0u8; 9_600],
                transcript: "two hundred ms".into(),
            }]),
            ResponsePlan::new([ResponsePart::FunctionCall {
                name: "get_weather".into(),
                arguments: r#"{"city":"Paris"}"#.into(),
                call_id: None,
            }]),
        ]));
        let (server, mut c, _conn) = start(config, dialect).await;
        let events = [
            user_text("Hi"),
            json!({"type": "response.create"}),
            json!({"type": "response.create"}),
            json!({"type": "conversation.item.retrieve", "item_id": "nope"}),
            json!({"type": "input_audio_buffer.clear"}),
        ];
        let mut frames = Vec::new();
        for e in events {
            let is_response = e["type"] == "response.create";
            c.send(e).await;
            loop {
                let text = c.recv_text().await;
                let v: Value = serde_json::from_str(&text).unwrap();
                frames.push(text);
                let t = v["type"].as_str().unwrap_or_default().to_owned();
                let last = if is_response {
                    t == "rate_limits.updated"
                } else {
                    true
                };
                if last {
                    break;
                }
            }
        }
        assert!(frames.len() > 20, "{dialect:?}: {}", frames.len());
        for f in &frames {
            assert!(
                f.starts_with(r#"{"type":""#),
                "{dialect:?}: type is not first: {f}"
            );
            let after_type = &f[f.find("\",").unwrap() + 2..];
            assert!(
                after_type.starts_with(r#""event_id":""#),
                "{dialect:?}: event_id is not second: {f}"
            );
        }
        server.shutdown().await;
    }
}

/// Polls until the server lists `n` connections (the record is updated as a connection task
/// ends, just after the client sees the close).
async fn listed(server: &FakeRealtimeServer, n: usize) -> Vec<u64> {
    for _ in 0..500 {
        let serials: Vec<u64> = server.connections().iter().map(|c| c.serial()).collect();
        if serials.len() == n {
            return serials;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("the server never listed {n} connections");
}

#[tokio::test]
async fn closed_connections_beyond_the_bound_are_forgotten() {
    let server = FakeRealtimeServer::start(
        FakeServerConfig::default()
            .with_responder(Echo::text())
            .with_max_finished_connections(2),
    )
    .await
    .unwrap();
    let mut open = connect_with(&server, Dialect::Ga, Some("k")).await.unwrap();
    assert_eq!(open.recv().await["type"], "session.created");
    for k in 1..=5usize {
        let mut c = connect_with(&server, Dialect::Ga, Some("k")).await.unwrap();
        assert_eq!(c.recv().await["type"], "session.created");
        c.ws.close(None).await.unwrap();
        while let Some(Ok(_)) = c.frame().await {}
        // The open connection, and at most two closed ones: the latest.
        listed(&server, 1 + k.min(2)).await;
    }
    assert_eq!(listed(&server, 3).await, [1, 5, 6]);
    // `next_connection` skips the connections forgotten before they were taken.
    let taken: Vec<u64> = [
        server.next_connection(WAIT).await.unwrap(),
        server.next_connection(WAIT).await.unwrap(),
        server.next_connection(WAIT).await.unwrap(),
    ]
    .iter()
    .map(|c| c.serial())
    .collect();
    assert_eq!(taken, [1, 5, 6]);
    assert!(server
        .next_connection(Duration::from_millis(50))
        .await
        .is_none());
    // The open connection still works and is still listed.
    open.send(user_text("still here")).await;
    open.send(json!({"type": "response.create"})).await;
    open.recv_until("response.done").await;
    assert_eq!(server.connections()[0].serial(), 1);
    server.shutdown().await;
}
