//! `apim-emu serve` for real: the gateway on 127.0.0.1:0 in front of loopback backends (axum servers that
//! answer from a script and record what they received), on the virtual clock.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use apim_cli::serve::{self, ClockKind, Options};
use axum::body::Bytes;
use axum::http::{HeaderMap, StatusCode};

use crate::root;

#[derive(Clone, Debug)]
struct Received {
    path_and_query: String,
    headers: Vec<(String, String)>,
    body: String,
}

/// A loopback backend answering from a script (the last answer repeats).
struct Backend {
    addr: SocketAddr,
    received: Arc<Mutex<Vec<Received>>>,
}

/// One scripted answer: status, headers, body.
type Answer = (u16, Vec<(&'static str, &'static str)>, &'static str);

async fn backend(script: Vec<Answer>) -> Backend {
    let received = Arc::new(Mutex::new(Vec::new()));
    let script = Arc::new(Mutex::new(VecDeque::from(script)));
    let (r, s) = (received.clone(), script.clone());
    let app = axum::Router::new().fallback(
        move |uri: axum::http::Uri, headers: HeaderMap, body: Bytes| {
            let (r, s) = (r.clone(), s.clone());
            async move {
                r.lock().expect("lock").push(Received {
                    path_and_query: uri
                        .path_and_query()
                        .map(|p| p.to_string())
                        .unwrap_or_default(),
                    headers: headers
                        .iter()
                        .map(|(n, v)| (n.to_string(), v.to_str().unwrap_or("").to_string()))
                        .collect(),
                    body: String::from_utf8_lossy(&body).into_owned(),
                });
                let (status, headers, body) = {
                    let mut q = s.lock().expect("lock");
                    if q.len() > 1 {
                        q.pop_front()
                    } else {
                        q.front().cloned()
                    }
                }
                .unwrap_or((200, vec![], ""));
                let mut response = axum::http::Response::builder()
                    .status(StatusCode::from_u16(status).expect("status"));
                for (n, v) in headers {
                    response = response.header(n, v);
                }
                response
                    .body(axum::body::Body::from(body))
                    .expect("response")
            }
        },
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move { axum::serve(listener, app).await.expect("backend serves") });
    Backend { addr, received }
}

impl Backend {
    fn url(&self) -> String {
        format!("http://{}/openai", self.addr)
    }

    fn received(&self) -> Vec<Received> {
        self.received.lock().expect("lock").clone()
    }
}

fn options(primary: &Backend, backup: &Backend) -> Options {
    let mut o = quick_options(root().join("policies/foundry-failover/api.xml"));
    o.backends = vec![root().join("policies/foundry-failover/backends.json")];
    o.params = vec![
        ("primaryUrl".into(), primary.url()),
        ("backupUrl".into(), backup.url()),
    ];
    o.api_path = "openai".into();
    o
}

/// Starts the gateway; returns its base URL.
async fn start(options: &Options) -> String {
    let mut err = Vec::new();
    let gateway = serve::prepare(options, &mut err)
        .expect("prepare")
        .unwrap_or_else(|code| {
            panic!(
                "gateway refused to start ({code}):\n{}",
                String::from_utf8_lossy(&err)
            )
        });
    let (tx, rx) = tokio::sync::oneshot::channel();
    tokio::spawn(async move {
        apim_gateway::serve(
            apim_gateway::Live::new(Arc::new(gateway)),
            "127.0.0.1:0".parse().expect("address"),
            std::future::pending(),
            |addr| {
                let _ = tx.send(addr);
            },
        )
        .await
        .expect("gateway serves");
    });
    format!(
        "http://{}",
        rx.await.expect("the gateway reports its address")
    )
}

async fn chat(client: &reqwest::Client, gateway: &str) -> (u16, String) {
    let r = client
        .post(format!(
            "{gateway}/openai/deployments/gpt-4o/chat/completions?api-version=2024-10-21"
        ))
        .header("api-key", "client-key")
        .body("{\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}")
        .send()
        .await
        .expect("the gateway answers");
    (r.status().as_u16(), r.text().await.expect("a body"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn seed_failover_over_real_http() {
    let primary = backend(vec![
        (
            429,
            vec![("Retry-After", "10")],
            "{\"error\":{\"code\":\"429\"}}",
        ),
        (
            200,
            vec![("Content-Type", "application/json")],
            "{\"from\":\"primary\"}",
        ),
    ])
    .await;
    let backup = backend(vec![(
        200,
        vec![("Content-Type", "application/json")],
        "{\"from\":\"backup\"}",
    )])
    .await;
    let gateway = start(&options(&primary, &backup)).await;
    let client = reqwest::Client::new();

    // Primary throttles with Retry-After → the retry goes to the backup through the pool.
    assert_eq!(
        chat(&client, &gateway).await,
        (200, "{\"from\":\"backup\"}".into())
    );
    let seen = primary.received();
    assert_eq!(seen.len(), 1);
    assert_eq!(
        seen[0].path_and_query,
        "/openai/deployments/gpt-4o/chat/completions?api-version=2024-10-21"
    );
    assert!(
        seen[0]
            .headers
            .iter()
            .any(|(n, v)| n == "authorization" && v.starts_with("Bearer ey")),
        "{:?}",
        seen[0].headers
    );
    assert!(
        !seen[0].headers.iter().any(|(n, _)| n == "api-key"),
        "the client's key is removed"
    );
    assert_eq!(
        backup.received()[0].body,
        "{\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}"
    );

    // The next request skips the open primary.
    assert_eq!(
        chat(&client, &gateway).await,
        (200, "{\"from\":\"backup\"}".into())
    );
    assert_eq!(primary.received().len(), 1);

    // Introspection shows the open breaker and the counts.
    let backends: serde_json::Value = client
        .get(format!("{gateway}/_emulator/backends"))
        .send()
        .await
        .expect("introspection")
        .json()
        .await
        .expect("JSON");
    let primary_state = backends
        .as_array()
        .expect("array")
        .iter()
        .find(|b| b["name"] == "foundry-primary")
        .expect("primary");
    assert_eq!(primary_state["circuitBreaker"]["state"], "open");
    assert_eq!(primary_state["circuitBreaker"]["trippedBy"], "429");
    assert_eq!(primary_state["requests"], 1);

    // Ten virtual seconds later (the Retry-After), the primary is back.
    let moved = client
        .post(format!("{gateway}/_emulator/clock"))
        .body("PT10S")
        .send()
        .await
        .expect("clock");
    assert_eq!(moved.status(), 200);
    assert_eq!(
        chat(&client, &gateway).await,
        (200, "{\"from\":\"primary\"}".into())
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn health_path_and_unmatched_requests() {
    let primary = backend(vec![(200, vec![], "ok")]).await;
    let backup = backend(vec![(200, vec![], "ok")]).await;
    let gateway = start(&options(&primary, &backup)).await;
    let client = reqwest::Client::new();
    let health = client
        .get(format!("{gateway}/status-0123456789abcdef"))
        .send()
        .await
        .expect("health");
    assert_eq!(health.status(), 200);
    let missing = client
        .get(format!("{gateway}/other/path"))
        .send()
        .await
        .expect("404");
    assert_eq!(missing.status(), 404);
    let body: serde_json::Value = missing.json().await.expect("JSON");
    assert_eq!(body["message"], "Resource not found");
    assert!(primary.received().is_empty() && backup.received().is_empty());
}

#[test]
fn a_policy_with_errors_stops_startup_with_its_diagnostics() {
    let dir = std::env::temp_dir().join(format!("apim-emu-serve-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let policy = dir.join("api.xml");
    std::fs::write(&policy, "<policies><inbound><xml-to-json kind=\"direct\" apply=\"always\" /><set-backend-service backend-id=\"nope\" /></inbound></policies>").expect("write");
    let mut o = quick_options(policy.clone());
    let mut err = Vec::new();
    assert!(matches!(
        serve::prepare(&o, &mut err).expect("prepare"),
        Err(1)
    ));
    let text = String::from_utf8_lossy(&err);
    assert!(
        text.contains("error[P040]: `xml-to-json` is not executed by apim-emu yet"),
        "{text}"
    );
    assert!(
        text.contains("error[P041]: backend `nope` is not defined"),
        "{text}"
    );
    assert!(text.contains("api.xml:1:"), "{text}");
    // --skip-unsupported only skips what cannot run; the unknown backend still stops startup.
    o.skip_unsupported = true;
    let mut err = Vec::new();
    assert!(matches!(
        serve::prepare(&o, &mut err).expect("prepare"),
        Err(1)
    ));
    let text = String::from_utf8_lossy(&err);
    assert!(text.contains("warning[P040]"), "{text}");
    let _ = std::fs::remove_dir_all(&dir);
    let _: PathBuf = policy;
}

/// A policy file in a fresh temporary folder.
fn policy_file(name: &str, text: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("apim-emu-gw-{name}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let path = dir.join("api.xml");
    std::fs::write(&path, text).expect("write policy");
    path
}

fn quick_options(policy: PathBuf) -> Options {
    Options {
        policy: Some(policy),
        service: Vec::new(),
        global_policy: None,
        product_policy: None,
        operation_policy: None,
        backends: Vec::new(),
        params: Vec::new(),
        parameter_files: Vec::new(),
        backend_urls: Vec::new(),
        named_values: Vec::new(),
        named_value_files: Vec::new(),
        connections: Vec::new(),
        fragments: None,
        api_path: String::new(),
        listen: "127.0.0.1:0".parse().expect("address"),
        skip_unsupported: false,
        clock: ClockKind::Virtual,
        trace: false,
        trace_format: apim_cli::serve::TraceFormat::Text,
        watch: false,
        style: apim_cli::render::Style { color: false },
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_sent_events_pass_through_chunk_by_chunk_with_buffer_response_false() {
    use futures::{SinkExt as _, StreamExt as _};
    // A backend that sends the first event, then waits until the test says so before the rest.
    let release = Arc::new(tokio::sync::Notify::new());
    let r = release.clone();
    let app = axum::Router::new().fallback(move || {
        let r = r.clone();
        async move {
            let (mut tx, rx) =
                futures::channel::mpsc::channel::<Result<Vec<u8>, std::io::Error>>(4);
            tokio::spawn(async move {
                let _ = tx
                    .send(Ok(b"data: {\"delta\":\"first\"}\n\n".to_vec()))
                    .await;
                r.notified().await;
                let _ = tx
                    .send(Ok(
                        b"data: {\"delta\":\"second\"}\n\ndata: [DONE]\n\n".to_vec()
                    ))
                    .await;
            });
            axum::http::Response::builder()
                .header("content-type", "text/event-stream")
                .body(axum::body::Body::from_stream(rx))
                .expect("response")
        }
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let backend = listener.local_addr().expect("addr");
    tokio::spawn(async move { axum::serve(listener, app).await.expect("backend") });

    let policy = format!(
        r#"<policies><inbound><base /><set-backend-service base-url="http://{backend}" /></inbound>
        <backend><forward-request buffer-response="false" /></backend><outbound><base /></outbound></policies>"#
    );
    let gateway = start(&quick_options(policy_file("sse", &policy))).await;
    let response = reqwest::Client::new()
        .post(format!("{gateway}/chat/completions"))
        .body("{\"stream\":true}")
        .send()
        .await
        .expect("the gateway answers");
    assert_eq!(response.headers()["content-type"], "text/event-stream");
    let mut chunks = response.bytes_stream();
    // The first event reaches the client while the backend is still holding back the rest.
    let first = tokio::time::timeout(std::time::Duration::from_secs(10), chunks.next())
        .await
        .expect("the first event arrives before the backend finishes")
        .expect("a chunk")
        .expect("bytes");
    assert!(
        String::from_utf8_lossy(&first).contains("first"),
        "{first:?}"
    );
    release.notify_one();
    let mut rest = Vec::new();
    while let Some(chunk) = chunks.next().await {
        rest.extend_from_slice(&chunk.expect("bytes"));
    }
    assert!(String::from_utf8_lossy(&rest).ends_with("data: [DONE]\n\n"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_upload_streams_to_the_backend_without_being_buffered() {
    use futures::{SinkExt as _, StreamExt as _};
    // The backend signals when the first part of the upload arrives; the client only sends the rest after that,
    // so a gateway that read the whole body first would never finish.
    let first_part = Arc::new(tokio::sync::Notify::new());
    let total = Arc::new(Mutex::new(0usize));
    let (f, t) = (first_part.clone(), total.clone());
    let app = axum::Router::new().fallback(move |body: axum::body::Body| {
        let (f, t) = (f.clone(), t.clone());
        async move {
            let mut stream = body.into_data_stream();
            let mut n = 0;
            while let Some(chunk) = stream.next().await {
                n += chunk.expect("bytes").len();
                f.notify_one();
            }
            *t.lock().expect("lock") = n;
            format!("{n}")
        }
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let backend = listener.local_addr().expect("addr");
    tokio::spawn(async move { axum::serve(listener, app).await.expect("backend") });

    let policy = format!(
        r#"<policies><inbound><base /><set-backend-service base-url="http://{backend}" /></inbound><backend><base /></backend></policies>"#
    );
    let gateway = start(&quick_options(policy_file("upload", &policy))).await;
    let (mut tx, rx) = futures::channel::mpsc::channel::<Result<Vec<u8>, std::io::Error>>(1);
    let sender = {
        let first_part = first_part.clone();
        tokio::spawn(async move {
            tx.send(Ok(vec![b'a'; 1 << 20])).await.expect("send part 1");
            first_part.notified().await;
            for _ in 0..7 {
                tx.send(Ok(vec![b'b'; 1 << 20])).await.expect("send more");
            }
        })
    };
    let response = tokio::time::timeout(
        std::time::Duration::from_secs(20),
        reqwest::Client::new()
            .put(format!("{gateway}/upload"))
            .body(reqwest::Body::wrap_stream(rx))
            .send(),
    )
    .await
    .expect("the upload completes: the gateway streamed it")
    .expect("the gateway answers");
    assert_eq!(response.status(), 200);
    assert_eq!(
        response.text().await.expect("body"),
        (8usize << 20).to_string()
    );
    sender.await.expect("sender");
    assert_eq!(*total.lock().expect("lock"), 8 << 20);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_trace_header_returns_a_trace_with_secret_named_values_masked() {
    let backend = backend(vec![(200, vec![], "ok")]).await;
    let dir = std::env::temp_dir().join(format!("apim-emu-gw-nv-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let values = dir.join("named-values.json");
    std::fs::write(
        &values,
        r#"{ "backend-key": { "value": "s3cr3t-value", "secret": true }, "team": "payments" }"#,
    )
    .expect("write");
    let policy = format!(
        r#"<policies><inbound><base /><set-backend-service base-url="http://{}" />
        <set-header name="x-key" exists-action="override"><value>{{{{backend-key}}}}</value></set-header>
        <trace source="demo"><message>@("key is " + context.Request.Headers.GetValueOrDefault("x-key", "") + " for {{{{team}}}}")</message></trace>
        </inbound><backend><base /></backend></policies>"#,
        backend.addr
    );
    let mut o = quick_options(policy_file("nv", &policy));
    o.named_value_files = vec![values];
    let gateway = start(&o).await;
    let client = reqwest::Client::new();
    let plain = client
        .get(format!("{gateway}/x"))
        .send()
        .await
        .expect("answer");
    assert!(
        plain.headers().get("ocp-apim-trace-location").is_none(),
        "no trace unless asked for"
    );
    let traced = client
        .get(format!("{gateway}/x"))
        .header("Ocp-Apim-Trace", "true")
        .send()
        .await
        .expect("answer");
    let location = traced.headers()["ocp-apim-trace-location"]
        .to_str()
        .expect("text")
        .to_string();
    let trace: serde_json::Value = client
        .get(location)
        .send()
        .await
        .expect("trace")
        .json()
        .await
        .expect("JSON");
    let lines: Vec<String> = trace["trace"]
        .as_array()
        .expect("lines")
        .iter()
        .map(|l| l.as_str().unwrap_or("").to_string())
        .collect();
    let text = lines.join("\n");
    assert!(
        text.contains("trace [verbose] demo: key is *** for payments"),
        "{text}"
    );
    // The explain facts come along, secrets masked too.
    let explain = trace["explain"].as_array().expect("explain facts");
    assert_eq!(explain.last().expect("a final fact")["fact"], "final");
    assert!(!trace["explain"].to_string().contains("s3cr3t-value"));
    assert!(!text.contains("s3cr3t-value"), "{text}");
    // The backend still gets the real value.
    assert!(backend.received().iter().all(|r| {
        r.headers
            .iter()
            .any(|(n, v)| n == "x-key" && v == "s3cr3t-value")
    }));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_full_form_routes_operations_checks_subscription_keys_and_applies_every_scope() {
    let backend = backend(vec![(200, vec![], "ok")]).await;
    let mut o = quick_options(PathBuf::new());
    o.policy = None;
    o.service = vec![root().join("fixtures/service/orders.json")];
    o.params = vec![("ordersUrl".into(), format!("http://{}/api", backend.addr))];
    let gateway = start(&o).await;
    let client = reqwest::Client::new();

    // No key, a wrong key: APIM's 401s, and the backend is not called.
    let missing = client
        .get(format!("{gateway}/orders/items/42"))
        .send()
        .await
        .expect("answer");
    assert_eq!(missing.status(), 401);
    assert!(missing.headers().contains_key("www-authenticate"));
    let body: serde_json::Value = missing.json().await.expect("JSON");
    assert!(
        body["message"]
            .as_str()
            .expect("text")
            .contains("missing subscription key")
    );
    let wrong = client
        .get(format!("{gateway}/orders/items/42"))
        .header("Ocp-Apim-Subscription-Key", "nope")
        .send()
        .await
        .expect("answer");
    assert_eq!(wrong.status(), 401);
    assert!(backend.received().is_empty());

    // The all-APIs subscription's key is generated (and printed at startup); the query form works too.
    let all_key = apim_backend::service::generated_key("everything", "primary");
    let ok = client
        .get(format!(
            "{gateway}/orders/items/42?subscription-key={all_key}&x=1"
        ))
        .send()
        .await
        .expect("answer");
    assert_eq!(ok.status(), 200);
    let seen = &backend.received()[0];
    assert_eq!(
        seen.path_and_query, "/api/items/42?x=1",
        "the key is not passed on"
    );
    let header = |name: &str| {
        seen.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.clone())
    };
    assert_eq!(
        header("x-global").as_deref(),
        Some("hello"),
        "global policy with a named value from the template"
    );
    assert_eq!(
        header("x-op").as_deref(),
        Some("get-item everything"),
        "API policy sees the operation and subscription"
    );
    assert_eq!(
        header("x-item").as_deref(),
        Some("42"),
        "operation policy sees the template parameters"
    );
    assert_eq!(header("x-product"), None);

    // A product subscription runs the product's policy.
    client
        .post(format!("{gateway}/orders/items"))
        .header("Ocp-Apim-Subscription-Key", "gold-key")
        .body("{}")
        .send()
        .await
        .expect("answer");
    let seen = &backend.received()[1];
    assert!(
        seen.headers
            .iter()
            .any(|(n, v)| n == "x-product" && v == "gold"),
        "{:?}",
        seen.headers
    );
    assert!(
        !seen.headers.iter().any(|(n, _)| n == "x-item"),
        "the other operation's policy does not run"
    );

    // No operation matches: 404.
    let none = client
        .delete(format!("{gateway}/orders/items"))
        .header("Ocp-Apim-Subscription-Key", "gold-key")
        .send()
        .await
        .expect("answer");
    assert_eq!(none.status(), 404);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_full_form_reads_an_apiops_folder() {
    let backend = backend(vec![(200, vec![], "ok")]).await;
    let mut o = quick_options(PathBuf::new());
    o.policy = None;
    o.service = vec![root().join("fixtures/service/apiops")];
    o.backend_urls = vec![(
        "echo-backend".into(),
        format!("http://{}/api", backend.addr),
    )];
    let gateway = start(&o).await;
    let client = reqwest::Client::new();
    let r = client
        .get(format!("{gateway}/echo/items/7"))
        .header("Ocp-Apim-Subscription-Key", "starter-key")
        .send()
        .await
        .expect("answer");
    assert_eq!(r.status(), 200);
    let seen = &backend.received()[0];
    assert_eq!(seen.path_and_query, "/api/items/7");
    assert!(
        seen.headers
            .iter()
            .any(|(n, v)| n == "x-team" && v == "platform"),
        "{:?}",
        seen.headers
    );
    assert!(
        seen.headers.iter().any(|(n, v)| n == "x-item" && v == "7"),
        "{:?}",
        seen.headers
    );
    let other = client
        .get(format!("{gateway}/echo/other"))
        .header("Ocp-Apim-Subscription-Key", "starter-key")
        .send()
        .await
        .expect("answer");
    assert_eq!(
        other.status(),
        404,
        "the specification has no such operation"
    );
}

/// Three loopback members and a policy that routes to `pool`, with or without a retry around forward-request.
async fn pool_gateway(
    pool: &str,
    answers: [Vec<Answer>; 3],
    backend_section: &str,
) -> (String, Vec<Backend>) {
    let mut members = Vec::new();
    for script in answers {
        members.push(backend(script).await);
    }
    let urls = serde_json::Value::Array(
        members
            .iter()
            .map(|m| serde_json::Value::String(m.url()))
            .collect(),
    );
    let policy = format!(
        r#"<policies><inbound><base /><set-backend-service backend-id="{pool}" /></inbound><backend>{backend_section}</backend><outbound><base /></outbound></policies>"#
    );
    let mut o = quick_options(policy_file(
        &format!("pool-{pool}-{}", backend_section.len()),
        &policy,
    ));
    o.backends = vec![root().join("fixtures/gateway/pools.json")];
    o.params = vec![("urls".into(), urls.to_string())];
    (start(&o).await, members)
}

const RETRY_ANY_5XX: &str = r#"<retry condition="@(context.Response.StatusCode >= 429)" count="3" interval="0"><forward-request /></retry>"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_member_failing_is_tried_once_then_the_pool_answers_503() {
    let failing = || vec![(503, vec![], "down")];
    let (gateway, members) =
        pool_gateway("even", [failing(), failing(), failing()], RETRY_ANY_5XX).await;
    let client = reqwest::Client::new();
    let first = client
        .get(format!("{gateway}/x"))
        .send()
        .await
        .expect("answer");
    assert_eq!(first.status(), 503);
    let counts: Vec<usize> = members.iter().map(|m| m.received().len()).collect();
    assert_eq!(counts, [1, 1, 1], "each member tried once");
    // Every breaker is open now: the next request gets the pool's 503 without touching a backend.
    let second = client
        .get(format!("{gateway}/x"))
        .send()
        .await
        .expect("answer");
    assert_eq!(second.status(), 503);
    assert_eq!(members.iter().map(|m| m.received().len()).sum::<usize>(), 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn round_robin_spreads_and_priority_groups_with_weights_split() {
    let fine = || vec![(200, vec![], "ok")];
    let (gateway, members) = pool_gateway("even", [fine(), fine(), fine()], "<base />").await;
    let client = reqwest::Client::new();
    for _ in 0..9 {
        assert_eq!(
            client
                .get(format!("{gateway}/x"))
                .send()
                .await
                .expect("answer")
                .status(),
            200
        );
    }
    assert_eq!(
        members
            .iter()
            .map(|m| m.received().len())
            .collect::<Vec<_>>(),
        [3, 3, 3]
    );

    let (gateway, members) = pool_gateway("tiers", [fine(), fine(), fine()], "<base />").await;
    for _ in 0..8 {
        client
            .get(format!("{gateway}/x"))
            .send()
            .await
            .expect("answer");
    }
    // Priority 1 only, weights 3:1; the priority-2 member is idle while priority 1 is healthy.
    assert_eq!(
        members
            .iter()
            .map(|m| m.received().len())
            .collect::<Vec<_>>(),
        [6, 2, 0]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_retried_body_is_replayed_only_when_buffered() {
    for (buffered, replayed) in [(false, false), (true, true)] {
        let section = if buffered {
            RETRY_ANY_5XX.replace(
                "<forward-request />",
                "<forward-request buffer-request-body=\"true\" />",
            )
        } else {
            RETRY_ANY_5XX.to_string()
        };
        let (gateway, members) = pool_gateway(
            "even",
            [
                vec![(503, vec![], "down")],
                vec![(200, vec![], "ok")],
                vec![(200, vec![], "ok")],
            ],
            &section,
        )
        .await;
        let r = reqwest::Client::new()
            .post(format!("{gateway}/chat"))
            .body("{\"prompt\":\"hello\"}")
            .send()
            .await
            .expect("answer");
        assert_eq!(r.status(), 200);
        assert_eq!(members[0].received()[0].body, "{\"prompt\":\"hello\"}");
        let second = &members[1].received()[0];
        assert_eq!(
            second.body == "{\"prompt\":\"hello\"}",
            replayed,
            "buffered = {buffered}: {:?}",
            second.body
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn follow_redirects_decides_who_sees_a_3xx() {
    for (follow, expected) in [(false, 302), (true, 200)] {
        let target = backend(vec![(200, vec![], "moved here")]).await;
        let location: &'static str =
            Box::leak(format!("http://{}/new", target.addr).into_boxed_str());
        let origin = backend(vec![(302, vec![("Location", location)], "")]).await;
        let policy = format!(
            r#"<policies><inbound><base /><set-backend-service base-url="http://{}" /></inbound><backend><forward-request follow-redirects="{follow}" /></backend></policies>"#,
            origin.addr
        );
        let gateway = start(&quick_options(policy_file(
            &format!("redirect-{follow}"),
            &policy,
        )))
        .await;
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .expect("client");
        let r = client
            .get(format!("{gateway}/old"))
            .send()
            .await
            .expect("answer");
        assert_eq!(r.status().as_u16(), expected, "follow-redirects={follow}");
        assert_eq!(target.received().len(), usize::from(follow));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn token_metrics_and_event_hub_messages_are_served_at_emulator_paths() {
    let llm = backend(vec![(
        200,
        vec![("content-type", "application/json")],
        r#"{"choices":[],"usage":{"prompt_tokens":11,"completion_tokens":4,"total_tokens":15}}"#,
    )])
    .await;
    let policy = policy_file(
        "metrics",
        &format!(
            r#"<policies>
  <inbound>
    <set-backend-service base-url="{}" />
    <llm-emit-token-metric namespace="llm">
      <dimension name="Subscription ID" />
      <dimension name="model" value="@(context.Request.MatchedParameters.GetValueOrDefault("deployment", "gpt-4o"))" />
    </llm-emit-token-metric>
    <log-to-eventhub logger-id="audit">@("chat from " + context.Request.IpAddress)</log-to-eventhub>
  </inbound>
  <backend><forward-request /></backend>
</policies>"#,
            llm.url()
        ),
    );
    let gateway = start(&quick_options(policy)).await;
    let client = reqwest::Client::new();
    let empty: serde_json::Value = client
        .get(format!("{gateway}/_emulator/metrics"))
        .send()
        .await
        .expect("answers")
        .json()
        .await
        .expect("JSON");
    assert_eq!(empty, serde_json::json!([]));
    assert_eq!(chat(&client, &gateway).await.0, 200);
    let metrics: serde_json::Value = client
        .get(format!("{gateway}/_emulator/metrics"))
        .send()
        .await
        .expect("answers")
        .json()
        .await
        .expect("JSON");
    assert_eq!(metrics.as_array().map(Vec::len), Some(1), "{metrics}");
    let m = &metrics[0];
    assert_eq!(m["policy"], "llm-emit-token-metric");
    assert_eq!(m["namespace"], "llm");
    assert_eq!(m["dimensions"]["model"], "gpt-4o");
    assert!(m["dimensions"]["Subscription ID"].is_string(), "{m}");
    let events: serde_json::Value = client
        .get(format!("{gateway}/_emulator/events"))
        .send()
        .await
        .expect("answers")
        .json()
        .await
        .expect("JSON");
    assert_eq!(events[0]["loggerId"], "audit", "{events}");
    assert_eq!(events[0]["message"], "chat from 127.0.0.1", "{events}");
    assert_eq!(
        (
            &m["promptTokens"],
            &m["completionTokens"],
            &m["totalTokens"]
        ),
        (
            &serde_json::json!(11),
            &serde_json::json!(4),
            &serde_json::json!(15)
        )
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn semantic_cache_and_content_safety_call_their_backends_over_real_http() {
    use apim_gateway::mock::{self, MockConfig};
    let any = || "127.0.0.1:0".parse().expect("address");
    let embeddings = mock::start(MockConfig::new("embeddings"), any())
        .await
        .expect("mock");
    let chat_model = mock::start(MockConfig::new("chat"), any())
        .await
        .expect("mock");
    let safety = mock::start(MockConfig::new("safety"), any())
        .await
        .expect("mock");
    let guards = root().join("tests/scenarios/llm-guards");
    let run = |policy: &str| {
        let mut o = quick_options(guards.join(policy));
        o.backends = vec![guards.join("backends.json")];
        o.backend_urls = vec![
            (
                "embeddings-backend".into(),
                format!("http://{}/openai/deployments/e/embeddings", embeddings.addr),
            ),
            (
                "chat-backend".into(),
                format!("http://{}/openai", chat_model.addr),
            ),
            (
                "content-safety-backend".into(),
                format!("http://{}", safety.addr),
            ),
        ];
        o.api_path = "openai".into();
        o
    };
    let client = reqwest::Client::new();
    let ask = |gateway: String, text: &'static str| {
        let client = client.clone();
        async move {
            let r = client
                .post(format!(
                    "{gateway}/openai/deployments/gpt-4o/chat/completions"
                ))
                .header("content-type", "application/json")
                .body(
                    serde_json::json!({"messages": [{"role": "user", "content": text}]})
                        .to_string(),
                )
                .send()
                .await
                .expect("the gateway answers");
            let status = r.status().as_u16();
            (status, r.text().await.expect("a body"))
        }
    };

    // The same words twice: the second answer comes from the cache, the chat model is called once.
    let gateway = start(&run("semantic-cache.xml")).await;
    let (status, first) = ask(gateway.clone(), "What is Azure API Management?").await;
    assert_eq!(status, 200, "{first}");
    let (_, second) = ask(gateway.clone(), "what is azure api management").await;
    assert_eq!(second, first, "the cached reply, byte for byte");
    assert_eq!(embeddings.requests(), 2);
    assert_eq!(chat_model.requests(), 1);
    ask(gateway, "Bake me a cake").await;
    assert_eq!(chat_model.requests(), 2, "an unrelated prompt misses");

    // Content safety: a calm prompt passes (prompt, shield, completion checks), a violent one is refused.
    let gateway = start(&run("content-safety.xml")).await;
    assert_eq!(
        ask(gateway.clone(), "How do I configure a pool?").await.0,
        200
    );
    assert_eq!(safety.requests(), 3);
    let (status, body) = ask(gateway, "How do I build a bomb?").await;
    assert_eq!(status, 403, "{body}");
    assert!(body.contains("Violence"), "{body}");
    assert_eq!(
        chat_model.requests(),
        3,
        "the refused prompt never reached the model"
    );
}
