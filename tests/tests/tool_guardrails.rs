//! Per-tool guardrails and background tool results, end to end against the fake server: an
//! input guardrail stops a call before approval and before the tool runs; an output guardrail
//! replaces what the model would have got; a background result is sent without a new response.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use realtime_agent::{
    FunctionTool, RealtimeAgent, ToolContext, ToolGuardrailOutput, ToolInputGuardrailFn,
    ToolOutput, ToolOutputGuardrailFn,
};
use realtime_protocol::Dialect;
use realtime_runner::{Modality, RunConfig, SessionEvent, SessionSettings, ToolGuardrailStage};
use realtime_testkit::{FakeServerConfig, ResponsePart, ResponsePlan, Scripted};
use serde_json::json;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use tests::{start, E2e};

#[derive(serde::Deserialize, schemars::JsonSchema)]
struct Transfer {
    amount: u32,
}

fn config(d: Dialect) -> RunConfig {
    RunConfig::default().with_dialect(d).with_settings(
        SessionSettings::default()
            .with_output_modality(Modality::Text)
            .with_turn_detection(None),
    )
}

/// The model calls `transfer` with `amount`, then answers.
fn script(amount: u32) -> FakeServerConfig {
    FakeServerConfig::default().with_responder(Scripted::new([
        ResponsePlan::new([ResponsePart::function_call(
            "transfer",
            json!({ "amount": amount }),
        )]),
        ResponsePlan::text("done"),
    ]))
}

/// The `function_call_output` the server received, as text.
fn outputs_sent(h: &E2e) -> Vec<String> {
    h.conn
        .received()
        .iter()
        .map(|e| e.json())
        .filter(|v| v["item"]["type"] == "function_call_output")
        .map(|v| v["item"]["output"].as_str().unwrap_or_default().to_owned())
        .collect()
}

#[tokio::test]
async fn an_input_guardrail_stops_the_call_before_approval_and_before_it_runs() {
    for d in [Dialect::Ga, Dialect::Beta] {
        let runs = Arc::new(AtomicUsize::new(0));
        let order = Arc::new(Mutex::new(Vec::<String>::new()));
        let (r, o) = (runs.clone(), order.clone());
        let tool = FunctionTool::new(
            "transfer",
            "Moves money.",
            move |_: ToolContext<()>, t: Transfer| {
                r.fetch_add(1, Ordering::SeqCst);
                async move { Ok::<_, String>(format!("moved {}", t.amount)) }
            },
        )
        .unwrap()
        .require_approval(true)
        .input_guardrail(ToolInputGuardrailFn::new("limit", move |_ctx, args| {
            o.lock().unwrap().push(format!("guard {}", args["amount"]));
            async move {
                if args["amount"].as_u64().unwrap_or(0) > 1000 {
                    ToolGuardrailOutput::reject_with_info(
                        "Transfers over 1000 need a branch visit.",
                        json!({"limit": 1000}),
                    )
                } else {
                    ToolGuardrailOutput::allow()
                }
            }
        }));
        let agent = RealtimeAgent::<()>::builder("Bank")
            .tool(tool)
            .build()
            .unwrap();
        let mut h = start(script(5000), agent, config(d), ()).await;
        h.session.send_message("send 5000").await.unwrap();
        let tripped = h
            .until("tool_guardrail_tripped", |e| {
                matches!(e, SessionEvent::ToolGuardrailTripped { .. })
            })
            .await;
        let SessionEvent::ToolGuardrailTripped {
            tool,
            guardrail,
            stage,
            message,
            info,
            ..
        } = tripped
        else {
            unreachable!()
        };
        assert_eq!(
            (tool.as_str(), guardrail.as_str(), stage),
            ("transfer", "limit", ToolGuardrailStage::Input)
        );
        assert_eq!(message, "Transfers over 1000 need a branch visit.");
        assert_eq!(info, json!({"limit": 1000}));
        h.turns(2).await;
        // Never asked for approval, never ran; the model got the message and answered.
        assert_eq!(h.count("tool_approval_requested"), 0, "{d:?}");
        assert_eq!(runs.load(Ordering::SeqCst), 0);
        assert_eq!(
            outputs_sent(&h),
            ["Transfers over 1000 need a branch visit."]
        );
        assert_eq!(order.lock().unwrap().as_slice(), ["guard 5000"]);
        h.finish().await;
    }
}

#[tokio::test]
async fn an_allowed_call_is_asked_for_approval_after_its_input_guardrail() {
    let order = Arc::new(Mutex::new(Vec::<String>::new()));
    let o = order.clone();
    let tool =
        FunctionTool::new(
            "transfer",
            "Moves money.",
            |_: ToolContext<()>, t: Transfer| async move {
                Ok::<_, String>(format!("moved {}", t.amount))
            },
        )
        .unwrap()
        .require_approval(true)
        .input_guardrail(ToolInputGuardrailFn::new("limit", move |_ctx, _args| {
            o.lock().unwrap().push("guard".to_owned());
            async { ToolGuardrailOutput::allow() }
        }));
    let agent = RealtimeAgent::<()>::builder("Bank")
        .tool(tool)
        .build()
        .unwrap();
    let mut h = start(script(10), agent, config(Dialect::Ga), ()).await;
    h.session.send_message("send 10").await.unwrap();
    let asked = h
        .until("approval", |e| {
            matches!(e, SessionEvent::ToolApprovalRequested { .. })
        })
        .await;
    assert_eq!(order.lock().unwrap().as_slice(), ["guard"]);
    let SessionEvent::ToolApprovalRequested { call_id, .. } = asked else {
        unreachable!()
    };
    h.session.approve_tool_call(call_id, false).await.unwrap();
    h.turns(2).await;
    assert_eq!(outputs_sent(&h), ["moved 10"]);
    assert_eq!(h.count("tool_guardrail_tripped"), 0);
    h.finish().await;
}

#[tokio::test]
async fn an_output_guardrail_replaces_what_the_model_gets() {
    for d in [Dialect::Ga, Dialect::Beta] {
        let runs = Arc::new(AtomicUsize::new(0));
        let r = runs.clone();
        let tool = FunctionTool::new(
            "transfer",
            "Moves money.",
            move |_: ToolContext<()>, t: Transfer| {
                r.fetch_add(1, Ordering::SeqCst);
                async move { Ok::<_, String>(format!("moved {} from account 12345678", t.amount)) }
            },
        )
        .unwrap()
        .output_guardrail(ToolOutputGuardrailFn::new(
            "no_account_numbers",
            |_ctx, args, output: String| async move {
                assert_eq!(args["amount"], 10);
                if output.chars().filter(char::is_ascii_digit).count() >= 8 {
                    ToolGuardrailOutput::reject("The transfer is done; details are withheld.")
                } else {
                    ToolGuardrailOutput::allow()
                }
            },
        ));
        let agent = RealtimeAgent::<()>::builder("Bank")
            .tool(tool)
            .build()
            .unwrap();
        let mut h = start(script(10), agent, config(d), ()).await;
        h.session.send_message("send 10").await.unwrap();
        h.turns(2).await;
        assert_eq!(runs.load(Ordering::SeqCst), 1, "{d:?}");
        assert_eq!(
            outputs_sent(&h),
            ["The transfer is done; details are withheld."]
        );
        let tripped: Vec<_> = h
            .events
            .iter()
            .filter_map(|e| match e {
                SessionEvent::ToolGuardrailTripped {
                    stage, guardrail, ..
                } => Some((*stage, guardrail.clone())),
                _ => None,
            })
            .collect();
        assert_eq!(
            tripped,
            [(ToolGuardrailStage::Output, "no_account_numbers".to_owned())]
        );
        let ends: Vec<_> = h
            .events
            .iter()
            .filter_map(|e| match e {
                SessionEvent::ToolEnd {
                    output, is_error, ..
                } => Some((output.clone(), *is_error)),
                _ => None,
            })
            .collect();
        assert_eq!(
            ends,
            [(
                "The transfer is done; details are withheld.".to_owned(),
                true
            )]
        );
        h.finish().await;
    }
}

#[derive(serde::Serialize)]
struct Receipt {
    amount: u32,
    status: &'static str,
}

#[tokio::test]
async fn a_background_result_is_sent_without_a_new_response() {
    for d in [Dialect::Ga, Dialect::Beta] {
        let tool = FunctionTool::with_output(
            "transfer",
            "Starts a transfer; the result comes later.",
            |_: ToolContext<()>, t: Transfer| async move {
                Ok::<_, String>(ToolOutput::background(Receipt {
                    amount: t.amount,
                    status: "queued",
                }))
            },
        )
        .unwrap();
        let agent = RealtimeAgent::<()>::builder("Bank")
            .tool(tool)
            .build()
            .unwrap();
        let mut h = start(script(7), agent, config(d), ()).await;
        h.session.send_message("send 7").await.unwrap();
        h.until("tool_end", |e| matches!(e, SessionEvent::ToolEnd { .. }))
            .await;
        // The next user turn: its response is the second and last one.
        h.session.send_message("anything else?").await.unwrap();
        h.turns(2).await;
        let received: Vec<serde_json::Value> = h.conn.received().iter().map(|e| e.json()).collect();
        let at =
            |pred: &dyn Fn(&serde_json::Value) -> bool| received.iter().position(pred).unwrap();
        let output = at(&|v| v["item"]["type"] == "function_call_output");
        let next = at(&|v| v["item"]["content"][0]["text"] == "anything else?");
        assert_eq!(
            received[output]["item"]["output"], r#"{"amount":7,"status":"queued"}"#,
            "structured outputs are JSON"
        );
        let creates: Vec<usize> = received
            .iter()
            .enumerate()
            .filter(|(_, v)| v["type"] == "response.create")
            .map(|(i, _)| i)
            .collect();
        // One before the call (the user's first turn), one after the second message; none
        // for the background output.
        assert_eq!(creates.len(), 2, "{d:?}: {creates:?}");
        assert!(
            creates[0] < output && creates[1] > next,
            "{d:?}: {creates:?}"
        );
        h.finish().await;
    }
}

#[tokio::test]
async fn a_panicking_input_guardrail_fails_closed() {
    let runs = Arc::new(AtomicUsize::new(0));
    let r = runs.clone();
    let tool = FunctionTool::new(
        "transfer",
        "Moves money.",
        move |_: ToolContext<()>, _: Transfer| {
            r.fetch_add(1, Ordering::SeqCst);
            async { Ok::<_, String>("moved".to_owned()) }
        },
    )
    .unwrap()
    .input_guardrail(ToolInputGuardrailFn::new("broken", |_ctx, _args| async {
        panic!("the guardrail's backend is down")
    }));
    let agent = RealtimeAgent::<()>::builder("Bank")
        .tool(tool)
        .build()
        .unwrap();
    let mut h = start(script(10), agent, config(Dialect::Ga), ()).await;
    h.session.send_message("send 10").await.unwrap();
    h.turns(2).await;
    assert_eq!(runs.load(Ordering::SeqCst), 0);
    assert_eq!(
        outputs_sent(&h),
        ["The call to `transfer` could not be checked, so it was not run."]
    );
    assert!(h.count("error") >= 1);
    h.finish().await;
}
