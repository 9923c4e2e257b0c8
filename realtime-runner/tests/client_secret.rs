//! Ephemeral keys minted with the agent's settings, against the fake server's REST endpoint:
//! the key opens a session configured like the agent's, and the API key stays on the server.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use realtime_agent::RealtimeAgent;
use realtime_protocol::Dialect;
use realtime_runner::{RealtimeRunner, RunConfig, RunnerError};
use realtime_testkit::{FakeRealtimeServer, FakeServerConfig};
use realtime_transport::{ApiKey, Auth, RestClient, TransportError};
use std::time::Duration;

#[tokio::test]
async fn a_minted_key_opens_a_session_with_the_agents_settings() {
    let server = FakeRealtimeServer::start(FakeServerConfig::default())
        .await
        .unwrap();
    let agent = RealtimeAgent::<()>::builder("Concierge")
        .instructions("Greet the guest.")
        .voice("cedar")
        .build()
        .unwrap();
    let runner = RealtimeRunner::builder(agent)
        .model(common::model(&server, Dialect::Ga))
        .build();
    let rest = RestClient::new()
        .base_url(server.rest_url())
        .auth(Auth::api_key("sk-server-side-0001"));
    let secret = runner
        .create_client_secret(&rest, (), Some(Duration::from_secs(60)))
        .await
        .unwrap();
    assert!(secret.value.starts_with("ek_"));
    assert!(!format!("{secret:?}").contains(&secret.value));
    assert_eq!(secret.expires_at, 1_767_225_600 + 60);
    assert_eq!(secret.session["instructions"], "Greet the guest.");
    assert_eq!(secret.session["audio"]["output"]["voice"], "cedar");

    // A client with only the ephemeral key gets that session.
    let conn = realtime_transport::RealtimeConnection::<realtime_protocol::Ga>::builder()
        .endpoint(server.base_url())
        .auth(Auth::ClientSecret(ApiKey::new(secret.value.clone())))
        .connect()
        .await
        .unwrap();
    let fake = server.next_connection(common::WAIT).await.unwrap();
    assert_eq!(fake.session()["instructions"], "Greet the guest.");
    drop(conn);

    // A wrong API key is refused with the service's status.
    let bad = RestClient::new().base_url(server.rest_url());
    let refused = runner
        .create_client_secret(&bad.auth(Auth::None), (), None)
        .await;
    assert!(
        matches!(
            refused,
            Err(RunnerError::Transport(TransportError::Rejected {
                status: 401,
                ..
            }))
        ),
        "{refused:?}"
    );
    let beta = RealtimeRunner::builder(RealtimeAgent::<()>::builder("B").build().unwrap())
        .config(RunConfig::default().with_dialect(Dialect::Beta))
        .build();
    assert!(matches!(
        beta.create_client_secret(&rest, (), None).await,
        Err(RunnerError::Unsupported { .. })
    ));
    server.shutdown().await;
}
