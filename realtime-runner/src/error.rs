//! [`RunnerError`]: why a session could not start or an operation failed.

use realtime_agent::AgentError;
use realtime_transport::TransportError;

/// An error of the runner.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RunnerError {
    /// The connection failed; see the transport error for whether it is retryable.
    #[error(transparent)]
    Transport(#[from] TransportError),
    /// The agent's configuration is wrong (e.g. two tools with one name). Fatal, not retryable.
    #[error(transparent)]
    Agent(#[from] AgentError),
    /// The session is closed; the operation did nothing. Fatal for this session.
    #[error("the session is closed")]
    SessionClosed,
    /// The model implementation failed. Fatal for the connection.
    #[error("the model failed: {message}")]
    Model {
        /// What happened.
        message: String,
    },
    /// The connection was lost and could not be re-established; what was sent meanwhile was
    /// not delivered. Fatal for the session.
    #[error("the connection was lost: {message}")]
    ConnectionLost {
        /// Why, and what reconnecting tried.
        message: String,
    },
    /// The dialect has no such feature (e.g. image input in the beta dialect); nothing was
    /// sent. Not fatal: the session goes on.
    #[error("the {dialect} dialect does not support {feature}")]
    Unsupported {
        /// The dialect (`ga` or `beta`).
        dialect: &'static str,
        /// What was asked for.
        feature: String,
    },
    /// The session did not become ready (its configuration was not accepted) in time.
    /// Fatal, retryable.
    #[error("the session was not ready within {0:?}")]
    StartTimeout(std::time::Duration),
}

/// `Result` with [`RunnerError`] as the default error.
pub type Result<T, E = RunnerError> = std::result::Result<T, E>;
