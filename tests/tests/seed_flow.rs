//! The whole seed flow through the public API, both dialects: connect → configure → message →
//! audio → tool → handoff → guardrail → barge-in → close.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use realtime_agent::{
    FunctionTool, GuardrailFn, GuardrailOutput, Handoff, RealtimeAgent, RunContext, ToolContext,
};
use realtime_protocol::Dialect;
use realtime_runner::{HistoryItem, RunConfig, SessionEvent};
use realtime_testkit::{FakeServerConfig, Pacing, ResponsePart, ResponsePlan, Scripted};
use schemars::JsonSchema;
use serde::Deserialize;
use std::time::Duration;
use tests::{start, WAIT};

#[derive(Deserialize, JsonSchema)]
struct City {
    city: String,
}

fn agents() -> RealtimeAgent<()> {
    let guard = GuardrailFn::new(
        "no_secrets",
        |_c: RunContext<()>, _a, text: String| async move {
            if text.contains("secret") {
                GuardrailOutput::trip(serde_json::json!({"reason": "secret"}))
            } else {
                GuardrailOutput::pass()
            }
        },
    );
    let support = RealtimeAgent::<()>::builder("Support")
        .instructions("You are support.")
        .output_guardrail(guard)
        .build()
        .unwrap();
    let weather =
        FunctionTool::new(
            "get_weather",
            "Weather.",
            |_t: ToolContext<()>, c: City| async move {
                Ok::<_, String>(format!("sunny in {}", c.city))
            },
        )
        .unwrap();
    RealtimeAgent::builder("Front Desk")
        .instructions("Greet and route.")
        .tool(weather)
        .handoff(Handoff::to(&support))
        .build()
        .unwrap()
}

fn script() -> Scripted {
    Scripted::new([
        // 1. the text message
        ResponsePlan::speech("Hello! How can I help?"),
        // 2. the audio turn: a tool call
        ResponsePlan::new([ResponsePart::function_call("get_weather", serde_json::json!({"city": "Paris"}))]),
        // 3. after the tool: speak, then hand off
        ResponsePlan::new([
            ResponsePart::speech("It is sunny in Paris."),
            ResponsePart::function_call("transfer_to_support", serde_json::json!({})),
        ]),
        // 4. the new agent says something its guardrail forbids
        ResponsePlan::text("The secret code is 1234."),
        // 5. after the guardrail message
        ResponsePlan::text("Sorry, I cannot share that."),
        // 6. a long answer the user talks over
        ResponsePlan::speech("Let me tell you a very long story about the history of this city, from the very beginning to the present day, with every detail."),
        // 7. after the barge-in
        ResponsePlan::text("Sure, go ahead."),
    ])
}

#[tokio::test]
async fn seed_flow() {
    for d in [Dialect::Ga, Dialect::Beta] {
        let server = FakeServerConfig::default()
            .with_responder(script())
            .with_pacing(Pacing::RealTime)
            .with_audio_chunk_bytes(2_400)
            .with_input_transcript("What is the weather in Paris?");
        let config = RunConfig::default()
            .with_dialect(d)
            .with_guardrail_debounce(20);
        let mut e = start(server, agents(), config, ()).await;

        // message
        e.session.send_message("Hi").await.unwrap();
        e.turns(1).await;
        assert!(e.count("audio") > 0);
        // audio (push-to-talk: commit, then ask for a response)
        e.session.send_audio(&vec![0u8; 9_600], true).await.unwrap();
        e.session.request_response().await.unwrap();
        // tool, then speech + handoff, then the guardrail trip on the new agent
        e.until("handoff", |ev| matches!(ev, SessionEvent::Handoff { .. }))
            .await;
        e.until("guardrail", |ev| {
            matches!(ev, SessionEvent::GuardrailTripped { .. })
        })
        .await;
        e.turns(5).await;
        assert_eq!(e.session.current_agent(), "Support");
        // barge-in on the long answer
        e.session.send_message("Tell me a story").await.unwrap();
        e.until("audio", |ev| matches!(ev, SessionEvent::Audio { .. }))
            .await;
        tokio::time::sleep(Duration::from_millis(300)).await;
        e.conn.speech_started(2_000).await;
        let cut = e
            .until("audio_interrupted", |ev| {
                matches!(ev, SessionEvent::AudioInterrupted { .. })
            })
            .await;
        let SessionEvent::AudioInterrupted { audio_end_ms, .. } = cut else {
            unreachable!()
        };
        assert!((200..=3_000).contains(&audio_end_ms), "{audio_end_ms}");
        e.conn.speech_stopped(2_500).await;
        e.turns(7).await;

        // The fake server checks every client event as the service does: none was refused.
        let refused: Vec<String> = e
            .conn
            .received()
            .iter()
            .filter_map(|ev| Some(format!("{}: {}", ev.event_type(), ev.error()?)))
            .collect();
        assert!(
            refused.is_empty(),
            "{d:?}: the service would refuse {refused:?}"
        );

        // What the client said, in order.
        let sent = e.sent();
        let expected = [
            "session.update",
            "conversation.item.create",
            "response.create",
            "input_audio_buffer.append",
            "input_audio_buffer.commit",
            "response.create",
            "conversation.item.create",
            "response.create",
            "session.update",
            "conversation.item.create",
            "response.create",
        ];
        assert_eq!(&sent[..expected.len()], &expected[..], "{sent:?}");
        // Then: the guardrail's message and a response (a cancel too if the response was still
        // streaming), the story request, its truncation on barge-in.
        let rest = &sent[expected.len()..];
        let guard_msg = rest
            .iter()
            .position(|t| t == "conversation.item.create")
            .unwrap();
        assert_eq!(rest[guard_msg + 1], "response.create", "{rest:?}");
        let truncate = rest
            .iter()
            .position(|t| t == "conversation.item.truncate")
            .unwrap();
        assert!(truncate > guard_msg + 3, "{rest:?}");
        assert!(!rest.iter().any(|t| t == "session.update"), "{rest:?}");

        // The event stream tells the story.
        for kind in [
            "agent_start",
            "audio",
            "audio_end",
            "transcript_delta",
            "history_added",
            "input_transcript_completed",
            "tool_start",
            "tool_end",
            "handoff",
            "guardrail_tripped",
            "audio_interrupted",
            "usage",
            "agent_end",
        ] {
            assert!(e.count(kind) > 0, "no {kind}: {:?}", e.kinds());
        }
        let tool_end = e
            .events
            .iter()
            .find(|ev| matches!(ev, SessionEvent::ToolEnd { tool, .. } if tool == "get_weather"))
            .unwrap();
        assert!(
            matches!(tool_end, SessionEvent::ToolEnd { output, .. } if output == "sunny in Paris")
        );

        // The history, as an application would save it.
        let history: Vec<HistoryItem> = e.session.history();
        let texts: Vec<String> = history.iter().filter_map(|i| i.text()).collect();
        assert!(texts.contains(&"Hi".to_owned()));
        assert!(
            texts.contains(&"What is the weather in Paris?".to_owned()),
            "{texts:?}"
        );
        assert!(texts
            .iter()
            .any(|t| t.starts_with("guardrail triggered: no_secrets")));
        let saved = serde_json::to_string(&history).unwrap();
        let restored: Vec<HistoryItem> = serde_json::from_str(&saved).unwrap();
        assert_eq!(restored, history);
        insta::with_settings!({ sort_maps => true }, {
            insta::assert_json_snapshot!(format!("{}_seed_flow_sent", d.as_str()), &sent[..expected.len()]);
        });

        // close
        let session = e.session.clone();
        tokio::time::timeout(WAIT, session.close()).await.unwrap();
        e.drain().await;
        assert_eq!(e.events.last().map(|ev| ev.kind()), Some("closed"));
        assert!(e.conn.wait_closed(WAIT).await);
        e.server.shutdown().await;
    }
}
