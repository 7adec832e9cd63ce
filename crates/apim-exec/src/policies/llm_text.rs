//! The text of LLM requests and replies as the LLM policies read it: the prompt's messages (semantic caching,
//! content safety) and a reply's completion text (content safety on completions).
//!
//! Azure: the policies work on chat completions, completions, the Responses API and (llm-* on v2 tiers) the
//! Anthropic Messages API. How APIM joins several messages into one text is not documented (UNVERIFIED):
//! apim-emu joins the text of each message with a newline, and of a message's text parts with nothing.

use serde_json::Value;

/// One message of a prompt: its role (`system`, `user`, …) and its text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    pub role: String,
    pub text: String,
}

/// The text of a `content` value: a string, or the `text` of its parts (`{"type":"text","text":…}`,
/// `input_text`, `output_text`); other parts (images, audio) have no text.
fn content_text(content: &Value) -> String {
    match content {
        Value::String(s) => s.clone(),
        Value::Array(parts) => parts
            .iter()
            .filter_map(|p| match p {
                Value::String(s) => Some(s.as_str()),
                Value::Object(o) => o.get("text").and_then(Value::as_str),
                _ => None,
            })
            .collect(),
        _ => String::new(),
    }
}

fn messages_of(list: &[Value]) -> Vec<Message> {
    list.iter()
        .map(|m| Message {
            role: m
                .get("role")
                .and_then(Value::as_str)
                .unwrap_or("user")
                .to_string(),
            text: m.get("content").map(content_text).unwrap_or_default(),
        })
        .collect()
}

/// The messages of a request body: chat `messages` (with Anthropic's top-level `system`), the Responses API's
/// `input` (text or messages, with `instructions` as a system message) or a completion's `prompt`. `None` when
/// the body is not JSON or has none of these.
pub fn prompt_messages(body: &str) -> Option<Vec<Message>> {
    let v: Value = serde_json::from_str(body).ok()?;
    let mut out = Vec::new();
    let system = |text: &Value| Message {
        role: "system".into(),
        text: content_text(text),
    };
    if let Some(list) = v.get("messages").and_then(Value::as_array) {
        if let Some(s) = v.get("system") {
            out.push(system(s));
        }
        out.extend(messages_of(list));
        return Some(out);
    }
    if let Some(input) = v.get("input") {
        if let Some(s) = v.get("instructions") {
            out.push(system(s));
        }
        match input {
            Value::Array(list) if list.iter().all(Value::is_object) => {
                out.extend(messages_of(list))
            }
            other => out.push(Message {
                role: "user".into(),
                text: content_text(other),
            }),
        }
        return Some(out);
    }
    v.get("prompt").map(|p| {
        vec![Message {
            role: "user".into(),
            text: content_text(p),
        }]
    })
}

/// The messages' text, one message per line.
pub fn joined(messages: &[Message]) -> String {
    messages
        .iter()
        .map(|m| m.text.as_str())
        .collect::<Vec<_>>()
        .join("\n")
}

/// The generated text of a reply: chat `choices[].message.content`, completion `choices[].text`, the Responses
/// API's `output[].content[].text`, Anthropic's `content[].text`, or, for server-sent events, the streamed
/// deltas put back together. `None` when the body holds none of these.
pub fn completion_text(body: &str) -> Option<String> {
    fn of(v: &Value) -> Option<String> {
        if let Some(choices) = v.get("choices").and_then(Value::as_array) {
            return Some(
                choices
                    .iter()
                    .filter_map(|c| {
                        c.get("message")
                            .or_else(|| c.get("delta"))
                            .and_then(|m| m.get("content"))
                            .or_else(|| c.get("text"))
                            .map(content_text)
                    })
                    .collect::<Vec<_>>()
                    .join("\n"),
            );
        }
        if let Some(output) = v.get("output").and_then(Value::as_array) {
            return Some(
                output
                    .iter()
                    .filter_map(|o| o.get("content").map(content_text))
                    .collect::<Vec<_>>()
                    .join("\n"),
            );
        }
        if v.get("type").and_then(Value::as_str) == Some("message") {
            return v.get("content").map(content_text);
        }
        None
    }
    if let Ok(v) = serde_json::from_str::<Value>(body) {
        return of(&v);
    }
    // Server-sent events: the chunks' deltas in order (chat and completions chunks, the Responses API's
    // `response.output_text.delta`, Anthropic's `content_block_delta`).
    let mut text = String::new();
    let mut any = false;
    for data in body
        .lines()
        .filter_map(|l| l.strip_prefix("data:"))
        .map(str::trim)
    {
        let Ok(v) = serde_json::from_str::<Value>(data) else {
            continue;
        };
        let delta = match v.get("type").and_then(Value::as_str) {
            Some("response.output_text.delta") => {
                v.get("delta").and_then(Value::as_str).map(str::to_string)
            }
            Some("content_block_delta") => v
                .pointer("/delta/text")
                .and_then(Value::as_str)
                .map(str::to_string),
            Some(t)
                if t.starts_with("response.")
                    || t.starts_with("message")
                    || t.starts_with("content_block") =>
            {
                None
            }
            _ => v.get("choices").and_then(|_| of(&v)),
        };
        if let Some(t) = delta {
            text.push_str(&t);
            any = true;
        }
    }
    any.then_some(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chat_messages_with_text_parts() {
        let m = prompt_messages(
            r#"{"messages":[{"role":"system","content":"be brief"},{"role":"user","content":[{"type":"text","text":"hi "},{"type":"image_url","image_url":{"url":"x"}},{"type":"text","text":"there"}]}]}"#,
        )
        .expect("messages");
        assert_eq!(m.len(), 2);
        assert_eq!(m[0].role, "system");
        assert_eq!(m[1].text, "hi there");
        assert_eq!(joined(&m), "be brief\nhi there");
    }

    #[test]
    fn responses_input_and_completion_prompt() {
        let m = prompt_messages(r#"{"instructions":"sys","input":"question"}"#).expect("input");
        assert_eq!(joined(&m), "sys\nquestion");
        assert_eq!(m[0].role, "system");
        let m = prompt_messages(r#"{"prompt":"once upon"}"#).expect("prompt");
        assert_eq!(joined(&m), "once upon");
        assert!(prompt_messages(r#"{"model":"x"}"#).is_none());
        assert!(prompt_messages("not json").is_none());
    }

    #[test]
    fn completion_from_json_and_sse() {
        assert_eq!(
            completion_text(r#"{"choices":[{"message":{"role":"assistant","content":"Hello"}}]}"#)
                .as_deref(),
            Some("Hello")
        );
        let sse = "data: {\"choices\":[{\"delta\":{\"role\":\"assistant\",\"content\":\"\"}}]}\n\n\
                   data: {\"choices\":[{\"delta\":{\"content\":\"Hel\"}}]}\n\n\
                   data: {\"choices\":[{\"delta\":{\"content\":\"lo\"}}]}\n\n\
                   data: [DONE]\n\n";
        assert_eq!(completion_text(sse).as_deref(), Some("Hello"));
        let responses = "event: response.output_text.delta\ndata: {\"type\":\"response.output_text.delta\",\"delta\":\"Hi\"}\n\n\
                         data: {\"type\":\"response.completed\",\"response\":{\"output\":[]}}\n\n";
        assert_eq!(completion_text(responses).as_deref(), Some("Hi"));
        let anthropic = "data: {\"type\":\"content_block_delta\",\"delta\":{\"type\":\"text_delta\",\"text\":\"Yo\"}}\n\n";
        assert_eq!(completion_text(anthropic).as_deref(), Some("Yo"));
        assert!(completion_text("plain").is_none());
    }
}
