//! The local gateway: an axum router in front of a compiled [`apim_exec::Plan`], and a reqwest
//! [`apim_exec::Upstream`]. It translates between HTTP and executor types and answers the gateway's own paths
//! (the self-hosted gateway's health path, `/_emulator/*`); every policy decision is the executor's.

pub mod mock;
mod upstream;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use apim_exec::{BoxFuture, Clock, Incoming, Plan, Runtime, VirtualClock};
use axum::Router;
use axum::body::Bytes;
use axum::extract::{ConnectInfo, State};
use axum::http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::{any, get, post};

pub use upstream::HttpUpstream;

/// Azure: the self-hosted gateway's health endpoint (answers 200 without running policies).
pub const HEALTH_PATH: &str = "/status-0123456789abcdef";

/// The real clock: time since the gateway started, tokio sleeps.
pub struct SystemClock {
    start: Instant,
}

impl Default for SystemClock {
    fn default() -> Self {
        SystemClock {
            start: Instant::now(),
        }
    }
}

impl Clock for SystemClock {
    fn now(&self) -> Duration {
        self.start.elapsed()
    }

    fn wall(&self) -> SystemTime {
        SystemTime::now()
    }

    fn sleep(&self, duration: Duration) -> BoxFuture<'_, ()> {
        Box::pin(tokio::time::sleep(duration))
    }
}

/// Detached tasks (`send-one-way-request`) on the tokio runtime.
pub struct TokioSpawn;

impl apim_exec::Spawn for TokioSpawn {
    fn spawn(&self, task: BoxFuture<'static, ()>) {
        tokio::spawn(task);
    }
}

/// One API: requests whose path starts with `/{suffix}` run the plan.
pub struct Api {
    /// The API URL suffix, without slashes (empty: every path).
    pub suffix: String,
    pub service_url: Option<String>,
    /// The plan of the quick form (one API, no operations: every method and path).
    pub plan: Option<Plan>,
    /// `context.Api` etc. in the JSON shape of `apim-emu eval --context`.
    pub info: serde_json::Value,
    /// Operations (full form); a request that matches none is answered 404.
    pub operations: Vec<Operation>,
    /// Where the subscription key is read from when the API requires one (`header`, `query`).
    pub subscription_key: Option<(String, String)>,
    /// The API's name (subscription scopes, products).
    pub name: String,
}

/// An operation of an API and its plans: one per product whose policy applies, plus one without a product.
pub struct Operation {
    pub name: String,
    pub method: String,
    /// `/deployments/{deployment-id}/chat/completions`.
    pub url_template: String,
    pub plans: Vec<(Option<String>, Plan)>,
    pub info: serde_json::Value,
}

/// A subscription key's owner.
#[derive(Debug, Clone)]
pub struct Subscription {
    pub name: String,
    pub keys: Vec<String>,
    /// `/apis`, `/apis/{api}` or `/products/{product}`.
    pub scope: String,
    pub active: bool,
    /// For a product scope: the product's APIs.
    pub product_apis: Vec<String>,
}

impl Subscription {
    fn covers(&self, api: &str) -> bool {
        let scope = self.scope.to_ascii_lowercase();
        scope == "/apis"
            || scope
                .strip_prefix("/apis/")
                .is_some_and(|a| a.eq_ignore_ascii_case(api))
            || scope.starts_with("/products/")
                && self
                    .product_apis
                    .iter()
                    .any(|a| a.eq_ignore_ascii_case(api))
    }

    fn product(&self) -> Option<String> {
        self.scope.strip_prefix("/products/").map(str::to_string)
    }
}

/// Matches a path against a URL template (`/items/{id}`), returning the template parameters.
pub fn match_template(template: &str, path: &str) -> Option<Vec<(String, String)>> {
    let t: Vec<&str> = template
        .trim_matches('/')
        .split('/')
        .filter(|s| !s.is_empty())
        .collect();
    let p: Vec<&str> = path
        .trim_matches('/')
        .split('/')
        .filter(|s| !s.is_empty())
        .collect();
    if t.len() != p.len() {
        // A trailing `{*rest}` style segment is not supported; templates match segment by segment.
        return None;
    }
    let mut params = Vec::new();
    for (ts, ps) in t.iter().zip(&p) {
        match ts.strip_prefix('{').and_then(|x| x.strip_suffix('}')) {
            Some(name) => params.push((name.to_string(), ps.to_string())),
            None if ts.eq_ignore_ascii_case(ps) => {}
            None => return None,
        }
    }
    Some(params)
}

pub struct Gateway {
    pub apis: Vec<Api>,
    pub subscriptions: Vec<Subscription>,
    pub runtime: Runtime,
    /// Set when `--clock virtual`: `POST /_emulator/clock` moves it.
    pub virtual_clock: Option<Arc<VirtualClock>>,
    /// Values of secret named values, masked as `***` in traces and logs.
    pub secrets: Vec<String>,
    /// The traces of the last requests that asked for one (`Ocp-Apim-Trace: true`), newest last.
    pub traces: std::sync::Mutex<std::collections::VecDeque<KeptTrace>>,
    /// How `--trace` prints each request's explain trace to stderr.
    pub trace_format: TraceFormat,
}

/// A kept trace: request id, policy step lines (secrets masked), explain facts.
pub type KeptTrace = (String, Vec<String>, Vec<apim_exec::explain::Fact>);

/// How `serve --trace` prints.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum TraceFormat {
    /// Aligned text per request: attempts, pool choices, breakers, retry conditions, waits, final response.
    #[default]
    Text,
    /// One JSON object per request (`requestId`, `method`, `path`, `status`, `explain`, `steps`).
    Json,
}

/// How many requested traces `/_emulator/traces/{id}` keeps.
const KEPT_TRACES: usize = 100;

impl Gateway {
    pub fn new(
        apis: Vec<Api>,
        runtime: Runtime,
        virtual_clock: Option<Arc<VirtualClock>>,
        secrets: Vec<String>,
    ) -> Gateway {
        Gateway {
            apis,
            subscriptions: Vec::new(),
            runtime,
            virtual_clock,
            secrets,
            traces: Default::default(),
            trace_format: TraceFormat::Text,
        }
    }

    fn mask(&self, line: &str) -> String {
        let mut out = line.to_string();
        for secret in self.secrets.iter().filter(|s| !s.is_empty()) {
            out = out.replace(secret.as_str(), "***");
        }
        out
    }
}

/// The gateway a router serves, replaceable while it runs (`serve --watch` swaps in a reloaded one; requests
/// in flight finish on the one they started with).
pub struct Live {
    current: std::sync::RwLock<Arc<Gateway>>,
}

impl Live {
    pub fn new(gateway: Arc<Gateway>) -> Arc<Live> {
        Arc::new(Live {
            current: std::sync::RwLock::new(gateway),
        })
    }

    pub fn current(&self) -> Arc<Gateway> {
        self.current
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    pub fn replace(&self, gateway: Arc<Gateway>) {
        *self.current.write().unwrap_or_else(|e| e.into_inner()) = gateway;
    }
}

type Shared = Arc<Live>;

/// The router (tests serve it on 127.0.0.1:0).
pub fn app(gateway: Arc<Gateway>) -> Router {
    app_live(Live::new(gateway))
}

/// The router over a replaceable gateway.
pub fn app_live(live: Arc<Live>) -> Router {
    Router::new()
        .route(HEALTH_PATH, get(|| async { StatusCode::OK }))
        .route("/_emulator/backends", get(backends))
        .route("/_emulator/clock", post(advance_clock).get(read_clock))
        .route("/_emulator/traces/{id}", get(read_trace))
        .route("/_emulator/metrics", get(read_metrics))
        .route("/_emulator/events", get(read_events))
        .fallback(any(handle))
        .with_state(live)
}

/// Serves until `shutdown` completes; prints `listening on http://ADDR` once the socket is bound.
pub async fn serve(
    gateway: Arc<Live>,
    listen: SocketAddr,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
    on_ready: impl FnOnce(SocketAddr),
) -> std::io::Result<()> {
    let listener = tokio::net::TcpListener::bind(listen).await?;
    let addr = listener.local_addr()?;
    on_ready(addr);
    axum::serve(
        listener,
        app_live(gateway).into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown(shutdown)
    .await
}

fn json_response(status: StatusCode, value: serde_json::Value) -> Response {
    (
        status,
        [("content-type", "application/json")],
        value.to_string(),
    )
        .into_response()
}

async fn backends(State(live): State<Shared>) -> Response {
    let gw = live.current();
    let now = gw.runtime.clock.now();
    let backends = &gw.runtime.backends;
    let items: Vec<serde_json::Value> = backends
        .registry
        .backends
        .iter()
        .map(|b| match &b.kind {
            apim_backend::BackendKind::Single(s) => {
                let breaker = backends.breaker(&b.name).map(|br| {
                    let state = br.state(now);
                    serde_json::json!({
                        "rule": br.rule().name,
                        "state": match state { apim_backend::breaker::State::Open { .. } => "open", _ => "closed" },
                        "openForMs": match state {
                            apim_backend::breaker::State::Open { until } => Some(until.saturating_sub(now).as_millis() as u64),
                            _ => None,
                        },
                        "failuresInWindow": br.failures(now),
                        "trippedBy": br.tripped_by(),
                    })
                });
                serde_json::json!({
                    "name": b.name,
                    "type": "Single",
                    "url": s.url,
                    "requests": backends.count(&b.name),
                    "circuitBreaker": breaker,
                })
            }
            apim_backend::BackendKind::Pool(p) => serde_json::json!({
                "name": b.name,
                "type": "Pool",
                "members": p.members.iter().map(|m| serde_json::json!({
                    "backend": m.backend, "priority": m.priority, "weight": m.weight,
                    "available": !backends.is_open(&m.backend, now),
                })).collect::<Vec<_>>(),
            }),
        })
        .collect();
    json_response(StatusCode::OK, serde_json::Value::Array(items))
}

async fn read_trace(
    State(live): State<Shared>,
    axum::extract::Path(id): axum::extract::Path<String>,
) -> Response {
    let gw = live.current();
    let traces = gw
        .traces
        .lock()
        .map(|t| t.iter().find(|(i, _, _)| *i == id).cloned())
        .ok()
        .flatten();
    match traces {
        Some((id, lines, facts)) => json_response(
            StatusCode::OK,
            serde_json::json!({ "requestId": id, "trace": lines, "explain": masked_facts(&gw, &facts) }),
        ),
        None => json_response(
            StatusCode::NOT_FOUND,
            serde_json::json!({ "message": format!("no trace for request {id} (only the last {KEPT_TRACES} are kept)") }),
        ),
    }
}

/// `GET /_emulator/metrics`: the token metrics `*-emit-token-metric` recorded, oldest first (the last
/// `KEPT_METRICS`), where APIM would send them to Application Insights.
async fn read_metrics(State(live): State<Shared>) -> Response {
    let gw = live.current();
    let metrics: Vec<serde_json::Value> = gw
        .runtime
        .metrics
        .lock()
        .iter()
        .map(|m| serde_json::to_value(m).unwrap_or_default())
        .collect();
    json_response(StatusCode::OK, serde_json::Value::Array(metrics))
}

/// `GET /_emulator/events`: the messages `log-to-eventhub` sent, oldest first (the last `KEPT_EVENTS`).
async fn read_events(State(live): State<Shared>) -> Response {
    let gw = live.current();
    let events: Vec<serde_json::Value> = gw
        .runtime
        .events
        .lock()
        .items
        .iter()
        .map(|e| serde_json::to_value(e).unwrap_or_default())
        .collect();
    json_response(StatusCode::OK, serde_json::Value::Array(events))
}

async fn read_clock(State(live): State<Shared>) -> Response {
    let gw = live.current();
    json_response(
        StatusCode::OK,
        serde_json::json!({
            "virtual": gw.virtual_clock.is_some(),
            "elapsedMs": gw.runtime.clock.now().as_millis() as u64,
        }),
    )
}

/// `POST /_emulator/clock` with an ISO 8601 duration (`PT10S`) or seconds (`10`) as the body, or `?advance=`.
async fn advance_clock(State(live): State<Shared>, uri: Uri, body: Bytes) -> Response {
    let gw = live.current();
    let Some(clock) = &gw.virtual_clock else {
        return json_response(
            StatusCode::CONFLICT,
            serde_json::json!({ "message": "the clock is real; start the gateway with --clock virtual" }),
        );
    };
    let text = uri
        .query()
        .and_then(|q| q.split('&').find_map(|kv| kv.strip_prefix("advance=")))
        .map(str::to_string)
        .unwrap_or_else(|| {
            String::from_utf8_lossy(&body)
                .trim()
                .trim_matches('"')
                .to_string()
        });
    let by = match text.parse::<f64>() {
        Ok(secs) if secs >= 0.0 && secs.is_finite() => Duration::from_secs_f64(secs),
        _ => match arm_template::duration::parse(&text)
            .ok()
            .and_then(|d| d.to_std().ok())
        {
            Some(d) => d,
            None => {
                return json_response(
                    StatusCode::BAD_REQUEST,
                    serde_json::json!({ "message": format!("'{text}' is not a duration: send seconds (10) or ISO 8601 (PT10S)") }),
                );
            }
        },
    };
    clock.advance(by);
    json_response(
        StatusCode::OK,
        serde_json::json!({ "elapsedMs": clock.now().as_millis() as u64 }),
    )
}

async fn handle(State(live): State<Shared>, request: axum::extract::Request) -> Response {
    let gw = live.current();
    // The client's address when served over TCP; 127.0.0.1 when the router is called in process (scenarios).
    let peer = request
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0)
        .unwrap_or_else(|| SocketAddr::from(([127, 0, 0, 1], 0)));
    let (parts, body) = request.into_parts();
    let (method, uri, headers): (Method, Uri, HeaderMap) = (parts.method, parts.uri, parts.headers);
    let path = uri.path();
    // The API with the longest matching URL suffix.
    let Some((api, rest)) = gw
        .apis
        .iter()
        .filter_map(|api| {
            let prefix = if api.suffix.is_empty() {
                String::new()
            } else {
                format!("/{}", api.suffix)
            };
            let rest = path.strip_prefix(&prefix)?;
            (rest.is_empty() || rest.starts_with('/') || prefix.is_empty())
                .then(|| (api, rest.to_string()))
        })
        .max_by_key(|(api, _)| api.suffix.len())
    else {
        // Azure: no matching API ⇒ 404 {"statusCode":404,"message":"Resource not found"} (reference 01 §8).
        return json_response(
            StatusCode::NOT_FOUND,
            serde_json::json!({ "statusCode": 404, "message": "Resource not found" }),
        );
    };
    // The operation (full form), its template parameters, and the plan to run.
    let mut matched = Vec::new();
    let mut info = api.info.clone();
    let operation = if api.operations.is_empty() {
        None
    } else {
        let found = api.operations.iter().find_map(|op| {
            (op.method.eq_ignore_ascii_case(method.as_str()) || op.method == "*")
                .then(|| match_template(&op.url_template, &rest).map(|m| (op, m)))
                .flatten()
        });
        match found {
            Some((op, params)) => {
                matched = params;
                info = op.info.clone();
                Some(op)
            }
            // Azure: no operation matches ⇒ 404 "Resource not found" (LastError Source configuration, Reason
            // OperationNotFound; reference 01 §7-8).
            None => {
                return json_response(
                    StatusCode::NOT_FOUND,
                    serde_json::json!({ "statusCode": 404, "message": "Resource not found" }),
                );
            }
        }
    };
    // Subscription key (built-in step before any policy): header or query, as the API names them.
    let mut product = None;
    let mut query = uri.query().unwrap_or("").to_string();
    let mut strip_header = None;
    if let Some((header_name, query_name)) = &api.subscription_key {
        let from_header = headers
            .get(header_name.as_str())
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        let from_query = url::form_urlencoded::parse(query.as_bytes())
            .find(|(k, _)| k.eq_ignore_ascii_case(query_name))
            .map(|(_, v)| v.into_owned());
        let Some(key) = from_header.clone().or(from_query) else {
            // Azure (reference 01 §8): 401 with the observed message and a WWW-Authenticate challenge.
            let mut r = json_response(
                StatusCode::UNAUTHORIZED,
                serde_json::json!({ "statusCode": 401, "message": "Access denied due to missing subscription key. Make sure to include subscription key when making requests to an API." }),
            );
            if let Ok(v) = HeaderValue::from_str(&format!(
                "AzureApiManagementKey realm=\"{}\",name=\"{header_name}\",type=\"header\"",
                api.suffix
            )) {
                r.headers_mut().insert("www-authenticate", v);
            }
            return r;
        };
        let Some(subscription) = gw
            .subscriptions
            .iter()
            .find(|s| s.active && s.keys.contains(&key) && s.covers(&api.name))
        else {
            return json_response(
                StatusCode::UNAUTHORIZED,
                serde_json::json!({ "statusCode": 401, "message": "Access denied due to invalid subscription key. Make sure to provide a valid key for an active subscription." }),
            );
        };
        product = subscription.product();
        if let serde_json::Value::Object(o) = &mut info {
            o.insert("subscription".into(), serde_json::json!({ "id": subscription.name, "name": subscription.name, "key": key }));
            if let Some(p) = &product {
                o.insert("product".into(), serde_json::json!({ "id": p, "name": p }));
            }
        }
        // Azure: the gateway does not pass the subscription key on to the backend.
        if from_header.is_some() {
            strip_header = Some(header_name.to_ascii_lowercase());
        } else {
            query = url::form_urlencoded::Serializer::new(String::new())
                .extend_pairs(
                    url::form_urlencoded::parse(query.as_bytes())
                        .filter(|(k, _)| !k.eq_ignore_ascii_case(query_name)),
                )
                .finish();
        }
    }
    let plan = match operation {
        Some(op) => op
            .plans
            .iter()
            .find(|(p, _)| p.is_some() && *p == product)
            .or_else(|| op.plans.iter().find(|(p, _)| p.is_none()))
            .map(|(_, plan)| plan),
        None => api.plan.as_ref(),
    };
    let Some(plan) = plan else {
        return json_response(
            StatusCode::INTERNAL_SERVER_ERROR,
            serde_json::json!({ "statusCode": 500, "message": "Internal server error" }),
        );
    };
    let host = headers
        .get("host")
        .and_then(|h| h.to_str().ok())
        .unwrap_or("localhost")
        .to_string();
    let url = format!(
        "http://{host}{}",
        uri.path_and_query().map(|p| p.as_str()).unwrap_or("/")
    );
    let mut lines = Vec::new();
    for (name, value) in &headers {
        if strip_header.as_deref() == Some(name.as_str()) {
            continue;
        }
        if let Ok(v) = value.to_str() {
            lines.push((name.as_str().to_string(), v.to_string()));
        }
    }
    // The body is read into memory only when the plan reads it; otherwise it streams to the backend.
    let has_body = headers.get("content-length").is_some_and(|v| v != "0")
        || headers.contains_key("transfer-encoding");
    let (text, stream) = if !has_body {
        (None, None)
    } else if plan.reads_request_body() {
        match axum::body::to_bytes(body, usize::MAX).await {
            // Deviation: a body the policy reads is held as text; bytes that are not UTF-8 are replaced.
            Ok(bytes) => (Some(String::from_utf8_lossy(&bytes).into_owned()), None),
            Err(e) => {
                return json_response(
                    StatusCode::BAD_REQUEST,
                    serde_json::json!({ "statusCode": 400, "message": format!("cannot read the request body: {e}") }),
                );
            }
        }
    } else {
        use futures::StreamExt as _;
        let stream = body
            .into_data_stream()
            .map(|chunk| chunk.map(|b| b.to_vec()).map_err(|e| e.to_string()));
        (None, Some(apim_exec::Streamed::new(Box::pin(stream))))
    };
    let incoming = Incoming {
        method: method.as_str().to_string(),
        url,
        headers: lines,
        body: text,
        body_stream: stream,
        ip_address: peer.ip().to_string(),
        service_url: api.service_url.clone(),
        rest_path: rest,
        query,
        matched_parameters: matched,
        info,
        // Azure: `Ocp-Apim-Trace: true` asks for the trace of this request (apim-emu needs no key for it).
        trace: headers
            .get("ocp-apim-trace")
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.eq_ignore_ascii_case("true")),
    };
    let wants_trace = incoming.trace;
    let started = std::time::Instant::now();
    let log_path = uri.path().to_string();
    let outcome = plan.run(&gw.runtime, incoming).await;
    let lines: Vec<String> = outcome.trace.iter().map(|l| gw.mask(l)).collect();
    if gw.runtime.trace {
        match gw.trace_format {
            TraceFormat::Text => eprintln!(
                "trace {method} {log_path} -> {} (request {})\n{}",
                outcome.status,
                outcome.request_id,
                gw.mask(&apim_exec::explain::render(&outcome.facts))
            ),
            TraceFormat::Json => eprintln!(
                "{}",
                serde_json::json!({
                    "requestId": outcome.request_id,
                    "method": method.to_string(),
                    "path": log_path,
                    "status": outcome.status,
                    "explain": masked_facts(&gw, &outcome.facts),
                    "steps": lines,
                })
            ),
        }
    }
    tracing::info!(
        target: "apim_emu::request",
        "{} {} -> {} ({} ms, request {})",
        method,
        log_path,
        outcome.status,
        started.elapsed().as_millis(),
        outcome.request_id
    );
    if let Some(e) = &outcome.last_error {
        tracing::warn!(target: "apim_emu::request", "error {} {}: {}", e.source, e.reason, gw.mask(&e.message));
    }
    let mut trace_location = None;
    if wants_trace {
        trace_location = Some(format!(
            "http://{host}/_emulator/traces/{}",
            outcome.request_id
        ));
        if let Ok(mut traces) = gw.traces.lock() {
            traces.push_back((outcome.request_id.clone(), lines, outcome.facts.clone()));
            while traces.len() > KEPT_TRACES {
                traces.pop_front();
            }
        }
    }
    let mut response = Response::builder()
        .status(StatusCode::from_u16(outcome.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR));
    if let Some(h) = response.headers_mut() {
        for (name, value) in &outcome.headers {
            if matches!(
                name.to_ascii_lowercase().as_str(),
                "content-length" | "transfer-encoding" | "connection"
            ) {
                continue;
            }
            if let (Ok(n), Ok(v)) = (
                HeaderName::from_bytes(name.as_bytes()),
                HeaderValue::from_str(value),
            ) {
                h.append(n, v);
            }
        }
    }
    if let (Some(location), Some(h)) = (&trace_location, response.headers_mut())
        && let Ok(v) = HeaderValue::from_str(location)
    {
        h.insert("ocp-apim-trace-location", v);
    }
    let body = match outcome.stream.as_ref().and_then(apim_exec::Streamed::take) {
        // buffer-response="false": chunks go to the client as the backend sends them.
        Some(stream) => axum::body::Body::from_stream(stream),
        None => axum::body::Body::from(outcome.body.unwrap_or_default()),
    };
    response
        .body(body)
        .unwrap_or_else(|_| StatusCode::INTERNAL_SERVER_ERROR.into_response())
}

/// The explain facts as JSON with secret named values masked.
fn masked_facts(gw: &Gateway, facts: &[apim_exec::explain::Fact]) -> serde_json::Value {
    let text = serde_json::to_string(facts).unwrap_or_else(|_| "[]".into());
    serde_json::from_str(&gw.mask(&text)).unwrap_or_else(|_| serde_json::json!([]))
}
