//! `log-to-eventhub`: a message to an Event Hub logger, kept in the runtime's in-memory event sink
//! (`Runtime::events`, served at `/_emulator/events`).
//!
//! Azure: https://learn.microsoft.com/azure/api-management/log-to-eventhub-policy — the element's text (often an
//! expression) is the message, sent to the logger `logger-id` with an optional `partition-id` or
//! `partition-key`; a message over 200 KB is truncated (reference 02).
//!
//! Deviation: no Event Hub is called and the logger id is not checked against the service's loggers; the
//! message goes to the in-memory sink, which keeps the last `KEPT_EVENTS`.

use apim_policy::policies::log_to_eventhub as ast;
use apim_policy::value::Value;
use serde::Serialize;

use crate::Plan;
use crate::compile::{Compiler, Cv};
use crate::run::{Exchange, Flow, PolicyError, Runtime, eval, eval_value};

/// How many events the sink keeps (the oldest go first).
pub const KEPT_EVENTS: usize = 10_000;
/// And how many bytes of messages, so that large messages do not pile up.
pub const KEPT_EVENT_BYTES: usize = 64 * 1024 * 1024;

/// The messages kept, oldest first, and their total size.
#[derive(Debug, Clone, Default)]
pub struct EventSink {
    pub items: std::collections::VecDeque<EventRecord>,
    pub bytes: usize,
}

/// Azure: messages are truncated at 200 KB.
const MAX_MESSAGE: usize = 200 * 1024;

pub struct LogToEventhub {
    logger_id: String,
    partition_id: Option<String>,
    partition_key: Option<Cv<String>>,
    message: Option<Cv<String>>,
}

/// One logged message, as the sink keeps it.
#[derive(Debug, Clone, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct EventRecord {
    pub logger_id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub partition_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub partition_key: Option<String>,
    pub message: String,
    /// Clock time, in milliseconds (virtual under `test`).
    pub at_ms: u64,
    pub request_id: String,
}

pub(crate) fn compile(c: &mut Compiler, p: &ast::LogToEventhub) -> Option<LogToEventhub> {
    let logger_id = match &p.logger_id {
        Value::Literal { value, .. } => value.clone(),
        other => {
            c.error(other.span(), "logger-id must be a literal");
            return None;
        }
    };
    let partition_id = match &p.partition_id {
        Some(Value::Literal { value, .. }) => Some(value.clone()),
        Some(other) => {
            c.error(other.span(), "partition-id must be a literal");
            return None;
        }
        None => None,
    };
    let message = match &p.content.0 {
        Some(Value::Template(t)) => Some(Cv::Lit(c.substitute_known(&t.text))),
        Some(v) => Some(c.value(v)?),
        None => None,
    };
    Some(LogToEventhub {
        logger_id,
        partition_id,
        partition_key: c.opt(&p.partition_key)?,
        message,
    })
}

pub(crate) fn run(
    p: &LogToEventhub,
    ex: &mut Exchange,
    rt: &Runtime,
    plan: &Plan,
) -> Result<Flow, PolicyError> {
    let mut message = match &p.message {
        Some(cv) => eval_value(cv, ex, rt, plan)?.to_text().unwrap_or_default(),
        None => String::new(),
    };
    if message.len() > MAX_MESSAGE {
        let mut end = MAX_MESSAGE;
        while !message.is_char_boundary(end) {
            end -= 1;
        }
        message.truncate(end);
    }
    let partition_key = match &p.partition_key {
        Some(k) => Some(eval(k, ex, rt, plan, "partition-key")?),
        None => None,
    };
    note!(
        ex,
        format!(
            "log-to-eventhub: {} bytes to logger {}",
            message.len(),
            p.logger_id
        )
    );
    let mut sink = rt.events.lock();
    sink.bytes += message.len();
    sink.items.push_back(EventRecord {
        logger_id: p.logger_id.clone(),
        partition_id: p.partition_id.clone(),
        partition_key,
        message,
        at_ms: rt.clock.now().as_millis() as u64,
        request_id: uuid::Uuid::from_u128(ex.info.request_id()).to_string(),
    });
    while sink.items.len() > KEPT_EVENTS || (sink.bytes > KEPT_EVENT_BYTES && sink.items.len() > 1)
    {
        if let Some(old) = sink.items.pop_front() {
            sink.bytes -= old.message.len();
        }
    }
    Ok(Flow::Continue)
}
