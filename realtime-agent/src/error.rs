//! [`AgentError`]: agent configuration errors, found before anything connects.

/// An agent, tool or handoff is configured in a way that cannot work. Fatal for the session
/// being set up (fix the configuration); never retryable.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum AgentError {
    /// Two enabled tools (function tools or handoffs) of one agent share a name.
    #[error("agent `{agent}` has two tools named `{name}`")]
    DuplicateToolName {
        /// The agent.
        agent: String,
        /// The shared name.
        name: String,
    },
    /// A name is empty or not allowed by the API (`^[a-zA-Z0-9_-]{1,64}$` for tools).
    #[error("invalid name `{name}`: {reason}")]
    InvalidName {
        /// The name.
        name: String,
        /// Why.
        reason: String,
    },
    /// A handoff's target agent was declared but never set (see `AgentRef`).
    #[error("the handoff target `{name}` was never set")]
    UnresolvedHandoff {
        /// The expected agent name.
        name: String,
    },
}

/// `Result` with [`AgentError`] as the default error.
pub type Result<T, E = AgentError> = std::result::Result<T, E>;

/// Checks a tool name against the API's rule.
pub(crate) fn check_tool_name(name: &str) -> Result<()> {
    let ok = !name.is_empty()
        && name.len() <= 64
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
    if ok {
        Ok(())
    } else {
        Err(AgentError::InvalidName {
            name: name.to_owned(),
            reason: "tool names must be 1 to 64 characters of a-z, A-Z, 0-9, `_` or `-`".into(),
        })
    }
}
