//! Transcription sessions (speech to text only) against the strict fake in both dialects:
//! `?intent=transcription`, the settings as each dialect takes them, transcripts streamed per
//! committed item with log probabilities, server VAD committing utterances, no responses.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use futures_util::StreamExt;
use realtime_protocol::Dialect;
use realtime_runner::{
    NoiseReduction, RealtimeTranscriber, SessionEvent, TranscriberSettings, TranscriptionEvent,
};
use realtime_testkit::{tone, FakeRealtimeServer, FakeServerConfig};
use serde_json::{json, Value};
use tests::{start, KEY, WAIT};

const HEARD: &str = "the parcel arrived on Tuesday";

async fn server() -> FakeRealtimeServer {
    FakeRealtimeServer::start(
        FakeServerConfig::default()
            .with_auth(realtime_testkit::Auth::keys([KEY]))
            .with_input_transcript(HEARD),
    )
    .await
    .unwrap()
}

async fn transcriber(
    server: &FakeRealtimeServer,
    dialect: Dialect,
    settings: TranscriberSettings,
) -> RealtimeTranscriber {
    tests::model(server, dialect)
        .transcriber(settings)
        .await
        .unwrap()
}

/// Events until `pred` matches (bounded), failing on any error event.
async fn until(
    t: &mut RealtimeTranscriber,
    pred: impl Fn(&TranscriptionEvent) -> bool,
) -> Vec<TranscriptionEvent> {
    let mut seen = Vec::new();
    loop {
        let ev = tokio::time::timeout(WAIT, t.next())
            .await
            .expect("timed out")
            .expect("stream ended");
        assert!(
            !matches!(ev, TranscriptionEvent::Error(_)),
            "the strict fake refused: {ev:?} after {seen:?}"
        );
        let done = pred(&ev);
        seen.push(ev);
        if done {
            return seen;
        }
    }
}

#[tokio::test]
async fn a_committed_item_is_transcribed_with_deltas_and_logprobs_in_both_dialects() {
    for dialect in [Dialect::Ga, Dialect::Beta] {
        let server = server().await;
        let settings = TranscriberSettings::model("gpt-4o-transcribe")
            .with_language("en")
            .with_prompt("Parcel tracking.")
            .with_noise_reduction(Some(NoiseReduction::NearField))
            .with_turn_detection(None)
            .with_logprobs(true);
        let mut t = transcriber(&server, dialect, settings).await;
        let conn = server.next_connection(WAIT).await.unwrap();
        assert!(
            conn.handshake().query.contains("intent=transcription"),
            "{:?}",
            conn.handshake()
        );
        until(&mut t, |e| matches!(e, TranscriptionEvent::Ready)).await;

        // The settings, as the dialect takes them.
        let update = conn.received()[0].json();
        let (kind, session) = (update["type"].clone(), update["session"].clone());
        if dialect == Dialect::Ga {
            assert_eq!(kind, "session.update");
            assert_eq!(session["type"], "transcription");
            let input = &session["audio"]["input"];
            assert_eq!(
                input["transcription"],
                json!({"model": "gpt-4o-transcribe", "language": "en", "prompt": "Parcel tracking."})
            );
            assert_eq!(input["noise_reduction"], json!({"type": "near_field"}));
            assert_eq!(input["turn_detection"], Value::Null);
        } else {
            assert_eq!(kind, "transcription_session.update");
            assert_eq!(
                session["input_audio_transcription"]["model"],
                "gpt-4o-transcribe"
            );
            assert_eq!(
                session["input_audio_noise_reduction"],
                json!({"type": "near_field"})
            );
            assert_eq!(session["turn_detection"], Value::Null);
        }
        assert_eq!(
            session["include"],
            json!(["item.input_audio_transcription.logprobs"])
        );

        t.send_audio(&tone(300.0, 500)).await.unwrap();
        t.commit().await.unwrap();
        let seen = until(&mut t, |e| {
            matches!(e, TranscriptionEvent::Completed { .. })
        })
        .await;
        let committed = seen.iter().find_map(|e| match e {
            TranscriptionEvent::Committed { item_id, .. } => Some(item_id.clone()),
            _ => None,
        });
        let committed = committed.expect("no committed event");
        let deltas: String = seen
            .iter()
            .filter_map(|e| match e {
                TranscriptionEvent::Delta {
                    delta,
                    item_id,
                    logprobs,
                    ..
                } => {
                    assert_eq!(item_id, &committed);
                    assert!(
                        !logprobs.is_empty(),
                        "{dialect:?}: a delta without logprobs"
                    );
                    Some(delta.as_str())
                }
                _ => None,
            })
            .collect();
        let Some(TranscriptionEvent::Completed {
            transcript,
            logprobs,
            item_id,
            ..
        }) = seen.last()
        else {
            unreachable!()
        };
        assert_eq!(item_id, &committed);
        assert_eq!(transcript, HEARD, "{dialect:?}");
        assert_eq!(
            deltas, HEARD,
            "{dialect:?}: the deltas add up to the transcript"
        );
        assert_eq!(logprobs.len(), HEARD.split(' ').count(), "{dialect:?}");

        t.close().await;
        let rest = until(&mut t, |e| matches!(e, TranscriptionEvent::Closed { .. })).await;
        assert!(matches!(
            rest.last(),
            Some(TranscriptionEvent::Closed { error: None, .. })
        ));
        assert!(
            !conn
                .received_types()
                .iter()
                .any(|t| t.starts_with("response.")),
            "{dialect:?}: a transcription session asks for no response"
        );
        server.shutdown().await;
    }
}

#[tokio::test]
async fn server_vad_commits_each_utterance_and_nothing_answers() {
    for dialect in [Dialect::Ga, Dialect::Beta] {
        let server = server().await;
        let mut t = transcriber(
            &server,
            dialect,
            TranscriberSettings::model("gpt-4o-mini-transcribe"),
        )
        .await;
        until(&mut t, |e| matches!(e, TranscriptionEvent::Ready)).await;
        // Speech, then silence: the server's VAD hears both edges.
        let mut audio = tone(440.0, 800);
        audio.extend(vec![0u8; 48 * 1000]);
        for chunk in audio.chunks(960) {
            t.send_audio(chunk).await.unwrap();
        }
        let seen = until(&mut t, |e| {
            matches!(e, TranscriptionEvent::Completed { .. })
        })
        .await;
        let kinds: Vec<&str> = seen
            .iter()
            .map(|e| match e {
                TranscriptionEvent::SpeechStarted { .. } => "started",
                TranscriptionEvent::SpeechStopped { .. } => "stopped",
                TranscriptionEvent::Committed { .. } => "committed",
                TranscriptionEvent::Delta { .. } => "delta",
                TranscriptionEvent::Completed { .. } => "completed",
                _ => "other",
            })
            .filter(|k| *k != "delta" && *k != "other")
            .collect();
        assert_eq!(
            kinds,
            ["started", "stopped", "committed", "completed"],
            "{dialect:?}"
        );
        // No response follows the utterance.
        let quiet = tokio::time::timeout(std::time::Duration::from_millis(300), t.next()).await;
        assert!(quiet.is_err(), "{dialect:?}: {quiet:?}");
        t.close().await;
        server.shutdown().await;
    }
}

#[tokio::test]
async fn the_fake_keeps_realtime_and_transcription_sessions_apart() {
    // A beta realtime session refuses the transcription update.
    let config = realtime_runner::RunConfig::default().with_dialect(Dialect::Beta);
    let agent = realtime_agent::RealtimeAgent::builder("A").build().unwrap();
    let mut h = start(FakeServerConfig::default(), agent, config, ()).await;
    let raw =
        json!({"type": "transcription_session.update", "session": {"input_audio_format": "pcm16"}});
    h.session.send_raw(raw.to_string()).await.unwrap();
    let e = h
        .until("error", |e| matches!(e, SessionEvent::Error(_)))
        .await;
    let SessionEvent::Error(e) = e else {
        unreachable!()
    };
    assert!(e.message.contains("intent=transcription"), "{}", e.message);
    h.finish().await;
}
