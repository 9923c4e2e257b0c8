#![doc = include_str!("../README.md")]
#![warn(missing_docs)]

pub mod audio;
pub mod beta;
mod codec;
mod error;
pub mod ga;
pub mod ids;
mod open_enum;
mod serde_util;

#[rustfmt::skip]
#[allow(missing_docs, unreachable_pub, clippy::all)]
mod generated;

pub use codec::UnknownEvent;
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
