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
    Options {
        policy: root().join("policies/foundry-failover/api.xml"),
        global_policy: None,
        backends: vec![root().join("policies/foundry-failover/backends.json")],
        params: vec![
            ("primaryUrl".into(), primary.url()),
            ("backupUrl".into(), backup.url()),
        ],
        parameter_files: Vec::new(),
        backend_urls: Vec::new(),
        named_values: Vec::new(),
        fragments: None,
        api_path: "openai".into(),
        listen: "127.0.0.1:0".parse().expect("address"),
        skip_unsupported: false,
        clock: ClockKind::Virtual,
        trace: false,
        style: apim_cli::render::Style { color: false },
    }
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
            Arc::new(gateway),
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
    std::fs::write(&policy, "<policies><inbound><rate-limit calls=\"5\" renewal-period=\"60\" /><set-backend-service backend-id=\"nope\" /></inbound></policies>").expect("write");
    let mut o = Options {
        policy: policy.clone(),
        global_policy: None,
        backends: Vec::new(),
        params: Vec::new(),
        parameter_files: Vec::new(),
        backend_urls: Vec::new(),
        named_values: Vec::new(),
        fragments: None,
        api_path: String::new(),
        listen: "127.0.0.1:0".parse().expect("address"),
        skip_unsupported: false,
        clock: ClockKind::Virtual,
        trace: false,
        style: apim_cli::render::Style { color: false },
    };
    let mut err = Vec::new();
    assert!(matches!(
        serve::prepare(&o, &mut err).expect("prepare"),
        Err(1)
    ));
    let text = String::from_utf8_lossy(&err);
    assert!(
        text.contains("error[P040]: `rate-limit` is not executed by apim-emu yet"),
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
