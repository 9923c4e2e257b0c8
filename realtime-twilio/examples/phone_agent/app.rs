//! The phone agent's pieces, shared by `main.rs` and the crate's test of the example: the
//! agents, the offline fake model, and the router that serves calls.

use realtime_agent::{FunctionTool, Handoff, RealtimeAgent, ToolContext};
use realtime_runner::protocol::Dialect;
use realtime_runner::{OpenAIRealtimeModel, RealtimeRunner, RunConfig, SessionEvent};
use realtime_testkit::{
    tone, FakeRealtimeServer, FakeServerConfig, FnResponder, ItemKind, Pacing, ResponseContext,
    ResponsePart, ResponsePlan,
};
use realtime_twilio::{phone_config, router, CallEvent, TwilioBridge};
use schemars::JsonSchema;
use serde::Deserialize;
use std::time::Instant;

pub(crate) type BoxError = Box<dyn std::error::Error + Send + Sync>;

#[derive(Deserialize, JsonSchema)]
pub(crate) struct HoursArgs {
    /// The day, e.g. "Saturday".
    day: String,
}

/// A receptionist with one tool, who hands billing questions to a billing agent.
pub(crate) fn agents() -> Result<RealtimeAgent<()>, BoxError> {
    let billing = RealtimeAgent::builder("Billing")
        .instructions("You answer questions about invoices. Be brief; this is a phone call.")
        .handoff_description("Invoices, payments and refunds.")
        .build()?;
    let hours = FunctionTool::new(
        "opening_hours",
        "When the shop is open on a day.",
        |_ctx: ToolContext<()>, a: HoursArgs| async move {
            Ok::<_, std::convert::Infallible>(format!("9:00 to 17:00 on {}", a.day))
        },
    )?;
    Ok(RealtimeAgent::builder("Receptionist")
        .instructions(
            "You answer the phone for a bike shop. Use opening_hours for opening times and \
             hand billing questions to Billing. Keep answers short: this is a phone call.",
        )
        .tool(hours)
        .handoff(Handoff::to(&billing))
        .build()?)
}

/// Spoken audio of at least 2 s (so a caller can talk over it), with its transcript.
fn say(text: &str) -> ResponsePart {
    let ms = (text.chars().count() as u64 * 60).max(2_000);
    ResponsePart::Audio {
        pcm: tone(330.0, ms),
        transcript: text.to_owned(),
    }
}

/// What the offline fake model says: greet and check the hours; report them and hand off to
/// billing; then speak as billing, every turn after.
pub(crate) fn scripted_model(ctx: &ResponseContext) -> ResponsePlan {
    let called = |name: &str| {
        ctx.conversation
            .iter()
            .any(|i| matches!(&i.kind, ItemKind::FunctionCall { name: n, .. } if n == name))
    };
    match ctx.pending_tool_output() {
        Some((_, output)) if !called("transfer_to_billing") => ResponsePlan::new([
            say(&format!(
                "We are open {output}. For your bill, let me pass you to billing."
            )),
            ResponsePart::function_call("transfer_to_billing", serde_json::json!({})),
        ]),
        Some(_) => ResponsePlan::new([say(
            "Billing here. I can see your last invoice; what would you like to know?",
        )]),
        None if called("transfer_to_billing") => ResponsePlan::new([say(
            "Your invoice is paid in full, nothing is due. Anything else?",
        )]),
        None => ResponsePlan::new([
            say("Thanks for calling the bike shop, let me check today's hours."),
            ResponsePart::function_call("opening_hours", serde_json::json!({"day": "Saturday"})),
        ]),
    }
}

/// The fake server the example runs against without a key: its server VAD hears the caller.
pub(crate) async fn fake_server() -> Result<FakeRealtimeServer, BoxError> {
    let config = FakeServerConfig::default()
        .with_responder(FnResponder(scripted_model))
        .with_pacing(Pacing::RealTime)
        .with_input_transcript("Hi, when are you open, and is my bill paid?");
    Ok(FakeRealtimeServer::start(config).await?)
}

/// The model: OpenAI with a key, else the fake server at `fake_url`.
pub(crate) fn model(fake_url: Option<String>) -> OpenAIRealtimeModel {
    match fake_url {
        Some(url) => OpenAIRealtimeModel::new()
            .dialect(Dialect::Ga)
            .endpoint(url)
            .auth(realtime_runner::transport::Auth::api_key("sk-offline-demo")),
        None => OpenAIRealtimeModel::new(),
    }
}

/// One log line for the events a phone operator cares about.
pub(crate) fn describe(event: &CallEvent) -> Option<String> {
    Some(match event {
        CallEvent::Started(s) => format!(
            "call started (from {})",
            s.custom_parameters
                .get("From")
                .map_or("unknown", String::as_str)
        ),
        CallEvent::Dtmf { digit } => format!("the caller pressed {digit}"),
        CallEvent::Cleared { .. } => "the caller talked over the agent: playback cleared".into(),
        CallEvent::MalformedMessage { error } => {
            format!("ignored a malformed Twilio message: {error}")
        }
        CallEvent::OutboundDropped { total } => {
            format!("Twilio is slow: {total} audio chunks dropped")
        }
        CallEvent::Session(e) => match e {
            SessionEvent::AgentStart { agent, .. } => format!("{agent} speaks"),
            SessionEvent::ToolStart {
                tool, arguments, ..
            } => format!("tool {tool}({arguments})"),
            SessionEvent::ToolEnd { tool, output, .. } => format!("tool {tool} -> {output}"),
            SessionEvent::Handoff { from, to, .. } => format!("handoff {from} -> {to}"),
            SessionEvent::AudioInterrupted { audio_end_ms, .. } => {
                format!("interrupted at {audio_end_ms} ms")
            }
            SessionEvent::InputTranscriptCompleted { transcript, .. } => {
                format!("caller: {transcript}")
            }
            SessionEvent::Error(e) => format!("error: {}", e.message),
            _ => return None,
        },
        _ => return None,
    })
}

/// The app: `POST /twiml` and `GET /media-stream`, serving any number of calls at once.
pub(crate) fn app(runner: RealtimeRunner<()>) -> Result<axum::Router, BoxError> {
    let bridge = TwilioBridge::new(runner)?;
    let t0 = Instant::now();
    Ok(router(
        bridge,
        |_call| (),
        move |call, _session, event| {
            if let Some(line) = describe(event) {
                eprintln!(
                    "[{:>7.3}s {}] {line}",
                    t0.elapsed().as_secs_f64(),
                    call.call_sid
                );
            }
        },
    ))
}

/// A runner for a phone line against `model`.
pub(crate) fn runner(model: OpenAIRealtimeModel) -> Result<RealtimeRunner<()>, BoxError> {
    Ok(RealtimeRunner::builder(agents()?)
        .config(phone_config(RunConfig::default()))
        .model(model)
        .build())
}
