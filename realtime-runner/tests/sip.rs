//! SIP calls against the fake server's REST endpoints: a signed `realtime.call.incoming`
//! webhook is verified, the call is accepted with the agent's settings and a session attaches
//! to it; calls are rejected, referred and hung up; forged webhooks are refused.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::WAIT;
use realtime_agent::{FunctionTool, RealtimeAgent, ToolContext};
use realtime_protocol::Dialect;
use realtime_runner::{
    RealtimeRunner, RunConfig, RunnerError, SessionEvent, SipCalls, WebhookError, WebhookVerifier,
};
use realtime_testkit::{CallAction, FakeRealtimeServer, FakeServerConfig, ResponsePlan, Scripted};
use realtime_transport::{Auth, RestClient, TransportError};
use schemars::JsonSchema;
use serde::Deserialize;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

const SECRET: &str = "whsec_c2lwLXRlc3Qtd2ViaG9vay1zZWNyZXQtMzJieXRlcyE=";

/// A webhook receiver: the first request's three `webhook-*` headers and body; answers 200.
async fn receive(listener: &TcpListener) -> ([Option<String>; 3], String) {
    let (mut s, _) = tokio::time::timeout(WAIT, listener.accept())
        .await
        .unwrap()
        .unwrap();
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        let n = tokio::time::timeout(WAIT, s.read(&mut chunk))
            .await
            .unwrap()
            .unwrap();
        assert!(n > 0, "the sender closed early");
        buf.extend_from_slice(&chunk[..n]);
        let text = String::from_utf8_lossy(&buf).into_owned();
        let Some((head, body)) = text.split_once("\r\n\r\n") else {
            continue;
        };
        let header = |name: &str| {
            head.lines()
                .filter_map(|l| l.split_once(':'))
                .find(|(k, _)| k.trim().eq_ignore_ascii_case(name))
                .map(|(_, v)| v.trim().to_owned())
        };
        let len: usize = header("content-length").unwrap().parse().unwrap();
        if body.len() >= len {
            s.write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n")
                .await
                .unwrap();
            let h = [
                header("webhook-id"),
                header("webhook-timestamp"),
                header("webhook-signature"),
            ];
            return (h, body[..len].to_owned());
        }
    }
}

#[derive(Deserialize, JsonSchema)]
struct Args {}

fn agent() -> RealtimeAgent<()> {
    let tool = FunctionTool::new(
        "lookup",
        "Looks up an account.",
        |_c: ToolContext<()>, _a: Args| async move { Ok::<_, std::io::Error>("ok") },
    )
    .unwrap();
    RealtimeAgent::builder("Operator")
        .instructions("You answer phone calls.")
        .tool(tool)
        .build()
        .unwrap()
}

fn model(server: &FakeRealtimeServer, dialect: Dialect) -> realtime_runner::OpenAIRealtimeModel {
    common::model(server, dialect).auth(Auth::api_key("sk-sip-test-0001"))
}

fn calls(server: &FakeRealtimeServer) -> SipCalls {
    SipCalls::new(
        RestClient::new()
            .base_url(server.rest_url())
            .auth(Auth::api_key("sk-sip-test-0001")),
    )
}

#[tokio::test]
async fn an_incoming_call_is_verified_accepted_attached_and_referred() {
    let server = FakeRealtimeServer::start(
        FakeServerConfig::default()
            .with_responder(Scripted::new([ResponsePlan::text("Hello caller.")])),
    )
    .await
    .unwrap();
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/webhooks/openai", listener.local_addr().unwrap());
    let sip = vec![(
        "From".to_owned(),
        "sip:+15550001111@carrier.example".to_owned(),
    )];
    let (call, ([id, ts, sig], body)) =
        tokio::join!(server.incoming_call(&url, SECRET, &sip), receive(&listener));
    let call = call.unwrap();

    let verifier = WebhookVerifier::new(SECRET);
    let incoming = verifier
        .verify(id.as_deref(), ts.as_deref(), sig.as_deref(), &body)
        .unwrap();
    assert_eq!(incoming.call_id, call.call_id());
    assert_eq!(
        incoming.sip_header("from"),
        Some("sip:+15550001111@carrier.example")
    );
    // A tampered body does not verify.
    let forged = body.replace(call.call_id(), "rtc_forged");
    assert_eq!(
        verifier.verify(id.as_deref(), ts.as_deref(), sig.as_deref(), &forged),
        Err(WebhookError::BadSignature)
    );

    let runner = RealtimeRunner::builder(agent())
        .config(RunConfig::default())
        .model(model(&server, Dialect::Ga))
        .build();
    let sip_calls = calls(&server);
    let session = runner
        .accept_sip_call(&sip_calls, &incoming.call_id, ())
        .await
        .unwrap();
    let actions = call.wait_actions(1, WAIT).await;
    let CallAction::Accepted { session: accepted } = &actions[0] else {
        panic!("{actions:?}")
    };
    assert_eq!(accepted["type"], "realtime");
    assert_eq!(accepted["instructions"], "You answer phone calls.");
    assert_eq!(accepted["tools"][0]["name"], "lookup");
    // The session is attached to the call and talks.
    let conn = server.next_connection(WAIT).await.unwrap();
    assert_eq!(conn.handshake().call_id.as_deref(), Some(call.call_id()));
    session.send_message("Hi").await.unwrap();
    loop {
        match tokio::time::timeout(WAIT, session.next_event())
            .await
            .unwrap()
        {
            Some(SessionEvent::AgentEnd { .. }) => break,
            Some(_) => {}
            None => panic!("the session ended"),
        }
    }
    // Transfer: the call ends and the attached socket closes.
    sip_calls
        .refer(&incoming.call_id, "tel:+15550002222")
        .await
        .unwrap();
    let actions = call.wait_actions(2, WAIT).await;
    assert_eq!(
        actions[1],
        CallAction::Referred {
            target_uri: "tel:+15550002222".into()
        }
    );
    assert!(conn.wait_closed(WAIT).await);
    session.close().await;
    // A second accept of the same call is refused with the service's status.
    let again = runner
        .accept_sip_call(&sip_calls, &incoming.call_id, ())
        .await;
    assert!(
        matches!(
            again,
            Err(RunnerError::Transport(TransportError::Rejected {
                status: 409,
                ..
            }))
        ),
        "{again:?}"
    );
    server.shutdown().await;
}

#[tokio::test]
async fn calls_are_rejected_or_hung_up_and_unknown_calls_refused() {
    let server = FakeRealtimeServer::start(FakeServerConfig::default())
        .await
        .unwrap();
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    let sip_calls = calls(&server);

    let (call, _) = tokio::join!(server.incoming_call(&url, SECRET, &[]), receive(&listener));
    let call = call.unwrap();
    sip_calls.reject(call.call_id(), Some(486)).await.unwrap();
    assert_eq!(
        call.wait_actions(1, WAIT).await,
        [CallAction::Rejected { status_code: 486 }]
    );

    let (call, _) = tokio::join!(server.incoming_call(&url, SECRET, &[]), receive(&listener));
    let call = call.unwrap();
    let runner = RealtimeRunner::builder(agent())
        .model(model(&server, Dialect::Ga))
        .build();
    let session = runner
        .accept_sip_call(&sip_calls, call.call_id(), ())
        .await
        .unwrap();
    sip_calls.hangup(call.call_id()).await.unwrap();
    assert_eq!(call.wait_actions(2, WAIT).await[1], CallAction::HungUp);
    session.close().await;

    let unknown = sip_calls.hangup("rtc_nope").await;
    assert!(
        matches!(unknown, Err(TransportError::Rejected { status: 404, code: Some(ref c), .. }) if c == "call_not_found"),
        "{unknown:?}"
    );
    let beta = RealtimeRunner::builder(agent())
        .config(RunConfig::default().with_dialect(Dialect::Beta))
        .model(model(&server, Dialect::Beta))
        .build();
    assert!(matches!(
        beta.accept_sip_call(&sip_calls, "rtc_x", ()).await,
        Err(RunnerError::Unsupported { .. })
    ));
    server.shutdown().await;
}

/// A model told to attach to a call (`OpenAIRealtimeModel::sip_call_id`) keeps the rest of
/// its configuration: the endpoint, the dialect and the key.
#[tokio::test]
async fn a_model_attached_to_a_call_keeps_its_endpoint_dialect_and_key() {
    let server = FakeRealtimeServer::start(
        FakeServerConfig::default()
            .with_auth(realtime_testkit::Auth::keys(["sk-sip-test-0001"]))
            .with_responder(Scripted::new([ResponsePlan::text("Hello caller.")])),
    )
    .await
    .unwrap();
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    let (call, _) = tokio::join!(server.incoming_call(&url, SECRET, &[]), receive(&listener));
    let call = call.unwrap();
    calls(&server)
        .accept(call.call_id(), &realtime_runner::SessionSettings::default())
        .await
        .unwrap();
    let runner = RealtimeRunner::builder(agent())
        .model(model(&server, Dialect::Ga).sip_call_id(call.call_id()))
        .build();
    let session = tokio::time::timeout(WAIT, runner.run(()))
        .await
        .unwrap()
        .unwrap();
    let conn = server.next_connection(WAIT).await.unwrap();
    let hs = conn.handshake();
    assert_eq!(hs.call_id.as_deref(), Some(call.call_id()));
    assert_eq!(hs.dialect, Dialect::Ga);
    assert!(hs.header("openai-beta").is_none());
    assert!(
        hs.authenticated_with
            .as_deref()
            .is_some_and(|k| k.ends_with("0001")),
        "{:?}",
        hs.authenticated_with
    );
    session.send_message("Hi").await.unwrap();
    loop {
        match tokio::time::timeout(WAIT, session.next_event())
            .await
            .unwrap()
        {
            Some(SessionEvent::AgentEnd { .. }) => break,
            Some(_) => {}
            None => panic!("the session ended"),
        }
    }
    session.close().await;
    server.shutdown().await;
}
