//! The open connection: a cloneable [`EventSender`], an [`EventReceiver`] stream, and the I/O
//! task between them and the socket.

use crate::auth::AuthHeader;
use crate::config::ConnectionBuilder;
use crate::error::{Result, TransportError};
use futures_util::stream::{SplitSink, SplitStream};
use futures_util::{SinkExt, Stream, StreamExt};
use realtime_protocol::Protocol;
use std::fmt;
use std::marker::PhantomData;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;
use tokio::time::Instant;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::error::CapacityError;
use tokio_tungstenite::tungstenite::http::{HeaderName, HeaderValue};
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::protocol::{CloseFrame, WebSocketConfig};
use tokio_tungstenite::tungstenite::{self, Message, Utf8Bytes};
use tokio_tungstenite::{Connector, MaybeTlsStream, WebSocketStream};
use tracing::Instrument;

type Ws<S> = WebSocketStream<MaybeTlsStream<S>>;

/// What the I/O task is asked to write.
enum Outbound {
    Text(String),
    Close {
        code: u16,
        reason: String,
        done: oneshot::Sender<()>,
    },
}

/// What the I/O task hands the receiver.
enum Inbound {
    Text(Utf8Bytes),
    Binary(usize),
    Error(TransportError),
}

/// An open Realtime connection in dialect `P` ([`realtime_protocol::Ga`] or
/// [`realtime_protocol::Beta`]).
///
/// [`split`](Self::split) it into a cloneable [`EventSender`] and an [`EventReceiver`] stream.
/// One task per connection does the socket I/O and keep-alive; it ends when the connection
/// closes or the receiver is dropped.
pub struct RealtimeConnection<P: Protocol> {
    sender: EventSender<P>,
    receiver: EventReceiver<P>,
}

impl<P: Protocol> fmt::Debug for RealtimeConnection<P> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RealtimeConnection")
            .field("dialect", &P::DIALECT)
            .finish_non_exhaustive()
    }
}

impl<P: Protocol> RealtimeConnection<P> {
    /// A builder with the defaults (OpenAI's endpoint, `OPENAI_API_KEY`).
    pub fn builder() -> ConnectionBuilder<P> {
        ConnectionBuilder::default()
    }

    /// The sender and the receiver.
    pub fn split(self) -> (EventSender<P>, EventReceiver<P>) {
        (self.sender, self.receiver)
    }

    /// A sender for this connection.
    pub fn sender(&self) -> EventSender<P> {
        self.sender.clone()
    }

    /// Closes the connection (code 1000) and waits for the I/O task to finish.
    ///
    /// # Errors
    /// Never fails when the connection is already closed; see [`EventSender::close`].
    pub async fn close(self) -> Result<()> {
        let (sender, receiver) = self.split();
        let r = sender.close().await;
        receiver.finished().await;
        r
    }
}

/// Sends client events. Cheap to clone; usable from many tasks.
///
/// Events are encoded on the caller's task, then queued for the I/O task (capacity set by
/// `send_queue`). When the queue is full, [`send`](Self::send) waits: that is the
/// backpressure. [`try_send`](Self::try_send) fails instead and hands the event back.
pub struct EventSender<P> {
    tx: mpsc::Sender<Outbound>,
    _protocol: PhantomData<fn(P)>,
}

impl<P> Clone for EventSender<P> {
    fn clone(&self) -> Self {
        Self {
            tx: self.tx.clone(),
            _protocol: PhantomData,
        }
    }
}

impl<P: Protocol> fmt::Debug for EventSender<P> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EventSender")
            .field("dialect", &P::DIALECT)
            .field("closed", &self.tx.is_closed())
            .finish()
    }
}

impl<P: Protocol> EventSender<P> {
    /// Sends a client event, waiting while the send queue is full.
    ///
    /// # Cancel safety
    /// Cancel safe: if the future is dropped before it completes, the event was not queued and
    /// will not be sent; nothing is ever sent twice.
    ///
    /// # Errors
    /// [`TransportError::SendOnClosed`] (with the event's JSON) when the connection is closed;
    /// [`TransportError::Decode`] if the event cannot be encoded.
    pub async fn send(&self, event: &P::ClientEvent) -> Result<()> {
        let text = P::encode_client(event)?;
        self.send_raw(text).await
    }

    /// Sends raw JSON text as one frame (an event this crate has no type for, or a
    /// pre-encoded one). The text is not checked.
    ///
    /// # Cancel safety
    /// Cancel safe, as [`send`](Self::send).
    ///
    /// # Errors
    /// [`TransportError::SendOnClosed`], handing the text back.
    pub async fn send_raw(&self, text: String) -> Result<()> {
        tracing::trace!(bytes = text.len(), "queue client event");
        self.tx
            .send(Outbound::Text(text))
            .await
            .map_err(|e| match e.0 {
                Outbound::Text(unsent) => TransportError::SendOnClosed { unsent },
                Outbound::Close { .. } => TransportError::SendOnClosed {
                    unsent: String::new(),
                },
            })
    }

    /// Sends without waiting.
    ///
    /// # Errors
    /// [`TransportError::SendQueueFull`] or [`TransportError::SendOnClosed`], with the event's
    /// JSON.
    pub fn try_send(&self, event: &P::ClientEvent) -> Result<()> {
        let text = P::encode_client(event)?;
        self.tx.try_send(Outbound::Text(text)).map_err(|e| match e {
            mpsc::error::TrySendError::Full(Outbound::Text(unsent)) => {
                TransportError::SendQueueFull { unsent }
            }
            mpsc::error::TrySendError::Closed(Outbound::Text(unsent)) => {
                TransportError::SendOnClosed { unsent }
            }
            _ => TransportError::SendOnClosed {
                unsent: String::new(),
            },
        })
    }

    /// Closes the connection with code 1000 after the events already queued, and waits for the
    /// close handshake (bounded by the close timeout). Idempotent.
    ///
    /// # Errors
    /// None in practice: closing a closed connection succeeds.
    pub async fn close(&self) -> Result<()> {
        self.close_with(1000, "client closed").await
    }

    /// Like [`close`](Self::close) with a chosen code and reason.
    ///
    /// # Errors
    /// None in practice.
    pub async fn close_with(&self, code: u16, reason: &str) -> Result<()> {
        let (done, wait) = oneshot::channel();
        if self
            .tx
            .send(Outbound::Close {
                code,
                reason: reason.to_owned(),
                done,
            })
            .await
            .is_err()
        {
            return Ok(());
        }
        let _ = wait.await;
        Ok(())
    }

    /// Whether the connection has ended.
    pub fn is_closed(&self) -> bool {
        self.tx.is_closed()
    }
}

/// The server events of a connection, as a stream.
///
/// Yields `Ok(event)` for each frame, `Err(Decode)` for a frame that is not a valid event
/// (the stream goes on), and a final fatal `Err` when the connection dies abnormally; a normal
/// close (code 1000) just ends the stream. Dropping the receiver closes the connection.
pub struct EventReceiver<P> {
    rx: mpsc::Receiver<Inbound>,
    task: Option<JoinHandle<()>>,
    _protocol: PhantomData<fn() -> P>,
}

impl<P: Protocol> fmt::Debug for EventReceiver<P> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EventReceiver")
            .field("dialect", &P::DIALECT)
            .finish_non_exhaustive()
    }
}

impl<P> Drop for EventReceiver<P> {
    fn drop(&mut self) {
        if let Some(task) = self.task.take() {
            task.abort();
        }
    }
}

impl<P: Protocol> EventReceiver<P> {
    /// Waits until the I/O task has ended (after a close or a failure).
    pub async fn finished(mut self) {
        self.rx.close();
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
    }

    /// Polls for the next frame's raw text without decoding it: the poll form of
    /// [`next_raw`](Self::next_raw), for stream adapters that decode themselves.
    pub fn poll_next_raw(&mut self, cx: &mut Context<'_>) -> Poll<Option<Result<Utf8Bytes>>> {
        self.rx.poll_recv(cx).map(|item| {
            item.map(|inbound| match inbound {
                Inbound::Text(t) => Ok(t),
                Inbound::Binary(len) => Err(TransportError::BinaryFrame { len }),
                Inbound::Error(e) => Err(e),
            })
        })
    }

    /// The next frame's raw text without decoding it (`None` when the stream has ended).
    /// Errors and binary frames are yielded as `Err` like the typed stream does.
    ///
    /// # Cancel safety
    /// Cancel safe: no frame is lost if the future is dropped.
    pub async fn next_raw(&mut self) -> Option<Result<Utf8Bytes>> {
        match self.rx.recv().await? {
            Inbound::Text(t) => Some(Ok(t)),
            Inbound::Binary(len) => Some(Err(TransportError::BinaryFrame { len })),
            Inbound::Error(e) => Some(Err(e)),
        }
    }
}

impl<P: Protocol> Stream for EventReceiver<P> {
    type Item = Result<P::ServerEvent>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.rx.poll_recv(cx).map(|item| {
            item.map(|inbound| match inbound {
                Inbound::Text(t) => P::decode_server(t.as_str()).map_err(TransportError::Decode),
                Inbound::Binary(len) => Err(TransportError::BinaryFrame { len }),
                Inbound::Error(e) => Err(e),
            })
        })
    }
}

fn split_host_port(url: &str) -> Result<(String, u16)> {
    let (scheme, rest) = url
        .split_once("://")
        .ok_or_else(|| TransportError::InvalidConfig {
            reason: format!("`{url}` has no scheme"),
        })?;
    let authority = rest.split(['/', '?']).next().unwrap_or_default();
    let authority = authority.rsplit_once('@').map_or(authority, |(_, a)| a);
    let default_port = if scheme == "wss" { 443 } else { 80 };
    let (host, port) = if let Some(v6) = authority.strip_prefix('[') {
        let (h, after) = v6
            .split_once(']')
            .ok_or_else(|| TransportError::InvalidConfig {
                reason: format!("bad IPv6 host in `{url}`"),
            })?;
        let port = after.strip_prefix(':').map(str::parse).transpose();
        (h.to_owned(), port)
    } else {
        match authority.rsplit_once(':') {
            Some((h, p)) => (h.to_owned(), Some(p.parse()).transpose()),
            None => (authority.to_owned(), Ok(None)),
        }
    };
    let port = port.map_err(|_| TransportError::InvalidConfig {
        reason: format!("bad port in `{url}`"),
    })?;
    if host.is_empty() {
        return Err(TransportError::InvalidConfig {
            reason: format!("`{url}` has no host"),
        });
    }
    Ok((host, port.unwrap_or(default_port)))
}

fn header_value(value: &str, sensitive: bool) -> Result<HeaderValue> {
    let mut v = HeaderValue::from_str(value).map_err(|_| TransportError::InvalidConfig {
        reason: "a header value contains characters HTTP does not allow".into(),
    })?;
    v.set_sensitive(sensitive);
    Ok(v)
}

pub(crate) async fn connect<P: Protocol>(
    b: &ConnectionBuilder<P>,
) -> Result<RealtimeConnection<P>> {
    let url = b.url()?;
    let (host, port) = split_host_port(&url)?;
    let span = connection_span(b, &host);
    async move {
        let request = request(b, &url).await?;
        // DNS, TCP and a proxy's tunnel, under the connect deadline.
        let secure = url.starts_with("wss://");
        let stream = tokio::time::timeout(
            b.connect_timeout,
            crate::proxy::dial(&host, port, secure, &b.proxy),
        )
        .await
        .map_err(|_| TransportError::Timeout {
            stage: "connecting",
            after: b.connect_timeout,
        })??;
        handshake(b, request, &url, &host, stream).await
    }
    .instrument(span)
    .await
}

pub(crate) async fn connect_over<P: Protocol, S>(
    b: &ConnectionBuilder<P>,
    stream: S,
) -> Result<RealtimeConnection<P>>
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let url = b.url()?;
    let (host, _port) = split_host_port(&url)?;
    let span = connection_span(b, &host);
    async move {
        let request = request(b, &url).await?;
        handshake(b, request, &url, &host, stream).await
    }
    .instrument(span)
    .await
}

fn connection_span<P: Protocol>(b: &ConnectionBuilder<P>, host: &str) -> tracing::Span {
    let model = b
        .model
        .clone()
        .unwrap_or_else(|| crate::config::default_model(P::DIALECT).to_owned());
    tracing::debug_span!("realtime_connection", dialect = P::DIALECT.as_str(), model = %model, host = %host, auth = b.auth.mode())
}

/// The handshake request: URL, auth (resolved now), dialect, user agent, extra headers.
async fn request<P: Protocol>(
    b: &ConnectionBuilder<P>,
    url: &str,
) -> Result<tungstenite::handshake::client::Request> {
    let auth = b.resolve_auth().await?;
    let mut request = url
        .into_client_request()
        .map_err(|e| TransportError::InvalidConfig {
            reason: format!("bad URL: {e}"),
        })?;
    let headers = request.headers_mut();
    match auth {
        AuthHeader::Bearer(k) => {
            headers.insert(
                "authorization",
                header_value(&format!("Bearer {}", k.expose()), true)?,
            );
        }
        AuthHeader::AzureKey(k) => {
            headers.insert("api-key", header_value(k.expose(), true)?);
        }
        AuthHeader::None => {}
    }
    if P::DIALECT == realtime_protocol::Dialect::Beta {
        headers.insert("openai-beta", HeaderValue::from_static("realtime=v1"));
    }
    headers.insert("user-agent", header_value(&b.user_agent, false)?);
    for (name, value) in &b.headers {
        let name =
            HeaderName::from_bytes(name.as_bytes()).map_err(|_| TransportError::InvalidConfig {
                reason: format!("`{name}` is not a valid header name"),
            })?;
        headers.insert(name, header_value(value, true)?);
    }
    Ok(request)
}

/// TLS (for `wss://`) and the WebSocket handshake over `stream`, then the I/O task.
async fn handshake<P: Protocol, S>(
    b: &ConnectionBuilder<P>,
    request: tungstenite::handshake::client::Request,
    url: &str,
    host: &str,
    stream: S,
) -> Result<RealtimeConnection<P>>
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let max_frame = b.max_frame_size.min(b.max_message_size);
    let ws_config = WebSocketConfig::default()
        .max_message_size(Some(b.max_message_size))
        .max_frame_size(Some(max_frame))
        .read_buffer_size(b.read_buffer)
        .write_buffer_size(0);
    let connector = if url.starts_with("wss://") {
        crate::tls::connector(b.tls, &b.root_certificates)?
    } else {
        Connector::Plain
    };
    let handshake = tokio_tungstenite::client_async_tls_with_config(
        request,
        stream,
        Some(ws_config),
        Some(connector),
    );
    let (ws, _response) = tokio::time::timeout(b.handshake_timeout, handshake)
        .await
        .map_err(|_| TransportError::Timeout {
            stage: "handshaking",
            after: b.handshake_timeout,
        })?
        .map_err(|e| handshake_error(e, host))?;
    tracing::debug!("connected");

    let (out_tx, out_rx) = mpsc::channel(b.send_queue);
    let (in_tx, in_rx) = mpsc::channel(b.receive_queue);
    let io = IoTask {
        out_rx,
        in_tx,
        ping_interval: b.ping_interval,
        pong_timeout: b.pong_timeout,
        close_timeout: b.close_timeout,
        max_message_size: b.max_message_size,
    };
    let task = tokio::spawn(io.run(ws).instrument(tracing::Span::current()));
    Ok(RealtimeConnection {
        sender: EventSender {
            tx: out_tx,
            _protocol: PhantomData,
        },
        receiver: EventReceiver {
            rx: in_rx,
            task: Some(task),
            _protocol: PhantomData,
        },
    })
}

fn handshake_error(e: tungstenite::Error, host: &str) -> TransportError {
    match e {
        tungstenite::Error::Http(resp) => {
            let status = resp.status().as_u16();
            let body: Option<serde_json::Value> = resp
                .body()
                .as_ref()
                .and_then(|b| serde_json::from_slice(b).ok());
            let field = |k: &str| {
                body.as_ref()
                    .and_then(|v| v.pointer(&format!("/error/{k}")))
                    .and_then(|v| v.as_str())
                    .map(str::to_owned)
            };
            TransportError::Rejected {
                status,
                message: field("message"),
                code: field("code"),
            }
        }
        e @ tungstenite::Error::Tls(_) => TransportError::Tls {
            host: host.to_owned(),
            source: e,
        },
        tungstenite::Error::Io(io) if io.kind() == std::io::ErrorKind::InvalidData => {
            TransportError::Tls {
                host: host.to_owned(),
                source: tungstenite::Error::Io(io),
            }
        }
        e @ (tungstenite::Error::Io(_)
        | tungstenite::Error::ConnectionClosed
        | tungstenite::Error::AlreadyClosed) => TransportError::ConnectionLost(e),
        e => TransportError::Protocol(e),
    }
}

struct IoTask {
    out_rx: mpsc::Receiver<Outbound>,
    in_tx: mpsc::Sender<Inbound>,
    ping_interval: Option<Duration>,
    pong_timeout: Duration,
    close_timeout: Duration,
    max_message_size: usize,
}

/// How the I/O loop ended.
enum Exit {
    /// Tell the receiver, then stop.
    Fail(TransportError),
    /// Normal close or the receiver went away: stop.
    Done,
}

impl IoTask {
    async fn run<S: AsyncRead + AsyncWrite + Unpin>(mut self, ws: Ws<S>) {
        let (mut sink, mut stream) = ws.split();
        let exit = self.pump(&mut sink, &mut stream).await;
        if let Exit::Fail(e) = exit {
            tracing::debug!(error = %e, "connection failed");
            // The receiver may be gone; then there is nobody to tell.
            let _ = self.in_tx.send(Inbound::Error(e)).await;
        } else {
            tracing::debug!("connection closed");
        }
        // Anyone still waiting on a close gets their answer as the channel drops.
        self.out_rx.close();
        while let Ok(o) = self.out_rx.try_recv() {
            if let Outbound::Close { done, .. } = o {
                let _ = done.send(());
            }
        }
    }

    async fn pump<S: AsyncRead + AsyncWrite + Unpin>(
        &mut self,
        sink: &mut SplitSink<Ws<S>, Message>,
        stream: &mut SplitStream<Ws<S>>,
    ) -> Exit {
        let mut permit: Option<mpsc::OwnedPermit<Inbound>> = None;
        let mut next_ping = self.ping_interval.map(|i| Instant::now() + i);
        let mut pong_deadline: Option<Instant> = None;
        let mut senders_gone = false;
        loop {
            let deadline = match (next_ping, pong_deadline) {
                (_, Some(d)) => Some(d),
                (Some(p), None) => Some(p),
                (None, None) => None,
            };
            tokio::select! {
                biased;
                out = self.out_rx.recv(), if !senders_gone => match out {
                    Some(Outbound::Text(text)) => {
                        tracing::trace!(bytes = text.len(), "send");
                        if let Err(e) = sink.send(Message::text(text)).await {
                            return Exit::Fail(socket_error(e, self.max_message_size));
                        }
                    }
                    Some(Outbound::Close { code, reason, done }) => {
                        let r = self.close(sink, stream, code, reason).await;
                        let _ = done.send(());
                        return r;
                    }
                    None => senders_gone = true,
                },
                p = self.in_tx.clone().reserve_owned(), if permit.is_none() => match p {
                    Ok(p) => permit = Some(p),
                    // The receiver is gone: nobody wants the events. Close politely.
                    Err(_) => return self.close(sink, stream, 1000, "client closed".into()).await,
                },
                frame = stream.next(), if permit.is_some() => {
                    // Any frame proves the peer is alive.
                    pong_deadline = None;
                    let Some(p) = permit.take() else { continue };
                    match frame {
                        Some(Ok(Message::Text(t))) => {
                            tracing::trace!(bytes = t.len(), "receive");
                            p.send(Inbound::Text(t));
                        }
                        Some(Ok(Message::Binary(b))) => {
                            p.send(Inbound::Binary(b.len()));
                        }
                        Some(Ok(Message::Close(frame))) => {
                            drop(p);
                            return match frame {
                                None => Exit::Done,
                                Some(f) if matches!(u16::from(f.code), 1000) => Exit::Done,
                                Some(f) => Exit::Fail(TransportError::Closed { code: u16::from(f.code), reason: f.reason.to_string() }),
                            };
                        }
                        Some(Ok(_)) => permit = Some(p),
                        Some(Err(e)) => {
                            drop(p);
                            return Exit::Fail(socket_error(e, self.max_message_size));
                        }
                        None => {
                            drop(p);
                            return Exit::Fail(TransportError::ConnectionLost(tungstenite::Error::ConnectionClosed));
                        }
                    }
                },
                _ = sleep_until_opt(deadline), if deadline.is_some() => {
                    let now = Instant::now();
                    if permit.is_none() {
                        // The receive queue is full: the application is not reading, so neither
                        // are we, and the server's pong waits behind the frames it already sent.
                        // Keep-alive pauses while the app stalls (TCP holds the server back,
                        // memory stays bounded) and the server gets a full window once reading
                        // resumes: a stalled app is not a dead server.
                        pong_deadline = pong_deadline.map(|_| now + self.pong_timeout);
                        next_ping = self.ping_interval.map(|i| now + i);
                        continue;
                    }
                    if pong_deadline.is_some_and(|d| now >= d) {
                        return Exit::Fail(TransportError::KeepAliveTimeout { after: self.pong_timeout });
                    }
                    if next_ping.is_some_and(|p| now >= p) {
                        tracing::trace!("ping");
                        if let Err(e) = sink.send(Message::Ping(Vec::from(*b"realtime-rs").into())).await {
                            return Exit::Fail(socket_error(e, self.max_message_size));
                        }
                        pong_deadline = Some(now + self.pong_timeout);
                        next_ping = self.ping_interval.map(|i| now + i);
                    }
                },
            }
        }
    }

    /// Sends a close frame and waits (bounded) for the peer's.
    async fn close<S: AsyncRead + AsyncWrite + Unpin>(
        &mut self,
        sink: &mut SplitSink<Ws<S>, Message>,
        stream: &mut SplitStream<Ws<S>>,
        code: u16,
        reason: String,
    ) -> Exit {
        let frame = CloseFrame {
            code: CloseCode::from(code),
            reason: reason.into(),
        };
        let handshake = async {
            if sink.send(Message::Close(Some(frame))).await.is_err() {
                return;
            }
            while let Some(Ok(m)) = stream.next().await {
                if m.is_close() {
                    break;
                }
            }
        };
        if tokio::time::timeout(self.close_timeout, handshake)
            .await
            .is_err()
        {
            tracing::debug!(after = ?self.close_timeout, "close handshake timed out");
        }
        Exit::Done
    }
}

fn socket_error(e: tungstenite::Error, max: usize) -> TransportError {
    match e {
        tungstenite::Error::Capacity(CapacityError::MessageTooLong { size, max_size }) => {
            TransportError::FrameTooLarge {
                size,
                max: max_size,
            }
        }
        tungstenite::Error::Capacity(_) => TransportError::FrameTooLarge { size: 0, max },
        e @ (tungstenite::Error::Io(_)
        | tungstenite::Error::ConnectionClosed
        | tungstenite::Error::AlreadyClosed
        | tungstenite::Error::Protocol(
            tungstenite::error::ProtocolError::ResetWithoutClosingHandshake,
        )) => TransportError::ConnectionLost(e),
        e => TransportError::Protocol(e),
    }
}

async fn sleep_until_opt(at: Option<Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_and_port() {
        for (url, host, port) in [
            (
                "wss://api.openai.com/v1/realtime?model=x",
                "api.openai.com",
                443,
            ),
            ("ws://127.0.0.1:8765/v1/realtime", "127.0.0.1", 8765),
            ("ws://[::1]:9000/x", "::1", 9000),
            ("ws://localhost", "localhost", 80),
        ] {
            assert_eq!(split_host_port(url).unwrap(), (host.to_owned(), port));
        }
        assert!(split_host_port("ws://:80/").is_err());
        assert!(split_host_port("ws://h:notaport/").is_err());
    }
}
