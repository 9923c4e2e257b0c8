//! Azure OpenAI from the environment. Alone in its test binary: it sets process environment
//! variables, which other tests running beside it would see.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use realtime_agent::RealtimeAgent;
use realtime_protocol::Dialect;
use realtime_runner::{
    Modality, OpenAIRealtimeModel, RealtimeRunner, RunConfig, RunnerError, SessionEvent,
    SessionSettings,
};
use realtime_testkit::{Auth, Echo, FakeRealtimeServer, FakeServerConfig};
use realtime_transport::TransportError;
use tests::WAIT;

const AZURE_KEY: &str = "azure-key-0123456789abcdef";

#[tokio::test]
async fn azure_endpoint_key_and_deployment_come_from_the_environment() {
    let server = FakeRealtimeServer::start(
        FakeServerConfig::default()
            .with_auth(Auth::keys([AZURE_KEY]))
            .with_responder(Echo::text()),
    )
    .await
    .unwrap();
    let runner = |dialect: Dialect| {
        RealtimeRunner::builder(RealtimeAgent::<()>::builder("A").build().unwrap())
            .config(
                RunConfig::default()
                    .with_settings(SessionSettings::default().with_output_modality(Modality::Text)),
            )
            .model(
                OpenAIRealtimeModel::new()
                    .dialect(dialect)
                    .azure_from_env(None),
            )
            .build()
    };
    // Each missing variable is named, the endpoint first.
    std::env::remove_var("AZURE_OPENAI_ENDPOINT");
    std::env::remove_var("AZURE_OPENAI_API_KEY");
    std::env::remove_var("AZURE_OPENAI_DEPLOYMENT");
    std::env::set_var("AZURE_OPENAI_DEPLOYMENT", "my-deployment");
    match runner(Dialect::Ga).run(()).await {
        Err(RunnerError::Transport(TransportError::MissingEnv { name })) => {
            assert_eq!(name, "AZURE_OPENAI_ENDPOINT");
        }
        other => panic!("{:?}", other.err()),
    }
    std::env::set_var(
        "AZURE_OPENAI_ENDPOINT",
        format!("http://{}/", server.addr()),
    );
    match runner(Dialect::Ga).run(()).await {
        Err(RunnerError::Transport(TransportError::MissingEnv { name })) => {
            assert_eq!(name, "AZURE_OPENAI_API_KEY");
        }
        other => panic!("{:?}", other.err()),
    }
    std::env::set_var("AZURE_OPENAI_API_KEY", AZURE_KEY);
    for (dialect, want) in [
        (Dialect::Ga, ("/openai/v1/realtime", "model=my-deployment")),
        (
            Dialect::Beta,
            (
                "/openai/realtime",
                "api-version=2025-04-01-preview&deployment=my-deployment",
            ),
        ),
    ] {
        let session = runner(dialect).run(()).await.unwrap();
        session.send_message("hello Azure").await.unwrap();
        loop {
            match tokio::time::timeout(WAIT, session.next_event())
                .await
                .unwrap()
            {
                Some(SessionEvent::AgentEnd { .. }) => break,
                Some(_) => {}
                None => panic!("ended early"),
            }
        }
        session.close().await;
        let conn = server.next_connection(WAIT).await.unwrap();
        let hs = conn.handshake();
        assert_eq!((hs.path.as_str(), hs.query.as_str()), want);
        assert_eq!(hs.header("api-key"), Some("[redacted]"));
        assert_eq!(hs.header("authorization"), None);
        assert_eq!(hs.dialect, dialect);
    }
    server.shutdown().await;
}
