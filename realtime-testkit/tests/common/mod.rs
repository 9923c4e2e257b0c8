#![allow(dead_code)] // each test file uses part of it
//! A plain tokio-tungstenite client of the fake server, for the testkit's own tests. Every wait
//! has a timeout; every frame the server sends must parse as a known event of its dialect.

use futures_util::{SinkExt, StreamExt};
use realtime_protocol::{beta, ga, Dialect};
use realtime_testkit::{ConnectionHandle, FakeRealtimeServer, FakeServerConfig};
use serde_json::{json, Value};
use std::time::Duration;
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::{self, Message};
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

pub(crate) const WAIT: Duration = Duration::from_secs(5);

pub(crate) struct Client {
    pub ws: WebSocketStream<MaybeTlsStream<TcpStream>>,
    pub dialect: Dialect,
    /// Check that every frame is a known event of the dialect.
    pub strict: bool,
}

pub(crate) async fn connect_with(
    server: &FakeRealtimeServer,
    dialect: Dialect,
    key: Option<&str>,
) -> Result<Client, tungstenite::Error> {
    let mut req = server.url().into_client_request().unwrap();
    if let Some(k) = key {
        req.headers_mut()
            .insert("Authorization", format!("Bearer {k}").parse().unwrap());
    }
    if dialect == Dialect::Beta {
        req.headers_mut()
            .insert("OpenAI-Beta", "realtime=v1".parse().unwrap());
    }
    let (ws, _) = tokio::time::timeout(WAIT, tokio_tungstenite::connect_async(req))
        .await
        .expect("connect timed out")?;
    Ok(Client {
        ws,
        dialect,
        strict: true,
    })
}

pub(crate) async fn start(
    config: FakeServerConfig,
    dialect: Dialect,
) -> (FakeRealtimeServer, Client, ConnectionHandle) {
    let server = FakeRealtimeServer::start(config).await.unwrap();
    let mut client = connect_with(&server, dialect, Some("sk-test-key-123456"))
        .await
        .unwrap();
    let conn = server.next_connection(WAIT).await.expect("no connection");
    let first = client.recv().await;
    assert_eq!(first["type"], "session.created");
    (server, client, conn)
}

impl Client {
    pub(crate) async fn send(&mut self, v: Value) {
        self.ws.send(Message::text(v.to_string())).await.unwrap();
    }

    pub(crate) async fn send_raw(&mut self, s: &str) {
        self.ws.send(Message::text(s.to_owned())).await.unwrap();
    }

    pub(crate) async fn frame(&mut self) -> Option<Result<Message, tungstenite::Error>> {
        tokio::time::timeout(WAIT, self.ws.next())
            .await
            .expect("timed out waiting for a frame")
    }

    /// The next text frame as JSON, checked against the dialect's typed events.
    pub(crate) async fn recv(&mut self) -> Value {
        loop {
            match self.frame().await {
                Some(Ok(Message::Text(t))) => {
                    if self.strict {
                        let known = match self.dialect {
                            Dialect::Beta => {
                                beta::ServerEvent::from_json(&t).map(|e| !e.is_unknown())
                            }
                            _ => ga::ServerEvent::from_json(&t).map(|e| !e.is_unknown()),
                        };
                        match known {
                            Ok(true) => {}
                            other => panic!(
                                "server sent a frame its dialect does not accept: {other:?}\n{t}"
                            ),
                        }
                    }
                    return serde_json::from_str(&t).unwrap();
                }
                Some(Ok(_)) => continue,
                other => panic!("connection ended: {other:?}"),
            }
        }
    }

    /// The next text frame as sent.
    pub(crate) async fn recv_text(&mut self) -> String {
        loop {
            match self.frame().await {
                Some(Ok(Message::Text(t))) => return t.as_str().to_owned(),
                Some(Ok(_)) => continue,
                other => panic!("connection ended: {other:?}"),
            }
        }
    }

    /// Frames up to and including the first of type `until`.
    pub(crate) async fn recv_until(&mut self, until: &str) -> Vec<Value> {
        let mut out = Vec::new();
        for _ in 0..10_000 {
            let v = self.recv().await;
            let done = v["type"] == until;
            out.push(v);
            if done {
                return out;
            }
        }
        panic!("no {until} in 10000 frames");
    }
}

pub(crate) fn types(frames: &[Value]) -> Vec<String> {
    frames
        .iter()
        .map(|f| f["type"].as_str().unwrap_or("?").to_owned())
        .collect()
}

pub(crate) fn user_text(text: &str) -> Value {
    json!({"type": "conversation.item.create", "item": {"type": "message", "role": "user", "content": [{"type": "input_text", "text": text}]}})
}

pub(crate) fn both() -> [Dialect; 2] {
    [Dialect::Ga, Dialect::Beta]
}

/// A bare HTTP/1.1 exchange on loopback: sends `method path` with an optional bearer key and
/// JSON body, returns the status and the body as JSON (`Null` when empty).
pub(crate) async fn http(
    addr: std::net::SocketAddr,
    method: &str,
    path: &str,
    key: Option<&str>,
    body: Option<&Value>,
) -> (u16, Value) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let body = body.map(Value::to_string).unwrap_or_default();
    let auth = key
        .map(|k| format!("authorization: Bearer {k}\r\n"))
        .unwrap_or_default();
    let req = format!(
        "{method} {path} HTTP/1.1\r\nhost: {addr}\r\n{auth}content-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
        body.len()
    );
    let exchange = async {
        let mut s = TcpStream::connect(addr).await.unwrap();
        s.write_all(req.as_bytes()).await.unwrap();
        let mut out = Vec::new();
        s.read_to_end(&mut out).await.unwrap();
        out
    };
    let out = tokio::time::timeout(WAIT, exchange)
        .await
        .expect("HTTP timed out");
    let text = String::from_utf8(out).unwrap();
    let (head, body) = text.split_once("\r\n\r\n").expect("an HTTP answer");
    let status = head.split(' ').nth(1).unwrap().parse().unwrap();
    let json = if body.is_empty() {
        Value::Null
    } else {
        serde_json::from_str(body).unwrap()
    };
    (status, json)
}
