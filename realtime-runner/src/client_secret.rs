//! Ephemeral keys for clients that connect to OpenAI themselves (a browser over WebRTC or
//! WebSocket): the server mints a short-lived key with the agent's session settings and hands
//! only that key out; the API key never leaves the server.

use realtime_transport::{RestClient, TransportError};
use std::fmt;
use std::time::Duration;

/// A minted ephemeral key (`ek_…`).
#[derive(Clone, PartialEq)]
#[non_exhaustive]
pub struct ClientSecret {
    /// The key, to give to the client (and to nobody else: it opens a session on your account
    /// until it expires).
    pub value: String,
    /// When it expires (Unix seconds).
    pub expires_at: i64,
    /// The session configuration it was minted with, as the service echoed it.
    pub session: serde_json::Value,
}

impl fmt::Debug for ClientSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientSecret")
            .field("value", &"[redacted]")
            .field("expires_at", &self.expires_at)
            .finish_non_exhaustive()
    }
}

/// Mints an ephemeral key (`POST /realtime/client_secrets`) for a GA session with `session`
/// (see [`crate::RealtimeRunner::create_client_secret`], which builds it from the agent),
/// valid for `expires_after` (10 s to 2 h; the service's default, 10 minutes, when `None`).
///
/// # Errors
/// The request failed or was refused.
pub(crate) async fn mint(
    rest: &RestClient,
    session: serde_json::Value,
    expires_after: Option<Duration>,
) -> Result<ClientSecret, TransportError> {
    let mut body = serde_json::json!({ "session": session });
    if let Some(d) = expires_after {
        body["expires_after"] = serde_json::json!({"anchor": "created_at", "seconds": d.as_secs()});
    }
    let answer = rest
        .post_json("/realtime/client_secrets", Some(&body))
        .await?;
    let v: serde_json::Value =
        serde_json::from_str(&answer.body).map_err(|e| TransportError::InvalidConfig {
            reason: format!("the client secret answer is not JSON: {e}"),
        })?;
    let value =
        v.get("value")
            .and_then(|x| x.as_str())
            .ok_or_else(|| TransportError::InvalidConfig {
                reason: "the client secret answer has no value".into(),
            })?;
    Ok(ClientSecret {
        value: value.to_owned(),
        expires_at: v
            .get("expires_at")
            .and_then(|x| x.as_i64())
            .unwrap_or_default(),
        session: v.get("session").cloned().unwrap_or_default(),
    })
}
