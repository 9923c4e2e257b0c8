#![doc = include_str!("../README.md")]
#![warn(missing_docs)]

pub mod audio;
pub mod beta;
mod codec;
mod error;
pub mod ga;
pub mod ids;
mod nested;
mod open_enum;
mod serde_util;

#[rustfmt::skip]
#[allow(missing_docs, unreachable_pub, clippy::all)]
mod generated;

pub use codec::{peek_event_type, UnknownEvent};
pub use error::{ProtocolError, Result};
pub use ids::{CallId, EventId, ItemId, ResponseId};

/// Which protocol a connection speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[non_exhaustive]
pub enum Dialect {
    /// The current API (`response.output_audio.delta`, `session.type`). The default.
    #[default]
    Ga,
    /// The beta API (`OpenAI-Beta: realtime=v1`, `response.audio.delta`, flat session).
    Beta,
}

impl Dialect {
    /// `"ga"` or `"beta"`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Ga => "ga",
            Self::Beta => "beta",
        }
    }
}

/// A dialect at the type level: which event unions a connection speaks. Implemented by [`Ga`]
/// and [`Beta`]; code generic over `P: Protocol` works with both.
pub trait Protocol: Send + Sync + std::fmt::Debug + 'static {
    /// The runtime value of this dialect.
    const DIALECT: Dialect;
    /// The events the client sends.
    type ClientEvent: serde::Serialize + Clone + std::fmt::Debug + PartialEq + Send + Sync + 'static;
    /// The events the server sends.
    type ServerEvent: Clone + std::fmt::Debug + PartialEq + Send + Sync + 'static;

    /// Decodes one server event (see `ServerEvent::from_json`).
    ///
    /// # Errors
    /// As `ServerEvent::from_json`.
    fn decode_server(raw: &str) -> Result<Self::ServerEvent>;

    /// Decodes one client event (see `ClientEvent::from_json`).
    ///
    /// # Errors
    /// As `ClientEvent::from_json`.
    fn decode_client(raw: &str) -> Result<Self::ClientEvent>;

    /// Encodes one client event as JSON text.
    ///
    /// # Errors
    /// As `ClientEvent::to_json`.
    fn encode_client(event: &Self::ClientEvent) -> Result<String>;

    /// The wire `type` of a client event.
    fn client_event_type(event: &Self::ClientEvent) -> &str;

    /// The wire `type` of a server event.
    fn server_event_type(event: &Self::ServerEvent) -> &str;
}

/// The GA dialect as a type (see [`Protocol`]).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Ga;

/// The beta dialect as a type (see [`Protocol`]).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Beta;

macro_rules! protocol_impl {
    ($ty:ident, $dialect:ident, $module:ident) => {
        impl Protocol for $ty {
            const DIALECT: Dialect = Dialect::$dialect;
            type ClientEvent = $module::ClientEvent;
            type ServerEvent = $module::ServerEvent;

            fn decode_server(raw: &str) -> Result<Self::ServerEvent> {
                $module::ServerEvent::from_json(raw)
            }

            fn decode_client(raw: &str) -> Result<Self::ClientEvent> {
                $module::ClientEvent::from_json(raw)
            }

            fn encode_client(event: &Self::ClientEvent) -> Result<String> {
                event.to_json()
            }

            fn client_event_type(event: &Self::ClientEvent) -> &str {
                event.event_type()
            }

            fn server_event_type(event: &Self::ServerEvent) -> &str {
                event.event_type()
            }
        }
    };
}

protocol_impl!(Ga, Ga, ga);
protocol_impl!(Beta, Beta, beta);
