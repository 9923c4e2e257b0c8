//! The WebSocket the bridge talks to Twilio on: any `Stream + Sink` of messages that can carry
//! text, so axum's and tokio-tungstenite's sockets both work (and a test's own).

/// What the bridge needs of a WebSocket message type.
pub trait TwilioSocketMessage: Send + Sized + 'static {
    /// A text frame.
    fn text(text: String) -> Self;
    /// A close frame with a code and reason.
    fn close(code: u16, reason: &str) -> Self;
    /// The text of a text frame.
    fn as_text(&self) -> Option<&str>;
    /// Whether this is a close frame.
    fn is_close(&self) -> bool;
}

#[cfg(feature = "tungstenite")]
#[cfg_attr(docsrs, doc(cfg(feature = "tungstenite")))]
mod tungstenite_impl {
    use super::TwilioSocketMessage;
    use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
    use tokio_tungstenite::tungstenite::protocol::CloseFrame;
    use tokio_tungstenite::tungstenite::Message;

    impl TwilioSocketMessage for Message {
        fn text(text: String) -> Self {
            Message::text(text)
        }

        fn close(code: u16, reason: &str) -> Self {
            Message::Close(Some(CloseFrame {
                code: CloseCode::from(code),
                reason: reason.to_owned().into(),
            }))
        }

        fn as_text(&self) -> Option<&str> {
            match self {
                Message::Text(t) => Some(t.as_str()),
                _ => None,
            }
        }

        fn is_close(&self) -> bool {
            matches!(self, Message::Close(_))
        }
    }
}

#[cfg(feature = "axum")]
#[cfg_attr(docsrs, doc(cfg(feature = "axum")))]
mod axum_impl {
    use super::TwilioSocketMessage;
    use axum::extract::ws::{CloseFrame, Message};

    impl TwilioSocketMessage for Message {
        fn text(text: String) -> Self {
            Message::Text(text.into())
        }

        fn close(code: u16, reason: &str) -> Self {
            Message::Close(Some(CloseFrame {
                code,
                reason: reason.to_owned().into(),
            }))
        }

        fn as_text(&self) -> Option<&str> {
            match self {
                Message::Text(t) => Some(t.as_str()),
                _ => None,
            }
        }

        fn is_close(&self) -> bool {
            matches!(self, Message::Close(_))
        }
    }
}
