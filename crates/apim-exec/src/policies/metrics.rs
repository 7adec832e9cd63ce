//! `llm-emit-token-metric` and `azure-openai-emit-token-metric`: token-usage metrics with dimensions, and
//! `emit-metric`: a custom metric; all recorded in the runtime's in-memory metrics sink (`Runtime::metrics`,
//! served at `/_emulator/metrics`).
//!
//! Azure: https://learn.microsoft.com/azure/api-management/emit-metric-policy — `name` (literal), `namespace`
//! (default "API Management"), `value` (a double, default 1), 1 to 5 dimensions; the default dimensions (API ID,
//! Operation ID, Product ID, User ID, Subscription ID, Location, Gateway ID) may omit `value`. Emitted when the
//! policy runs.
//!
//! Azure: https://learn.microsoft.com/azure/api-management/llm-emit-token-metric-policy (reference 02):
//! Total, Prompt and Completion Tokens from the `usage` section of the LLM's response, sent to Application
//! Insights under `namespace` (default "API Management") with the given dimensions. Default dimensions (API ID,
//! Operation ID, Product ID, User ID, Subscription ID, Location, Gateway ID, Backend ID) may omit `value`.
//! The policy sits in inbound; dimension values are evaluated when it runs and the metric is emitted once the
//! backend's response is in.
//!
//! Deviation: Application Insights is not called; the metric goes to the in-memory sink. A streamed reply
//! (`buffer-response="false"`) is not read, so its metric is recorded without token counts, where APIM
//! estimates them. A response without `usage` (an error, a non-LLM reply) records no metric (UNVERIFIED).

use apim_policy::policies::azure_openai_emit_token_metric as aoai;
use apim_policy::policies::emit_metric as custom;
use apim_policy::policies::llm_emit_token_metric as llm;
use apim_policy::value::Value;
use serde::Serialize;

use crate::Plan;
use crate::compile::{Compiler, Cv};
use crate::run::{Exchange, Flow, PolicyError, Runtime, eval};

/// The dimensions APIM fills in when `value` is omitted.
const DEFAULT_DIMENSIONS: &[&str] = &[
    "API ID",
    "Operation ID",
    "Product ID",
    "User ID",
    "Subscription ID",
    "Location",
    "Gateway ID",
    "Backend ID",
];

/// How many metrics the sink keeps (the oldest go first), so a long `serve` session stays bounded.
pub const KEPT_METRICS: usize = 10_000;

pub struct EmitTokenMetric {
    policy: &'static str,
    namespace: String,
    dimensions: Vec<(Cv<String>, Option<Cv<String>>)>,
}

/// A metric whose dimensions are evaluated, waiting for the backend's response.
#[derive(Debug, Clone)]
pub struct PendingMetric {
    policy: &'static str,
    namespace: String,
    /// Name and value; `None`: a default dimension, filled in when the metric is emitted.
    dimensions: Vec<(String, Option<String>)>,
}

/// One emitted metric, as the sink keeps it.
#[derive(Debug, Clone, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct MetricRecord {
    pub policy: String,
    pub namespace: String,
    /// emit-metric's metric name and value (token metrics have Prompt, Completion and Total Tokens instead).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub value: Option<f64>,
    /// Clock time of the emission, in milliseconds (virtual under `test`).
    pub at_ms: u64,
    pub request_id: String,
    /// Dimension name → value (by name; a repeated name keeps the last).
    pub dimensions: std::collections::BTreeMap<String, String>,
    /// `None` when the reply was streamed and not read.
    pub prompt_tokens: Option<u64>,
    pub completion_tokens: Option<u64>,
    pub total_tokens: Option<u64>,
}

pub(crate) fn compile_llm(
    c: &mut Compiler,
    p: &llm::LlmEmitTokenMetric,
) -> Option<EmitTokenMetric> {
    let dims: Vec<(&Value<String>, Option<&Value<String>>)> = p
        .dimensions
        .iter()
        .map(|d| (&d.name, d.value.as_ref()))
        .collect();
    compile_common(
        c,
        "llm-emit-token-metric",
        DEFAULT_DIMENSIONS,
        &p.namespace,
        &dims,
    )
}

pub(crate) fn compile_aoai(
    c: &mut Compiler,
    p: &aoai::AzureOpenaiEmitTokenMetric,
) -> Option<EmitTokenMetric> {
    let dims: Vec<(&Value<String>, Option<&Value<String>>)> = p
        .dimensions
        .iter()
        .map(|d| (&d.name, d.value.as_ref()))
        .collect();
    compile_common(
        c,
        "azure-openai-emit-token-metric",
        DEFAULT_DIMENSIONS,
        &p.namespace,
        &dims,
    )
}

fn compile_common(
    c: &mut Compiler,
    policy: &'static str,
    defaults: &[&str],
    namespace: &Option<Value<String>>,
    dims: &[(&Value<String>, Option<&Value<String>>)],
) -> Option<EmitTokenMetric> {
    let namespace = match namespace {
        Some(Value::Literal { value, .. }) => value.clone(),
        Some(other) => {
            c.error(other.span(), "namespace must be a literal");
            return None;
        }
        None => "API Management".to_string(),
    };
    let mut dimensions = Vec::new();
    let mut ok = true;
    for (name, value) in dims {
        if value.is_none()
            && let Value::Literal { value: n, span } = name
            && !defaults.iter().any(|d| d.eq_ignore_ascii_case(n))
        {
            c.diagnostics.push(
                apim_source::Diagnostic::error(
                    apim_source::Code::MissingAttribute,
                    format!("dimension `{n}` needs a value"),
                    span.clone(),
                    "no `value`",
                )
                .with_help(format!(
                    "only the default dimensions ({}) may omit it",
                    defaults.join(", ")
                )),
            );
            ok = false;
            continue;
        }
        let name = c.value(name);
        let value = match value {
            Some(v) => Some(c.value(v)),
            None => None,
        };
        match (name, value) {
            (Some(n), None) => dimensions.push((n, None)),
            (Some(n), Some(Some(v))) => dimensions.push((n, Some(v))),
            _ => ok = false,
        }
    }
    ok.then_some(EmitTokenMetric {
        policy,
        namespace,
        dimensions,
    })
}

pub(crate) fn run(
    p: &EmitTokenMetric,
    ex: &mut Exchange,
    rt: &Runtime,
    plan: &Plan,
) -> Result<Flow, PolicyError> {
    let mut dimensions = Vec::with_capacity(p.dimensions.len());
    for (name, value) in &p.dimensions {
        let name = eval(name, ex, rt, plan, "dimension name")?;
        let value = match value {
            Some(v) => Some(eval(v, ex, rt, plan, "dimension value")?),
            None => None,
        };
        dimensions.push((name, value));
    }
    note!(
        ex,
        format!(
            "{}: metric in `{}` with {} dimension(s), emitted when the backend answers",
            p.policy,
            p.namespace,
            dimensions.len()
        )
    );
    ex.pending_metrics.push(PendingMetric {
        policy: p.policy,
        namespace: p.namespace.clone(),
        dimensions,
    });
    Ok(Flow::Continue)
}

/// Token counts from a reply body: a JSON body's `usage`, or the last server-sent event that has one
/// (OpenAI sends it when `stream_options.include_usage` is set).
pub fn usage_of(body: &str) -> Option<(u64, u64, u64)> {
    let from = |v: &serde_json::Value| {
        let usage = v.get("usage")?;
        let prompt = usage
            .get("prompt_tokens")
            .or_else(|| usage.get("input_tokens"))
            .and_then(serde_json::Value::as_u64)
            .unwrap_or(0);
        let completion = usage
            .get("completion_tokens")
            .or_else(|| usage.get("output_tokens"))
            .and_then(serde_json::Value::as_u64)
            .unwrap_or(0);
        let total = usage
            .get("total_tokens")
            .and_then(serde_json::Value::as_u64)
            .unwrap_or(prompt.saturating_add(completion));
        Some((prompt, completion, total))
    };
    if let Ok(v) = serde_json::from_str::<serde_json::Value>(body) {
        return from(&v);
    }
    body.lines()
        .rev()
        .filter_map(|line| line.strip_prefix("data:"))
        .filter_map(|data| serde_json::from_str::<serde_json::Value>(data.trim()).ok())
        .find_map(|v| from(&v))
}

/// The value of a default dimension, from what the gateway knows of the request.
fn default_dimension(name: &str, info: &serde_json::Value, backend: &str) -> String {
    let field = |part: &str, key: &str| {
        info.get(part)
            .and_then(|p| p.get(key))
            .and_then(serde_json::Value::as_str)
            .unwrap_or_default()
            .to_string()
    };
    match name.to_ascii_lowercase().as_str() {
        "api id" => field("api", "id"),
        "operation id" => field("operation", "id"),
        "product id" => field("product", "id"),
        "user id" => field("user", "id"),
        "subscription id" => field("subscription", "id"),
        "location" => field("deployment", "region"),
        "gateway id" => field("deployment", "gatewayId"),
        "backend id" => backend.to_string(),
        _ => String::new(),
    }
}

fn record(rt: &Runtime, record: MetricRecord) {
    let mut sink = rt.metrics.lock();
    if sink.len() >= KEPT_METRICS {
        sink.pop_front();
    }
    sink.push_back(record);
}

pub struct EmitMetric {
    name: String,
    value: Cv<String>,
    inner: EmitTokenMetric,
}

pub(crate) fn compile_custom(c: &mut Compiler, p: &custom::EmitMetric) -> Option<EmitMetric> {
    let name = match &p.name {
        Value::Literal { value, .. } => value.clone(),
        other => {
            c.error(other.span(), "name must be a literal");
            return None;
        }
    };
    let value = match &p.value {
        Some(v) => c.value(v)?,
        None => Cv::Lit("1".to_string()),
    };
    let dims: Vec<(&Value<String>, Option<&Value<String>>)> = p
        .dimensions
        .iter()
        .map(|d| (&d.name, d.value.as_ref()))
        .collect();
    Some(EmitMetric {
        name,
        value,
        // Azure: emit-metric's defaults are the token metrics' without Backend ID.
        inner: compile_common(
            c,
            "emit-metric",
            &DEFAULT_DIMENSIONS[..DEFAULT_DIMENSIONS.len() - 1],
            &p.namespace,
            &dims,
        )?,
    })
}

pub(crate) fn run_custom(
    p: &EmitMetric,
    ex: &mut Exchange,
    rt: &Runtime,
    plan: &Plan,
) -> Result<Flow, PolicyError> {
    let text = eval(&p.value, ex, rt, plan, "value")?;
    let value: f64 = text.trim().parse().map_err(|_| {
        PolicyError::new(
            "emit-metric",
            "ExpressionValueEvaluationFailure",
            format!("Expression evaluation failed. The value of value, '{text}', is not a number."),
        )
    })?;
    let mut dimensions = std::collections::BTreeMap::new();
    let backend = ex
        .backend_entity
        .as_ref()
        .map(|(name, _)| name.clone())
        .unwrap_or_default();
    for (name, v) in &p.inner.dimensions {
        let name = eval(name, ex, rt, plan, "dimension name")?;
        let v = match v {
            Some(v) => eval(v, ex, rt, plan, "dimension value")?,
            None => default_dimension(&name, &ex.info_json, &backend),
        };
        dimensions.insert(name, v);
    }
    note!(
        ex,
        format!(
            "emit-metric: {} = {value} in `{}`",
            p.name, p.inner.namespace
        )
    );
    record(
        rt,
        MetricRecord {
            policy: "emit-metric".into(),
            namespace: p.inner.namespace.clone(),
            name: Some(p.name.clone()),
            value: Some(value),
            at_ms: rt.clock.now().as_millis() as u64,
            request_id: uuid::Uuid::from_u128(ex.info.request_id()).to_string(),
            dimensions,
            prompt_tokens: None,
            completion_tokens: None,
            total_tokens: None,
        },
    );
    Ok(Flow::Continue)
}

/// Emits the request's pending metrics once the backend section is over (nothing when no backend answered).
pub(crate) fn emit(ex: &mut Exchange, rt: &Runtime, info: &serde_json::Value, request_id: &str) {
    if ex.pending_metrics.is_empty() || ex.forward_attempts == 0 {
        return;
    }
    let Some((_, body)) = &ex.response else {
        return;
    };
    let usage = if ex.response_stream.is_some() {
        None
    } else {
        match body.peek().as_deref().and_then(usage_of) {
            Some(u) => Some(u),
            None => {
                note!(
                    ex,
                    "emit-token-metric: the response has no `usage`; no metric".to_string()
                );
                ex.pending_metrics.clear();
                return;
            }
        }
    };
    let backend = ex
        .backend_entity
        .as_ref()
        .map(|(name, _)| name.clone())
        .unwrap_or_default();
    let at_ms = rt.clock.now().as_millis() as u64;
    let pending = std::mem::take(&mut ex.pending_metrics);
    for m in pending {
        let dimensions = m
            .dimensions
            .into_iter()
            .map(|(name, value)| {
                let value = value.unwrap_or_else(|| default_dimension(&name, info, &backend));
                (name, value)
            })
            .collect();
        let record = MetricRecord {
            policy: m.policy.to_string(),
            namespace: m.namespace,
            name: None,
            value: None,
            at_ms,
            request_id: request_id.to_string(),
            dimensions,
            prompt_tokens: usage.map(|u| u.0),
            completion_tokens: usage.map(|u| u.1),
            total_tokens: usage.map(|u| u.2),
        };
        note!(
            ex,
            match usage {
                Some((p, c, t)) => format!(
                    "{}: emitted to `{}`: {t} total tokens ({p} prompt, {c} completion)",
                    record.policy, record.namespace
                ),
                None => format!(
                    "{}: emitted to `{}` without token counts (the reply was streamed)",
                    record.policy, record.namespace
                ),
            }
        );
        self::record(rt, record);
    }
}
