//! The `phone_agent` example's app, served as the example serves it (axum, offline fake
//! model): two callers at the same time each hear a spoken answer of at least 2 s and can
//! talk over it; the TwiML route streams calls to `/media-stream` with the caller's number.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[allow(dead_code)]
#[path = "../examples/phone_agent/app.rs"]
mod app;
mod common;

use common::*;
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

async fn one_call(url: String, from: &'static str) -> Caller {
    let mut caller = Caller::dial(&url, json!({"From": from})).await;
    caller.listen(300).await;
    caller.talk(&speech(900), |_| false).await;
    caller
        .talk(&silence(10_000), |c| c.played_ms >= 1_000)
        .await;
    assert!(caller.played_ms >= 1_000, "{from}: no spoken answer");
    caller
        .talk(&speech(800), |c| !c.cleared_at.is_empty())
        .await;
    caller.listen(100).await;
    assert_eq!(
        caller.cleared_at.len(),
        1,
        "{from}: talking over did not clear"
    );
    caller.stop().await;
    assert_eq!(caller.closed().await, Some(1000));
    caller
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_example_serves_two_calls_at_once_offline() {
    let fake = app::fake_server().await.unwrap();
    let runner = app::runner(app::model(Some(fake.base_url()))).unwrap();
    let router = app::app(runner).unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let server = tokio::spawn(async move { axum::serve(listener, router).await });

    // Twilio's call webhook gets TwiML that streams the call here, with the caller's number.
    let body = "CallSid=CA9&From=%2B15550001111&To=%2B15550002222&Other=x";
    let req = format!("POST /twiml HTTP/1.1\r\nhost: {addr}\r\ncontent-type: application/x-www-form-urlencoded\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}", body.len());
    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
    s.write_all(req.as_bytes()).await.unwrap();
    let mut answer = String::new();
    s.read_to_string(&mut answer).await.unwrap();
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    assert!(
        answer.contains(&format!(r#"<Stream url="ws://{addr}/media-stream">"#)),
        "{answer}"
    );
    assert!(
        answer.contains(r#"<Parameter name="From" value="+15550001111"/>"#),
        "{answer}"
    );
    assert!(!answer.contains("Other"), "{answer}");

    let url = format!("ws://{addr}/media-stream");
    let (a, b) = tokio::join!(
        one_call(url.clone(), "+1555000A"),
        one_call(url, "+1555000B")
    );
    assert!(a.received_bytes >= 8_000 && b.received_bytes >= 8_000);
    assert_eq!(fake.connections().len(), 2);
    for conn in fake.connections() {
        assert!(conn.wait_closed(WAIT).await);
        // Every client event was one the service accepts.
        let refused: Vec<String> = conn
            .received()
            .iter()
            .filter_map(|e| e.error().map(|x| format!("{}: {x}", e.event_type())))
            .collect();
        assert!(refused.is_empty(), "{refused:?}");
    }
    server.abort();
    fake.shutdown().await;
}
