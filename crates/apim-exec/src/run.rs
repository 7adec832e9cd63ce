//! Running one request through a [`Plan`]: inbound → backend → outbound, any error to on-error with
//! `context.LastError` filled in, `return-response` ending the pipeline.
//!
//! Azure (reference 01 §7, 02 §0): an error in inbound/backend/outbound skips the rest of those sections and
//! runs on-error; without on-error (or when it does not set a response) the client gets APIM's error response.
//! `return-response` and `mock-response` end the pipeline without outbound or on-error.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use apim_backend::balancer::{Balancer, DEFAULT_UNAVAILABLE_REASON};
use apim_backend::breaker::{CircuitBreaker, Event};
use apim_backend::{BackendKind, Registry};
use apim_expr::{
    BodyHandle, Context, LastErrorData, LiveParts, RequestData, RequestInfo, ResponseData,
    Variables,
};
use apim_policy::spec::{Scope, Section};
use parking_lot::Mutex;

use crate::compile::{Cv, Plan, SECTIONS, Step};
use crate::io::{BoxFuture, Clock, TokenIssuer, Upstream};

/// The shared, long-lived part of the world: upstream, clock, tokens, and the backends with their breaker and
/// balancer state (shared by all requests, as the gateway's are).
pub struct Runtime {
    pub upstream: Arc<dyn Upstream>,
    pub clock: Arc<dyn Clock>,
    pub tokens: Arc<dyn TokenIssuer>,
    pub backends: Arc<Backends>,
    /// Seed of `Guid.NewGuid()`/`new Random()` in expressions and of request ids.
    pub seed: u64,
    pub request_counter: Mutex<u64>,
    /// Collect a trace line per policy step (`--trace`, tests); off, no trace text is built.
    pub trace: bool,
    /// Managed-identity tokens by (resource, client id), with the clock time they stop being reused.
    pub token_cache: Mutex<HashMap<TokenKey, (String, Duration)>>,
    /// `cache-store-value` entries with the clock time they expire.
    pub cache: Mutex<HashMap<String, (apim_expr::Value, Duration)>>,
    /// Where `send-one-way-request` runs its request without waiting.
    pub spawner: Arc<dyn crate::io::Spawn>,
    /// Token metrics of `*-emit-token-metric`, oldest first (at most `KEPT_METRICS`).
    pub metrics: Mutex<std::collections::VecDeque<crate::MetricRecord>>,
    /// `*-token-limit` counters by policy and counter key.
    pub token_counters: Mutex<crate::policies::token_limit::TokenCounters>,
    /// The last id given to a token-limit counter entry.
    pub token_entry: Mutex<u64>,
    /// Keys of the openid-configs `validate-jwt` fetched, with the clock time they expire.
    pub openid_keys: Mutex<crate::policies::validate_jwt::OpenIdKeys>,
    /// Messages of `log-to-eventhub`, oldest first (at most `KEPT_EVENTS`).
    pub events: Mutex<crate::policies::log_to_eventhub::EventSink>,
    /// `quota` and `quota-by-key` counters.
    pub quota_counters: Mutex<crate::policies::quota::QuotaCounters>,
    /// `rate-limit` and `rate-limit-by-key` sliding windows.
    pub rate_counters: Mutex<crate::policies::rate_limit::RateCounters>,
    /// Replies of the semantic cache policies, oldest first.
    pub semantic_cache: Mutex<crate::policies::semantic_cache::SemanticCache>,
    /// Tokens of credential manager connections for `get-authorization-context`, by
    /// [`crate::policies::authorization_context::connection_key`]; empty: every connection gets a local token.
    pub connections: HashMap<String, String>,
}

impl Runtime {
    /// A runtime with no trace, an empty cache and `spawner` for detached requests.
    pub fn new(
        upstream: Arc<dyn Upstream>,
        clock: Arc<dyn Clock>,
        tokens: Arc<dyn TokenIssuer>,
        backends: Backends,
        spawner: Arc<dyn crate::io::Spawn>,
    ) -> Runtime {
        Runtime {
            upstream,
            clock,
            tokens,
            backends: Arc::new(backends),
            seed: 1,
            request_counter: Mutex::new(0),
            trace: false,
            token_cache: Mutex::new(HashMap::new()),
            cache: Mutex::new(HashMap::new()),
            spawner,
            metrics: Mutex::new(std::collections::VecDeque::new()),
            token_counters: Mutex::new(HashMap::new()),
            token_entry: Mutex::new(0),
            rate_counters: Mutex::new(HashMap::new()),
            quota_counters: Mutex::new(HashMap::new()),
            events: Mutex::new(Default::default()),
            openid_keys: Mutex::new(HashMap::new()),
            semantic_cache: Mutex::new(Default::default()),
            connections: HashMap::new(),
        }
    }
}

/// A cached token's key: the resource and the client id (`None`: system-assigned).
pub type TokenKey = (String, Option<String>);

/// Backends and their runtime state.
pub struct Backends {
    pub registry: Registry,
    pub(crate) breakers: Mutex<HashMap<String, CircuitBreaker>>,
    pub(crate) balancers: Mutex<HashMap<String, Balancer>>,
    /// Forward attempts per backend.
    pub(crate) counts: Mutex<HashMap<String, u64>>,
    /// StatusReason of an exhausted pool; `{pool}` is the pool's name.
    pub unavailable_reason: String,
    /// Breaker transitions, oldest first (for introspection and traces).
    pub(crate) events: Mutex<Vec<(String, Event)>>,
}

impl Backends {
    pub fn new(registry: Registry) -> Backends {
        let mut breakers = HashMap::new();
        let mut balancers = HashMap::new();
        for b in &registry.backends {
            match &b.kind {
                BackendKind::Single(s) => {
                    if let Some(rule) = &s.breaker {
                        breakers.insert(
                            b.name.to_ascii_lowercase(),
                            CircuitBreaker::new(rule.clone()),
                        );
                    }
                }
                BackendKind::Pool(p) => {
                    balancers.insert(b.name.to_ascii_lowercase(), Balancer::new(p));
                }
            }
        }
        Backends {
            registry,
            breakers: Mutex::new(breakers),
            balancers: Mutex::new(balancers),
            counts: Mutex::new(HashMap::new()),
            unavailable_reason: DEFAULT_UNAVAILABLE_REASON.to_string(),
            events: Mutex::new(Vec::new()),
        }
    }

    /// Carries the state of `old` over after a reload (`serve --watch`): a breaker whose backend still exists
    /// with the same rule keeps its failure window and open time; a pool with the same members keeps its
    /// balancer position; request counts and transitions are kept.
    pub fn adopt(&self, old: &Backends) {
        {
            let old_breakers = old.breakers.lock();
            let mut breakers = self.breakers.lock();
            for (name, breaker) in breakers.iter_mut() {
                if let Some(previous) = old_breakers.get(name)
                    && previous.rule() == breaker.rule()
                {
                    *breaker = previous.clone();
                }
            }
        }
        {
            let old_balancers = old.balancers.lock();
            let mut balancers = self.balancers.lock();
            for (name, balancer) in balancers.iter_mut() {
                let same_members = |r: &Registry| match r.get(name).map(|b| &b.kind) {
                    Some(BackendKind::Pool(p)) => Some(p.members.clone()),
                    _ => None,
                };
                if let Some(previous) = old_balancers.get(name)
                    && same_members(&self.registry) == same_members(&old.registry)
                {
                    *balancer = previous.clone();
                }
            }
        }
        *self.counts.lock() = old.counts.lock().clone();
        *self.events.lock() = old.events.lock().clone();
    }

    /// Whether a single backend's breaker is open at `now`.
    pub fn is_open(&self, name: &str, now: Duration) -> bool {
        self.breakers
            .lock()
            .get(&name.to_ascii_lowercase())
            .is_some_and(|b| b.is_open(now))
    }

    /// Forward attempts sent to a backend.
    pub fn count(&self, name: &str) -> u64 {
        self.counts
            .lock()
            .get(&name.to_ascii_lowercase())
            .copied()
            .unwrap_or(0)
    }

    pub fn events(&self) -> Vec<(String, Event)> {
        self.events.lock().clone()
    }

    /// A snapshot of one breaker (for introspection).
    pub fn breaker(&self, name: &str) -> Option<CircuitBreaker> {
        self.breakers
            .lock()
            .get(&name.to_ascii_lowercase())
            .cloned()
    }
}

/// A request as the gateway received it, matched to an API.
#[derive(Debug, Clone, Default)]
pub struct Incoming {
    pub method: String,
    /// The full URL the client called.
    pub url: String,
    pub headers: Vec<(String, String)>,
    pub body: Option<String>,
    /// The body as a stream, when the plan does not read it ([`Plan::reads_request_body`]).
    pub body_stream: Option<crate::io::Streamed>,
    pub ip_address: String,
    /// The API's backend service URL (`serviceUrl`), if it has one.
    pub service_url: Option<String>,
    /// The path after the API's URL suffix (`/chat/completions`), appended to the backend URL.
    pub rest_path: String,
    /// The query string without `?` (appended to the backend URL).
    pub query: String,
    pub matched_parameters: Vec<(String, String)>,
    /// `context.Api`, `Operation`, … in the JSON shape of `apim-emu eval --context`.
    pub info: serde_json::Value,
    /// Trace this request even when the runtime does not trace every request (APIM's trace header).
    pub trace: bool,
}

/// What the client gets, and what happened.
#[derive(Debug, Clone, PartialEq)]
pub struct Outcome {
    pub status: u16,
    pub reason: String,
    pub headers: Vec<(String, String)>,
    pub body: Option<String>,
    /// The body as a stream instead (a `buffer-response="false"` reply passed through).
    pub stream: Option<crate::io::Streamed>,
    pub trace: Vec<String>,
    /// The explain trace (empty unless traced).
    pub facts: Vec<crate::explain::Fact>,
    /// The error that reached on-error, if any.
    pub last_error: Option<LastErrorData>,
    /// Where that error was raised (the failing policy's element).
    pub error_span: Option<apim_source::Span>,
    /// `context.RequestId`.
    pub request_id: String,
}

/// Where the backend call goes.
#[derive(Debug, Clone, PartialEq)]
pub enum Target {
    /// The API's service URL (or nothing).
    Default,
    /// `set-backend-service base-url`.
    Url(String),
    /// `set-backend-service backend-id` (single or pool).
    Backend(String),
}

/// Where an error was raised: scope, section, path (`choose[1]/when[2]/…`), policy id.
pub type ErrorSite = (Scope, Section, String, Option<String>);

/// A failure in a policy, becoming `context.LastError`.
#[derive(Debug, Clone)]
pub struct PolicyError {
    pub source: String,
    pub reason: String,
    pub message: String,
    /// A response that comes with the failure (an exhausted pool's 503); the client gets it when nothing handles
    /// the error.
    pub response: Option<Box<(ResponseData, BodyHandle)>>,
    /// Filled in where the error is raised: scope, section, path, policy id.
    pub at: Option<Box<ErrorSite>>,
    /// The failing policy in its file.
    pub span: Option<apim_source::Span>,
}

impl PolicyError {
    pub fn new(source: &str, reason: &str, message: impl Into<String>) -> PolicyError {
        PolicyError {
            source: source.into(),
            reason: reason.into(),
            message: message.into(),
            response: None,
            at: None,
            span: None,
        }
    }
}

/// How a policy left the pipeline.
pub enum Flow {
    Continue,
    /// `return-response` / `mock-response`: the response is in the exchange; stop everything.
    Return,
    /// A semantic cache hit: the cached response is in the exchange; the backend is skipped and outbound goes on
    /// after the store policy.
    CacheHit,
}

/// The state of one request while it runs.
pub struct Exchange {
    pub request: RequestData,
    pub request_body: Option<BodyHandle>,
    pub response: Option<(ResponseData, BodyHandle)>,
    pub variables: Variables,
    pub last_error: Option<LastErrorData>,
    pub target: Target,
    pub service_url: Option<String>,
    pub rest_path: String,
    pub query: Vec<(String, String)>,
    pub info: RequestInfo,
    pub trace: Vec<String>,
    pub facts: Vec<crate::explain::Fact>,
    pub started: Duration,
    pub section: Section,
    /// Forward attempts so far (a retried body is not replayed unless buffered).
    pub forward_attempts: u32,
    /// The backend entity in use (`context.Backend`).
    pub backend_entity: Option<(String, String)>,
    pub tracing: bool,
    /// The request body still as a stream (sent once, unbuffered).
    pub request_stream: Option<crate::io::Streamed>,
    /// The backend's reply body as a stream (buffer-response="false" and nothing reads it).
    pub response_stream: Option<crate::io::Streamed>,
    /// Token metrics waiting for the backend's response.
    pub(crate) pending_metrics: Vec<crate::policies::metrics::PendingMetric>,
    /// Token-limit entries waiting for the backend's usage.
    pub(crate) pending_tokens: Vec<crate::policies::token_limit::PendingTokens>,
    /// Headers policies add to whatever response the client gets (remaining tokens, tokens consumed).
    pub(crate) late_headers: Vec<(String, String)>,
    /// rate-limit-by-key increments left for the end of the pipeline.
    pub(crate) postponed_increments: Vec<crate::policies::rate_limit::PostponedIncrement>,
    /// quota and quota-by-key additions left for the end of the pipeline.
    pub(crate) quota_pending: Vec<crate::policies::quota::QuotaPending>,
    /// The API, operation, product, subscription … the request came with, as the gateway described them.
    pub(crate) info_json: Arc<serde_json::Value>,
    /// What a semantic cache lookup that missed leaves for the store.
    pub(crate) semantic_pending: Option<crate::policies::semantic_cache::PendingStore>,
    /// Completion checks of `llm-content-safety enforce-on-completions`, run when the backend answers.
    pub(crate) pending_safety: Vec<crate::policies::content_safety::PendingCheck>,
}

pub(crate) fn parse_query(q: &str) -> Vec<(String, String)> {
    url::form_urlencoded::parse(q.trim_start_matches('?').as_bytes())
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect()
}

pub(crate) fn encode_query(q: &[(String, String)]) -> String {
    if q.is_empty() {
        return String::new();
    }
    let mut s = url::form_urlencoded::Serializer::new(String::new());
    for (k, v) in q {
        s.append_pair(k, v);
    }
    format!("?{}", s.finish())
}

/// `base` + `/` + `rest` (exactly one slash between them) + query.
pub(crate) fn join_url(base: &str, rest: &str, query: &[(String, String)]) -> String {
    let mut url = base.trim_end_matches('/').to_string();
    let rest = rest.trim_start_matches('/');
    if !rest.is_empty() {
        url.push('/');
        url.push_str(rest);
    }
    url.push_str(&encode_query(query));
    url
}

impl Exchange {
    /// A copy to run a `wait` branch on: the same request (bodies and variables shared), its own trace.
    pub fn fork(&self) -> Exchange {
        Exchange {
            request: self.request.clone(),
            request_body: self.request_body.clone(),
            response: self.response.clone(),
            variables: self.variables.clone(),
            last_error: self.last_error.clone(),
            target: self.target.clone(),
            service_url: self.service_url.clone(),
            rest_path: self.rest_path.clone(),
            query: self.query.clone(),
            info: self.info.clone(),
            trace: Vec::new(),
            facts: Vec::new(),
            started: self.started,
            section: self.section,
            forward_attempts: self.forward_attempts,
            backend_entity: self.backend_entity.clone(),
            tracing: self.tracing,
            request_stream: None,
            response_stream: None,
            pending_metrics: Vec::new(),
            pending_tokens: Vec::new(),
            late_headers: Vec::new(),
            postponed_increments: Vec::new(),
            quota_pending: Vec::new(),
            info_json: self.info_json.clone(),
            semantic_pending: None,
            pending_safety: Vec::new(),
        }
    }

    /// The backend base URL the request would go to now (a pool shows its first member).
    pub fn backend_base(&self, backends: &Backends) -> Option<String> {
        match &self.target {
            Target::Url(u) => Some(u.clone()),
            Target::Default => self.service_url.clone(),
            Target::Backend(name) => match backends.registry.get(name).map(|b| &b.kind) {
                Some(BackendKind::Single(s)) => s.url.clone(),
                Some(BackendKind::Pool(p)) => p.members.first().and_then(|m| {
                    match backends.registry.get(&m.backend).map(|b| &b.kind) {
                        Some(BackendKind::Single(s)) => s.url.clone(),
                        _ => None,
                    }
                }),
                None => None,
            },
        }
    }

    fn refresh_url(&mut self, backends: &Backends) {
        if let Some(base) = self.backend_base(backends) {
            self.request.url = join_url(&base, &self.rest_path, &self.query);
        }
    }

    /// The expression context at this point.
    pub fn context(&mut self, rt: &Runtime) -> Context {
        self.refresh_url(&rt.backends);
        let now = rt.clock.now();
        let backend = self
            .backend_entity
            .as_ref()
            .map(|(a, b)| (a.as_str(), b.as_str()));
        Context::live(&LiveParts {
            request: &self.request,
            request_body: self.request_body.as_ref(),
            response: self.response.as_ref().map(|(r, b)| (r, b)),
            variables: &self.variables,
            last_error: self.last_error.as_ref(),
            info: &self.info,
            elapsed_ms: now.saturating_sub(self.started).as_millis() as i64,
            timestamp_ticks: ticks(rt.clock.wall()),
            backend,
        })
    }
}

fn ticks(t: std::time::SystemTime) -> i64 {
    // .NET ticks: 100 ns since 0001-01-01.
    const UNIX_EPOCH_TICKS: i64 = 621_355_968_000_000_000;
    let d = t
        .duration_since(std::time::SystemTime::UNIX_EPOCH)
        .unwrap_or_default();
    UNIX_EPOCH_TICKS + (d.as_nanos() / 100) as i64
}

/// Evaluates a compiled value.
pub(crate) fn eval<T: apim_policy::value::AttrValue>(
    cv: &Cv<T>,
    ex: &mut Exchange,
    rt: &Runtime,
    plan: &Plan,
    what: &str,
) -> Result<T, PolicyError> {
    match cv {
        Cv::Lit(v) => Ok(v.clone()),
        Cv::Expr(..) => {
            let v = eval_expr(cv, ex, rt, plan)?;
            let text = match v.as_bool() {
                Some(b) => b.to_string(),
                None => v.to_text().unwrap_or_default(),
            };
            T::parse_literal(&text).ok_or_else(|| {
                PolicyError::new(
                    "",
                    "ExpressionValueEvaluationFailure",
                    format!(
                        "Expression evaluation failed. The value of {what}, '{text}', is not {}.",
                        T::TYPE.describe()
                    ),
                )
            })
        }
    }
}

fn eval_expr<T>(
    cv: &Cv<T>,
    ex: &mut Exchange,
    rt: &Runtime,
    plan: &Plan,
) -> Result<apim_expr::Value, PolicyError> {
    match cv {
        Cv::Lit(_) => Ok(apim_expr::Value::null()),
        Cv::Expr(compiled, src) => run_expr(compiled, src, ex, rt, plan),
    }
}

/// Evaluates a compiled value to an expression value (literals become strings).
pub(crate) fn eval_value<T: apim_policy::value::AttrValue + ToString>(
    cv: &Cv<T>,
    ex: &mut Exchange,
    rt: &Runtime,
    plan: &Plan,
) -> Result<apim_expr::Value, PolicyError> {
    match cv {
        Cv::Lit(v) => Ok(apim_expr::Value::text(&v.to_string())),
        Cv::Expr(compiled, src) => run_expr(compiled, src, ex, rt, plan),
    }
}

/// Evaluates one compiled expression against the exchange.
pub(crate) fn run_expr(
    compiled: &apim_expr::Compiled,
    src: &apim_policy::value::ExprSource,
    ex: &mut Exchange,
    rt: &Runtime,
    plan: &Plan,
) -> Result<apim_expr::Value, PolicyError> {
    let result = {
        let ctx = ex.context(rt);
        plan.engine.eval(compiled, &ctx, &expr_env(ex, rt))
    };
    result.map_err(|e| expr_failure(e, src, ex))
}

fn expr_env(ex: &Exchange, rt: &Runtime) -> apim_expr::Environment {
    apim_expr::Environment {
        now_ticks: ticks(rt.clock.wall()),
        seed: rt.seed ^ (ex.started.as_nanos() as u64),
        missing_variable_throws: false,
    }
}

fn expr_failure(
    e: apim_expr::EvalError,
    src: &apim_policy::value::ExprSource,
    ex: &mut Exchange,
) -> PolicyError {
    let span = src.span_of(e.range.clone());
    note!(
        ex,
        format!(
            "expression failed at bytes {}..{}: {}: {}",
            span.start(),
            span.end(),
            e.exception,
            e.message
        )
    );
    // Azure (reference 01 §7): "Expression evaluation failed. <exception text>".
    PolicyError::new(
        "",
        "ExpressionValueEvaluationFailure",
        format!("Expression evaluation failed. {}", e.message),
    )
}

/// [`eval`] of a boolean condition; while the request is traced and the condition has an explained twin
/// (compiled at load), that twin runs instead and its value and every part's value become a
/// [`crate::explain::Fact::Condition`].
pub(crate) fn eval_condition(
    cv: &Cv<bool>,
    explained: Option<&apim_expr::Compiled>,
    ex: &mut Exchange,
    rt: &Runtime,
    plan: &Plan,
    what: &str,
) -> Result<bool, PolicyError> {
    let (Some(explained), Cv::Expr(_, src), true) = (explained, cv, ex.tracing) else {
        return eval(cv, ex, rt, plan, what);
    };
    let x = {
        let ctx = ex.context(rt);
        plan.engine.explain(explained, &ctx, &expr_env(ex, rt))
    };
    let whole = crate::explain::one_line(&src.text);
    let mut parts: Vec<crate::explain::Part> = x
        .steps
        .iter()
        .map(|step| crate::explain::Part {
            label: step.label.to_string(),
            source: crate::explain::one_line(src.text.get(step.range.clone()).unwrap_or_default()),
            value: match &step.outcome {
                apim_expr::StepOutcome::Value(v) => v.to_string(),
                apim_expr::StepOutcome::Threw(x) => format!("(threw {x})"),
                apim_expr::StepOutcome::NotEvaluated => "(not evaluated)".into(),
            },
        })
        .collect();
    // Each (part, value) once; not the whole expression again (it is the condition's own line).
    let mut seen = std::collections::HashSet::new();
    let bare = whole.trim_start_matches('@').trim();
    let inner = bare
        .strip_prefix(['(', '{'])
        .and_then(|b| b.strip_suffix([')', '}']))
        .unwrap_or(bare)
        .trim();
    parts.retain(|p| p.source != inner && seen.insert((p.source.clone(), p.value.clone())));
    let value = match &x.result {
        Ok(v) => match v.as_bool() {
            Some(b) => b.to_string(),
            None => v.to_text().unwrap_or_default(),
        },
        Err(e) => format!("threw {}: {}", e.exception, e.message),
    };
    fact!(
        ex,
        crate::explain::Fact::Condition {
            source: whole,
            value: value.clone(),
            parts,
        }
    );
    match x.result {
        Ok(_) => <bool as apim_policy::value::AttrValue>::parse_literal(&value).ok_or_else(|| {
            PolicyError::new(
                "",
                "ExpressionValueEvaluationFailure",
                format!(
                    "Expression evaluation failed. The value of {what}, '{value}', is not {}.",
                    <bool as apim_policy::value::AttrValue>::TYPE.describe()
                ),
            )
        }),
        Err(e) => Err(expr_failure(e, src, ex)),
    }
}

/// Runs a block of steps; an error is tagged with the failing step.
pub(crate) fn run_steps<'a>(
    steps: &'a [Step],
    ex: &'a mut Exchange,
    rt: &'a Runtime,
    plan: &'a Plan,
) -> BoxFuture<'a, Result<Flow, PolicyError>> {
    Box::pin(async move {
        for step in steps {
            match crate::policies::run(step, ex, rt, plan).await {
                Ok(Flow::Continue) => {}
                Ok(f @ (Flow::Return | Flow::CacheHit)) => return Ok(f),
                Err(mut e) => {
                    if e.source.is_empty() {
                        e.source = step.name.to_string();
                    }
                    if e.at.is_none() {
                        e.at = Some(Box::new((
                            step.scope,
                            ex.section,
                            step.path.clone(),
                            step.policy_id.clone(),
                        )));
                        e.span = Some(step.span.clone());
                    }
                    return Err(e);
                }
            }
        }
        Ok(Flow::Continue)
    })
}

fn scope_name(s: Scope) -> &'static str {
    match s {
        Scope::Global => "global",
        Scope::Workspace => "workspace",
        Scope::Product => "product",
        Scope::Api => "api",
        Scope::Operation => "operation",
    }
}

fn section_name(s: Section) -> &'static str {
    match s {
        Section::Inbound => "inbound",
        Section::Backend => "backend",
        Section::Outbound => "outbound",
        Section::OnError => "on-error",
    }
}

/// APIM's generic error body (reference 01 §8).
fn error_response(status: u16, message: &str, activity: &str) -> (ResponseData, BodyHandle) {
    let body =
        serde_json::json!({ "statusCode": status, "message": message, "activityId": activity });
    (
        ResponseData {
            status,
            reason: reason_phrase(status).into(),
            headers: vec![("Content-Type".into(), "application/json".into())],
        },
        BodyHandle::new(Some(body.to_string())),
    )
}

pub(crate) fn reason_phrase(status: u16) -> &'static str {
    match status {
        200 => "OK",
        201 => "Created",
        202 => "Accepted",
        204 => "No Content",
        301 => "Moved Permanently",
        302 => "Found",
        304 => "Not Modified",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        408 => "Request Timeout",
        409 => "Conflict",
        413 => "Payload Too Large",
        415 => "Unsupported Media Type",
        429 => "Too Many Requests",
        500 => "Internal Server Error",
        501 => "Not Implemented",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        504 => "Gateway Timeout",
        _ => "",
    }
}

impl Plan {
    /// Runs one request.
    pub async fn run(&self, rt: &Runtime, mut incoming: Incoming) -> Outcome {
        let started = rt.clock.now();
        let n = {
            let mut c = rt.request_counter.lock();
            *c += 1;
            *c
        };
        let request_id = uuid::Uuid::new_v5(
            &uuid::Uuid::NAMESPACE_OID,
            format!("apim-emu-{}-{n}", rt.seed).as_bytes(),
        )
        .as_u128();
        // Moved, not copied: the gateway's description of the request is read by a few policies.
        let info_json = Arc::new(std::mem::take(&mut incoming.info));
        let info = RequestInfo::from_json(&info_json, request_id).unwrap_or_else(|_| {
            RequestInfo::from_json(&serde_json::json!({}), request_id).expect("empty info is valid")
        });
        let mut ex = Exchange {
            request: RequestData {
                method: incoming.method.clone(),
                url: incoming.url.clone(),
                original_url: incoming.url.clone(),
                headers: incoming.headers.clone(),
                ip_address: incoming.ip_address.clone(),
                matched_parameters: incoming.matched_parameters.clone(),
            },
            request_body: incoming.body.clone().map(|b| BodyHandle::new(Some(b))),
            response: None,
            variables: Variables::default(),
            last_error: None,
            target: Target::Default,
            service_url: incoming.service_url.clone(),
            rest_path: incoming.rest_path.clone(),
            query: parse_query(&incoming.query),
            info,
            trace: Vec::new(),
            facts: Vec::new(),
            started,
            section: Section::Inbound,
            forward_attempts: 0,
            backend_entity: None,
            tracing: rt.trace || incoming.trace,
            request_stream: incoming.body_stream.clone(),
            response_stream: None,
            pending_metrics: Vec::new(),
            pending_tokens: Vec::new(),
            late_headers: Vec::new(),
            postponed_increments: Vec::new(),
            quota_pending: Vec::new(),
            info_json,
            semantic_pending: None,
            pending_safety: Vec::new(),
        };
        let activity = uuid::Uuid::from_u128(request_id).to_string();
        let mut failure: Option<PolicyError> = None;
        let mut error_span = None;
        let mut returned = false;
        // Azure: a browser's preflight is answered by the cors policy alone (reference 02).
        let preflight_cors = crate::policies::cors::is_preflight(&ex.request)
            .then(|| self.sections[0].iter().find(|s| s.name == "cors"))
            .flatten();
        if let Some(step) = preflight_cors {
            ex.section = Section::Inbound;
            match run_steps(std::slice::from_ref(step), &mut ex, rt, self).await {
                Ok(_) => returned = true,
                Err(e) => failure = Some(e),
            }
        }
        let sections = if preflight_cors.is_some() { 0 } else { 3 };
        // A semantic cache hit in inbound: no backend, and outbound goes on after the store policy.
        let mut cache_hit = false;
        for (i, section) in SECTIONS.into_iter().enumerate().take(sections) {
            ex.section = section;
            if cache_hit && section == Section::Backend {
                continue;
            }
            let steps = if cache_hit && section == Section::Outbound {
                crate::policies::semantic_cache::after_store(&self.sections[i])
            } else {
                &self.sections[i]
            };
            // Whether a reply has just arrived (from the backend, or from the cache) for the completion checks
            // of enforce-on-completions.
            let mut replied = false;
            match run_steps(steps, &mut ex, rt, self).await {
                Ok(Flow::Continue) if section == Section::Backend => {
                    crate::policies::token_limit::settle(&mut ex, rt);
                    let info = ex.info_json.clone();
                    crate::policies::metrics::emit(&mut ex, rt, &info, &activity);
                    replied = true;
                }
                Ok(Flow::CacheHit) if section == Section::Inbound => {
                    cache_hit = true;
                    replied = true;
                }
                Ok(Flow::Continue | Flow::CacheHit) => {}
                Ok(Flow::Return) => {
                    returned = true;
                    break;
                }
                Err(e) => {
                    failure = Some(e);
                    break;
                }
            }
            if replied
                && !ex.pending_safety.is_empty()
                && let Err(e) = crate::policies::content_safety::settle(&mut ex, rt, self).await
            {
                failure = Some(e);
                break;
            }
            // Azure: if no forward-request ran, outbound follows inbound with an empty 200 (reference 02,
            // UNVERIFIED response).
            if section == Section::Backend && ex.response.is_none() {
                ex.response = Some((
                    ResponseData {
                        status: 200,
                        reason: "OK".into(),
                        headers: Vec::new(),
                    },
                    BodyHandle::new(None),
                ));
            }
        }
        let failure_seen = failure.is_some();
        if let Some(e) = failure {
            error_span = e.span.clone();
            let (scope, section, path, policy_id) = e.at.clone().map(|a| *a).unwrap_or((
                Scope::Global,
                ex.section,
                String::new(),
                None,
            ));
            note!(
                ex,
                format!(
                    "error: {} {} at {}/{} ({}): {}",
                    e.source,
                    e.reason,
                    section_name(section),
                    path,
                    scope_name(scope),
                    e.message
                )
            );
            ex.last_error = Some(LastErrorData {
                source: e.source.clone(),
                reason: e.reason.clone(),
                message: e.message.clone(),
                scope: scope_name(scope).into(),
                section: section_name(section).into(),
                path,
                policy_id: policy_id.unwrap_or_default(),
            });
            // The response that came with the error (an exhausted pool's 503) is what on-error sees and what
            // the client gets; otherwise APIM's 500.
            ex.response = Some(match e.response {
                Some(r) => *r,
                None => error_response(500, "Internal server error", &activity),
            });
            ex.section = Section::OnError;
            match run_steps(&self.sections[3], &mut ex, rt, self).await {
                Ok(_) => {}
                Err(e2) => {
                    // Azure: an error inside on-error is UNVERIFIED; apim-emu answers 500.
                    note!(
                        ex,
                        format!(
                            "error in on-error: {} {}: {}",
                            e2.source, e2.reason, e2.message
                        )
                    );
                    ex.response = Some(error_response(500, "Internal server error", &activity));
                }
            }
        }
        crate::policies::rate_limit::settle(&mut ex, rt, self);
        let response_bytes = ex
            .response
            .as_ref()
            .and_then(|(_, b)| b.peek())
            .map_or(0, |b| b.len());
        crate::policies::quota::settle(&mut ex, rt, self, response_bytes);
        let (mut response, body) = ex.response.take().unwrap_or_else(|| {
            (
                ResponseData {
                    status: 200,
                    reason: "OK".into(),
                    headers: Vec::new(),
                },
                BodyHandle::new(None),
            )
        });
        // The policy's own headers replace the backend's of the same name (Azure OpenAI sends its own
        // x-ratelimit-* headers, for instance); UNVERIFIED.
        for (name, value) in std::mem::take(&mut ex.late_headers) {
            response
                .headers
                .retain(|(n, _)| !n.eq_ignore_ascii_case(&name));
            response.headers.push((name, value));
        }
        // A streamed reply goes out as it arrives, unless an error or return-response replaced the response.
        let stream = if failure_seen || returned {
            None
        } else {
            ex.response_stream.take()
        };
        fact!(
            ex,
            crate::explain::Fact::Final {
                status: response.status,
                reason: response.reason.clone(),
            }
        );
        Outcome {
            status: response.status,
            reason: response.reason,
            headers: response.headers,
            body: if stream.is_some() {
                None
            } else {
                body.outgoing()
            },
            stream,
            trace: ex.trace,
            facts: ex.facts,
            last_error: ex.last_error,
            error_span,
            request_id: activity,
        }
    }
}
