//! `apim-emu test`: scenario files (`*.scenario.yaml`) that describe the service under test, script its
//! backends and list requests with expectations and clock steps. Each scenario runs in process through the same
//! gateway router and executor `serve` uses, on a virtual clock with scripted backends: real durations
//! (PT1M trips, Retry-After: 60) cost no wall time.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use anyhow::Context as _;
use apim_exec::{
    BoxFuture, Upstream, UpstreamError, UpstreamRequest, UpstreamResponse, VirtualClock,
};
use serde::Deserialize;
use serde_json::{Value, json};

/// A scenario file.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Scenario {
    pub name: Option<String>,
    pub service: ServiceSpec,
    /// Scripted answers by backend name (or host, for requests that go to a URL).
    #[serde(default)]
    pub backends: BTreeMap<String, Script>,
    pub steps: Vec<Step>,
}

/// What is under test; paths are relative to the scenario file.
#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct ServiceSpec {
    /// API-scope policy (quick form).
    pub policy: Option<String>,
    pub global_policy: Option<String>,
    /// Product-scope policy (quick form), between global and API.
    pub product_policy: Option<String>,
    /// Operation-scope policy (quick form), below the API's.
    pub operation_policy: Option<String>,
    /// ARM templates or APIOps folders (full form).
    #[serde(default)]
    pub service: Vec<String>,
    /// Templates with the backends.
    #[serde(default)]
    pub backends: Vec<String>,
    #[serde(default)]
    pub params: BTreeMap<String, Value>,
    #[serde(default)]
    pub backend_urls: BTreeMap<String, String>,
    #[serde(default)]
    pub named_values: BTreeMap<String, String>,
    /// `get-authorization-context` tokens by `provider/authorization`.
    #[serde(default, deserialize_with = "connections")]
    pub connections: BTreeMap<String, String>,
    #[serde(default)]
    pub api_path: String,
}

/// `service.connections`: every key is `provider/authorization`.
fn connections<'de, D: serde::Deserializer<'de>>(
    d: D,
) -> Result<BTreeMap<String, String>, D::Error> {
    let map = BTreeMap::<String, String>::deserialize(d)?;
    for key in map.keys() {
        if !matches!(key.split_once('/'), Some((p, a)) if !p.is_empty() && !a.is_empty()) {
            return Err(serde::de::Error::custom(format!(
                "connection `{key}` is not PROVIDER/AUTHORIZATION (the provider-id and authorization-id of get-authorization-context)"
            )));
        }
    }
    Ok(map)
}

/// A backend's answers: a list (the last repeats), or answers then a default.
#[derive(Debug, Clone)]
pub enum Script {
    List(Vec<Answer>),
    Full {
        responses: Vec<Answer>,
        default: Option<Answer>,
    },
}

/// The mapping form of a [`Script`].
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct FullScript {
    #[serde(default)]
    pub responses: Vec<Answer>,
    pub default: Option<Answer>,
}

/// By hand rather than `untagged`, so a misspelt key (`answers:`) is a located error naming the keys a
/// backend takes instead of being ignored, and an error inside an answer is reported as itself.
impl<'de> Deserialize<'de> for Script {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Script, D::Error> {
        struct Visit;
        impl<'de> serde::de::Visitor<'de> for Visit {
            type Value = Script;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a list of answers, or a mapping with `responses` and/or `default`")
            }
            fn visit_seq<A: serde::de::SeqAccess<'de>>(self, seq: A) -> Result<Script, A::Error> {
                Vec::<Answer>::deserialize(serde::de::value::SeqAccessDeserializer::new(seq))
                    .map(Script::List)
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(self, map: A) -> Result<Script, A::Error> {
                FullScript::deserialize(serde::de::value::MapAccessDeserializer::new(map)).map(
                    |f| Script::Full {
                        responses: f.responses,
                        default: f.default,
                    },
                )
            }
        }
        d.deserialize_any(Visit)
    }
}

#[derive(Debug, Deserialize, Clone, Default)]
#[serde(deny_unknown_fields)]
pub struct Answer {
    #[serde(default = "ok")]
    pub status: u16,
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    /// Text, or JSON (sent as JSON).
    pub body: Option<Value>,
    /// Time the backend takes (virtual): `PT2S`.
    pub delay: Option<String>,
    /// `refused`, `reset` or `timeout` instead of a response.
    pub fail: Option<String>,
    /// An Azure-OpenAI-shaped body generated from the request (instead of `body`): chat completions,
    /// completions or embeddings by path, `usage` token counts, SSE when the request has `"stream": true`,
    /// 404 for a deployment not listed.
    pub openai: Option<Box<OpenAiAnswer>>,
}

#[derive(Debug, Deserialize, Clone, Default)]
#[serde(deny_unknown_fields)]
pub struct OpenAiAnswer {
    /// The assistant's reply (default: `Hello from BACKEND.`).
    pub content: Option<String>,
    /// The deployments the backend serves (default: any).
    pub deployments: Option<Vec<String>>,
    /// Content Safety blocklists by name: terms found in the text are `blocklistsMatch`es.
    #[serde(default)]
    pub blocklists: BTreeMap<String, Vec<String>>,
}

fn ok() -> u16 {
    200
}

#[derive(Debug)]
pub enum Step {
    Request {
        request: Box<RequestSpec>,
        expect: Box<Expect>,
    },
    Advance {
        advance: String,
    },
}

/// Any step's keys, checked by hand so that a wrong key is named in the error (an `untagged` enum would only
/// say that no variant matched).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct AnyStep {
    pub request: Option<Box<RequestSpec>>,
    pub expect: Option<Box<Expect>>,
    pub advance: Option<String>,
}

impl<'de> Deserialize<'de> for Step {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Step, D::Error> {
        use serde::de::Error as _;
        let step = AnyStep::deserialize(d)?;
        match step {
            AnyStep {
                request: Some(request),
                expect,
                advance: None,
            } => Ok(Step::Request {
                request,
                expect: expect.unwrap_or_default(),
            }),
            AnyStep {
                request: None,
                expect: None,
                advance: Some(advance),
            } => Ok(Step::Advance { advance }),
            _ => Err(D::Error::custom(
                "a step is either `request:` (with an optional `expect:`) or `advance:` alone",
            )),
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RequestSpec {
    #[serde(default = "get")]
    pub method: String,
    pub path: String,
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    pub body: Option<Value>,
}

fn get() -> String {
    "GET".into()
}

#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct Expect {
    pub status: Option<u16>,
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    /// The body text exactly.
    pub body: Option<String>,
    /// Values at JSON paths of the body (`$.choices[0].message.content`).
    #[serde(default)]
    pub json: BTreeMap<String, Value>,
    /// The backend that served each attempt, in order.
    pub served_by: Option<Vec<String>>,
    pub attempts: Option<usize>,
    /// `open` or `closed` per backend, after the request.
    #[serde(default)]
    pub breakers: BTreeMap<String, String>,
    /// Lines of the trace that must appear (substrings).
    #[serde(default)]
    pub trace: Vec<String>,
    /// Headers every attempt sent to the backend had (`"*"` for "present, any value"; `null` for "absent").
    #[serde(default)]
    pub sent_headers: BTreeMap<String, Option<String>>,
    /// The token metrics the request emitted (`*-emit-token-metric`), in order; each lists what it checks.
    pub metrics: Option<Vec<MetricExpect>>,
}

/// One expected token metric: only the fields given are compared; `dimensions` lists some of them.
#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct MetricExpect {
    pub namespace: Option<String>,
    #[serde(default)]
    pub dimensions: BTreeMap<String, String>,
    pub prompt_tokens: Option<u64>,
    pub completion_tokens: Option<u64>,
    pub total_tokens: Option<u64>,
}

/// A backend's remaining answers and its default.
type Queue = (VecDeque<Answer>, Option<Answer>);

/// Scripted backends on the virtual clock.
struct Scripted {
    scripts: Mutex<HashMap<String, Queue>>,
    log: Mutex<Vec<String>>,
    /// The headers of each request, in the order of `log`.
    sent: Mutex<Vec<Vec<(String, String)>>>,
    clock: Arc<VirtualClock>,
}

impl Upstream for Scripted {
    fn send(
        &self,
        request: UpstreamRequest,
    ) -> BoxFuture<'_, Result<UpstreamResponse, UpstreamError>> {
        let key = request.backend.clone().unwrap_or_else(|| {
            url::Url::parse(&request.url)
                .ok()
                .and_then(|u| u.host_str().map(str::to_string))
                .unwrap_or_default()
        });
        self.log.lock().expect("log").push(key.clone());
        self.sent
            .lock()
            .expect("sent")
            .push(request.headers.clone());
        let answer = {
            let mut scripts = self.scripts.lock().expect("scripts");
            match scripts.get_mut(&key) {
                Some((queue, default)) => {
                    if queue.len() > 1 || (default.is_some() && !queue.is_empty()) {
                        queue.pop_front()
                    } else {
                        queue.front().cloned().or_else(|| default.clone())
                    }
                }
                None => None,
            }
        };
        Box::pin(async move {
            let Some(a) = answer else {
                return Err(UpstreamError::Connection(format!(
                    "no scripted backend `{key}` (connection refused)"
                )));
            };
            if let Some(d) = a
                .delay
                .as_deref()
                .and_then(|d| arm_template::duration::parse(d).ok())
                .and_then(|d| d.to_std().ok())
            {
                if d >= request.timeout {
                    self.clock.advance(request.timeout);
                    return Err(UpstreamError::Timeout);
                }
                self.clock.advance(d);
            }
            match a.fail.as_deref() {
                Some("timeout") => {
                    self.clock.advance(request.timeout);
                    return Err(UpstreamError::Timeout);
                }
                Some(kind) => return Err(UpstreamError::Connection(format!("connection {kind}"))),
                None => {}
            }
            let mut headers: Vec<(String, String)> = a.headers.into_iter().collect();
            let mut status = a.status;
            if let Some(openai) = &a.openai {
                let path = url::Url::parse(&request.url)
                    .map(|u| u.path().to_string())
                    .unwrap_or_default();
                let reply = openai
                    .content
                    .clone()
                    .unwrap_or_else(|| format!("Hello from {key}."));
                let n = self.log.lock().expect("log").len();
                let generated = apim_gateway::mock::generate(
                    &path,
                    request.body.as_deref().unwrap_or_default().as_bytes(),
                    &reply,
                    openai.deployments.as_deref(),
                    &openai
                        .blocklists
                        .iter()
                        .map(|(k, v)| (k.clone(), v.clone()))
                        .collect::<Vec<_>>(),
                    &format!("chatcmpl-apimemu{n}"),
                    0,
                );
                if status == 200 {
                    status = generated.status;
                }
                headers.push(("Content-Type".into(), generated.content_type.into()));
                headers.push(("x-ms-region".into(), key.clone()));
                return Ok(UpstreamResponse {
                    status,
                    reason: String::new(),
                    headers,
                    body: Some(generated.body),
                    stream: None,
                });
            }
            let body = match a.body {
                Some(Value::String(s)) => Some(s),
                Some(v) => {
                    if !headers
                        .iter()
                        .any(|(n, _)| n.eq_ignore_ascii_case("content-type"))
                    {
                        headers.push(("Content-Type".into(), "application/json".into()));
                    }
                    Some(v.to_string())
                }
                None => None,
            };
            Ok(UpstreamResponse {
                status,
                reason: String::new(),
                headers,
                body,
                stream: None,
            })
        })
    }
}

/// One scenario's outcome.
pub struct Report {
    pub file: String,
    pub name: String,
    pub failures: Vec<String>,
    pub steps: usize,
    /// The explain trace of every request step.
    pub explained: Vec<Explained>,
}

/// One request step's explain trace.
pub struct Explained {
    pub step: usize,
    pub request: String,
    pub status: u16,
    pub facts: Vec<apim_exec::explain::Fact>,
}

fn json_path<'v>(v: &'v Value, path: &str) -> Option<&'v Value> {
    let mut cur = v;
    let rest = path.strip_prefix('$').unwrap_or(path);
    for part in rest.split('.').filter(|p| !p.is_empty()) {
        let (key, indexes) = match part.find('[') {
            Some(i) => (&part[..i], &part[i..]),
            None => (part, ""),
        };
        if !key.is_empty() {
            cur = cur.get(key)?;
        }
        for idx in indexes.split('[').filter(|s| !s.is_empty()) {
            cur = cur.get(idx.trim_end_matches(']').parse::<usize>().ok()?)?;
        }
    }
    Some(cur)
}

/// Reads a scenario file; a parse error names the line and column.
pub fn read(path: &Path) -> Result<Scenario, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    serde_yaml_ng::from_str(&text).map_err(|e| match e.location() {
        Some(l) => {
            // The location leads the message; the library's own " at line L column C" would repeat it.
            let message = e.to_string();
            let suffix = format!(" at line {} column {}", l.line(), l.column());
            let message = message.strip_suffix(&suffix).unwrap_or(&message);
            format!("{}:{}:{}: {message}", path.display(), l.line(), l.column())
        }
        None => format!("{}: {e}", path.display()),
    })
}

/// Runs one scenario.
pub async fn run(path: &Path, scenario: &Scenario) -> anyhow::Result<Report> {
    for (backend, script) in &scenario.backends {
        let answers: Vec<&Answer> = match script {
            Script::List(l) => l.iter().collect(),
            Script::Full { responses, default } => responses.iter().chain(default).collect(),
        };
        if answers
            .iter()
            .any(|a| a.body.is_some() && a.openai.is_some())
        {
            anyhow::bail!(
                "{}: backend `{backend}`: an answer has both `body` and `openai`; give one",
                path.display()
            );
        }
    }
    let dir = path.parent().unwrap_or(Path::new("."));
    let rel = |p: &String| dir.join(p);
    let spec = &scenario.service;
    let options = crate::serve::Options {
        policy: spec.policy.as_ref().map(rel),
        service: spec.service.iter().map(rel).collect(),
        global_policy: spec.global_policy.as_ref().map(rel),
        product_policy: spec.product_policy.as_ref().map(rel),
        operation_policy: spec.operation_policy.as_ref().map(rel),
        backends: spec.backends.iter().map(rel).collect(),
        params: spec
            .params
            .iter()
            .map(|(k, v)| {
                (
                    k.clone(),
                    match v {
                        Value::String(s) => s.clone(),
                        other => other.to_string(),
                    },
                )
            })
            .collect(),
        parameter_files: Vec::new(),
        backend_urls: spec
            .backend_urls
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect(),
        named_values: spec
            .named_values
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect(),
        named_value_files: Vec::new(),
        connections: spec
            .connections
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect(),
        fragments: None,
        api_path: spec.api_path.clone(),
        listen: "127.0.0.1:0".parse().expect("a literal address"),
        skip_unsupported: false,
        clock: crate::serve::ClockKind::Virtual,
        trace: false,
        trace_format: crate::serve::TraceFormat::Text,
        watch: false,
        style: crate::render::Style { color: false },
    };
    let clock = Arc::new(VirtualClock::default());
    let scripted = Arc::new(Scripted {
        scripts: Mutex::new(
            scenario
                .backends
                .iter()
                .map(|(k, s)| {
                    let (queue, default) = match s.clone() {
                        Script::List(l) => (l.into(), None),
                        Script::Full { responses, default } => (responses.into(), default),
                    };
                    (k.clone(), (queue, default))
                })
                .collect(),
        ),
        log: Mutex::new(Vec::new()),
        sent: Mutex::new(Vec::new()),
        clock: clock.clone(),
    });
    let (c, s) = (clock.clone(), scripted.clone());
    let connections = crate::serve::connections(&options);
    let world = move |registry: apim_backend::Registry| {
        let mut runtime = apim_exec::Runtime::new(
            s.clone(),
            c.clone(),
            Arc::new(apim_exec::LocalTokenIssuer::default()),
            apim_exec::Backends::new(registry),
            Arc::new(apim_exec::Deferred::default()),
        );
        runtime.seed = 42;
        runtime.connections = connections.clone();
        Ok((runtime, Some(c.clone())))
    };
    let mut errors = Vec::new();
    let gateway = match crate::serve::prepare_with(&options, &mut errors, &world)? {
        Ok(g) => Arc::new(g),
        Err(_) => anyhow::bail!(
            "{}: the service does not load:\n{}",
            path.display(),
            String::from_utf8_lossy(&errors)
        ),
    };
    let app = apim_gateway::app(gateway.clone());
    let mut failures = Vec::new();
    let mut explained = Vec::new();
    for (i, step) in scenario.steps.iter().enumerate() {
        let n = i + 1;
        match step {
            Step::Advance { advance } => {
                let d = arm_template::duration::parse(advance)
                    .ok()
                    .and_then(|d| d.to_std().ok())
                    .with_context(|| {
                        format!(
                            "{}: step {n}: `{advance}` is not an ISO 8601 duration",
                            path.display()
                        )
                    })?;
                clock.advance(d);
            }
            Step::Request { request, expect } => {
                let before = scripted.log.lock().expect("log").len();
                let metrics_before = gateway.runtime.metrics.lock().len();
                let mut builder = axum::http::Request::builder()
                    .method(request.method.as_str())
                    .uri(&request.path);
                builder = builder
                    .header("host", "apim-emu.test")
                    .header("ocp-apim-trace", "true");
                for (k, v) in &request.headers {
                    builder = builder.header(k, v);
                }
                let body = match &request.body {
                    Some(Value::String(s)) => s.clone(),
                    Some(v) => v.to_string(),
                    None => String::new(),
                };
                if !body.is_empty() {
                    builder = builder.header("content-length", body.len().to_string());
                }
                let req = builder
                    .body(axum::body::Body::from(body))
                    .with_context(|| format!("step {n}: invalid request"))?;
                let response = tower::ServiceExt::oneshot(app.clone(), req)
                    .await
                    .expect("the router is infallible");
                let status = response.status().as_u16();
                let headers = response.headers().clone();
                let bytes = http_body_util::BodyExt::collect(response.into_body())
                    .await
                    .map(|b| b.to_bytes())
                    .unwrap_or_default();
                let text = String::from_utf8_lossy(&bytes).into_owned();
                let served: Vec<String> = scripted.log.lock().expect("log")[before..].to_vec();
                let mut fail = |what: String| {
                    failures.push(format!(
                        "step {n} ({} {}): {what}",
                        request.method, request.path
                    ))
                };
                if let Some(s) = expect.status
                    && s != status
                {
                    fail(format!(
                        "expected status {s}, got {status} (body: {})",
                        short(&text)
                    ));
                }
                for (name, value) in &expect.headers {
                    let got = headers.get(name.as_str()).and_then(|v| v.to_str().ok());
                    if got != Some(value.as_str()) {
                        fail(format!(
                            "expected header {name}: {value}, got {}",
                            got.unwrap_or("(none)")
                        ));
                    }
                }
                if let Some(b) = &expect.body
                    && *b != text
                {
                    fail(format!("expected body {b:?}, got {:?}", short(&text)));
                }
                if !expect.json.is_empty() {
                    let parsed: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
                    for (p, v) in &expect.json {
                        let got = json_path(&parsed, p);
                        if got != Some(v) {
                            fail(format!(
                                "expected {p} = {v}, got {}",
                                got.map(Value::to_string).unwrap_or("(none)".into())
                            ));
                        }
                    }
                }
                if let Some(order) = &expect.served_by
                    && *order != served
                {
                    fail(format!("expected served by {order:?}, got {served:?}"));
                }
                if let Some(a) = expect.attempts
                    && a != served.len()
                {
                    fail(format!("expected {a} attempt(s), got {}", served.len()));
                }
                let sent: Vec<Vec<(String, String)>> =
                    scripted.sent.lock().expect("sent")[before..].to_vec();
                for (name, wanted) in &expect.sent_headers {
                    for (attempt, headers) in sent.iter().enumerate() {
                        // Several lines of one header are one comma-separated list (RFC 9110 §5.3).
                        let values: Vec<&str> = headers
                            .iter()
                            .filter(|(n, _)| n.eq_ignore_ascii_case(name))
                            .map(|(_, v)| v.as_str())
                            .collect();
                        let joined = values.join(",");
                        let got = (!values.is_empty()).then_some(joined.as_str());
                        let okay = match (wanted.as_deref(), got) {
                            (None, None) => true,
                            (Some("*"), Some(_)) => true,
                            (Some(w), Some(g)) => w == g,
                            _ => false,
                        };
                        if !okay {
                            fail(format!(
                                "attempt {}: expected the backend to get {name}: {}, it got {}",
                                attempt + 1,
                                wanted.as_deref().unwrap_or("(absent)"),
                                got.unwrap_or("(absent)")
                            ));
                        }
                    }
                }
                if let Some(wanted) = &expect.metrics {
                    let got: Vec<apim_exec::MetricRecord> = gateway
                        .runtime
                        .metrics
                        .lock()
                        .iter()
                        .skip(metrics_before)
                        .cloned()
                        .collect();
                    if let Some(problem) = metrics_mismatch(wanted, &got) {
                        fail(problem);
                    }
                }
                let now = apim_exec::Clock::now(clock.as_ref());
                for (b, state) in &expect.breakers {
                    let open = gateway.runtime.backends.is_open(b, now);
                    let got = if open { "open" } else { "closed" };
                    if !state.eq_ignore_ascii_case(got) {
                        fail(format!("expected breaker {b} {state}, got {got}"));
                    }
                }
                let (mut lines, facts) = headers
                    .get("ocp-apim-trace-location")
                    .and_then(|v| v.to_str().ok())
                    .and_then(|l| l.rsplit('/').next())
                    .and_then(|id| {
                        gateway.traces.lock().ok().and_then(|t| {
                            t.iter()
                                .find(|(i, _, _)| i == id)
                                .map(|(_, l, f)| (l.clone(), f.clone()))
                        })
                    })
                    .unwrap_or_default();
                // Trace expectations match the policy steps' lines and the explain trace's.
                lines.extend(
                    apim_exec::explain::render(&facts)
                        .lines()
                        .map(str::to_string),
                );
                explained.push(Explained {
                    step: n,
                    request: format!("{} {}", request.method, request.path),
                    status,
                    facts,
                });
                if !expect.trace.is_empty() {
                    for wanted in &expect.trace {
                        if !lines.iter().any(|l| l.contains(wanted.as_str())) {
                            fail(format!(
                                "expected a trace line containing {wanted:?}; the trace was:\n    {}",
                                lines.join("\n    ")
                            ));
                        }
                    }
                }
            }
        }
    }
    Ok(Report {
        file: crate::validate::display(path),
        name: scenario
            .name
            .clone()
            .unwrap_or_else(|| crate::validate::display(path)),
        failures,
        steps: scenario.steps.len(),
        explained,
    })
}

fn short(s: &str) -> String {
    if s.chars().count() > 200 {
        format!("{}…", s.chars().take(200).collect::<String>())
    } else {
        s.to_string()
    }
}

/// Output format of `apim-emu test`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    Human,
    Json,
}

pub struct Options {
    pub paths: Vec<PathBuf>,
    pub junit: Option<PathBuf>,
    pub format: Format,
    pub filter: Option<String>,
    /// Print every request's explain trace.
    pub explain: bool,
}

/// `*.scenario.yaml` files under the paths (files named explicitly are taken as they are).
pub fn collect(paths: &[PathBuf]) -> anyhow::Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    for p in paths {
        if p.is_dir() {
            for e in walkdir::WalkDir::new(p).sort_by_file_name() {
                let e = e.with_context(|| format!("cannot read {}", p.display()))?;
                if e.file_type().is_file()
                    && e.file_name().to_string_lossy().ends_with(".scenario.yaml")
                {
                    out.push(e.into_path());
                }
            }
        } else if p.is_file() {
            out.push(p.clone());
        } else {
            anyhow::bail!("{} does not exist", p.display());
        }
    }
    Ok(out)
}

fn xml_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// JUnit XML of the reports.
pub fn junit(reports: &[Report], seconds: f64) -> String {
    let failed = reports.iter().filter(|r| !r.failures.is_empty()).count();
    let mut out = format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<testsuites tests=\"{}\" failures=\"{failed}\" time=\"{seconds:.3}\">\n  <testsuite name=\"apim-emu\" tests=\"{}\" failures=\"{failed}\" time=\"{seconds:.3}\">\n",
        reports.len(),
        reports.len()
    );
    for r in reports {
        out.push_str(&format!(
            "    <testcase classname=\"{}\" name=\"{}\"",
            xml_escape(&r.file),
            xml_escape(&r.name)
        ));
        if r.failures.is_empty() {
            out.push_str(" />\n");
        } else {
            out.push_str(&format!(
                ">\n      <failure message=\"{}\">{}</failure>\n    </testcase>\n",
                xml_escape(r.failures[0].lines().next().unwrap_or("")),
                xml_escape(&r.failures.join("\n"))
            ));
        }
    }
    out.push_str("  </testsuite>\n</testsuites>\n");
    out
}

/// Runs the command: 0 all passed, 1 a scenario failed, 2 an invalid scenario file or usage error.
pub fn run_command(o: &Options, out: &mut dyn Write, err: &mut dyn Write) -> anyhow::Result<u8> {
    let started = std::time::Instant::now();
    let files = collect(&o.paths)?;
    let mut scenarios = Vec::new();
    for f in &files {
        match read(f) {
            Ok(s) => scenarios.push((f.clone(), s)),
            Err(e) => {
                writeln!(err, "error: invalid scenario: {e}")?;
                return Ok(2);
            }
        }
    }
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let mut reports = Vec::new();
    for (f, s) in &scenarios {
        let name = s
            .name
            .clone()
            .unwrap_or_else(|| crate::validate::display(f));
        if o.filter.as_ref().is_some_and(|t| {
            !name.contains(t.as_str()) && !f.to_string_lossy().contains(t.as_str())
        }) {
            continue;
        }
        match runtime.block_on(run(f, s)) {
            Ok(r) => reports.push(r),
            Err(e) => {
                writeln!(err, "error: {e:#}")?;
                return Ok(2);
            }
        }
    }
    let seconds = started.elapsed().as_secs_f64();
    let failed = reports.iter().filter(|r| !r.failures.is_empty()).count();
    match o.format {
        Format::Human => {
            for r in &reports {
                if r.failures.is_empty() {
                    writeln!(out, "PASS {} ({} steps)", r.name, r.steps)?;
                } else {
                    writeln!(out, "FAIL {}", r.name)?;
                    for f in &r.failures {
                        writeln!(out, "  {f}")?;
                    }
                }
                if o.explain {
                    for e in &r.explained {
                        writeln!(out, "  step {}: {} -> {}", e.step, e.request, e.status)?;
                        for line in apim_exec::explain::render(&e.facts).lines() {
                            writeln!(out, "    {line}")?;
                        }
                    }
                }
            }
            writeln!(out, "{} passed, {failed} failed", reports.len() - failed)?;
        }
        Format::Json => {
            let items: Vec<Value> = reports
                .iter()
                .map(|r| {
                    let mut item = json!({ "file": r.file, "name": r.name, "passed": r.failures.is_empty(), "failures": r.failures });
                    if o.explain {
                        item["steps"] = r
                            .explained
                            .iter()
                            .map(|e| json!({ "step": e.step, "request": e.request, "status": e.status, "explain": e.facts }))
                            .collect();
                    }
                    item
                })
                .collect();
            writeln!(
                out,
                "{}",
                json!({ "scenarios": items, "passed": reports.len() - failed, "failed": failed })
            )?;
        }
    }
    if let Some(path) = &o.junit {
        std::fs::write(path, junit(&reports, seconds))
            .with_context(|| format!("cannot write {}", path.display()))?;
    }
    Ok(u8::from(failed > 0))
}

/// What differs between the expected token metrics and the ones a request emitted, if anything.
fn metrics_mismatch(wanted: &[MetricExpect], got: &[apim_exec::MetricRecord]) -> Option<String> {
    let describe = |m: &apim_exec::MetricRecord| {
        let tokens = |t: Option<u64>| t.map_or("?".to_string(), |t| t.to_string());
        format!(
            "{} {:?} tokens {}/{}/{} (prompt/completion/total)",
            m.namespace,
            m.dimensions,
            tokens(m.prompt_tokens),
            tokens(m.completion_tokens),
            tokens(m.total_tokens)
        )
    };
    if wanted.len() != got.len() {
        let list: Vec<String> = got.iter().map(describe).collect();
        return Some(format!(
            "expected {} token metric(s), got {}{}",
            wanted.len(),
            got.len(),
            if list.is_empty() {
                String::new()
            } else {
                format!(": {}", list.join("; "))
            }
        ));
    }
    for (i, (w, g)) in wanted.iter().zip(got).enumerate() {
        let mut wrong = Vec::new();
        if let Some(ns) = &w.namespace
            && *ns != g.namespace
        {
            wrong.push(format!("namespace {ns:?}"));
        }
        for (name, value) in &w.dimensions {
            if g.dimensions.get(name) != Some(value) {
                wrong.push(format!("dimension {name} = {value:?}"));
            }
        }
        for (what, expected, actual) in [
            ("prompt_tokens", w.prompt_tokens, g.prompt_tokens),
            (
                "completion_tokens",
                w.completion_tokens,
                g.completion_tokens,
            ),
            ("total_tokens", w.total_tokens, g.total_tokens),
        ] {
            if expected.is_some() && expected != actual {
                wrong.push(format!("{what} {}", expected.unwrap_or_default()));
            }
        }
        if !wrong.is_empty() {
            return Some(format!(
                "token metric {}: expected {}, got {}",
                i + 1,
                wrong.join(", "),
                describe(g)
            ));
        }
    }
    None
}
