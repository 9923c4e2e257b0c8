//! SIP calls through OpenAI's SIP endpoint: a SIP trunk calls the project's number, OpenAI POSTs
//! a signed `realtime.call.incoming` webhook, the application verifies it
//! ([`WebhookVerifier`]), then accepts the call with session settings built from an agent
//! ([`crate::RealtimeRunner::accept_sip_call`], which also attaches the session), or rejects
//! it; once accepted it may refer (transfer) or hang up ([`SipCalls`]).

use crate::settings::SessionSettings;
use realtime_protocol::audio::{decode_base64, encode_base64};
use realtime_transport::{RestClient, TransportError};
use std::fmt;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// An incoming call, from a verified `realtime.call.incoming` webhook.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct IncomingCall {
    /// The webhook event's id (`webhook-id`), for de-duplicating retries.
    pub webhook_id: String,
    /// The call (`rtc_…`) to accept, reject, refer or hang up, and to attach a session to.
    pub call_id: String,
    /// The SIP INVITE's headers, in order.
    pub sip_headers: Vec<(String, String)>,
    /// When the event was created (Unix seconds).
    pub created_at: i64,
}

impl IncomingCall {
    /// A SIP header's value (name in any case), e.g. `From`.
    pub fn sip_header(&self, name: &str) -> Option<&str> {
        self.sip_headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// Why a webhook was not accepted. None is retryable: answer the request with 400.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[non_exhaustive]
pub enum WebhookError {
    /// A `webhook-*` header is missing.
    #[error("the webhook has no `{0}` header")]
    MissingHeader(&'static str),
    /// `webhook-timestamp` is not a Unix time.
    #[error("the webhook timestamp is not a number")]
    BadTimestamp,
    /// The timestamp is outside the tolerance window (a replay, or a clock far off).
    #[error("the webhook is {age_secs} s away from now, beyond the tolerance")]
    OutsideTolerance {
        /// How far from now, in seconds.
        age_secs: i64,
    },
    /// No signature matches the secret.
    #[error("the webhook signature does not match")]
    BadSignature,
    /// The body is not a webhook event.
    #[error("the webhook body is not an event: {0}")]
    BadPayload(String),
    /// A verified event of another type.
    #[error("the webhook is a `{0}` event, not `realtime.call.incoming`")]
    OtherEvent(String),
}

/// Verifies OpenAI's webhooks (the standard-webhooks scheme: HMAC-SHA256 of
/// `{webhook-id}.{webhook-timestamp}.{body}` with the project's webhook secret, compared to each
/// `v1,` signature of `webhook-signature`, the timestamp within a tolerance window).
#[derive(Clone)]
pub struct WebhookVerifier {
    key: Vec<u8>,
    tolerance: Duration,
}

impl fmt::Debug for WebhookVerifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WebhookVerifier")
            .field("key", &"[redacted]")
            .field("tolerance", &self.tolerance)
            .finish()
    }
}

impl WebhookVerifier {
    /// A verifier for the project's webhook secret (`whsec_…`, base64 after the prefix; any
    /// other text is used as raw bytes). Tolerance: 5 minutes.
    pub fn new(secret: &str) -> Self {
        let key = secret
            .strip_prefix("whsec_")
            .and_then(|s| decode_base64(s).ok())
            .unwrap_or_else(|| secret.as_bytes().to_vec());
        Self {
            key,
            tolerance: Duration::from_secs(300),
        }
    }

    /// How far the timestamp may be from now.
    pub fn with_tolerance(mut self, tolerance: Duration) -> Self {
        self.tolerance = tolerance;
        self
    }

    /// Verifies a webhook by its three headers and raw body, and reads the incoming call.
    ///
    /// # Errors
    /// See [`WebhookError`].
    pub fn verify(
        &self,
        webhook_id: Option<&str>,
        webhook_timestamp: Option<&str>,
        webhook_signature: Option<&str>,
        body: &str,
    ) -> Result<IncomingCall, WebhookError> {
        self.verify_at(
            webhook_id,
            webhook_timestamp,
            webhook_signature,
            body,
            SystemTime::now(),
        )
    }

    /// [`Self::verify`] at a given time.
    ///
    /// # Errors
    /// See [`WebhookError`].
    pub fn verify_at(
        &self,
        webhook_id: Option<&str>,
        webhook_timestamp: Option<&str>,
        webhook_signature: Option<&str>,
        body: &str,
        now: SystemTime,
    ) -> Result<IncomingCall, WebhookError> {
        let id = webhook_id.ok_or(WebhookError::MissingHeader("webhook-id"))?;
        let ts_text = webhook_timestamp.ok_or(WebhookError::MissingHeader("webhook-timestamp"))?;
        let signatures =
            webhook_signature.ok_or(WebhookError::MissingHeader("webhook-signature"))?;
        let ts: i64 = ts_text
            .trim()
            .parse()
            .map_err(|_| WebhookError::BadTimestamp)?;
        let now = now
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs() as i64)
            .unwrap_or_default();
        let age = now - ts;
        if age.unsigned_abs() > self.tolerance.as_secs() {
            return Err(WebhookError::OutsideTolerance { age_secs: age });
        }
        let expected = self.sign(id, ts_text.trim(), body);
        let matches = signatures
            .split_whitespace()
            .filter_map(|s| s.strip_prefix("v1,"))
            .filter_map(|s| decode_base64(s).ok())
            .any(|sig| constant_time_eq(&sig, &expected));
        if !matches {
            return Err(WebhookError::BadSignature);
        }
        let event: serde_json::Value =
            serde_json::from_str(body).map_err(|e| WebhookError::BadPayload(e.to_string()))?;
        let kind = event
            .get("type")
            .and_then(|t| t.as_str())
            .unwrap_or_default();
        if kind != "realtime.call.incoming" {
            return Err(WebhookError::OtherEvent(kind.to_owned()));
        }
        let call_id = event
            .pointer("/data/call_id")
            .and_then(|c| c.as_str())
            .ok_or_else(|| WebhookError::BadPayload("no data.call_id".into()))?;
        let sip_headers = event
            .pointer("/data/sip_headers")
            .and_then(|h| h.as_array())
            .map(|list| {
                list.iter()
                    .filter_map(|h| {
                        Some((
                            h.get("name")?.as_str()?.to_owned(),
                            h.get("value")?.as_str()?.to_owned(),
                        ))
                    })
                    .collect()
            })
            .unwrap_or_default();
        Ok(IncomingCall {
            webhook_id: id.to_owned(),
            call_id: call_id.to_owned(),
            sip_headers,
            created_at: event
                .get("created_at")
                .and_then(|c| c.as_i64())
                .unwrap_or(ts),
        })
    }

    fn sign(&self, id: &str, ts: &str, body: &str) -> Vec<u8> {
        use hmac::{KeyInit, Mac};
        let Ok(mut mac) = hmac::Hmac::<sha2::Sha256>::new_from_slice(&self.key) else {
            return Vec::new();
        };
        mac.update(id.as_bytes());
        mac.update(b".");
        mac.update(ts.as_bytes());
        mac.update(b".");
        mac.update(body.as_bytes());
        mac.finalize().into_bytes().to_vec()
    }

    /// The `webhook-signature` value of a payload (`v1,<base64>`), for tests and tools.
    pub fn signature(&self, webhook_id: &str, webhook_timestamp: &str, body: &str) -> String {
        format!(
            "v1,{}",
            encode_base64(&self.sign(webhook_id, webhook_timestamp, body))
        )
    }
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Controls SIP calls over the REST API (`/realtime/calls/{call_id}/…`).
#[derive(Debug, Clone, Default)]
pub struct SipCalls {
    rest: RestClient,
}

impl SipCalls {
    /// Calls through `rest` (its base URL and API key).
    pub fn new(rest: RestClient) -> Self {
        Self { rest }
    }

    fn path(call_id: &str, verb: &str) -> String {
        let safe: String = call_id
            .chars()
            .filter(|c| c.is_ascii_alphanumeric() || *c == '_' || *c == '-')
            .collect();
        format!("/realtime/calls/{safe}/{verb}")
    }

    /// Accepts the call with these session settings (GA). Prefer
    /// [`crate::RealtimeRunner::accept_sip_call`], which builds them from the agent and attaches
    /// the session.
    ///
    /// # Errors
    /// The REST call failed or was refused.
    pub async fn accept(
        &self,
        call_id: &str,
        settings: &SessionSettings,
    ) -> Result<(), TransportError> {
        let session = crate::openai::ga_session_json(settings);
        self.rest
            .post_json(&Self::path(call_id, "accept"), Some(&session))
            .await
            .map(|_| ())
    }

    /// Declines the call with a SIP status (603 Decline when `None`; 486 Busy Here…).
    ///
    /// # Errors
    /// The REST call failed or was refused.
    pub async fn reject(
        &self,
        call_id: &str,
        status_code: Option<u16>,
    ) -> Result<(), TransportError> {
        let body = status_code.map(|c| serde_json::json!({"status_code": c}));
        self.rest
            .post_json(&Self::path(call_id, "reject"), body.as_ref())
            .await
            .map(|_| ())
    }

    /// Transfers an accepted call (`tel:+14155550123`, `sip:agent@example.com`).
    ///
    /// # Errors
    /// The REST call failed or was refused.
    pub async fn refer(&self, call_id: &str, target_uri: &str) -> Result<(), TransportError> {
        let body = serde_json::json!({"target_uri": target_uri});
        self.rest
            .post_json(&Self::path(call_id, "refer"), Some(&body))
            .await
            .map(|_| ())
    }

    /// Ends an accepted call.
    ///
    /// # Errors
    /// The REST call failed or was refused.
    pub async fn hangup(&self, call_id: &str) -> Result<(), TransportError> {
        self.rest
            .post_json(&Self::path(call_id, "hangup"), None)
            .await
            .map(|_| ())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_standard_webhooks_example_verifies() {
        let v = WebhookVerifier::new("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw");
        let body = r#"{"test": 2432232314}"#;
        assert_eq!(
            v.signature("msg_p5jXN8AQM9LWM0D4loKWxJek", "1614265330", body),
            "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
        );
        let at = UNIX_EPOCH + Duration::from_secs(1_614_265_330);
        let sig = "v1,bm9wZQ== v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=";
        // The signature matches; the body is not a call event.
        assert_eq!(
            v.verify_at(
                Some("msg_p5jXN8AQM9LWM0D4loKWxJek"),
                Some("1614265330"),
                Some(sig),
                body,
                at
            ),
            Err(WebhookError::OtherEvent(String::new()))
        );
        assert_eq!(
            v.verify_at(
                Some("msg_p5jXN8AQM9LWM0D4loKWxJek"),
                Some("1614265330"),
                Some("v1,bm9wZQ=="),
                body,
                at
            ),
            Err(WebhookError::BadSignature)
        );
        let late = at + Duration::from_secs(301);
        assert!(matches!(
            v.verify_at(
                Some("msg_p5jXN8AQM9LWM0D4loKWxJek"),
                Some("1614265330"),
                Some(sig),
                body,
                late
            ),
            Err(WebhookError::OutsideTolerance { age_secs: 301 })
        ));
        assert_eq!(
            v.verify_at(None, Some("1"), Some(sig), body, at),
            Err(WebhookError::MissingHeader("webhook-id"))
        );
        assert!(!format!("{v:?}").contains("MfKQ"));
    }
}
