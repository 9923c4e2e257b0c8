//! The WebSocket connection to the OpenAI Realtime API, Azure OpenAI, or any compatible
//! endpoint.
//!
//! This crate owns the URL, the auth headers, TLS, typed send and receive in one dialect, keep
//! alive, close, and transport errors. It knows nothing of agents, tools or sessions.
//!
//! - [`RealtimeConnection::builder`] opens a connection in dialect `P`
//!   ([`realtime_protocol::Ga`] by default in the SDK, or [`realtime_protocol::Beta`], which
//!   sends `OpenAI-Beta: realtime=v1`).
//! - [`EventSender`] (cloneable) writes `ClientEvent`s on the caller's task (a bounded queue
//!   holds what the socket cannot take at once); [`EventReceiver`] is a `Stream` of
//!   `Result<ServerEvent, TransportError>`, read and decoded on the task that polls it.
//! - A frame that is not a valid event is an `Err(Decode)` item and the stream goes on; a
//!   normal close ends the stream; an abnormal one yields a final error with its code.
//! - TLS is rustls with the `ring` provider, chosen explicitly, and the webpki roots;
//!   `native-tls` is an opt-in feature. `ws://` works for local servers.
//! - HTTP proxies: [`Proxy`], from `HTTPS_PROXY` / `NO_PROXY` by default or given explicitly;
//!   [`ConnectionBuilder::connect_over`] runs the handshake over a stream you connected.
//! - The API key is an [`ApiKey`]: it never appears in `Debug`, logs or errors.
//!
//! ```no_run
//! use futures_util::StreamExt;
//! use realtime_protocol::{ga, Ga};
//! use realtime_transport::RealtimeConnection;
//!
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! let (sender, mut events) = RealtimeConnection::<Ga>::builder().connect().await?.split();
//! sender.send(&ga::ClientEvent::user_text("What's the weather?")).await?;
//! sender.send(&ga::ClientEvent::response_create()).await?;
//! while let Some(event) = events.next().await {
//!     match event? {
//!         ga::ServerEvent::ResponseOutputTextDelta(d) => print!("{}", d.delta),
//!         ga::ServerEvent::ResponseDone(_) => break,
//!         _ => {}
//!     }
//! }
//! sender.close().await?;
//! # Ok(()) }
//! ```
#![warn(missing_docs)]
#![cfg_attr(docsrs, feature(doc_cfg))]

mod auth;
mod config;
mod connection;
mod error;
mod io;
mod proxy;
mod rest;
mod tls;

pub use auth::{ApiKey, Auth, KeyProvider, KeyProviderError};
pub use config::{
    default_model, ConnectionBuilder, TlsBackend, AZURE_API_VERSION_VAR, AZURE_DEPLOYMENT_VAR,
    AZURE_ENDPOINT_VAR, AZURE_KEY_VAR, DEFAULT_BETA_MODEL, DEFAULT_CLOSE_TIMEOUT,
    DEFAULT_CONNECT_TIMEOUT, DEFAULT_ENDPOINT, DEFAULT_HANDSHAKE_TIMEOUT, DEFAULT_MAX_FRAME_SIZE,
    DEFAULT_MAX_MESSAGE_SIZE, DEFAULT_MODEL, DEFAULT_PING_INTERVAL, DEFAULT_PONG_TIMEOUT,
    DEFAULT_READ_BUFFER, DEFAULT_SEND_QUEUE,
};
pub use connection::{EventReceiver, EventSender, RealtimeConnection};
pub use error::{Result, TransportError};
pub use proxy::{Proxy, ProxyUrl};
pub use rest::{RestClient, RestResponse};
pub use tokio_tungstenite::tungstenite::Utf8Bytes;
