//! A ready axum router for a phone agent: `POST /twiml` answers Twilio's call webhook with
//! TwiML that streams the call to `GET /media-stream`, where the bridge serves it.

use crate::bridge::TwilioBridge;
use crate::twiml;
use crate::types::{CallEvent, CallStart};
use axum::extract::ws::WebSocketUpgrade;
use axum::http::{header, HeaderMap};
use axum::response::IntoResponse;
use axum::routing::{get, post};
use axum::Router;
use realtime_runner::RealtimeSession;
use std::sync::Arc;

/// The fields of Twilio's call webhook passed to the stream as `<Parameter>`s (and so to
/// [`CallStart::custom_parameters`]).
const PASSED: [&str; 4] = ["CallSid", "From", "To", "CallerName"];

/// The router: `POST /twiml` and `GET /media-stream`. `make_ctx` makes each call's session
/// context from its [`CallStart`]; `on_event` sees every call's events with the call they
/// belong to.
pub fn router<Ctx, F, H>(bridge: TwilioBridge<Ctx>, make_ctx: F, on_event: H) -> Router
where
    Ctx: Send + Sync + 'static,
    F: Fn(&CallStart) -> Ctx + Send + Sync + 'static,
    H: Fn(&CallStart, &RealtimeSession<Ctx>, &CallEvent) + Send + Sync + 'static,
{
    let shared = Arc::new((bridge, make_ctx, on_event));
    Router::new().route("/twiml", post(answer)).route(
        "/media-stream",
        get(move |ws: WebSocketUpgrade| {
            let shared = shared.clone();
            async move {
                ws.on_upgrade(move |socket| async move {
                    let (bridge, make_ctx, on_event) = &*shared;
                    let mut start: Option<CallStart> = None;
                    let served = bridge
                        .serve(socket, make_ctx, |session, event| {
                            if let CallEvent::Started(s) = event {
                                start = Some(s.clone());
                            }
                            if let Some(s) = &start {
                                on_event(s, session, event);
                            }
                        })
                        .await;
                    if let Err(e) = served {
                        tracing::warn!(error = %e, "a media stream was not served");
                    }
                })
            }
        }),
    )
}

/// Answers Twilio's call webhook: stream the call to this server's `/media-stream`.
async fn answer(headers: HeaderMap, body: String) -> impl IntoResponse {
    let host = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or("localhost");
    let proto = headers
        .get("x-forwarded-proto")
        .and_then(|h| h.to_str().ok());
    let local =
        host.starts_with("127.") || host.starts_with("localhost") || host.starts_with("[::1]");
    let scheme = match proto {
        Some("http") => "ws",
        Some(_) => "wss",
        None if local => "ws",
        None => "wss",
    };
    let params: Vec<(String, String)> = twiml::parse_form(&body)
        .into_iter()
        .filter(|(k, _)| PASSED.contains(&k.as_str()))
        .collect();
    let xml = twiml::connect_stream(&format!("{scheme}://{host}/media-stream"), &params);
    ([(header::CONTENT_TYPE, "text/xml")], xml)
}
