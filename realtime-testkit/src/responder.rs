//! What the fake model says: a [`Responder`] sees the conversation and returns a
//! [`ResponsePlan`]; the server streams it as the service would.

use crate::model::{Item, ItemKind, Role};
use async_trait::async_trait;
use realtime_protocol::Dialect;
use std::collections::VecDeque;
use std::sync::Mutex;

/// What a responder sees when a response starts.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct ResponseContext {
    /// The conversation so far, in order.
    pub conversation: Vec<Item>,
    /// The session's instructions (or the response's own, when `response.create` set them).
    pub instructions: Option<String>,
    /// The names of the function tools the session (or response) offers.
    pub tools: Vec<String>,
    /// Whether the session asked for audio output.
    pub audio: bool,
    /// The connection's dialect.
    pub dialect: Dialect,
    /// How many responses this connection started before this one.
    pub response_index: usize,
}

impl ResponseContext {
    /// The text of the last user message (its input text or audio transcript).
    pub fn last_user_text(&self) -> Option<String> {
        self.conversation
            .iter()
            .rev()
            .find(|i| i.role() == Some(Role::User))
            .and_then(Item::text)
    }

    /// The last item, when it is a function call output: `(call_id, output)`.
    pub fn pending_tool_output(&self) -> Option<(&str, &str)> {
        match &self.conversation.last()?.kind {
            ItemKind::FunctionCallOutput { call_id, output } => Some((call_id, output)),
            _ => None,
        }
    }
}

/// One piece of a response, in the order it is streamed.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum ResponsePart {
    /// An assistant message with one text part.
    Text(String),
    /// An assistant message with audio (PCM16, 24 kHz mono) and its transcript.
    Audio {
        /// The PCM bytes, split into deltas of the configured size.
        pcm: Vec<u8>,
        /// The transcript, streamed alongside.
        transcript: String,
    },
    /// A function call.
    FunctionCall {
        /// The function name.
        name: String,
        /// The JSON arguments, as text.
        arguments: String,
        /// The call id; a seeded one is made when `None`.
        call_id: Option<String>,
    },
    /// A call of a hosted MCP server's tool (GA), answered by the server's
    /// [`crate::McpServerScript`]; when the session's `require_approval` covers the tool and
    /// no approval was given yet, an `mcp_approval_request` item instead.
    McpCall {
        /// The server's label.
        server_label: String,
        /// The tool.
        name: String,
        /// The JSON arguments, as text.
        arguments: String,
    },
    /// An `error` event; the response ends as `failed`.
    Error {
        /// The error code, e.g. `server_error`.
        code: String,
        /// The message.
        message: String,
    },
}

impl ResponsePart {
    /// A text message.
    pub fn text(text: impl Into<String>) -> Self {
        Self::Text(text.into())
    }

    /// Spoken audio: a deterministic tone as long as the transcript would take to say.
    pub fn speech(transcript: impl Into<String>) -> Self {
        let transcript = transcript.into();
        Self::Audio {
            pcm: tone_for_text(&transcript),
            transcript,
        }
    }

    /// A hosted MCP tool call with JSON arguments.
    pub fn mcp_call(
        server_label: impl Into<String>,
        name: impl Into<String>,
        arguments: serde_json::Value,
    ) -> Self {
        Self::McpCall {
            server_label: server_label.into(),
            name: name.into(),
            arguments: arguments.to_string(),
        }
    }

    /// A function call with JSON arguments.
    pub fn function_call(name: impl Into<String>, arguments: serde_json::Value) -> Self {
        Self::FunctionCall {
            name: name.into(),
            arguments: arguments.to_string(),
            call_id: None,
        }
    }
}

/// A whole response: its parts in order. An empty plan is a response with no output.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ResponsePlan {
    /// The parts, streamed in order.
    pub parts: Vec<ResponsePart>,
}

impl ResponsePlan {
    /// A plan of the given parts.
    pub fn new(parts: impl IntoIterator<Item = ResponsePart>) -> Self {
        Self {
            parts: parts.into_iter().collect(),
        }
    }

    /// A plan of one text message.
    pub fn text(text: impl Into<String>) -> Self {
        Self::new([ResponsePart::text(text)])
    }

    /// A plan of one spoken message.
    pub fn speech(transcript: impl Into<String>) -> Self {
        Self::new([ResponsePart::speech(transcript)])
    }
}

/// Decides what the fake model answers.
#[async_trait]
pub trait Responder: Send + Sync + 'static {
    /// The response to stream for this context.
    async fn respond(&self, ctx: &ResponseContext) -> ResponsePlan;

    /// The transcript of committed user audio (the fake does not recognize speech). `None`, the
    /// default, takes the configured transcript (`FakeServerConfig::input_transcript`, or the
    /// one set with `ConnectionHandle::set_input_transcript`).
    async fn transcribe(&self, audio: &CommittedAudio) -> Option<String> {
        let _ = audio;
        None
    }
}

/// User audio the server committed, as a responder's [`Responder::transcribe`] sees it.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct CommittedAudio {
    /// The user item it became.
    pub item_id: String,
    /// Its length in milliseconds.
    pub duration_ms: u64,
    /// How many user audio turns this connection committed before this one.
    pub index: usize,
    /// The connection's dialect.
    pub dialect: Dialect,
}

/// A closure as a responder.
#[derive(Debug)]
pub struct FnResponder<F>(pub F);

#[async_trait]
impl<F> Responder for FnResponder<F>
where
    F: Fn(&ResponseContext) -> ResponsePlan + Send + Sync + 'static,
{
    async fn respond(&self, ctx: &ResponseContext) -> ResponsePlan {
        (self.0)(ctx)
    }
}

/// Repeats the last user text: as text, or as audio (a deterministic tone) with the text as
/// its transcript. With no user text it says `"I heard you."`.
#[derive(Debug, Clone, Copy, Default)]
pub struct Echo {
    /// Answer with audio + transcript instead of text. By default follows the session: audio
    /// when the session's output includes audio.
    pub audio: Option<bool>,
}

impl Echo {
    /// Echo as text.
    pub fn text() -> Self {
        Self { audio: Some(false) }
    }

    /// Echo as audio with a transcript.
    pub fn audio() -> Self {
        Self { audio: Some(true) }
    }
}

#[async_trait]
impl Responder for Echo {
    async fn respond(&self, ctx: &ResponseContext) -> ResponsePlan {
        let text = match ctx.pending_tool_output() {
            Some((_, output)) => format!("The tool said: {output}"),
            None => ctx
                .last_user_text()
                .unwrap_or_else(|| "I heard you.".to_owned()),
        };
        if self.audio.unwrap_or(ctx.audio) {
            ResponsePlan::speech(text)
        } else {
            ResponsePlan::text(text)
        }
    }
}

/// Plays a queue of responses in order; once empty, it answers with an error part saying so.
#[derive(Debug, Default)]
pub struct Scripted {
    queue: Mutex<VecDeque<ResponsePlan>>,
}

impl Scripted {
    /// A script of responses.
    pub fn new(plans: impl IntoIterator<Item = ResponsePlan>) -> Self {
        Self {
            queue: Mutex::new(plans.into_iter().collect()),
        }
    }

    /// Adds a response at the end of the script.
    pub fn push(&self, plan: ResponsePlan) {
        if let Ok(mut q) = self.queue.lock() {
            q.push_back(plan);
        }
    }

    /// How many responses are left.
    pub fn remaining(&self) -> usize {
        self.queue.lock().map(|q| q.len()).unwrap_or(0)
    }
}

#[async_trait]
impl Responder for Scripted {
    async fn respond(&self, _ctx: &ResponseContext) -> ResponsePlan {
        let next = self.queue.lock().ok().and_then(|mut q| q.pop_front());
        next.unwrap_or_else(|| {
            ResponsePlan::new([ResponsePart::Error {
                code: "script_exhausted".into(),
                message: "the fake server's script has no more responses".into(),
            }])
        })
    }
}

/// A tool the [`ToolCaller`] calls when the user mentions one of its keywords.
#[derive(Debug, Clone)]
struct ToolRule {
    name: String,
    keywords: Vec<String>,
    arguments: serde_json::Value,
}

/// Calls a tool when the user's text mentions it, then answers with the tool's output.
///
/// A user turn that mentions a keyword (case-insensitive) of a tool the session offers gets a
/// function call; the response that follows the client's `function_call_output` says
/// `"<prefix><output>"`. Other turns are echoed.
#[derive(Debug, Clone)]
pub struct ToolCaller {
    rules: Vec<ToolRule>,
    answer_prefix: String,
    audio: Option<bool>,
}

impl Default for ToolCaller {
    fn default() -> Self {
        Self {
            rules: Vec::new(),
            answer_prefix: "Here is what I found: ".into(),
            audio: None,
        }
    }
}

impl ToolCaller {
    /// A tool caller with no tools.
    pub fn new() -> Self {
        Self::default()
    }

    /// Calls `name` with `arguments` when the user says any of `keywords` (or the tool's name).
    pub fn tool(
        mut self,
        name: impl Into<String>,
        keywords: impl IntoIterator<Item = impl Into<String>>,
        arguments: serde_json::Value,
    ) -> Self {
        let name = name.into();
        let mut keywords: Vec<String> = keywords
            .into_iter()
            .map(|k| k.into().to_lowercase())
            .collect();
        keywords.push(name.to_lowercase());
        self.rules.push(ToolRule {
            name,
            keywords,
            arguments,
        });
        self
    }

    /// What the answer after a tool output starts with.
    pub fn answer_prefix(mut self, prefix: impl Into<String>) -> Self {
        self.answer_prefix = prefix.into();
        self
    }

    /// Answer with audio (`true`) or text (`false`); by default follows the session.
    pub fn audio(mut self, audio: bool) -> Self {
        self.audio = Some(audio);
        self
    }

    fn say(&self, ctx: &ResponseContext, text: String) -> ResponsePlan {
        if self.audio.unwrap_or(ctx.audio) {
            ResponsePlan::speech(text)
        } else {
            ResponsePlan::text(text)
        }
    }
}

#[async_trait]
impl Responder for ToolCaller {
    async fn respond(&self, ctx: &ResponseContext) -> ResponsePlan {
        if let Some((_, output)) = ctx.pending_tool_output() {
            return self.say(ctx, format!("{}{output}", self.answer_prefix));
        }
        let said = ctx.last_user_text().unwrap_or_default();
        let lower = said.to_lowercase();
        let hit = self.rules.iter().find(|r| {
            (ctx.tools.is_empty() || ctx.tools.contains(&r.name))
                && r.keywords.iter().any(|k| lower.contains(k.as_str()))
        });
        match hit {
            Some(rule) => ResponsePlan::new([ResponsePart::function_call(
                &rule.name,
                rule.arguments.clone(),
            )]),
            None => self.say(
                ctx,
                if said.is_empty() {
                    "I heard you.".to_owned()
                } else {
                    said
                },
            ),
        }
    }
}

/// A deterministic tone (440 Hz with a slow envelope), PCM16 24 kHz mono, 60 ms per character
/// of `text`, between 200 ms and 5 s.
pub fn tone_for_text(text: &str) -> Vec<u8> {
    let ms = (text.chars().count() as u64 * 60).clamp(200, 5_000);
    tone(440.0, ms)
}

/// A sine tone of `ms` milliseconds, PCM16 24 kHz mono. The same arguments give the same bytes.
pub fn tone(freq_hz: f64, ms: u64) -> Vec<u8> {
    let samples = (ms * 24) as usize;
    let mut out = Vec::with_capacity(samples * 2);
    for n in 0..samples {
        let t = n as f64 / 24_000.0;
        let envelope = (std::f64::consts::PI * n as f64 / samples.max(1) as f64).sin();
        let v = (2.0 * std::f64::consts::PI * freq_hz * t).sin() * envelope * 8_000.0;
        out.extend_from_slice(&(v.round() as i16).to_le_bytes());
    }
    out
}
