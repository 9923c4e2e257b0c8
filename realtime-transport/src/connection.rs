//! The open connection: a cloneable [`EventSender`] and an [`EventReceiver`] stream over one
//! shared socket (`io.rs`).

use crate::auth::AuthHeader;
use crate::config::ConnectionBuilder;
use crate::error::{Result, TransportError};
use crate::io::{ByteStream, Core, Limits, Write};
use futures_util::Stream;
use realtime_protocol::Protocol;
use std::fmt;
use std::marker::PhantomData;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::task::JoinHandle;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::{HeaderName, HeaderValue};
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::tungstenite::{self, Message, Utf8Bytes};
use tokio_tungstenite::Connector;
use tracing::Instrument;

/// An open Realtime connection in dialect `P` ([`realtime_protocol::Ga`] or
/// [`realtime_protocol::Beta`]).
///
/// [`split`](Self::split) it into a cloneable [`EventSender`] and an [`EventReceiver`] stream.
/// There is no I/O task between the socket and you: frames are read and decoded on the task
/// that polls the receiver, and events are written on the task that sends them. A small task
/// per connection finishes writes the socket could not take at once, pings, and closes; it
/// ends when the connection closes or the receiver is dropped.
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

    /// Closes the connection (code 1000) and waits for the close handshake to finish.
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
/// Events are encoded and written on the caller's task. When the socket cannot take a frame at
/// once, it waits in a bounded queue (capacity set by `send_queue`) that the connection's
/// driver task writes out as the socket drains. When that queue is full,
/// [`send`](Self::send) waits: that is the backpressure. [`try_send`](Self::try_send) fails
/// instead and hands the event back. Frames go out in the order they were accepted.
pub struct EventSender<P> {
    core: Arc<Core>,
    _protocol: PhantomData<fn(P)>,
}

impl<P> Clone for EventSender<P> {
    fn clone(&self) -> Self {
        Self {
            core: Arc::clone(&self.core),
            _protocol: PhantomData,
        }
    }
}

impl<P: Protocol> fmt::Debug for EventSender<P> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EventSender")
            .field("dialect", &P::DIALECT)
            .field("closed", &self.core.is_closed())
            .finish()
    }
}

/// The text of a frame handed back.
fn unsent(m: Message) -> String {
    match m {
        Message::Text(t) => t.as_str().to_owned(),
        _ => String::new(),
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
        self.write_raw(text, true).await
    }

    /// Feeds a client event: like [`send`](Self::send), but the frame waits in the socket's
    /// write buffer, without a system call, until [`flush`](Self::flush), the next `send`, or
    /// the connection's driver takes it out. Several events fed and flushed once leave in one
    /// TCP segment. Call [`flush`](Self::flush) before you wait on anything else.
    ///
    /// # Cancel safety
    /// Cancel safe, as [`send`](Self::send).
    ///
    /// # Errors
    /// As [`send`](Self::send).
    pub async fn feed(&self, event: &P::ClientEvent) -> Result<()> {
        let text = P::encode_client(event)?;
        self.write_raw(text, false).await
    }

    /// Feeds raw JSON text as one frame; see [`feed`](Self::feed) and
    /// [`send_raw`](Self::send_raw).
    ///
    /// # Errors
    /// [`TransportError::SendOnClosed`], handing the text back.
    pub async fn feed_raw(&self, text: String) -> Result<()> {
        self.write_raw(text, false).await
    }

    /// Sends the events fed so far. Never waits: what the socket cannot take at once goes
    /// out from the connection's driver. Cheap when nothing was fed (no lock is taken).
    pub fn flush(&self) {
        self.core.flush();
    }

    async fn write_raw(&self, text: String, flush: bool) -> Result<()> {
        tracing::trace!(bytes = text.len(), flush, "send");
        let mut frame = Message::text(text);
        loop {
            // Registered before the attempt, so room made meanwhile is not missed.
            let room = self.core.room();
            tokio::pin!(room);
            room.as_mut().enable();
            match self.core.write(frame, flush) {
                Write::Accepted => return Ok(()),
                Write::Closed(m) => return Err(TransportError::SendOnClosed { unsent: unsent(m) }),
                Write::Full(m) => frame = m,
            }
            room.await;
        }
    }

    /// Sends without waiting.
    ///
    /// # Errors
    /// [`TransportError::SendQueueFull`] or [`TransportError::SendOnClosed`], with the event's
    /// JSON.
    pub fn try_send(&self, event: &P::ClientEvent) -> Result<()> {
        let text = P::encode_client(event)?;
        match self.core.write(Message::text(text), true) {
            Write::Accepted => Ok(()),
            Write::Full(m) => Err(TransportError::SendQueueFull { unsent: unsent(m) }),
            Write::Closed(m) => Err(TransportError::SendOnClosed { unsent: unsent(m) }),
        }
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
        if let Some(done) = self.core.close(code, reason) {
            let _ = done.await;
        }
        Ok(())
    }

    /// Whether the connection has ended (or is closing).
    pub fn is_closed(&self) -> bool {
        self.core.is_closed()
    }
}

/// The server events of a connection, as a stream.
///
/// Yields `Ok(event)` for each frame, `Err(Decode)` for a frame that is not a valid event
/// (the stream goes on), and a final fatal `Err` when the connection dies abnormally; a normal
/// close (code 1000) just ends the stream. Dropping the receiver closes the connection.
///
/// Frames are read from the socket when the stream is polled, on the polling task: while
/// nobody polls, nothing is read and TCP holds the server back.
pub struct EventReceiver<P> {
    core: Arc<Core>,
    driver: Option<JoinHandle<()>>,
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
        if let Some(driver) = self.driver.take() {
            self.core.abandon();
            driver.abort();
        }
    }
}

impl<P: Protocol> EventReceiver<P> {
    /// Closes the connection politely (code 1000) if it is still open, and waits until it
    /// has ended.
    pub async fn finished(mut self) {
        let done = self.core.close(1000, "client closed");
        if let Some(done) = done {
            let _ = done.await;
        }
        if let Some(driver) = self.driver.take() {
            let _ = driver.await;
        }
    }

    /// Polls for the next frame's raw text without decoding it: the poll form of
    /// [`next_raw`](Self::next_raw), for stream adapters that decode themselves.
    pub fn poll_next_raw(&mut self, cx: &mut Context<'_>) -> Poll<Option<Result<Utf8Bytes>>> {
        self.core.poll_read(cx)
    }

    /// The next frame's raw text without decoding it (`None` when the stream has ended).
    /// Errors and binary frames are yielded as `Err` like the typed stream does.
    ///
    /// # Cancel safety
    /// Cancel safe: no frame is lost if the future is dropped.
    pub async fn next_raw(&mut self) -> Option<Result<Utf8Bytes>> {
        std::future::poll_fn(|cx| self.core.poll_read(cx)).await
    }
}

impl<P: Protocol> Stream for EventReceiver<P> {
    type Item = Result<P::ServerEvent>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.core.poll_read(cx).map(|item| {
            item.map(|frame| {
                frame.and_then(|t| P::decode_server(t.as_str()).map_err(TransportError::Decode))
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

/// Fed frames beyond this many bytes go to the socket without waiting for a flush.
const WRITE_BATCH: usize = 64 << 10;

/// TLS (for `wss://`) and the WebSocket handshake over `stream`, then the shared socket and
/// its driver task.
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
        // Frames are written to the socket on flush (a `send` flushes at once), or once this
        // much has been fed.
        .write_buffer_size(WRITE_BATCH);
    let connector = if url.starts_with("wss://") {
        crate::tls::connector(b.tls, &b.root_certificates)?
    } else {
        Connector::Plain
    };
    // One socket type whatever the stream, so the receiver is not generic over it.
    let stream: Box<dyn ByteStream> = Box::new(stream);
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

    let core = Core::new(
        ws,
        Limits {
            send_queue: b.send_queue,
            ping_interval: b.ping_interval,
            pong_timeout: b.pong_timeout,
            close_timeout: b.close_timeout,
            max_message_size: b.max_message_size,
        },
    );
    let driver = tokio::spawn(
        Arc::clone(&core)
            .drive()
            .instrument(tracing::Span::current()),
    );
    Ok(RealtimeConnection {
        sender: EventSender {
            core: Arc::clone(&core),
            _protocol: PhantomData,
        },
        receiver: EventReceiver {
            core,
            driver: Some(driver),
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
