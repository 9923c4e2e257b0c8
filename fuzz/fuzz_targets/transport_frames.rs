//! Arbitrary bytes from a server after a valid WebSocket handshake, read through
//! `RealtimeConnection`: frames of any shape, truncated frames, bad UTF-8, control frames,
//! huge lengths. The stream must end (an error item then `None`) without panicking or hanging.
//! Over an in-memory pipe (`ConnectionBuilder::connect_over`): no socket per input, so the
//! target runs for hours without exhausting ports.
#![no_main]

use futures_util::StreamExt;
use libfuzzer_sys::fuzz_target;
use realtime_protocol::Ga;
use realtime_transport::{Auth, RealtimeConnection};
use std::sync::OnceLock;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

fn runtime() -> &'static tokio::runtime::Runtime {
    static RT: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    RT.get_or_init(|| tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime"))
}

async fn serve(mut s: tokio::io::DuplexStream, payload: Vec<u8>) {
    let mut req = Vec::new();
    let mut buf = [0u8; 1024];
    while !req.windows(4).any(|w| w == b"\r\n\r\n") {
        match s.read(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(n) => req.extend_from_slice(&buf[..n]),
        }
    }
    let text = String::from_utf8_lossy(&req);
    let key = text
        .lines()
        .find_map(|l| l.strip_prefix("sec-websocket-key: ").or_else(|| l.strip_prefix("Sec-WebSocket-Key: ")))
        .unwrap_or_default()
        .trim()
        .to_owned();
    let accept = tokio_tungstenite::tungstenite::handshake::derive_accept_key(key.as_bytes());
    let head = format!("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: {accept}\r\n\r\n");
    let _ = s.write_all(head.as_bytes()).await;
    let _ = s.write_all(&payload).await;
    let _ = s.shutdown().await;
}

fuzz_target!(|data: &[u8]| {
    runtime().block_on(async {
        let (client, far) = tokio::io::duplex(64 << 10);
        let server = tokio::spawn(serve(far, data.to_vec()));
        let conn = RealtimeConnection::<Ga>::builder()
            .endpoint("ws://fuzz.invalid/v1/realtime")
            .auth(Auth::None)
            .max_message_size(1 << 20)
            .keep_alive(None, Duration::from_secs(1))
            .connect_over(client)
            .await
            .expect("the handshake is valid");
        let (_tx, mut rx) = conn.split();
        let drained = tokio::time::timeout(Duration::from_secs(5), async {
            let mut n = 0usize;
            while rx.next().await.is_some() {
                n += 1;
                assert!(n <= data.len() + 2, "more items than frames could hold");
            }
        })
        .await;
        assert!(drained.is_ok(), "the stream did not end");
        let _ = server.await;
    });
});
