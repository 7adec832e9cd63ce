//! Mock LLM backends shaped like Azure OpenAI / OpenAI (reference 05): chat completions, completions and
//! embeddings with `usage` token counts, server-sent events when `"stream": true`, 404 for unknown deployments,
//! and scripted faults (429 with Retry-After / x-ms-retry-after-ms / x-ratelimit-* headers, a tokens-per-minute
//! limit that produces real 429s, 5xx, delays, connection resets). Every response names the backend that served
//! it in `x-ms-region`. Embeddings are word-hash vectors, so prompts that share words are near each other (for
//! semantic caching); the Azure AI Content Safety calls (`text:analyze`, `text:shieldPrompt`) are answered from
//! short word lists ([`content_safety`]).

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::{IntoResponse, Response};

/// One scripted fault, applied to the request whose position in a repeating cycle it names.
#[derive(Debug, Clone, PartialEq)]
pub enum Fault {
    /// 429 with `Retry-After` seconds.
    Throttle { retry_after: u64 },
    /// This status (5xx) with an Azure-shaped error body.
    Status(u16),
    /// Answer after a pause.
    Delay(Duration),
    /// Close the connection without an answer.
    Reset,
}

#[derive(Debug, Clone)]
pub struct MockConfig {
    pub name: String,
    /// `x-ms-region` of the answers (default: the name).
    pub region: Option<String>,
    /// Deployments it serves (`None`: any).
    pub deployments: Option<Vec<String>>,
    /// Faults by position in a cycle of `cycle` requests (1-based): `(3, Throttle)` = every third request.
    pub faults: Vec<(u64, Fault)>,
    pub cycle: u64,
    /// Tokens per minute; over it, 429 with Retry-After until the minute ends.
    pub tokens_per_minute: Option<u64>,
    /// Content Safety blocklists: name and terms (matched without case inside the text).
    pub blocklists: Blocklists,
}

/// Content Safety blocklists of a mock: name and terms.
pub type Blocklists = Vec<(String, Vec<String>)>;

impl MockConfig {
    pub fn new(name: &str) -> MockConfig {
        MockConfig {
            name: name.into(),
            region: None,
            deployments: None,
            faults: Vec::new(),
            cycle: 1,
            tokens_per_minute: None,
            blocklists: Vec::new(),
        }
    }
}

struct MockState {
    config: MockConfig,
    requests: Mutex<u64>,
    window: Mutex<(Instant, u64)>,
}

/// A running mock: its address and how many requests it answered.
pub struct Mock {
    pub addr: SocketAddr,
    state: Arc<MockState>,
}

impl Mock {
    pub fn requests(&self) -> u64 {
        *self
            .state
            .requests
            .lock()
            .unwrap_or_else(|e| e.into_inner())
    }
}

/// Starts a mock backend on `listen` (port 0 picks one) in the current tokio runtime.
pub async fn start(config: MockConfig, listen: SocketAddr) -> std::io::Result<Mock> {
    let state = Arc::new(MockState {
        config,
        requests: Mutex::new(0),
        window: Mutex::new((Instant::now(), 0)),
    });
    let app = Router::new().fallback(handle).with_state(state.clone());
    let listener = tokio::net::TcpListener::bind(listen).await?;
    let addr = listener.local_addr()?;
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    Ok(Mock { addr, state })
}

/// Roughly four characters per token, at least one: the rule the token-limit policies estimate prompts with,
/// so that a policy's estimate and a mock's `usage` agree.
use apim_exec::estimate_tokens;

fn azure_error(status: StatusCode, code: &str, message: &str) -> Response {
    (
        status,
        [("content-type", "application/json")],
        serde_json::json!({ "error": { "code": code, "message": message } }).to_string(),
    )
        .into_response()
}

async fn handle(
    State(state): State<Arc<MockState>>,
    method: axum::http::Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if method == axum::http::Method::GET && uri.path() == "/health" {
        // Not counted: healthchecks must not move the fault schedule.
        return (
            StatusCode::OK,
            [("content-type", "application/json")],
            serde_json::json!({ "status": "ok", "name": state.config.name }).to_string(),
        )
            .into_response();
    }
    let n = {
        let mut r = state.requests.lock().unwrap_or_else(|e| e.into_inner());
        *r += 1;
        *r
    };
    let config = &state.config;
    let region = config.region.clone().unwrap_or_else(|| config.name.clone());
    let mut response = answer(&state, n, &uri, &headers, &body).await;
    if let Ok(v) = axum::http::HeaderValue::from_str(&region) {
        response.headers_mut().insert("x-ms-region", v);
    }
    response
}

async fn answer(
    state: &MockState,
    n: u64,
    uri: &Uri,
    _headers: &HeaderMap,
    body: &Bytes,
) -> Response {
    let config = &state.config;
    let position = (n - 1) % config.cycle.max(1) + 1;
    for (at, fault) in &config.faults {
        if *at != position {
            continue;
        }
        match fault {
            Fault::Throttle { retry_after } => {
                let mut r = azure_error(
                    StatusCode::TOO_MANY_REQUESTS,
                    "429",
                    &format!(
                        "Requests to the ChatCompletions_Create Operation have exceeded the rate limit. Please retry after {retry_after} seconds."
                    ),
                );
                let h = r.headers_mut();
                h.insert(
                    "retry-after",
                    retry_after.to_string().parse().expect("digits"),
                );
                h.insert(
                    "x-ms-retry-after-ms",
                    (retry_after * 1000).to_string().parse().expect("digits"),
                );
                h.insert(
                    "x-ratelimit-remaining-requests",
                    "0".parse().expect("digits"),
                );
                h.insert("x-ratelimit-remaining-tokens", "0".parse().expect("digits"));
                return r;
            }
            Fault::Status(code) => {
                let status =
                    StatusCode::from_u16(*code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
                return azure_error(
                    status,
                    "InternalServerError",
                    "The server had an error while processing your request.",
                );
            }
            Fault::Delay(d) => tokio::time::sleep(*d).await,
            Fault::Reset => {
                // Dropping the connection is what a reset looks like to the gateway: an error mid-response.
                let stream = futures::stream::once(async {
                    Err::<Vec<u8>, std::io::Error>(std::io::Error::other("connection reset"))
                });
                return Response::builder()
                    .status(StatusCode::OK)
                    .body(axum::body::Body::from_stream(stream))
                    .unwrap_or_else(|_| StatusCode::INTERNAL_SERVER_ERROR.into_response());
            }
        }
    }
    let reply = format!(
        "Hello from {}.",
        config.region.clone().unwrap_or_else(|| config.name.clone())
    );
    let created = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let generated = generate(
        uri.path(),
        body,
        &reply,
        config.deployments.as_deref(),
        &config.blocklists,
        &format!("chatcmpl-apimemu{n}"),
        created,
    );
    if generated.status == 200
        && let Some(tpm) = config.tokens_per_minute
    {
        let mut w = state.window.lock().unwrap_or_else(|e| e.into_inner());
        if w.0.elapsed() >= Duration::from_secs(60) {
            *w = (Instant::now(), 0);
        }
        if w.1 + generated.tokens > tpm {
            let wait = 60u64.saturating_sub(w.0.elapsed().as_secs()).max(1);
            let mut r = azure_error(
                StatusCode::TOO_MANY_REQUESTS,
                "429",
                &format!(
                    "Rate limit of {tpm} tokens per minute exceeded. Please retry after {wait} seconds."
                ),
            );
            r.headers_mut()
                .insert("retry-after", wait.to_string().parse().expect("digits"));
            r.headers_mut()
                .insert("x-ratelimit-remaining-tokens", "0".parse().expect("digits"));
            return r;
        }
        w.1 += generated.tokens;
    }
    let status = StatusCode::from_u16(generated.status).unwrap_or(StatusCode::OK);
    if generated.stream {
        // One chunk per event, as a real backend sends them.
        let events: Vec<String> = generated
            .body
            .split_inclusive("\n\n")
            .map(str::to_string)
            .collect();
        let stream = futures::stream::iter(
            events
                .into_iter()
                .map(|e| Ok::<Vec<u8>, std::io::Error>(e.into_bytes())),
        );
        return Response::builder()
            .status(status)
            .header("content-type", generated.content_type)
            .body(axum::body::Body::from_stream(stream))
            .unwrap_or_else(|_| StatusCode::INTERNAL_SERVER_ERROR.into_response());
    }
    (
        status,
        [("content-type", generated.content_type)],
        generated.body,
    )
        .into_response()
}

/// An Azure-OpenAI-shaped answer to a request, computed without I/O (the mock server and scenario scripts
/// share it).
#[derive(Debug, Clone, PartialEq)]
pub struct Generated {
    pub status: u16,
    pub content_type: &'static str,
    pub body: String,
    /// Server-sent events (the request had `"stream": true`).
    pub stream: bool,
    /// Prompt + completion tokens (what a tokens-per-minute limit counts).
    pub tokens: u64,
}

fn error_body(code: &str, message: &str) -> String {
    serde_json::json!({ "error": { "code": code, "message": message } }).to_string()
}

/// The answer to `path` with request `body`: chat completions (`…/chat/completions`), completions
/// (`…/completions`) or embeddings (`…/embeddings`), with `usage` counted at about four characters per token;
/// SSE chunks when the body has `"stream": true`; 404 for other paths and for deployments not in `deployments`.
/// The deployment is the path's `/deployments/{name}/` (Azure) or the body's `model` (OpenAI).
pub fn generate(
    path: &str,
    body: &[u8],
    reply: &str,
    deployments: Option<&[String]>,
    blocklists: &[(String, Vec<String>)],
    id: &str,
    created: u64,
) -> Generated {
    let not_found = |code: &str, message: &str| Generated {
        status: 404,
        content_type: "application/json",
        body: error_body(code, message),
        stream: false,
        tokens: 0,
    };
    if let Some(answer) = content_safety(path, body, blocklists) {
        return answer;
    }
    let kind = if path.ends_with("/chat/completions") {
        "chat"
    } else if path.ends_with("/embeddings") {
        "embeddings"
    } else if path.ends_with("/completions") {
        "completions"
    } else {
        return not_found("404", "Resource not found");
    };
    let request: serde_json::Value =
        serde_json::from_slice(body).unwrap_or(serde_json::Value::Null);
    let deployment = path
        .split("/deployments/")
        .nth(1)
        .and_then(|rest| rest.split('/').next())
        .map(str::to_string)
        .or_else(|| {
            request
                .get("model")
                .and_then(|m| m.as_str())
                .map(str::to_string)
        })
        .unwrap_or_else(|| "gpt-4o-mini".into());
    if let Some(known) = deployments
        && !known.contains(&deployment)
    {
        return not_found(
            "DeploymentNotFound",
            "The API deployment for this resource does not exist. If you created the deployment within the last 5 minutes, please wait a moment and try again.",
        );
    }
    let prompt_tokens = estimate_tokens(&request.to_string());
    let completion_tokens = if kind == "embeddings" {
        0
    } else {
        estimate_tokens(reply)
    };
    let tokens = prompt_tokens + completion_tokens;
    let usage = serde_json::json!({ "prompt_tokens": prompt_tokens, "completion_tokens": completion_tokens, "total_tokens": tokens });
    let json = |body: serde_json::Value| Generated {
        status: 200,
        content_type: "application/json",
        body: body.to_string(),
        stream: false,
        tokens,
    };
    match kind {
        "embeddings" => {
            let inputs: Vec<String> = match request.get("input") {
                Some(serde_json::Value::Array(items)) => items
                    .iter()
                    .map(|i| i.as_str().map_or_else(|| i.to_string(), str::to_string))
                    .collect(),
                Some(serde_json::Value::String(s)) => vec![s.clone()],
                Some(other) => vec![other.to_string()],
                None => vec![String::new()],
            };
            let data: Vec<serde_json::Value> = inputs
                .iter()
                .enumerate()
                .map(|(i, text)| serde_json::json!({ "object": "embedding", "index": i, "embedding": embed(text) }))
                .collect();
            json(serde_json::json!({
                "object": "list", "model": deployment, "data": data,
                "usage": { "prompt_tokens": prompt_tokens, "total_tokens": prompt_tokens } }))
        }
        _ if request.get("stream").and_then(|s| s.as_bool()) == Some(true) => {
            let chunk = |delta: serde_json::Value, finish: serde_json::Value| {
                format!(
                    "data: {}\n\n",
                    serde_json::json!({ "id": id, "object": "chat.completion.chunk", "created": created, "model": deployment,
                        "choices": [ { "index": 0, "delta": delta, "finish_reason": finish } ] })
                )
            };
            let mut events = chunk(
                serde_json::json!({ "role": "assistant", "content": "" }),
                serde_json::Value::Null,
            );
            for word in reply.split_inclusive(' ') {
                events.push_str(&chunk(
                    serde_json::json!({ "content": word }),
                    serde_json::Value::Null,
                ));
            }
            events.push_str(&chunk(serde_json::json!({}), serde_json::json!("stop")));
            events.push_str("data: [DONE]\n\n");
            Generated {
                status: 200,
                content_type: "text/event-stream",
                body: events,
                stream: true,
                tokens,
            }
        }
        "completions" => json(serde_json::json!({
            "id": id, "object": "text_completion", "created": created, "model": deployment,
            "choices": [ { "index": 0, "text": reply, "finish_reason": "stop" } ], "usage": usage })),
        _ => json(serde_json::json!({
            "id": id, "object": "chat.completion", "created": created, "model": deployment,
            "choices": [ { "index": 0, "message": { "role": "assistant", "content": reply }, "finish_reason": "stop" } ],
            "usage": usage })),
    }
}

/// Dimensions of the mock's embeddings.
pub const EMBEDDING_DIMENSIONS: usize = 64;

/// A unit vector of `text`'s words (lowercased letters and digits), each word adding 1 to a dimension picked by
/// its FNV-1a hash: the same words give the same vector whatever their order, and the cosine distance of two
/// prompts falls as they share more words. All zeros for a text without words.
pub fn embed(text: &str) -> Vec<f64> {
    let mut v = vec![0.0; EMBEDDING_DIMENSIONS];
    for word in text
        .split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
    {
        let mut h: u64 = 0xcbf2_9ce4_8422_2325;
        for b in word.to_lowercase().bytes() {
            h ^= u64::from(b);
            h = h.wrapping_mul(0x0100_0000_01b3);
        }
        v[(h % EMBEDDING_DIMENSIONS as u64) as usize] += 1.0;
    }
    let norm = v.iter().map(|x| x * x).sum::<f64>().sqrt();
    if norm > 0.0 {
        for x in &mut v {
            *x /= norm;
        }
    }
    v
}

/// Words the mock's Content Safety treats as harmful, by category.
pub const HARM_WORDS: &[(&str, &[&str])] = &[
    ("Hate", &["hate", "hateful", "inferior", "vermin"]),
    ("SelfHarm", &["suicide", "self-harm", "selfharm", "cutting"]),
    ("Sexual", &["sexual", "explicit", "nude", "porn"]),
    (
        "Violence",
        &["kill", "murder", "bomb", "weapon", "shoot", "attack"],
    ),
];

/// Phrases the mock's Prompt Shields reports as a user prompt attack.
pub const ATTACK_PHRASES: &[&str] = &[
    "ignore previous instructions",
    "ignore all previous instructions",
    "ignore your instructions",
    "disregard your instructions",
    "you are now dan",
];

/// Azure AI Content Safety's `text:analyze` and `text:shieldPrompt`, answered from [`HARM_WORDS`] and
/// [`ATTACK_PHRASES`]: a category's severity is 0 without its words, 4 for one occurrence, 6 for two or more
/// (both output types); `blocklistsMatch` lists the terms of the requested `blocklistNames` found in the text
/// (without case; a name the mock does not have matches nothing). `None` for other paths.
pub fn content_safety(
    path: &str,
    body: &[u8],
    blocklists: &[(String, Vec<String>)],
) -> Option<Generated> {
    let request: serde_json::Value =
        serde_json::from_slice(body).unwrap_or(serde_json::Value::Null);
    let text = |field: &str| {
        request
            .get(field)
            .and_then(|t| t.as_str())
            .unwrap_or_default()
            .to_lowercase()
    };
    let answer = |body: serde_json::Value| Generated {
        status: 200,
        content_type: "application/json",
        body: body.to_string(),
        stream: false,
        tokens: 0,
    };
    if path.ends_with("/contentsafety/text:analyze") {
        let text = text("text");
        let words: Vec<&str> = text
            .split(|c: char| !(c.is_alphanumeric() || c == '-'))
            .filter(|w| !w.is_empty())
            .collect();
        let wanted: Option<Vec<String>> =
            request
                .get("categories")
                .and_then(|c| c.as_array())
                .map(|c| {
                    c.iter()
                        .filter_map(|n| n.as_str().map(str::to_string))
                        .collect()
                });
        let analysis: Vec<serde_json::Value> = HARM_WORDS
            .iter()
            .filter(|(name, _)| {
                wanted
                    .as_ref()
                    .is_none_or(|w| w.is_empty() || w.iter().any(|n| n == name))
            })
            .map(|(name, list)| {
                let hits = words.iter().filter(|w| list.contains(w)).count();
                let severity = match hits {
                    0 => 0,
                    1 => 4,
                    _ => 6,
                };
                serde_json::json!({ "category": name, "severity": severity })
            })
            .collect();
        let requested: Vec<&str> = request
            .get("blocklistNames")
            .and_then(|n| n.as_array())
            .map(|n| n.iter().filter_map(|n| n.as_str()).collect())
            .unwrap_or_default();
        let matches: Vec<serde_json::Value> = blocklists
            .iter()
            .filter(|(name, _)| requested.iter().any(|r| r.eq_ignore_ascii_case(name)))
            .flat_map(|(name, terms)| {
                terms
                    .iter()
                    .enumerate()
                    .filter(|(_, term)| !term.is_empty() && text.contains(&term.to_lowercase()))
                    .map(move |(i, term)| {
                        serde_json::json!({ "blocklistName": name, "blocklistItemId": format!("{}", i + 1), "blocklistItemText": term })
                    })
            })
            .collect();
        return Some(answer(
            serde_json::json!({ "blocklistsMatch": matches, "categoriesAnalysis": analysis }),
        ));
    }
    if path.ends_with("/contentsafety/text:shieldPrompt") {
        let prompt = text("userPrompt");
        let attack = ATTACK_PHRASES.iter().any(|p| prompt.contains(p));
        return Some(answer(serde_json::json!({
            "userPromptAnalysis": { "attackDetected": attack },
            "documentsAnalysis": []
        })));
    }
    None
}
