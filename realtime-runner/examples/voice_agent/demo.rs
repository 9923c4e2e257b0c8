//! The demo conversation of `voice_agent`, shared with its test (`tests/voice_agent_credits.rs`):
//! the agents, the fake model's script, the generated input speech, and how each sentence is
//! credited to the agent that said it.

use realtime_agent::{FunctionTool, Handoff, RealtimeAgent, ToolContext};
use realtime_runner::SessionEvent;
use realtime_testkit::{
    FakeServerConfig, FnResponder, ItemKind, ResponseContext, ResponsePart, ResponsePlan,
};
use schemars::JsonSchema;
use serde::Deserialize;

pub(crate) type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// The fake server of the offline demo: the scripted model, a transcript for the user's
/// audio, and 100 ms audio deltas.
pub(crate) fn fake_server_config() -> FakeServerConfig {
    FakeServerConfig::default()
        .with_responder(FnResponder(scripted_model))
        .with_input_transcript("What's the weather like in Paris?")
        .with_audio_chunk_bytes(4_800)
}

/// What each agent said: the text of a response, credited when it ends to the agent that
/// made it.
#[derive(Debug, Default)]
pub(crate) struct Credits {
    text: String,
}

impl Credits {
    /// Follows one event; at the end of a response, who said what.
    pub(crate) fn on_event(&mut self, event: &SessionEvent) -> Option<(String, String)> {
        match event {
            SessionEvent::TranscriptDelta { delta, .. } | SessionEvent::TextDelta { delta, .. } => {
                self.text.push_str(delta);
                None
            }
            SessionEvent::AgentEnd { agent, .. } if !self.text.is_empty() => {
                let said = std::mem::take(&mut self.text);
                Some((agent.clone(), said.trim().to_owned()))
            }
            _ => None,
        }
    }
}

#[derive(Deserialize, JsonSchema)]
struct WeatherArgs {
    /// The city, e.g. "Paris".
    city: String,
}

pub(crate) fn agents() -> Result<RealtimeAgent<()>, BoxError> {
    let travel = RealtimeAgent::builder("Travel Agent")
        .instructions("You help callers plan trips. Be warm and brief.")
        .handoff_description("Plans trips and books travel.")
        .build()?;
    let weather = FunctionTool::new(
        "get_weather",
        "The current weather in a city.",
        |_ctx: ToolContext<()>, a: WeatherArgs| async move {
            // A real tool would call a weather service here.
            Ok::<_, std::convert::Infallible>(format!("sunny and 21 °C in {}", a.city))
        },
    )?;
    Ok(RealtimeAgent::builder("Weather Agent")
        .instructions(
            "You answer weather questions with the get_weather tool, then offer the travel agent.",
        )
        .tool(weather)
        .handoff(Handoff::to(&travel))
        .build()?)
}

/// What the offline fake model says: greet and call the tool; report the weather and hand off;
/// then speak as the travel agent.
pub(crate) fn scripted_model(ctx: &ResponseContext) -> ResponsePlan {
    let call_name = |call_id: &str| {
        ctx.conversation.iter().find_map(|i| match &i.kind {
            ItemKind::FunctionCall {
                call_id: c, name, ..
            } if c == call_id => Some(name.clone()),
            _ => None,
        })
    };
    match ctx.pending_tool_output() {
        Some((call_id, output)) if call_name(call_id).as_deref() == Some("get_weather") => {
            ResponsePlan::new([
                ResponsePart::speech(format!(
                    "It is {output}. Let me pass you to our travel agent."
                )),
                ResponsePart::function_call("transfer_to_travel_agent", serde_json::json!({})),
            ])
        }
        Some(_) => ResponsePlan::speech(
            "Hi, travel agent here. Paris is lovely this week; shall I look at trains?",
        ),
        None => ResponsePlan::new([
            ResponsePart::speech("Let me check the weather for you."),
            ResponsePart::function_call("get_weather", serde_json::json!({"city": "Paris"})),
        ]),
    }
}

/// About 1.6 s of a speech-like signal: voiced "syllables" (a 140 Hz buzz with formants) and
/// short pauses, PCM16 24 kHz.
pub(crate) fn speech_like() -> Vec<i16> {
    let rate = 24_000.0;
    let mut out = Vec::new();
    for (i, formant) in [700.0, 1200.0, 500.0, 900.0].iter().enumerate() {
        let n = (0.28 * rate) as usize;
        for k in 0..n {
            let t = k as f64 / rate;
            let env = (std::f64::consts::PI * k as f64 / n as f64).sin().powi(2);
            let f0 = 140.0 + 10.0 * i as f64;
            let mut v = 0.0;
            for h in 1..12 {
                let f = f0 * h as f64;
                let gain = 1.0 / (1.0 + ((f - formant) / 250.0).powi(2));
                v += gain * (2.0 * std::f64::consts::PI * f * t).sin();
            }
            out.push((v * env * 6_000.0).clamp(-32_000.0, 32_000.0) as i16);
        }
        out.extend(std::iter::repeat_n(0, (0.12 * rate) as usize));
    }
    out
}
