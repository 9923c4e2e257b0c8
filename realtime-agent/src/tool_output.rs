//! What a tool call produces: [`ToolOutput`] (what a tool function returns: a value, and
//! whether the model answers it now) and [`EncodedOutput`] (the text sent to the model, and
//! the same choice), which the runner receives.

use crate::tool::ToolError;
use serde::Serialize;
use serde_json::Value;

/// A tool function's result and whether the model should answer it now.
///
/// [`Self::respond`] is the usual case: a response is requested once every call of the turn
/// has its output. [`Self::background`] sends the output without requesting a response: for
/// long-running work the model reports later, when the conversation next gives it a turn
/// (the JS SDK's `backgroundResult`). A `String` is sent as it is, any other value as JSON.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ToolOutput<T> {
    value: T,
    respond: bool,
}

impl<T> ToolOutput<T> {
    /// An output the model answers.
    pub fn respond(value: T) -> Self {
        Self {
            value,
            respond: true,
        }
    }

    /// An output sent without requesting a response.
    pub fn background(value: T) -> Self {
        Self {
            value,
            respond: false,
        }
    }

    /// Whether a response is requested for it.
    pub fn responds(&self) -> bool {
        self.respond
    }
}

impl<T: Serialize> ToolOutput<T> {
    /// The text for the model.
    pub(crate) fn encode(self, tool: &str) -> Result<EncodedOutput, ToolError> {
        let text = match serde_json::to_value(&self.value) {
            Ok(Value::String(s)) => s,
            Ok(other) => other.to_string(),
            Err(e) => {
                return Err(ToolError::Failed {
                    tool: tool.to_owned(),
                    message: format!("the output could not be encoded as JSON: {e}"),
                })
            }
        };
        Ok(EncodedOutput {
            text,
            respond: self.respond,
        })
    }
}

/// A call's output as the runner sends it.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct EncodedOutput {
    /// The text sent as the call's output.
    pub text: String,
    /// Whether a response is requested once the turn's calls are settled.
    pub respond: bool,
}

impl EncodedOutput {
    /// Text the model answers.
    pub fn answered(text: String) -> Self {
        Self {
            text,
            respond: true,
        }
    }

    /// Text sent without requesting a response.
    pub fn background(text: String) -> Self {
        Self {
            text,
            respond: false,
        }
    }
}
