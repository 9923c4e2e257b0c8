//! Hosted MCP tools (GA) against the fake playing MCP servers: the tool list and its changes,
//! calls with their results and failures, the follow-up response, approvals through the
//! function tools' API, and beta's typed refusal.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use realtime_agent::{HostedMcpTool, McpApproval, RealtimeAgent};
use realtime_protocol::Dialect;
use realtime_runner::{
    McpEvent, OpenAIRealtimeModel, RealtimeRunner, RunConfig, RunnerError, SessionEvent,
};
use realtime_testkit::{
    FakeRealtimeServer, FakeServerConfig, ItemKind, McpServerScript, ResponsePart, ResponsePlan,
    Scripted,
};
use serde_json::{json, Value};
use tests::{start, E2e, WAIT};

const TOKEN: &str = "mcp-token-do-not-log";

fn docs_server() -> McpServerScript {
    McpServerScript::new("docs")
        .tool(
            "search",
            "Searches the manual.",
            json!({"type": "object", "properties": {"q": {"type": "string"}}}),
        )
        .tool("delete_page", "Deletes a page.", json!({"type": "object"}))
        .returns("search", "Page 12: hold the button for ten seconds.")
}

fn docs_tool(approval: McpApproval) -> HostedMcpTool {
    HostedMcpTool::url("docs", "https://mcp.example.com/sse")
        .with_authorization(TOKEN)
        .with_header("X-Team", "support")
        .allow_tools(["search"])
        .require_approval(approval)
}

fn agent(approval: McpApproval) -> RealtimeAgent<()> {
    RealtimeAgent::builder("Support")
        .instructions("Answer from the manual.")
        .hosted_mcp_tool(docs_tool(approval))
        .build()
        .unwrap()
}

fn search() -> ResponsePart {
    ResponsePart::mcp_call("docs", "search", json!({"q": "reset"}))
}

async fn session(script: Vec<ResponsePlan>, approval: McpApproval, config: RunConfig) -> E2e {
    start(
        FakeServerConfig::default()
            .with_mcp_server(docs_server())
            .with_responder(Scripted::new(script)),
        agent(approval),
        config,
        (),
    )
    .await
}

fn mcp(e: &SessionEvent) -> Option<&McpEvent> {
    match e {
        SessionEvent::Mcp(m) => Some(m),
        _ => None,
    }
}

fn sent_json(h: &E2e) -> Vec<Value> {
    h.conn.received().iter().map(|e| e.json()).collect()
}

#[tokio::test]
async fn the_server_s_tools_are_listed_filtered_and_reported_as_they_change() {
    let mut h = session(vec![], McpApproval::Never, RunConfig::default()).await;
    h.until("tools changed", |e| {
        matches!(mcp(e), Some(McpEvent::ToolsChanged { .. }))
    })
    .await;
    let progress: Vec<&McpEvent> = h.events.iter().filter_map(mcp).collect();
    assert!(
        matches!(progress[0], McpEvent::ListToolsInProgress { .. }),
        "{progress:?}"
    );
    assert!(
        matches!(progress[1], McpEvent::ListToolsCompleted { .. }),
        "{progress:?}"
    );
    let McpEvent::ToolsListed {
        server_label,
        tools,
        ..
    } = progress[2]
    else {
        panic!("{progress:?}")
    };
    assert_eq!(server_label, "docs");
    // The service lists only the allowed tools.
    let names: Vec<&str> = tools.iter().map(|t| t.name.as_str()).collect();
    assert_eq!(names, ["search"]);
    let McpEvent::ToolsChanged { tools, .. } = progress[3] else {
        panic!()
    };
    assert_eq!(tools.len(), 1);
    assert_eq!(
        tools[0].description.as_deref(),
        Some("Searches the manual.")
    );

    // On the wire: the tool as the spec shapes it, the token only there.
    let update = sent_json(&h)
        .into_iter()
        .find(|v| v["type"] == "session.update")
        .unwrap();
    let tool = &update["session"]["tools"][0];
    assert_eq!(tool["type"], "mcp");
    assert_eq!(tool["server_url"], "https://mcp.example.com/sse");
    assert_eq!(tool["authorization"], TOKEN);
    assert_eq!(tool["headers"], json!({"X-Team": "support"}));
    assert_eq!(tool["require_approval"], "never");
    assert!(!format!("{:?}", agent(McpApproval::Never)).contains(TOKEN));
    assert_eq!(h.count("error"), 0, "{:?}", h.events);
    h.finish().await;
}

#[tokio::test]
async fn a_call_reports_its_progress_and_result_then_the_model_speaks_about_it() {
    let script = vec![
        ResponsePlan::new([search()]),
        ResponsePlan::text("Hold the button for ten seconds."),
    ];
    let mut h = session(script, McpApproval::Never, RunConfig::default()).await;
    h.session.send_message("How do I reset it?").await.unwrap();
    let done = h
        .until("call completed", |e| {
            matches!(mcp(e), Some(McpEvent::CallCompleted { .. }))
        })
        .await;
    let Some(McpEvent::CallCompleted {
        name,
        arguments,
        output,
        server_label,
        ..
    }) = mcp(&done)
    else {
        unreachable!()
    };
    assert_eq!((server_label.as_str(), name.as_str()), ("docs", "search"));
    assert_eq!(
        serde_json::from_str::<Value>(arguments).unwrap(),
        json!({"q": "reset"})
    );
    assert_eq!(output, "Page 12: hold the button for ten seconds.");
    let seen: Vec<&McpEvent> = h.events.iter().filter_map(mcp).collect();
    assert!(seen
        .iter()
        .any(|m| matches!(m, McpEvent::CallArguments { .. })));
    assert!(seen
        .iter()
        .any(|m| matches!(m, McpEvent::CallInProgress { .. })));
    // The follow-up response: the model speaks about the result.
    h.until(
        "the answer",
        |e| matches!(e, SessionEvent::TextDelta { delta, .. } if delta.contains("Hold")),
    )
    .await;
    h.until("its end", |e| matches!(e, SessionEvent::AgentEnd { .. }))
        .await;
    let creates = h.sent().iter().filter(|t| *t == "response.create").count();
    assert_eq!(creates, 2, "{:?}", h.sent());
    assert_eq!(h.count("error"), 0, "{:?}", h.events);
    h.finish().await;
}

#[tokio::test]
async fn without_auto_response_the_turn_ends_with_the_call() {
    let script = vec![ResponsePlan::new([search()])];
    let config = RunConfig::default().with_mcp_auto_response(false);
    let mut h = session(script, McpApproval::Never, config).await;
    h.session.send_message("How do I reset it?").await.unwrap();
    h.until("call completed", |e| {
        matches!(mcp(e), Some(McpEvent::CallCompleted { .. }))
    })
    .await;
    h.until("the end", |e| matches!(e, SessionEvent::AgentEnd { .. }))
        .await;
    // A marker round trip: nothing else was asked for.
    h.session
        .send_raw(json!({"type": "input_audio_buffer.clear"}).to_string())
        .await
        .unwrap();
    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    let creates = h.sent().iter().filter(|t| *t == "response.create").count();
    assert_eq!(creates, 1, "{:?}", h.sent());
    h.finish().await;
}

#[tokio::test]
async fn a_failed_call_is_reported_with_its_error() {
    let script = vec![
        ResponsePlan::new([ResponsePart::mcp_call(
            "docs",
            "delete_page",
            json!({"page": 3}),
        )]),
        ResponsePlan::text("I could not do that."),
    ];
    let server = McpServerScript::new("docs")
        .tool("delete_page", "Deletes a page.", json!({"type": "object"}))
        .fails("delete_page", "permission denied");
    let agent = RealtimeAgent::builder("Support")
        .hosted_mcp_tool(
            HostedMcpTool::url("docs", "https://mcp.example.com/sse")
                .require_approval(McpApproval::Never),
        )
        .build()
        .unwrap();
    let mut h = start(
        FakeServerConfig::default()
            .with_mcp_server(server)
            .with_responder(Scripted::new(script)),
        agent,
        RunConfig::default(),
        (),
    )
    .await;
    h.session.send_message("Delete page 3").await.unwrap();
    let failed = h
        .until("call failed", |e| {
            matches!(mcp(e), Some(McpEvent::CallFailed { .. }))
        })
        .await;
    let Some(McpEvent::CallFailed { error, name, .. }) = mcp(&failed) else {
        unreachable!()
    };
    assert_eq!(name, "delete_page");
    assert!(
        error.contains("tool_execution_error") && error.contains("permission denied"),
        "{error}"
    );
    h.until(
        "the answer",
        |e| matches!(e, SessionEvent::TextDelta { delta, .. } if delta.contains("could")),
    )
    .await;
    h.finish().await;
}

#[tokio::test]
async fn approval_requests_go_through_the_tool_approval_api() {
    let script = vec![
        ResponsePlan::new([search()]),
        ResponsePlan::new([search()]),
        ResponsePlan::text("Hold the button."),
    ];
    let mut h = session(script, McpApproval::Always, RunConfig::default()).await;
    h.session.send_message("How do I reset it?").await.unwrap();
    let ev = h
        .until("approval", |e| {
            matches!(e, SessionEvent::ToolApprovalRequested { .. })
        })
        .await;
    let SessionEvent::ToolApprovalRequested {
        tool,
        call_id,
        arguments,
        mcp_server,
        agent,
        ..
    } = ev
    else {
        unreachable!()
    };
    assert_eq!((tool.as_str(), agent.as_str()), ("search", "Support"));
    assert_eq!(mcp_server.as_deref(), Some("docs"));
    assert_eq!(
        serde_json::from_str::<Value>(&arguments).unwrap(),
        json!({"q": "reset"})
    );
    // Nothing ran before the answer.
    assert!(!h
        .events
        .iter()
        .any(|e| matches!(mcp(e), Some(McpEvent::CallInProgress { .. }))));
    h.session
        .approve_tool_call(call_id.clone(), false)
        .await
        .unwrap();
    h.until("call completed", |e| {
        matches!(mcp(e), Some(McpEvent::CallCompleted { .. }))
    })
    .await;
    h.until(
        "the answer",
        |e| matches!(e, SessionEvent::TextDelta { delta, .. } if delta.contains("Hold")),
    )
    .await;
    let answer = sent_json(&h)
        .into_iter()
        .find(|v| v["item"]["type"] == "mcp_approval_response")
        .unwrap();
    assert_eq!(answer["item"]["approval_request_id"], call_id.as_str());
    assert_eq!(answer["item"]["approve"], true);
    // The server ran the call under that approval.
    let item = h
        .conn
        .conversation()
        .into_iter()
        .find_map(|i| match i.kind {
            ItemKind::Other(v) if v["type"] == "mcp_call" => Some(v),
            _ => None,
        })
        .unwrap();
    assert_eq!(item["approval_request_id"], call_id.as_str());
    assert_eq!(h.count("error"), 0, "{:?}", h.events);
    h.finish().await;
}

#[tokio::test]
async fn a_rejected_call_never_runs_and_the_model_hears_why() {
    let script = vec![
        ResponsePlan::new([search()]),
        ResponsePlan::new([search(), ResponsePart::text("I may not search the manual.")]),
    ];
    let mut h = session(script, McpApproval::Always, RunConfig::default()).await;
    h.session.send_message("How do I reset it?").await.unwrap();
    let ev = h
        .until("approval", |e| {
            matches!(e, SessionEvent::ToolApprovalRequested { .. })
        })
        .await;
    let SessionEvent::ToolApprovalRequested { call_id, .. } = ev else {
        unreachable!()
    };
    h.session
        .reject_tool_call(call_id, false, Some("Not during a call.".into()))
        .await
        .unwrap();
    h.until(
        "the answer",
        |e| matches!(e, SessionEvent::TextDelta { delta, .. } if delta.contains("may")),
    )
    .await;
    let answer = sent_json(&h)
        .into_iter()
        .find(|v| v["item"]["type"] == "mcp_approval_response")
        .unwrap();
    assert_eq!(answer["item"]["approve"], false);
    assert_eq!(answer["item"]["reason"], "Not during a call.");
    assert!(!h
        .events
        .iter()
        .any(|e| matches!(mcp(e), Some(McpEvent::CallInProgress { .. }))));
    assert_eq!(h.count("error"), 0, "{:?}", h.events);
    h.finish().await;
}

#[tokio::test]
async fn always_approving_a_tool_answers_its_later_requests() {
    let script = vec![
        ResponsePlan::new([search()]),
        ResponsePlan::new([search()]),
        ResponsePlan::text("Done once."),
        ResponsePlan::new([ResponsePart::mcp_call(
            "docs",
            "search",
            json!({"q": "battery"}),
        )]),
        ResponsePlan::new([ResponsePart::mcp_call(
            "docs",
            "search",
            json!({"q": "battery"}),
        )]),
        ResponsePlan::text("Done twice."),
    ];
    let mut h = session(script, McpApproval::Always, RunConfig::default()).await;
    h.session.send_message("How do I reset it?").await.unwrap();
    let ev = h
        .until("approval", |e| {
            matches!(e, SessionEvent::ToolApprovalRequested { .. })
        })
        .await;
    let SessionEvent::ToolApprovalRequested { call_id, .. } = ev else {
        unreachable!()
    };
    h.session.approve_tool_call(call_id, true).await.unwrap();
    h.until(
        "first answer",
        |e| matches!(e, SessionEvent::TextDelta { delta, .. } if delta.contains("once")),
    )
    .await;
    h.session.send_message("And the battery?").await.unwrap();
    h.until(
        "second answer",
        |e| matches!(e, SessionEvent::TextDelta { delta, .. } if delta.contains("twice")),
    )
    .await;
    let asked = h
        .events
        .iter()
        .filter(|e| matches!(e, SessionEvent::ToolApprovalRequested { .. }))
        .count();
    assert_eq!(
        asked, 1,
        "the second request was answered by the remembered choice"
    );
    let answers = sent_json(&h)
        .into_iter()
        .filter(|v| v["item"]["type"] == "mcp_approval_response")
        .count();
    assert_eq!(answers, 2);
    h.finish().await;
}

#[tokio::test]
async fn an_unreachable_server_fails_to_list_and_a_handoff_changes_the_tools() {
    let other = RealtimeAgent::builder("Other").build().unwrap();
    let mut h = start(
        FakeServerConfig::default()
            .with_mcp_server(docs_server())
            .with_mcp_server(McpServerScript::unreachable("crm")),
        RealtimeAgent::builder("Support")
            .hosted_mcp_tool(docs_tool(McpApproval::Never))
            .hosted_mcp_tool(HostedMcpTool::url("crm", "https://crm.example.com/mcp"))
            .build()
            .unwrap(),
        RunConfig::default(),
        (),
    )
    .await;
    h.until("crm fails", |e| {
        matches!(mcp(e), Some(McpEvent::ListToolsFailed { .. }))
    })
    .await;
    // Servers are listed in the order the session names them: docs first.
    assert!(
        h.events.iter().any(
            |e| matches!(mcp(e), Some(McpEvent::ToolsChanged { tools, .. }) if !tools.is_empty())
        ),
        "{:?}",
        h.events
    );
    h.session.update_agent(other).await.unwrap();
    h.until(
        "no tools",
        |e| matches!(mcp(e), Some(McpEvent::ToolsChanged { tools, .. }) if tools.is_empty()),
    )
    .await;
    h.finish().await;
}

#[tokio::test]
async fn the_fake_refuses_an_answer_to_no_request() {
    let mut h = session(vec![], McpApproval::Always, RunConfig::default()).await;
    let bogus = json!({"type": "conversation.item.create", "item": {"type": "mcp_approval_response", "id": "apr_x", "approval_request_id": "mcpr_nope", "approve": true}});
    h.session.send_raw(bogus.to_string()).await.unwrap();
    let e = h
        .until("error", |e| matches!(e, SessionEvent::Error(_)))
        .await;
    let SessionEvent::Error(e) = e else {
        unreachable!()
    };
    assert_eq!(
        e.server.unwrap().param.as_deref(),
        Some("item.approval_request_id")
    );
    h.finish().await;
}

#[tokio::test]
async fn beta_refuses_hosted_mcp_tools_with_a_typed_error() {
    let server = FakeRealtimeServer::start(FakeServerConfig::default())
        .await
        .unwrap();
    let model = OpenAIRealtimeModel::new()
        .dialect(Dialect::Beta)
        .endpoint(server.base_url())
        .auth(realtime_transport::Auth::api_key("sk-test"));
    let runner = RealtimeRunner::builder(agent(McpApproval::Never))
        .config(RunConfig::default().with_dialect(Dialect::Beta))
        .model(model)
        .build();
    let err = tokio::time::timeout(WAIT, runner.run(()))
        .await
        .unwrap()
        .unwrap_err();
    assert!(
        matches!(&err, RunnerError::Unsupported { dialect: "beta", feature } if feature.contains("MCP")),
        "{err:?}"
    );
    server.shutdown().await;
}
