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
    /// The session did not become ready (its configuration was not accepted) in time.
    /// Fatal, retryable.
    #[error("the session was not ready within {0:?}")]
    StartTimeout(std::time::Duration),
}

/// `Result` with [`RunnerError`] as the default error.
pub type Result<T, E = RunnerError> = std::result::Result<T, E>;
