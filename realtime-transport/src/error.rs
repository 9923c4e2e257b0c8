//! [`TransportError`]: what went wrong with the connection, and whether trying again can help.

use std::time::Duration;

/// An error of the WebSocket connection.
///
/// Each variant says whether it is **fatal** (the connection is over, or never existed) and
/// whether it is **retryable** (opening a new connection may succeed); see
/// [`TransportError::is_retryable`]. Item-level errors on the event stream ([`Self::Decode`],
/// [`Self::BinaryFrame`]) are neither: the stream goes on after them.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TransportError {
    /// The configuration cannot work (a bad URL, a header that is not valid). Fatal, not
    /// retryable.
    #[error("invalid connection configuration: {reason}")]
    InvalidConfig {
        /// What is wrong.
        reason: String,
    },
    /// No API key: none was configured and `OPENAI_API_KEY` is not set. Fatal, not retryable.
    #[error("no API key: set OPENAI_API_KEY or configure one")]
    MissingApiKey,
    /// An environment variable the configuration reads is not set (Azure:
    /// `AZURE_OPENAI_ENDPOINT`, `AZURE_OPENAI_API_KEY`, `AZURE_OPENAI_DEPLOYMENT`). Fatal, not
    /// retryable.
    #[error("{name} is not set")]
    MissingEnv {
        /// The variable.
        name: &'static str,
    },
    /// The key provider failed. Fatal; retryable if the provider's failure is.
    #[error("the API key provider failed")]
    KeyProvider(#[source] crate::auth::KeyProviderError),
    /// The host name could not be resolved. Fatal, retryable.
    #[error("failed to resolve {host}")]
    Dns {
        /// The host.
        host: String,
        /// The resolver's error.
        #[source]
        source: std::io::Error,
    },
    /// The TCP connection failed. Fatal, retryable.
    #[error("failed to connect to {host}:{port}")]
    Connect {
        /// The host.
        host: String,
        /// The port.
        port: u16,
        /// The socket error.
        #[source]
        source: std::io::Error,
    },
    /// The HTTP proxy did not open a tunnel (`CONNECT` answered with an error, or not at all).
    /// Fatal; retryable unless the proxy refused the request itself (4xx: 407 means it wants
    /// credentials).
    #[error("the proxy refused the tunnel: {reason}")]
    ProxyRefused {
        /// The proxy's HTTP status, if it answered with one.
        status: Option<u16>,
        /// Its status line, or what went wrong.
        reason: String,
    },
    /// TLS failed (e.g. the certificate was not trusted). Fatal, not retryable.
    #[error("TLS handshake with {host} failed")]
    Tls {
        /// The host.
        host: String,
        /// The TLS error.
        #[source]
        source: tokio_tungstenite::tungstenite::Error,
    },
    /// The server refused the WebSocket handshake with an HTTP status. Fatal; retryable for
    /// 408, 429 and 5xx. A 401 means the API key was rejected.
    #[error("{}", rejected_message(*status, message.as_deref()))]
    Rejected {
        /// The HTTP status.
        status: u16,
        /// OpenAI's error message from the response body, if it had one.
        message: Option<String>,
        /// OpenAI's error code from the body, e.g. `invalid_api_key`.
        code: Option<String>,
    },
    /// A stage took longer than its deadline. Fatal, retryable.
    #[error("timed out after {after:?} while {stage}")]
    Timeout {
        /// What was being waited for: `connecting`, `handshaking`, `closing`.
        stage: &'static str,
        /// The deadline.
        after: Duration,
    },
    /// The server closed the connection with a code other than 1000. Fatal; retryable unless
    /// the code says the request itself was wrong (1002, 1003, 1007, 1008, 1009, 1010).
    #[error("the server closed the connection with code {code}: {reason}")]
    Closed {
        /// The close code.
        code: u16,
        /// The close reason.
        reason: String,
    },
    /// The connection ended without a close frame (reset, network failure). Fatal, retryable.
    #[error("the connection was lost")]
    ConnectionLost(#[source] tokio_tungstenite::tungstenite::Error),
    /// No pong (nor any other frame) came back within the keep-alive timeout. Fatal, retryable.
    #[error("no answer to keep-alive ping within {after:?}")]
    KeepAliveTimeout {
        /// The pong timeout.
        after: Duration,
    },
    /// A message exceeded the configured maximum size. Fatal (the socket is not usable after
    /// it), retryable.
    #[error("a message of {size} bytes exceeds the limit of {max} bytes")]
    FrameTooLarge {
        /// The message size.
        size: usize,
        /// The limit.
        max: usize,
    },
    /// The peer broke the WebSocket protocol. Fatal, retryable.
    #[error("WebSocket protocol error")]
    Protocol(#[source] tokio_tungstenite::tungstenite::Error),
    /// A text frame that is not a valid event. Not fatal: the stream goes on. The error keeps
    /// the raw text.
    #[error("failed to decode a server event")]
    Decode(#[from] realtime_protocol::ProtocolError),
    /// A binary frame, which the Realtime API never sends. Not fatal: the stream goes on.
    #[error("unexpected binary frame of {len} bytes")]
    BinaryFrame {
        /// Its length.
        len: usize,
    },
    /// The connection is closed; the event was not sent and is handed back. Fatal for the
    /// connection; retryable on a new one.
    #[error("the connection is closed; the event was not sent")]
    SendOnClosed {
        /// The unsent event, as JSON text.
        unsent: String,
    },
    /// The send queue is full ([`crate::EventSender::try_send`] only). Not fatal: wait and
    /// try again.
    #[error("the send queue is full; the event was not sent")]
    SendQueueFull {
        /// The unsent event, as JSON text.
        unsent: String,
    },
}

fn rejected_message(status: u16, message: Option<&str>) -> String {
    let what = match status {
        401 => "the API key was rejected".to_owned(),
        403 => "access was denied".to_owned(),
        404 => "the endpoint or model was not found".to_owned(),
        429 => "the server is rate limiting".to_owned(),
        s => format!("the server refused the connection with HTTP {s}"),
    };
    match message {
        Some(m) => format!("{what} (HTTP {status}: {m})"),
        None => format!("{what} (HTTP {status})"),
    }
}

impl TransportError {
    /// Whether opening a new connection may succeed where this one failed.
    pub fn is_retryable(&self) -> bool {
        match self {
            Self::InvalidConfig { .. }
            | Self::MissingApiKey
            | Self::MissingEnv { .. }
            | Self::Tls { .. }
            | Self::KeyProvider(_) => false,
            Self::Rejected { status, .. } => matches!(status, 408 | 429 | 500..=599),
            Self::ProxyRefused { status, .. } => !matches!(status, Some(400..=499)),
            Self::Closed { code, .. } => !matches!(code, 1002 | 1003 | 1007 | 1008 | 1009 | 1010),
            Self::Decode(_) | Self::BinaryFrame { .. } | Self::SendQueueFull { .. } => true,
            _ => true,
        }
    }

    /// Whether the connection is over after this error. `Decode`, `BinaryFrame` and
    /// `SendQueueFull` are the only ones that leave it usable.
    pub fn is_fatal(&self) -> bool {
        !matches!(
            self,
            Self::Decode(_) | Self::BinaryFrame { .. } | Self::SendQueueFull { .. }
        )
    }
}

/// `Result` with [`TransportError`] as the default error.
pub type Result<T, E = TransportError> = std::result::Result<T, E>;
