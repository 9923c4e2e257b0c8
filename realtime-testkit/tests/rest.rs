//! The REST side on the same listener: ephemeral keys that open a WebSocket until they expire,
//! and SIP calls from a signed webhook to accept, refer, reject and hang up.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use base64::Engine as _;
use hmac::{KeyInit, Mac};
use realtime_protocol::Dialect;
use realtime_testkit::{CallAction, FakeRealtimeServer, FakeServerConfig};
use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::{self, Message};

mod common;
use common::*;

const KEY: &str = "sk-test-key-123456";

async fn ws(
    server: &FakeRealtimeServer,
    query: &str,
    key: &str,
) -> Result<Client, tungstenite::Error> {
    let url = format!("{}?{query}", server.base_url());
    let mut req = url.into_client_request().unwrap();
    req.headers_mut()
        .insert("Authorization", format!("Bearer {key}").parse().unwrap());
    let (ws, _) = tokio::time::timeout(WAIT, tokio_tungstenite::connect_async(req))
        .await
        .expect("connect timed out")?;
    Ok(Client {
        ws,
        dialect: Dialect::Ga,
        strict: true,
    })
}

fn status_of(e: tungstenite::Error) -> u16 {
    match e {
        tungstenite::Error::Http(resp) => resp.status().as_u16(),
        other => panic!("expected an HTTP refusal, got {other:?}"),
    }
}

#[tokio::test]
async fn an_ephemeral_key_opens_a_session_with_its_settings_until_it_expires() {
    let server = FakeRealtimeServer::start(FakeServerConfig::default())
        .await
        .unwrap();
    let body = json!({"expires_after": {"anchor": "created_at", "seconds": 120}, "session": {"type": "realtime", "instructions": "Be brief.", "audio": {"output": {"voice": "cedar"}}}});
    let (status, v) = http(
        server.addr(),
        "POST",
        "/v1/realtime/client_secrets",
        Some(KEY),
        Some(&body),
    )
    .await;
    assert_eq!(status, 200, "{v}");
    let ek = v["value"].as_str().unwrap().to_owned();
    assert!(ek.starts_with("ek_"), "{v}");
    assert_eq!(v["expires_at"], 1_767_225_600 + 120);
    assert_eq!(v["session"]["instructions"], "Be brief.");
    assert_eq!(v["session"]["audio"]["output"]["voice"], "cedar");
    assert_eq!(v["session"]["type"], "realtime");

    let mut c = ws(&server, "model=gpt-realtime", &ek).await.unwrap();
    let created = c.recv().await;
    assert_eq!(created["type"], "session.created");
    assert_eq!(created["session"]["instructions"], "Be brief.");
    assert_eq!(created["session"]["audio"]["output"]["voice"], "cedar");
    // The key is recorded redacted.
    let conn = server.next_connection(WAIT).await.unwrap();
    assert!(!format!("{:?}", conn.handshake()).contains(&ek));

    // An ephemeral key cannot mint more keys.
    let (status, v) = http(
        server.addr(),
        "POST",
        "/v1/realtime/client_secrets",
        Some(&ek),
        Some(&body),
    )
    .await;
    assert_eq!(
        (status, v["error"]["code"].as_str()),
        (401, Some("invalid_api_key"))
    );

    server.expire_client_secrets();
    let refused = ws(&server, "model=gpt-realtime", &ek).await.err().unwrap();
    assert_eq!(status_of(refused), 401);
    server.shutdown().await;
}

#[tokio::test]
async fn client_secret_requests_are_checked_like_the_service() {
    let server = FakeRealtimeServer::start(FakeServerConfig::default())
        .await
        .unwrap();
    let cases = [
        (
            json!({"session": {"type": "realtime", "foo": 1}}),
            400,
            "unknown_parameter",
            "session.foo",
        ),
        (
            json!({"expires_after": {"anchor": "created_at", "seconds": 5}}),
            400,
            "integer_below_min_value",
            "expires_after.seconds",
        ),
        (
            json!({"session": {"type": "realtime", "instructions": 7}}),
            400,
            "invalid_type",
            "session.instructions",
        ),
    ];
    for (body, status, code, param) in cases {
        let (s, v) = http(
            server.addr(),
            "POST",
            "/v1/realtime/client_secrets",
            Some(KEY),
            Some(&body),
        )
        .await;
        assert_eq!(
            (s, v["error"]["code"].as_str(), v["error"]["param"].as_str()),
            (status, Some(code), Some(param)),
            "{v}"
        );
        assert_eq!(v["error"]["type"], "invalid_request_error");
    }
    let (s, v) = http(
        server.addr(),
        "POST",
        "/v1/realtime/client_secrets",
        None,
        Some(&json!({})),
    )
    .await;
    assert_eq!(s, 401, "{v}");
    let (s, _) = http(
        server.addr(),
        "GET",
        "/v1/realtime/client_secrets",
        Some(KEY),
        None,
    )
    .await;
    assert_eq!(s, 405);
    let (s, _) = http(server.addr(), "POST", "/v1/nothing", Some(KEY), None).await;
    assert_eq!(s, 404);
    server.shutdown().await;
}

/// Receives one webhook and answers 200; returns its headers and body.
async fn receive_webhook(listener: &TcpListener) -> (Vec<(String, String)>, String) {
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
        buf.extend_from_slice(&chunk[..n]);
        let text = String::from_utf8_lossy(&buf).into_owned();
        if let Some((head, body)) = text.split_once("\r\n\r\n") {
            let headers: Vec<(String, String)> = head
                .lines()
                .skip(1)
                .filter_map(|l| l.split_once(':'))
                .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_owned()))
                .collect();
            let len: usize = headers
                .iter()
                .find(|(k, _)| k == "content-length")
                .unwrap()
                .1
                .parse()
                .unwrap();
            if body.len() >= len {
                s.write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n")
                    .await
                    .unwrap();
                return (headers, body[..len].to_owned());
            }
        }
        assert!(n > 0, "the webhook sender closed early");
    }
}

fn header<'a>(headers: &'a [(String, String)], name: &str) -> &'a str {
    &headers.iter().find(|(k, _)| k == name).unwrap().1
}

#[tokio::test]
async fn a_sip_call_arrives_signed_is_accepted_attached_and_referred() {
    let server = FakeRealtimeServer::start(FakeServerConfig::default())
        .await
        .unwrap();
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hooks/openai", listener.local_addr().unwrap());
    let secret_bytes = b"a webhook secret of 32 bytes....";
    let secret = format!(
        "whsec_{}",
        base64::engine::general_purpose::STANDARD.encode(secret_bytes)
    );
    let sip = vec![("From".to_owned(), "sip:+15550001111@example.com".to_owned())];
    let (call, (headers, body)) = tokio::join!(
        server.incoming_call(&url, &secret, &sip),
        receive_webhook(&listener)
    );
    let call = call.unwrap();
    assert_eq!(call.webhook_status(), 200);
    // The signature verifies with the secret, as a receiver checks it.
    let id = header(&headers, "webhook-id");
    let ts = header(&headers, "webhook-timestamp");
    let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(secret_bytes).unwrap();
    mac.update(format!("{id}.{ts}.{body}").as_bytes());
    let expected = base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes());
    assert_eq!(
        header(&headers, "webhook-signature"),
        format!("v1,{expected}")
    );
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    assert!((ts.parse::<i64>().unwrap() - now).abs() < 60);
    let event: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(event["type"], "realtime.call.incoming");
    assert_eq!(event["data"]["call_id"], call.call_id());
    assert_eq!(
        event["data"]["sip_headers"][0]["value"],
        "sip:+15550001111@example.com"
    );

    let calls = format!("/v1/realtime/calls/{}", call.call_id());
    // Not accepted yet: no socket may attach, and refer is refused.
    let refused = ws(&server, &format!("call_id={}", call.call_id()), KEY)
        .await
        .err()
        .unwrap();
    assert_eq!(status_of(refused), 404);
    let (s, _) = http(
        server.addr(),
        "POST",
        &format!("{calls}/refer"),
        Some(KEY),
        Some(&json!({"target_uri": "tel:+15550002222"})),
    )
    .await;
    assert_eq!(s, 409);
    // A bad accept body is refused and changes nothing.
    let (s, v) = http(
        server.addr(),
        "POST",
        &format!("{calls}/accept"),
        Some(KEY),
        Some(&json!({"type": "realtime", "voice": "x"})),
    )
    .await;
    assert_eq!((s, v["error"]["param"].as_str()), (400, Some("voice")));
    let session = json!({"type": "realtime", "instructions": "You answer the phone.", "audio": {"input": {"format": {"type": "audio/pcmu"}}, "output": {"format": {"type": "audio/pcmu"}}}});
    let (s, v) = http(
        server.addr(),
        "POST",
        &format!("{calls}/accept"),
        Some(KEY),
        Some(&session),
    )
    .await;
    assert_eq!(s, 200, "{v}");
    let (s, _) = http(
        server.addr(),
        "POST",
        &format!("{calls}/accept"),
        Some(KEY),
        Some(&session),
    )
    .await;
    assert_eq!(s, 409);

    let mut c = ws(&server, &format!("call_id={}", call.call_id()), KEY)
        .await
        .unwrap();
    let created = c.recv().await;
    assert_eq!(created["session"]["instructions"], "You answer the phone.");
    assert_eq!(
        created["session"]["audio"]["input"]["format"]["type"],
        "audio/pcmu"
    );
    let conn = server.next_connection(WAIT).await.unwrap();
    assert_eq!(conn.handshake().call_id.as_deref(), Some(call.call_id()));

    let (s, _) = http(
        server.addr(),
        "POST",
        &format!("{calls}/refer"),
        Some(KEY),
        Some(&json!({"target_uri": "tel:+15550002222"})),
    )
    .await;
    assert_eq!(s, 200);
    // The attached socket is closed normally.
    loop {
        match c.frame().await {
            Some(Ok(Message::Close(frame))) => {
                assert_eq!(frame.map(|f| u16::from(f.code)), Some(1000));
                break;
            }
            Some(Ok(_)) => continue,
            other => panic!("expected a close frame, got {other:?}"),
        }
    }
    let actions = call.wait_actions(2, WAIT).await;
    assert!(
        matches!(&actions[0], CallAction::Accepted { session: s } if s == &session),
        "{actions:?}"
    );
    assert_eq!(
        actions[1],
        CallAction::Referred {
            target_uri: "tel:+15550002222".into()
        }
    );
    // Ended: nothing more.
    let (s, _) = http(
        server.addr(),
        "POST",
        &format!("{calls}/hangup"),
        Some(KEY),
        None,
    )
    .await;
    assert_eq!(s, 409);
    server.shutdown().await;
}

#[tokio::test]
async fn a_sip_call_can_be_rejected_or_hung_up() {
    let server = FakeRealtimeServer::start(FakeServerConfig::default())
        .await
        .unwrap();
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    let (call, _) = tokio::join!(
        server.incoming_call(&url, "plain-secret", &[]),
        receive_webhook(&listener)
    );
    let call = call.unwrap();
    let (s, _) = http(
        server.addr(),
        "POST",
        &format!("/v1/realtime/calls/{}/reject", call.call_id()),
        Some(KEY),
        Some(&json!({"status_code": 486})),
    )
    .await;
    assert_eq!(s, 200);
    assert_eq!(
        call.wait_actions(1, WAIT).await,
        [CallAction::Rejected { status_code: 486 }]
    );
    let refused = ws(&server, &format!("call_id={}", call.call_id()), KEY)
        .await
        .err()
        .unwrap();
    assert_eq!(status_of(refused), 404);

    let (call, _) = tokio::join!(
        server.incoming_call(&url, "plain-secret", &[]),
        receive_webhook(&listener)
    );
    let call = call.unwrap();
    let calls = format!("/v1/realtime/calls/{}", call.call_id());
    http(
        server.addr(),
        "POST",
        &format!("{calls}/accept"),
        Some(KEY),
        Some(&json!({"type": "realtime"})),
    )
    .await;
    let (s, _) = http(
        server.addr(),
        "POST",
        &format!("{calls}/hangup"),
        Some(KEY),
        None,
    )
    .await;
    assert_eq!(s, 200);
    assert_eq!(call.wait_actions(2, WAIT).await[1], CallAction::HungUp);
    let (s, v) = http(
        server.addr(),
        "POST",
        "/v1/realtime/calls/rtc_nope/hangup",
        Some(KEY),
        None,
    )
    .await;
    assert_eq!(
        (s, v["error"]["code"].as_str()),
        (404, Some("call_not_found"))
    );
    // An unreachable receiver is an error, not a hang.
    let dead = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let dead_url = format!("http://{}/hook", dead.local_addr().unwrap());
    drop(dead);
    assert!(server.incoming_call(&dead_url, "s", &[]).await.is_err());
    assert!(server
        .incoming_call("https://example.com/hook", "s", &[])
        .await
        .is_err());
    server.shutdown().await;
}
