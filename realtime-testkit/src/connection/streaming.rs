//! Responses: planning a responder's answer into steps, streaming them event by event,
//! cancelling, and the `response` object with its usage.

use super::mcp::McpStep;
use super::{Connection, End, Sink};
use crate::model::{event_part_json, Item, ItemKind, Part, Role};
use crate::responder::{ResponseContext, ResponsePart, ResponsePlan};
use crate::vad::Encoding;
use serde_json::{json, Value};
use std::collections::VecDeque;
use tokio::time::Instant;

/// One step of a streaming response.
#[derive(Debug)]
pub(super) enum Step {
    Created,
    ItemAdded {
        item: Item,
        output_index: usize,
    },
    PartAdded {
        item_id: String,
        output_index: usize,
        part: Part,
    },
    TextDelta {
        item_id: String,
        output_index: usize,
        delta: String,
    },
    TextDone {
        item_id: String,
        output_index: usize,
    },
    AudioDelta {
        item_id: String,
        output_index: usize,
        pcm: Vec<u8>,
    },
    TranscriptDelta {
        item_id: String,
        output_index: usize,
        delta: String,
    },
    AudioDone {
        item_id: String,
        output_index: usize,
    },
    TranscriptDone {
        item_id: String,
        output_index: usize,
    },
    PartDone {
        item_id: String,
        output_index: usize,
    },
    ArgsDelta {
        item_id: String,
        output_index: usize,
        call_id: String,
        delta: String,
    },
    ArgsDone {
        item_id: String,
        output_index: usize,
        call_id: String,
    },
    ItemDone {
        item_id: String,
        output_index: usize,
    },
    Error {
        code: String,
        message: String,
    },
    Mcp(McpStep),
    Done,
}

#[derive(Debug)]
pub(super) struct ActiveResponse {
    pub(super) id: String,
    pub(super) steps: VecDeque<Step>,
    pub(super) output: Vec<String>,
    pub(super) started: Instant,
    /// Audio sent so far in this response, for real-time pacing.
    pub(super) audio_ms: f64,
    pub(super) status: &'static str,
    pub(super) output_audio: bool,
    /// Bytes per millisecond of the output encoding, for real-time pacing.
    pub(super) bytes_per_ms: f64,
}

impl Connection {
    pub(super) async fn on_response_create(
        &mut self,
        sink: &mut Sink,
        raw: &Value,
        eid: Option<String>,
    ) -> End {
        if let Some(active) = &self.active {
            let msg = format!(
                "Conversation already has an active response in progress: {}. Wait until the response is finished before creating a new response.",
                active.id
            );
            return self
                .send_error(
                    sink,
                    "invalid_request_error",
                    Some("conversation_already_has_active_response"),
                    &msg,
                    None,
                    eid,
                )
                .await;
        }
        self.start_response(sink, raw.get("response")).await
    }

    pub(super) async fn on_response_cancel(&mut self, sink: &mut Sink, eid: Option<String>) -> End {
        if self.active.is_none() {
            let msg = "Cancellation failed: no active response found";
            return self
                .send_error(
                    sink,
                    "invalid_request_error",
                    Some("response_cancel_not_active"),
                    msg,
                    None,
                    eid,
                )
                .await;
        }
        self.cancel_active(sink, "client_cancelled").await
    }

    pub(super) async fn start_response(&mut self, sink: &mut Sink, params: Option<&Value>) -> End {
        let output_audio = self.output_audio(params);
        let tools_of = |v: Option<&Value>| -> Option<Vec<String>> {
            v?.get("tools")?.as_array().map(|t| {
                t.iter()
                    .filter_map(|x| x.get("name")?.as_str().map(str::to_owned))
                    .collect()
            })
        };
        let ctx = ResponseContext {
            conversation: self.conversation.clone(),
            instructions: params
                .and_then(|p| p.get("instructions"))
                .or_else(|| self.session.get("instructions"))
                .and_then(Value::as_str)
                .map(str::to_owned),
            tools: tools_of(params)
                .or_else(|| tools_of(Some(&self.session)))
                .unwrap_or_default(),
            audio: output_audio,
            dialect: self.dialect,
            response_index: self.responses,
        };
        self.responses += 1;
        let plan = self.config.responder.respond(&ctx).await;
        let id = self.ids.next("resp");
        let steps = self.plan_steps(plan);
        self.active = Some(ActiveResponse {
            id,
            steps,
            output: Vec::new(),
            started: Instant::now(),
            audio_ms: 0.0,
            status: "completed",
            output_audio,
            bytes_per_ms: self.output_encoding().bytes_per_ms(),
        });
        self.step(sink).await
    }

    pub(super) fn plan_steps(&mut self, plan: ResponsePlan) -> VecDeque<Step> {
        let mut steps = VecDeque::from([Step::Created]);
        // Responders speak PCM16 24 kHz; a G.711 session hears it as G.711 8 kHz, in chunks of
        // the same duration.
        let encoding = self.output_encoding();
        let chunk_ms = self.config.audio_chunk_bytes.max(2) as f64 / 48.0;
        let chunk = ((chunk_ms * encoding.bytes_per_ms()) as usize).max(1);
        for (output_index, part) in plan.parts.into_iter().enumerate() {
            match part {
                ResponsePart::Text(text) => {
                    let item_id = self.ids.next("item");
                    let item = assistant_item(&item_id);
                    steps.push_back(Step::ItemAdded { item, output_index });
                    steps.push_back(Step::PartAdded {
                        item_id: item_id.clone(),
                        output_index,
                        part: Part::Text(String::new()),
                    });
                    for w in words(&text) {
                        steps.push_back(Step::TextDelta {
                            item_id: item_id.clone(),
                            output_index,
                            delta: w,
                        });
                    }
                    steps.push_back(Step::TextDone {
                        item_id: item_id.clone(),
                        output_index,
                    });
                    steps.push_back(Step::PartDone {
                        item_id: item_id.clone(),
                        output_index,
                    });
                    steps.push_back(Step::ItemDone {
                        item_id,
                        output_index,
                    });
                }
                ResponsePart::Audio { pcm, transcript } => {
                    let item_id = self.ids.next("item");
                    steps.push_back(Step::ItemAdded {
                        item: assistant_item(&item_id),
                        output_index,
                    });
                    let part = Part::Audio {
                        audio_bytes: 0,
                        transcript: Some(String::new()),
                    };
                    steps.push_back(Step::PartAdded {
                        item_id: item_id.clone(),
                        output_index,
                        part,
                    });
                    let pcm = encode_output(&pcm, encoding);
                    let chunks: Vec<&[u8]> = pcm.chunks(chunk).collect();
                    let ws = words(&transcript);
                    let n = chunks.len().max(1);
                    let mut wi = 0;
                    for (ci, c) in chunks.iter().enumerate() {
                        while wi < ws.len() && wi * n / ws.len().max(1) <= ci {
                            steps.push_back(Step::TranscriptDelta {
                                item_id: item_id.clone(),
                                output_index,
                                delta: ws[wi].clone(),
                            });
                            wi += 1;
                        }
                        steps.push_back(Step::AudioDelta {
                            item_id: item_id.clone(),
                            output_index,
                            pcm: c.to_vec(),
                        });
                    }
                    for w in &ws[wi..] {
                        steps.push_back(Step::TranscriptDelta {
                            item_id: item_id.clone(),
                            output_index,
                            delta: w.clone(),
                        });
                    }
                    steps.push_back(Step::AudioDone {
                        item_id: item_id.clone(),
                        output_index,
                    });
                    steps.push_back(Step::TranscriptDone {
                        item_id: item_id.clone(),
                        output_index,
                    });
                    steps.push_back(Step::PartDone {
                        item_id: item_id.clone(),
                        output_index,
                    });
                    steps.push_back(Step::ItemDone {
                        item_id,
                        output_index,
                    });
                }
                ResponsePart::FunctionCall {
                    name,
                    arguments,
                    call_id,
                } => {
                    let item_id = self.ids.next("item");
                    let call_id = call_id.unwrap_or_else(|| self.ids.next("call"));
                    let item = Item {
                        id: item_id.clone(),
                        kind: ItemKind::FunctionCall {
                            call_id: call_id.clone(),
                            name,
                            arguments: String::new(),
                        },
                        status: "in_progress",
                    };
                    steps.push_back(Step::ItemAdded { item, output_index });
                    for d in split_chunks(&arguments, 16) {
                        steps.push_back(Step::ArgsDelta {
                            item_id: item_id.clone(),
                            output_index,
                            call_id: call_id.clone(),
                            delta: d,
                        });
                    }
                    steps.push_back(Step::ArgsDone {
                        item_id: item_id.clone(),
                        output_index,
                        call_id,
                    });
                    steps.push_back(Step::ItemDone {
                        item_id,
                        output_index,
                    });
                }
                ResponsePart::McpCall {
                    server_label,
                    name,
                    arguments,
                } => self.plan_mcp_call(server_label, name, arguments, output_index, &mut steps),
                ResponsePart::Error { code, message } => {
                    steps.push_back(Step::Error { code, message })
                }
            }
        }
        steps.push_back(Step::Done);
        steps
    }

    /// Runs the next step of the active response.
    pub(super) async fn step(&mut self, sink: &mut Sink) -> End {
        let Some(active) = self.active.as_mut() else {
            return End::Continue;
        };
        let Some(step) = active.steps.pop_front() else {
            self.active = None;
            return End::Continue;
        };
        let rid = active.id.clone();
        match step {
            Step::Created => {
                let resp = self.response_json(&rid, "in_progress", None);
                self.send(sink, json!({"type": "response.created", "response": resp}))
                    .await
            }
            Step::ItemAdded { item, output_index } => {
                let id = item.id.clone();
                if let Some(a) = self.active.as_mut() {
                    a.output.push(id.clone());
                }
                let prev = self.insert(item, None).unwrap_or_default();
                let item = self.item_json(&id);
                let end = self.send(sink, json!({"type": "response.output_item.added", "response_id": rid, "output_index": output_index, "item": item})).await;
                if !matches!(end, End::Continue) {
                    return end;
                }
                let kind = self.name("conversation.item.added", "conversation.item.created");
                self.send(
                    sink,
                    json!({"type": kind, "previous_item_id": prev, "item": item}),
                )
                .await
            }
            Step::PartAdded {
                item_id,
                output_index,
                part,
            } => {
                let content_index = match self.item_mut(&item_id).map(|i| &mut i.kind) {
                    Some(ItemKind::Message { content, .. }) => {
                        content.push(part.clone());
                        content.len() - 1
                    }
                    _ => 0,
                };
                self.sync_conversation();
                let ev = json!({"type": "response.content_part.added", "response_id": rid, "item_id": item_id, "output_index": output_index, "content_index": content_index, "part": event_part_json(&part)});
                self.send(sink, ev).await
            }
            Step::TextDelta {
                item_id,
                output_index,
                delta,
            } => {
                if let Some(ItemKind::Message { content, .. }) =
                    self.item_mut(&item_id).map(|i| &mut i.kind)
                {
                    if let Some(Part::Text(t)) = content.last_mut() {
                        t.push_str(&delta);
                    }
                }
                self.sync_conversation();
                let kind = self.name("response.output_text.delta", "response.text.delta");
                self.send(sink, json!({"type": kind, "response_id": rid, "item_id": item_id, "output_index": output_index, "content_index": 0, "delta": delta})).await
            }
            Step::TextDone {
                item_id,
                output_index,
            } => {
                let text = match self.last_part(&item_id) {
                    Some(Part::Text(t)) => t,
                    _ => String::new(),
                };
                let kind = self.name("response.output_text.done", "response.text.done");
                self.send(sink, json!({"type": kind, "response_id": rid, "item_id": item_id, "output_index": output_index, "content_index": 0, "text": text})).await
            }
            Step::AudioDelta {
                item_id,
                output_index,
                pcm,
            } => {
                if let Some(ItemKind::Message { content, .. }) =
                    self.item_mut(&item_id).map(|i| &mut i.kind)
                {
                    if let Some(Part::Audio { audio_bytes, .. }) = content.last_mut() {
                        *audio_bytes += pcm.len();
                    }
                }
                if let Some(a) = self.active.as_mut() {
                    a.audio_ms += pcm.len() as f64 / a.bytes_per_ms;
                }
                self.sync_conversation();
                let kind = self.name("response.output_audio.delta", "response.audio.delta");
                let delta = realtime_protocol::audio::encode_base64(&pcm);
                self.send(sink, json!({"type": kind, "response_id": rid, "item_id": item_id, "output_index": output_index, "content_index": 0, "delta": delta})).await
            }
            Step::TranscriptDelta {
                item_id,
                output_index,
                delta,
            } => {
                if let Some(ItemKind::Message { content, .. }) =
                    self.item_mut(&item_id).map(|i| &mut i.kind)
                {
                    if let Some(Part::Audio {
                        transcript: Some(t),
                        ..
                    }) = content.last_mut()
                    {
                        t.push_str(&delta);
                    }
                }
                self.sync_conversation();
                let kind = self.name(
                    "response.output_audio_transcript.delta",
                    "response.audio_transcript.delta",
                );
                self.send(sink, json!({"type": kind, "response_id": rid, "item_id": item_id, "output_index": output_index, "content_index": 0, "delta": delta})).await
            }
            Step::AudioDone {
                item_id,
                output_index,
            } => {
                let kind = self.name("response.output_audio.done", "response.audio.done");
                self.send(sink, json!({"type": kind, "response_id": rid, "item_id": item_id, "output_index": output_index, "content_index": 0})).await
            }
            Step::TranscriptDone {
                item_id,
                output_index,
            } => {
                let transcript = match self.last_part(&item_id) {
                    Some(Part::Audio { transcript, .. }) => transcript.unwrap_or_default(),
                    _ => String::new(),
                };
                let kind = self.name(
                    "response.output_audio_transcript.done",
                    "response.audio_transcript.done",
                );
                self.send(sink, json!({"type": kind, "response_id": rid, "item_id": item_id, "output_index": output_index, "content_index": 0, "transcript": transcript})).await
            }
            Step::PartDone {
                item_id,
                output_index,
            } => {
                let part = self
                    .last_part(&item_id)
                    .map(|p| event_part_json(&p))
                    .unwrap_or(Value::Null);
                self.send(sink, json!({"type": "response.content_part.done", "response_id": rid, "item_id": item_id, "output_index": output_index, "content_index": 0, "part": part})).await
            }
            Step::ArgsDelta {
                item_id,
                output_index,
                call_id,
                delta,
            } => {
                if let Some(ItemKind::FunctionCall { arguments, .. }) =
                    self.item_mut(&item_id).map(|i| &mut i.kind)
                {
                    arguments.push_str(&delta);
                }
                self.sync_conversation();
                self.send(sink, json!({"type": "response.function_call_arguments.delta", "response_id": rid, "item_id": item_id, "output_index": output_index, "call_id": call_id, "delta": delta})).await
            }
            Step::ArgsDone {
                item_id,
                output_index,
                call_id,
            } => {
                let (name, arguments) =
                    match self.index_of(&item_id).map(|i| &self.conversation[i].kind) {
                        Some(ItemKind::FunctionCall {
                            name, arguments, ..
                        }) => (name.clone(), arguments.clone()),
                        _ => (String::new(), String::new()),
                    };
                let mut ev = json!({"type": "response.function_call_arguments.done", "response_id": rid, "item_id": item_id, "output_index": output_index, "call_id": call_id, "arguments": arguments});
                if self.ga() {
                    ev["name"] = json!(name);
                }
                self.send(sink, ev).await
            }
            Step::ItemDone {
                item_id,
                output_index,
            } => {
                self.finish_item(sink, &rid, &item_id, output_index, "completed")
                    .await
            }
            Step::Error { code, message } => {
                if let Some(a) = self.active.as_mut() {
                    a.status = "failed";
                }
                self.send_error(sink, "server_error", Some(&code), &message, None, None)
                    .await
            }
            Step::Mcp(m) => self.mcp_step(sink, &rid, m).await,
            Step::Done => self.finish_response(sink, None).await,
        }
    }

    pub(super) async fn finish_item(
        &mut self,
        sink: &mut Sink,
        rid: &str,
        item_id: &str,
        output_index: usize,
        status: &'static str,
    ) -> End {
        if let Some(item) = self.item_mut(item_id) {
            item.status = status;
        }
        self.sync_conversation();
        let item = self.item_json(item_id);
        let end = self.send(sink, json!({"type": "response.output_item.done", "response_id": rid, "output_index": output_index, "item": item})).await;
        if !matches!(end, End::Continue) || !self.ga() {
            return end;
        }
        let prev = self
            .index_of(item_id)
            .and_then(|i| i.checked_sub(1))
            .map(|i| self.conversation[i].id.clone());
        self.send(
            sink,
            json!({"type": "conversation.item.done", "previous_item_id": prev, "item": item}),
        )
        .await
    }

    pub(super) async fn cancel_active(&mut self, sink: &mut Sink, reason: &'static str) -> End {
        let Some(active) = self.active.as_mut() else {
            return End::Continue;
        };
        active.status = "cancelled";
        let created_sent = !matches!(active.steps.front(), Some(Step::Created));
        active.steps.clear();
        let rid = active.id.clone();
        let unfinished: Vec<(usize, String)> = active
            .output
            .iter()
            .enumerate()
            .filter(|(_, id)| {
                self.conversation
                    .iter()
                    .any(|i| i.id == **id && i.status == "in_progress")
            })
            .map(|(n, id)| (n, id.clone()))
            .collect();
        if !created_sent {
            self.active = None;
            return End::Continue;
        }
        for (output_index, id) in unfinished {
            let end = self
                .finish_item(sink, &rid, &id, output_index, "incomplete")
                .await;
            if !matches!(end, End::Continue) {
                return end;
            }
        }
        self.finish_response(sink, Some(reason)).await
    }

    pub(super) fn response_json(&self, rid: &str, status: &str, reason: Option<&str>) -> Value {
        let active = self.active.as_ref();
        let output: Vec<Value> = active
            .map(|a| a.output.iter().map(|id| self.item_json(id)).collect())
            .unwrap_or_default();
        let audio = active.is_some_and(|a| a.output_audio);
        let status_details = match (status, reason) {
            ("cancelled", Some(r)) => json!({"type": "cancelled", "reason": r}),
            ("failed", _) => {
                json!({"type": "failed", "error": {"type": "server_error", "code": "server_error"}})
            }
            _ => Value::Null,
        };
        let mut r = json!({
            "object": "realtime.response",
            "id": rid,
            "status": status,
            "status_details": status_details,
            "output": output,
            "conversation_id": "conv_fake",
            "max_output_tokens": "inf",
            "usage": null,
            "metadata": null,
        });
        if self.ga() {
            r["output_modalities"] = json!(if audio { vec!["audio"] } else { vec!["text"] });
            r["audio"] = json!({"output": {"format": {"type": "audio/pcm", "rate": 24000}, "voice": self.session.pointer("/audio/output/voice").cloned().unwrap_or(json!("marin"))}});
        } else {
            r["modalities"] = json!(if audio {
                vec!["text", "audio"]
            } else {
                vec!["text"]
            });
            r["voice"] = self.session.get("voice").cloned().unwrap_or(json!("alloy"));
            r["output_audio_format"] = json!("pcm16");
        }
        if status != "in_progress" {
            r["usage"] = self.usage(&output);
        }
        r
    }

    /// Deterministic token counts: 1 token per 4 characters of text, 1 per 50 ms of audio.
    pub(super) fn usage(&self, output: &[Value]) -> Value {
        let input_text: usize = self
            .conversation
            .iter()
            .filter_map(Item::text)
            .map(|t| t.len())
            .sum::<usize>()
            / 4
            + 20;
        let (mut out_text, mut out_audio) = (0usize, 0usize);
        for id in self.active.iter().flat_map(|a| a.output.iter()) {
            if let Some(i) = self.index_of(id) {
                out_text += self.conversation[i].text().map_or(0, |t| t.len() / 4 + 1);
                out_audio += self.conversation[i].audio_bytes(0).unwrap_or(0) / 2_400;
            }
        }
        let _ = output;
        let input = input_text;
        let output_tokens = out_text + out_audio;
        json!({
            "total_tokens": input + output_tokens,
            "input_tokens": input,
            "output_tokens": output_tokens,
            "input_token_details": {"text_tokens": input, "audio_tokens": 0, "cached_tokens": 0},
            "output_token_details": {"text_tokens": out_text, "audio_tokens": out_audio},
        })
    }

    pub(super) async fn finish_response(&mut self, sink: &mut Sink, reason: Option<&str>) -> End {
        let Some(active) = self.active.as_ref() else {
            return End::Continue;
        };
        let (rid, status) = (active.id.clone(), active.status);
        let resp = self.response_json(&rid, status, reason);
        self.active = None;
        let end = self
            .send(sink, json!({"type": "response.done", "response": resp}))
            .await;
        if !matches!(end, End::Continue) || !self.config.rate_limit_events {
            return end;
        }
        let ev = json!({"type": "rate_limits.updated", "rate_limits": [
            {"name": "requests", "limit": 10000, "remaining": 9999, "reset_seconds": 0.006},
            {"name": "tokens", "limit": 2000000, "remaining": 1998000, "reset_seconds": 0.06},
        ]});
        self.send(sink, ev).await
    }
}

pub(super) fn assistant_item(id: &str) -> Item {
    Item {
        id: id.to_owned(),
        kind: ItemKind::Message {
            role: Role::Assistant,
            content: Vec::new(),
        },
        status: "in_progress",
    }
}

/// Splits text into word deltas that concatenate back to it ("Hello", " world").
pub(super) fn words(text: &str) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    let mut cur = String::new();
    for c in text.chars() {
        if c.is_whitespace() && !cur.trim().is_empty() {
            out.push(std::mem::take(&mut cur));
        }
        cur.push(c);
    }
    if !cur.is_empty() {
        out.push(cur);
    }
    out
}

pub(super) fn split_chunks(s: &str, n: usize) -> Vec<String> {
    let chars: Vec<char> = s.chars().collect();
    if chars.is_empty() {
        return vec![String::new()];
    }
    chars.chunks(n.max(1)).map(|c| c.iter().collect()).collect()
}

/// PCM16 24 kHz in the session's output encoding: as is, resampled for another PCM rate, or
/// G.711 at 8 kHz.
fn encode_output(pcm: &[u8], encoding: Encoding) -> Vec<u8> {
    use realtime_protocol::audio::{
        encode_alaw, encode_ulaw, pcm16_to_samples, resample_linear, samples_to_pcm16,
    };
    let at = |rate: u32| resample_linear(&pcm16_to_samples(pcm), 24_000, rate);
    match encoding {
        Encoding::Pcm16 { rate: 24_000 } => pcm.to_vec(),
        Encoding::Pcm16 { rate } => samples_to_pcm16(&at(rate)),
        Encoding::Ulaw => encode_ulaw(&at(8_000)),
        Encoding::Alaw => encode_alaw(&at(8_000)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_concatenate_back() {
        for s in [
            "Hello world",
            "  leading",
            "trailing  ",
            "one",
            "",
            "a  b\tc\nd",
        ] {
            assert_eq!(words(s).concat(), s);
        }
        assert_eq!(words("Hello big world"), ["Hello", " big", " world"]);
    }
}
