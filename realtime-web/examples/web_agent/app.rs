//! The web agent's pieces, shared by `main.rs` and the crate's browser test: the agents, the
//! offline fake model and the relay.

use realtime_agent::{FunctionTool, Handoff, RealtimeAgent, ToolContext};
use realtime_runner::protocol::Dialect;
use realtime_runner::{OpenAIRealtimeModel, RealtimeRunner, RunConfig};
use realtime_testkit::{
    tone, FakeRealtimeServer, FakeServerConfig, FnResponder, ItemKind, Pacing, ResponseContext,
    ResponsePart, ResponsePlan,
};
use realtime_web::{router, WebOptions};
use schemars::JsonSchema;
use serde::Deserialize;

pub(crate) type BoxError = Box<dyn std::error::Error + Send + Sync>;

#[derive(Deserialize, JsonSchema)]
pub(crate) struct WeatherArgs {
    /// The city.
    city: String,
}

/// A weather agent with one tool, who hands trip planning to a travel agent.
pub(crate) fn agents() -> Result<RealtimeAgent<()>, BoxError> {
    let travel = RealtimeAgent::builder("Travel Agent")
        .instructions("You plan trips. Be warm and brief.")
        .handoff_description("Plans trips.")
        .build()?;
    let weather = FunctionTool::new(
        "get_weather",
        "The current weather in a city.",
        |_ctx: ToolContext<()>, a: WeatherArgs| async move {
            Ok::<_, std::convert::Infallible>(format!("sunny and 21 °C in {}", a.city))
        },
    )?;
    Ok(RealtimeAgent::builder("Weather Agent")
        .instructions("Answer weather questions with get_weather, then offer the travel agent.")
        .tool(weather)
        .handoff(Handoff::to(&travel))
        .build()?)
}

/// Spoken audio of at least 2 s, so a person can talk over it.
fn say(text: &str) -> ResponsePart {
    let ms = (text.chars().count() as u64 * 60).max(2_500);
    ResponsePart::Audio {
        pcm: tone(330.0, ms),
        transcript: text.to_owned(),
    }
}

/// The offline model: check the weather, report it and hand off, then speak as the travel
/// agent on every later turn.
pub(crate) fn scripted_model(ctx: &ResponseContext) -> ResponsePlan {
    let called = |name: &str| {
        ctx.conversation
            .iter()
            .any(|i| matches!(&i.kind, ItemKind::FunctionCall { name: n, .. } if n == name))
    };
    match ctx.pending_tool_output() {
        Some((_, output)) if !called("transfer_to_travel_agent") => ResponsePlan::new([
            say(&format!(
                "It is {output}. Let me pass you to our travel agent."
            )),
            ResponsePart::function_call("transfer_to_travel_agent", serde_json::json!({})),
        ]),
        Some(_) => ResponsePlan::new([say(
            "Travel agent here. Paris is lovely this week; shall I look at trains?",
        )]),
        None if called("transfer_to_travel_agent") => ResponsePlan::new([say(
            "Trains to Paris leave every hour; the next one is at ten past.",
        )]),
        None => ResponsePlan::new([
            say("Let me check the weather in Paris for you."),
            ResponsePart::function_call("get_weather", serde_json::json!({"city": "Paris"})),
        ]),
    }
}

/// The fake server the example runs against without a key; its server VAD hears the
/// microphone.
pub(crate) async fn fake_server() -> Result<FakeRealtimeServer, BoxError> {
    let config = FakeServerConfig::default()
        .with_responder(FnResponder(scripted_model))
        .with_pacing(Pacing::RealTime)
        .with_input_transcript("What's the weather in Paris?");
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

/// The relay with the example's agents.
pub(crate) fn app(model: OpenAIRealtimeModel) -> Result<axum::Router, BoxError> {
    let runner = RealtimeRunner::builder(agents()?)
        .config(RunConfig::default())
        .model(model)
        .build();
    Ok(router(runner, |_headers| (), WebOptions::default()))
}
