//! Handoffs, output guardrails, tool approval, history restore and reconnect, against testkit.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::{ids, model, no_forbidden, start, WAIT};
use realtime_agent::{AgentRef, FunctionTool, Handoff, RealtimeAgent, ToolContext};
use realtime_protocol::Dialect;
use realtime_runner::{
    AudioFormat, ConnectionStatus, ErrorKind, HistoryItem, RealtimeRunner, ReconnectPolicy,
    RunConfig, SessionEvent, SessionSettings, TurnDetection,
};
use realtime_testkit::{
    Echo, FakeRealtimeServer, FakeServerConfig, Pacing, ResponsePart, ResponsePlan, Scripted,
    ToolCaller,
};
use schemars::JsonSchema;
use serde::Deserialize;
use std::time::Duration;

fn call(name: &str) -> ResponsePart {
    ResponsePart::FunctionCall {
        name: name.into(),
        arguments: "{}".into(),
        call_id: None,
    }
}

/// Triage ↔ Billing, each able to hand back.
fn agents() -> RealtimeAgent<()> {
    let triage_ref = AgentRef::<()>::new("Triage");
    let billing = RealtimeAgent::builder("Billing")
        .instructions("You handle invoices.")
        .voice("coral")
        .handoff(Handoff::to_ref(&triage_ref, Some("Routes callers.")))
        .build()
        .unwrap();
    let triage = RealtimeAgent::builder("Triage")
        .instructions("Route the caller.")
        .handoff_to(&billing)
        .build()
        .unwrap();
    triage_ref.set(triage.clone());
    triage
}

#[tokio::test]
async fn handoffs_keep_formats_and_vad_and_update_precedes_the_output() {
    for d in [Dialect::Ga, Dialect::Beta] {
        let script = Scripted::new([
            ResponsePlan::new([call("transfer_to_billing")]),
            ResponsePlan::text("Billing here."),
            ResponsePlan::new([call("transfer_to_triage")]),
            ResponsePlan::text("Triage again."),
        ]);
        let settings = SessionSettings::default()
            .with_audio_format(AudioFormat::G711Ulaw)
            .with_turn_detection(Some(TurnDetection::server()))
            .with_output_modality(realtime_runner::Modality::Text);
        let config = RunConfig::default().with_dialect(d).with_settings(settings);
        let mut h = start(
            FakeServerConfig::default().with_responder(script),
            agents(),
            config,
            (),
        )
        .await;
        h.session
            .send_message("I have a billing question")
            .await
            .unwrap();
        h.turns(2).await;
        assert_eq!(h.session.current_agent(), "Billing");
        h.session
            .send_message("Back to triage please")
            .await
            .unwrap();
        h.turns(4).await;
        assert_eq!(h.session.current_agent(), "Triage");
        let handoffs: Vec<(String, String)> = h
            .events
            .iter()
            .filter_map(|e| match e {
                SessionEvent::Handoff { from, to, .. } => Some((from.clone(), to.clone())),
                _ => None,
            })
            .collect();
        assert_eq!(
            handoffs,
            [
                ("Triage".into(), "Billing".into()),
                ("Billing".into(), "Triage".into())
            ]
        );
        // Every session.update after the first keeps the formats and VAD; each precedes its
        // handoff's tool output, which precedes the response.create.
        let sent = h.conn.received();
        let types: Vec<&str> = sent.iter().map(|e| e.event_type()).collect();
        let updates: Vec<usize> = types
            .iter()
            .enumerate()
            .filter(|(_, t)| **t == "session.update")
            .map(|(i, _)| i)
            .collect();
        assert_eq!(updates.len(), 3, "{types:?}");
        for &i in &updates[1..] {
            assert_eq!(
                sent[i + 1].json()["item"]["type"],
                "function_call_output",
                "{types:?}"
            );
            assert_eq!(types[i + 2], "response.create");
        }
        let session = h.conn.session();
        match d {
            Dialect::Ga => {
                assert_eq!(session["audio"]["input"]["format"]["type"], "audio/pcmu");
                assert_eq!(
                    session["audio"]["input"]["turn_detection"]["type"],
                    "server_vad"
                );
            }
            _ => {
                assert_eq!(session["input_audio_format"], "g711_ulaw");
                assert_eq!(session["turn_detection"]["type"], "server_vad");
            }
        }
        assert_eq!(session["instructions"], "Route the caller.");
        let output = sent
            .iter()
            .find(|e| e.json()["item"]["type"] == "function_call_output")
            .unwrap()
            .json();
        assert_eq!(output["item"]["output"], r#"{"assistant":"Billing"}"#);
        ids().bind(|| {
            insta::assert_json_snapshot!(format!("{}_handoff_sent", d.as_str()), h.sent_redacted())
        });
        h.finish().await;
    }
}

#[tokio::test]
async fn the_voice_does_not_change_once_audio_was_produced() {
    let billing = RealtimeAgent::<()>::builder("Billing")
        .voice("coral")
        .build()
        .unwrap();
    let triage = RealtimeAgent::builder("Triage")
        .handoff_to(&billing)
        .build()
        .unwrap();
    let script = Scripted::new([
        ResponsePlan::speech("Hello, transferring."),
        ResponsePlan::new([call("transfer_to_billing")]),
        ResponsePlan::speech("Billing."),
    ]);
    let mut h = start(
        FakeServerConfig::default().with_responder(script),
        triage,
        RunConfig::default().with_dialect(Dialect::Beta),
        (),
    )
    .await;
    h.session.send_message("hi").await.unwrap();
    h.turns(1).await;
    h.session.send_message("billing").await.unwrap();
    h.turns(3).await;
    assert_eq!(h.session.current_agent(), "Billing");
    assert_eq!(h.conn.session()["voice"], "ash", "the voice stays");
    assert!(
        !h.events
            .iter()
            .any(|e| matches!(e, SessionEvent::Error(err) if err.kind == ErrorKind::Server)),
        "{:?}",
        h.kinds()
    );
    h.finish().await;
}

#[tokio::test]
async fn update_agent_switches_without_a_tool_call() {
    let other = RealtimeAgent::<()>::builder("Other")
        .instructions("Other instructions.")
        .voice("sage")
        .build()
        .unwrap();
    let mut h = start(
        FakeServerConfig::default().with_responder(Echo::text()),
        agents(),
        RunConfig::default(),
        (),
    )
    .await;
    h.session.update_agent(other).await.unwrap();
    h.until("handoff", |e| matches!(e, SessionEvent::Handoff { .. }))
        .await;
    let deadline = tokio::time::Instant::now() + WAIT;
    while h.conn.session()["instructions"] != "Other instructions." {
        assert!(tokio::time::Instant::now() < deadline);
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(
        h.conn.session()["audio"]["output"]["voice"],
        "sage",
        "no audio yet: the voice may change"
    );
    assert_eq!(h.session.current_agent(), "Other");
    h.finish().await;
}

#[tokio::test]
async fn guardrails_trip_once_per_response_and_stop_it() {
    let long = "This answer is long enough to be checked while it is still playing, and it says a forbidden word here, then goes on and on for a while longer.";
    let script = Scripted::new([
        ResponsePlan::speech(long),
        ResponsePlan::text("Sorry about that, all good now."),
        ResponsePlan::text("forbidden"),
        ResponsePlan::text("ok"),
    ]);
    let agent = RealtimeAgent::<()>::builder("A")
        .output_guardrail(no_forbidden())
        .build()
        .unwrap();
    let server = FakeServerConfig::default()
        .with_responder(script)
        .with_pacing(Pacing::RealTime);
    let config = RunConfig::default().with_guardrail_debounce(50);
    let mut h = start(server, agent, config, ()).await;
    h.session.send_message("talk").await.unwrap();
    h.turns(2).await;
    let trips: Vec<_> = h
        .events
        .iter()
        .filter(|e| matches!(e, SessionEvent::GuardrailTripped { .. }))
        .cloned()
        .collect();
    assert_eq!(trips.len(), 1, "{:?}", h.kinds());
    let SessionEvent::GuardrailTripped {
        guardrails,
        response_id: tripped,
        ..
    } = &trips[0]
    else {
        unreachable!()
    };
    assert_eq!(guardrails, &["no_forbidden".to_owned()]);
    // The tripped response was stopped, its audio cut; the next one was left alone.
    let ends: Vec<(String, String)> = h
        .events
        .iter()
        .filter_map(|e| match e {
            SessionEvent::AgentEnd {
                response_id,
                status,
                ..
            } => Some((response_id.to_string(), status.clone())),
            _ => None,
        })
        .collect();
    assert_eq!(ends[0], (tripped.to_string(), "cancelled".into()));
    assert_eq!(ends[1].1, "completed");
    assert!(h.kinds().contains(&"audio_interrupted"));
    let sent = h.conn.received();
    assert!(sent.iter().any(|e| e.event_type() == "response.cancel"));
    assert!(sent.iter().any(|e| e.json()["item"]["content"][0]["text"]
        .as_str()
        .is_some_and(|t| t.starts_with("guardrail triggered: no_forbidden"))));
    // A short response trips at its end.
    h.session.send_message("again").await.unwrap();
    h.turns(4).await;
    let trips = h
        .events
        .iter()
        .filter(|e| matches!(e, SessionEvent::GuardrailTripped { .. }))
        .count();
    assert_eq!(trips, 2, "{:?}", h.kinds());
    h.finish().await;
}

#[tokio::test]
async fn runner_and_agent_guardrails_are_deduplicated() {
    let agent = RealtimeAgent::<()>::builder("A")
        .output_guardrail(no_forbidden())
        .build()
        .unwrap();
    let server = FakeRealtimeServer::start(
        FakeServerConfig::default()
            .with_auth(realtime_testkit::Auth::Open)
            .with_responder(Scripted::new([
                ResponsePlan::text("forbidden"),
                ResponsePlan::text("ok"),
            ])),
    )
    .await
    .unwrap();
    let runner = RealtimeRunner::builder(agent)
        .model(model(&server, Dialect::Ga))
        .output_guardrail(no_forbidden())
        .build();
    let session = runner.run(()).await.unwrap();
    session.send_message("x").await.unwrap();
    let mut tripped = Vec::new();
    let mut ends = 0;
    while ends < 2 {
        match tokio::time::timeout(WAIT, session.next_event())
            .await
            .unwrap()
            .unwrap()
        {
            SessionEvent::GuardrailTripped { guardrails, .. } => tripped.push(guardrails),
            SessionEvent::AgentEnd { .. } => ends += 1,
            _ => {}
        }
    }
    assert_eq!(tripped, [vec!["no_forbidden".to_owned()]]);
    session.close().await;
    server.shutdown().await;
}

#[derive(Deserialize, JsonSchema)]
struct Refund {
    amount: u32,
}

fn refund_agent() -> RealtimeAgent<()> {
    let tool = FunctionTool::new(
        "refund",
        "Refund money.",
        |_t: ToolContext<()>, r: Refund| async move {
            Ok::<_, String>(format!("refunded {}", r.amount))
        },
    )
    .unwrap()
    .require_approval(true);
    RealtimeAgent::builder("Refunds")
        .tool(tool)
        .build()
        .unwrap()
}

fn refund_caller() -> ToolCaller {
    ToolCaller::new()
        .tool("refund", ["refund"], serde_json::json!({"amount": 20}))
        .audio(false)
}

#[tokio::test]
async fn approve_reject_and_always_approve() {
    let mut h = start(
        FakeServerConfig::default().with_responder(refund_caller()),
        refund_agent(),
        RunConfig::default(),
        (),
    )
    .await;
    // Approve.
    h.session.send_message("refund please").await.unwrap();
    let ev = h
        .until("approval", |e| {
            matches!(e, SessionEvent::ToolApprovalRequested { .. })
        })
        .await;
    let SessionEvent::ToolApprovalRequested {
        call_id,
        arguments,
        tool,
        ..
    } = ev
    else {
        unreachable!()
    };
    assert_eq!(
        (tool.as_str(), arguments.as_str()),
        ("refund", r#"{"amount":20}"#)
    );
    assert!(
        !h.kinds().contains(&"tool_start"),
        "nothing runs before approval"
    );
    h.session.approve_tool_call(call_id, false).await.unwrap();
    h.turns(2).await;
    assert!(h
        .events
        .iter()
        .any(|e| matches!(e, SessionEvent::ToolEnd { output, .. } if output == "refunded 20")));
    // Reject with a message.
    h.session.send_message("another refund").await.unwrap();
    let ev = h
        .until("approval", |e| {
            matches!(e, SessionEvent::ToolApprovalRequested { .. })
        })
        .await;
    let SessionEvent::ToolApprovalRequested { call_id, .. } = ev else {
        unreachable!()
    };
    h.session
        .reject_tool_call(
            call_id.clone(),
            false,
            Some("The supervisor said no.".into()),
        )
        .await
        .unwrap();
    h.turns(4).await;
    let out = h
        .conn
        .received()
        .iter()
        .rev()
        .find(|e| e.json()["item"]["type"] == "function_call_output")
        .unwrap()
        .json();
    assert_eq!(out["item"]["output"], "The supervisor said no.");
    assert_eq!(out["item"]["call_id"], call_id.as_str());
    // Always approve: the next call runs without asking.
    h.session.send_message("refund once more").await.unwrap();
    let ev = h
        .until("approval", |e| {
            matches!(e, SessionEvent::ToolApprovalRequested { .. })
        })
        .await;
    let SessionEvent::ToolApprovalRequested { call_id, .. } = ev else {
        unreachable!()
    };
    h.session.approve_tool_call(call_id, true).await.unwrap();
    h.turns(6).await;
    let asked = h
        .kinds()
        .iter()
        .filter(|k| **k == "tool_approval_requested")
        .count();
    h.session.send_message("and one more refund").await.unwrap();
    h.turns(8).await;
    assert_eq!(
        h.kinds()
            .iter()
            .filter(|k| **k == "tool_approval_requested")
            .count(),
        asked,
        "always approved"
    );
    assert_eq!(h.kinds().iter().filter(|k| **k == "tool_end").count(), 4);
    h.finish().await;
}

fn saved_history() -> Vec<HistoryItem> {
    vec![
        HistoryItem::user_text("item_saved_1", "My name is Ada."),
        HistoryItem::assistant_text("item_saved_2", "Nice to meet you, Ada."),
        HistoryItem::user_text("item_saved_3", "I like tea."),
    ]
}

#[tokio::test]
async fn restore_a_saved_history_then_a_new_turn_sees_it() {
    for d in [Dialect::Ga, Dialect::Beta] {
        let server = FakeRealtimeServer::start(
            FakeServerConfig::default()
                .with_auth(realtime_testkit::Auth::Open)
                .with_responder(realtime_testkit::FnResponder(
                    |ctx: &realtime_testkit::ResponseContext| {
                        let all: Vec<String> =
                            ctx.conversation.iter().filter_map(|i| i.text()).collect();
                        ResponsePlan::text(format!("I remember: {}", all.join(" | ")))
                    },
                )),
        )
        .await
        .unwrap();
        let agent = RealtimeAgent::<()>::builder("A").build().unwrap();
        let runner = RealtimeRunner::builder(agent)
            .config(RunConfig::default().with_dialect(d).with_settings(
                SessionSettings::default().with_output_modality(realtime_runner::Modality::Text),
            ))
            .model(model(&server, d))
            .build();
        // Items serialize, as an application would persist them.
        let saved = serde_json::to_string(&saved_history()).unwrap();
        let items: Vec<HistoryItem> = serde_json::from_str(&saved).unwrap();
        let session = runner.run_with_history((), items).await.unwrap();
        let conn = server.next_connection(WAIT).await.unwrap();
        assert_eq!(session.history().len(), 3);
        session.send_message("What do I like?").await.unwrap();
        let mut answer = String::new();
        loop {
            match tokio::time::timeout(WAIT, session.next_event())
                .await
                .unwrap()
                .unwrap()
            {
                SessionEvent::TextDelta { delta, .. } => answer.push_str(&delta),
                SessionEvent::AgentEnd { .. } => break,
                _ => {}
            }
        }
        assert_eq!(
            answer,
            "I remember: My name is Ada. | Nice to meet you, Ada. | I like tea. | What do I like?"
        );
        let server_ids: Vec<String> = conn
            .conversation()
            .iter()
            .take(3)
            .map(|i| i.id.clone())
            .collect();
        assert_eq!(server_ids, ["item_saved_1", "item_saved_2", "item_saved_3"]);
        // Replace the history of the live session.
        session
            .set_history(vec![HistoryItem::user_text("item_new_1", "Start over.")])
            .await
            .unwrap();
        let deadline = tokio::time::Instant::now() + WAIT;
        while conn
            .conversation()
            .iter()
            .map(|i| i.id.clone())
            .collect::<Vec<_>>()
            != ["item_new_1"]
        {
            assert!(
                tokio::time::Instant::now() < deadline,
                "{:?}",
                conn.conversation()
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        let deadline = tokio::time::Instant::now() + WAIT;
        while session.history().len() != 1 {
            assert!(
                tokio::time::Instant::now() < deadline,
                "{:?}",
                session.history()
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        session.close().await;
        server.shutdown().await;
    }
}

#[tokio::test]
async fn reconnect_after_a_drop_keeps_history_and_the_next_turn_works() {
    let policy = ReconnectPolicy::new(3, Duration::from_millis(20), Duration::from_millis(100));
    let config = RunConfig::default()
        .with_reconnect(Some(policy))
        .with_settings(
            SessionSettings::default().with_output_modality(realtime_runner::Modality::Text),
        );
    let mut h = start(
        FakeServerConfig::default().with_responder(Echo::text()),
        RealtimeAgent::builder("A").build().unwrap(),
        config,
        (),
    )
    .await;
    h.session.send_message("remember me").await.unwrap();
    h.turns(1).await;
    h.conn.drop_socket().await;
    h.until("reconnected", |e| {
        matches!(
            e,
            SessionEvent::Connection {
                status: ConnectionStatus::Connected,
                ..
            }
        )
    })
    .await;
    assert!(h.events.iter().any(|e| matches!(
        e,
        SessionEvent::Connection {
            status: ConnectionStatus::Reconnecting { .. },
            ..
        }
    )));
    let second = h.server.next_connection(WAIT).await.unwrap();
    h.session.send_message("still here?").await.unwrap();
    h.turns(2).await;
    let server_texts: Vec<String> = second
        .conversation()
        .iter()
        .filter_map(|i| i.text())
        .collect();
    assert_eq!(
        server_texts,
        ["remember me", "remember me", "still here?", "still here?"]
    );
    assert_eq!(second.received_types()[0], "session.update");
    assert_eq!(h.session.history().len(), 4);
    h.finish().await;
}

#[tokio::test]
async fn reconnect_budget_exhausted_is_a_final_error() {
    let policy = ReconnectPolicy::new(2, Duration::from_millis(10), Duration::from_millis(20));
    let server = FakeRealtimeServer::start(
        FakeServerConfig::default().with_auth(realtime_testkit::Auth::Open),
    )
    .await
    .unwrap();
    let runner = RealtimeRunner::builder(RealtimeAgent::<()>::builder("A").build().unwrap())
        .config(RunConfig::default().with_reconnect(Some(policy)))
        .model(model(&server, Dialect::Ga))
        .build();
    let session = runner.run(()).await.unwrap();
    server.next_connection(WAIT).await.unwrap();
    server.shutdown().await; // closes the socket and stops listening
    let mut kinds = Vec::new();
    while let Some(ev) = tokio::time::timeout(WAIT, session.next_event())
        .await
        .unwrap()
    {
        if let SessionEvent::Error(e) = &ev {
            assert_eq!(e.kind, ErrorKind::Connection);
        }
        kinds.push(ev.kind());
    }
    // Two attempts, the final error, then the connection gone and the end.
    assert_eq!(
        kinds,
        ["connection", "connection", "error", "connection", "closed"]
    );
    assert!(session.is_closed());
}

/// A guardrail of the run applies to every agent's responses, also agents that carry other
/// guardrails of their own, and still after a handoff to an agent the session did not start
/// with.
#[tokio::test]
async fn runner_guardrails_apply_to_every_agent_before_and_after_a_handoff() {
    let polite = realtime_agent::GuardrailFn::new(
        "polite",
        |_c: realtime_agent::RunContext<()>, _a, _text: String| async move {
            realtime_agent::GuardrailOutput::pass()
        },
    );
    let first = RealtimeAgent::<()>::builder("First")
        .output_guardrail(polite)
        .build()
        .unwrap();
    let second = RealtimeAgent::<()>::builder("Second").build().unwrap();
    let server = FakeRealtimeServer::start(
        FakeServerConfig::default()
            .with_auth(realtime_testkit::Auth::Open)
            .with_responder(Scripted::new([
                ResponsePlan::text("forbidden one"),
                ResponsePlan::text("sorry"),
                ResponsePlan::text("forbidden two"),
                ResponsePlan::text("sorry again"),
            ])),
    )
    .await
    .unwrap();
    let runner = RealtimeRunner::builder(first)
        .model(model(&server, Dialect::Ga))
        .output_guardrail(no_forbidden())
        .build();
    let session = runner.run(()).await.unwrap();
    let mut tripped: Vec<(String, Vec<String>)> = Vec::new();
    let mut agents = std::collections::HashMap::new();
    let mut ends = 0;
    session.send_message("x").await.unwrap();
    while ends < 4 {
        if ends == 2 && session.current_agent() == "First" {
            session.update_agent(second.clone()).await.unwrap();
            session.send_message("y").await.unwrap();
        }
        match tokio::time::timeout(WAIT, session.next_event())
            .await
            .unwrap()
            .unwrap()
        {
            SessionEvent::AgentStart {
                agent, response_id, ..
            } => {
                agents.insert(response_id, agent);
            }
            SessionEvent::GuardrailTripped {
                guardrails,
                response_id,
                ..
            } => tripped.push((agents[&response_id].clone(), guardrails)),
            SessionEvent::AgentEnd { .. } => ends += 1,
            _ => {}
        }
    }
    let no_forbidden = vec!["no_forbidden".to_owned()];
    assert_eq!(
        tripped,
        [
            ("First".to_owned(), no_forbidden.clone()),
            ("Second".to_owned(), no_forbidden)
        ]
    );
    session.close().await;
    server.shutdown().await;
}

/// A handoff whose target's settings cannot be built (two tools of one name): the model
/// still gets the call's output (an error text), the session reports it, stays with the
/// agent it had, and the turn goes on to its follow-up response.
#[tokio::test]
async fn a_handoff_to_a_misconfigured_agent_answers_the_model_and_the_turn_goes_on() {
    let tool = || {
        FunctionTool::new(
            "same",
            "Twice.",
            |_t: ToolContext<()>, _r: Refund| async move { Ok::<_, String>("x") },
        )
        .unwrap()
    };
    let broken = RealtimeAgent::<()>::builder("Broken")
        .tool(tool())
        .tool(tool())
        .build()
        .unwrap();
    let first = RealtimeAgent::<()>::builder("First")
        .handoff_to(&broken)
        .build()
        .unwrap();
    let server = FakeServerConfig::default().with_responder(Scripted::new([
        ResponsePlan::new([ResponsePart::function_call(
            "transfer_to_broken",
            serde_json::json!({}),
        )]),
        ResponsePlan::text("I could not transfer you."),
    ]));
    let mut h = start(server, first, RunConfig::default(), ()).await;
    h.session.send_message("transfer me").await.unwrap();
    let end = h
        .until("tool_end", |e| matches!(e, SessionEvent::ToolEnd { .. }))
        .await;
    let SessionEvent::ToolEnd {
        output, is_error, ..
    } = end
    else {
        unreachable!()
    };
    assert!(is_error, "{output}");
    assert!(output.contains("same"), "names the problem: {output}");
    h.turns(2).await;
    assert!(h
        .events
        .iter()
        .any(|e| matches!(e, SessionEvent::Error(err) if err.kind == ErrorKind::Handoff)));
    assert!(!h.kinds().contains(&"handoff"));
    assert_eq!(h.session.current_agent(), "First");
    let outputs: Vec<_> = h
        .conn
        .received()
        .iter()
        .map(|e| e.json())
        .filter(|v| v["item"]["type"] == "function_call_output")
        .collect();
    assert_eq!(outputs.len(), 1, "the model got the call's output");
    assert_eq!(
        h.sent().iter().filter(|t| *t == "response.create").count(),
        2,
        "and the follow-up response was asked for"
    );
    h.finish().await;
}
