//! A scripted upstream, plans built from policy text and ARM backends, and a runner on the virtual clock.

// Shared by several test binaries; each uses a part of it.
#![allow(dead_code)]

pub mod rsa_key;

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::time::Duration;

use apim_exec::*;
use apim_policy::compose::ScopedDocument;
use apim_policy::spec::Scope;
use parking_lot::Mutex;

/// What a scripted backend answers, in order (the last answer repeats).
#[derive(Clone, Debug)]
pub enum Answer {
    Status(u16, Vec<(&'static str, &'static str)>, &'static str),
    Timeout,
    Refused,
    /// Never answers.
    Hang,
}

pub fn ok(body: &'static str) -> Answer {
    Answer::Status(200, vec![("Content-Type", "application/json")], body)
}

#[derive(Default)]
pub struct Scripted {
    /// Keyed by backend name, or by URL host when the request has no backend entity.
    pub answers: Mutex<HashMap<String, VecDeque<Answer>>>,
    pub seen: Mutex<Vec<UpstreamRequest>>,
}

impl Scripted {
    pub fn script(&self, key: &str, answers: Vec<Answer>) {
        self.answers.lock().insert(key.to_string(), answers.into());
    }

    pub fn seen(&self) -> Vec<UpstreamRequest> {
        self.seen.lock().clone()
    }

    /// Requests sent to a URL of this host.
    pub fn seen_by_host(&self, host: &str) -> usize {
        self.seen
            .lock()
            .iter()
            .filter(|r| {
                url::Url::parse(&r.url)
                    .ok()
                    .and_then(|u| u.host_str().map(str::to_string))
                    .as_deref()
                    == Some(host)
            })
            .count()
    }

    pub fn seen_by(&self, backend: &str) -> usize {
        self.seen
            .lock()
            .iter()
            .filter(|r| r.backend.as_deref() == Some(backend))
            .count()
    }
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
        self.seen.lock().push(request);
        let answer = {
            let mut all = self.answers.lock();
            let queue = all.entry(key.clone()).or_default();
            if queue.len() > 1 {
                queue.pop_front()
            } else {
                queue.front().cloned()
            }
        };
        Box::pin(async move {
            match answer {
                Some(Answer::Status(status, headers, body)) => Ok(UpstreamResponse {
                    status,
                    reason: String::new(),
                    headers: headers
                        .into_iter()
                        .map(|(n, v)| (n.to_string(), v.to_string()))
                        .collect(),
                    body: Some(body.to_string()),
                    stream: None,
                }),
                Some(Answer::Timeout) => Err(UpstreamError::Timeout),
                Some(Answer::Hang) => std::future::pending().await,
                Some(Answer::Refused) => Err(UpstreamError::Connection(format!(
                    "connection refused: {key}"
                ))),
                None => Ok(UpstreamResponse {
                    status: 404,
                    reason: "Not Found".into(),
                    ..Default::default()
                }),
            }
        })
    }
}

const TRACE: bool = true;

pub struct Harness {
    pub plan: Plan,
    pub upstream: Arc<Scripted>,
    pub clock: Arc<VirtualClock>,
    pub runtime: Runtime,
    /// Requests sent with send-one-way-request, not yet run.
    pub deferred: Arc<Deferred>,
}

/// Backends from an ARM template (JSON text) with parameters.
pub fn backends(template: &str, params: &[(&str, &str)]) -> apim_backend::Registry {
    let json: serde_json::Value = serde_json::from_str(template).expect("template JSON");
    let loaded = apim_backend::load(
        &[apim_backend::Input::Template {
            file: "backends.json".into(),
            json,
        }],
        &apim_backend::LoadOptions {
            parameters: params
                .iter()
                .map(|(n, v)| (n.to_string(), arm_template::ParamValue::Text(v.to_string())))
                .collect(),
            ..Default::default()
        },
    );
    assert!(!loaded.has_errors(), "{:?}", loaded.problems);
    loaded.registry
}

/// A plan of an API-scope policy (and optionally a global one; APIM's default global otherwise).
pub fn harness(api: &str, global: Option<&str>, registry: apim_backend::Registry) -> Harness {
    let default_global = "<policies><inbound /><backend><forward-request /></backend><outbound /><on-error /></policies>";
    let options = apim_policy::read::ParseOptions::default();
    let g = apim_policy::parse(
        apim_source::FileId(0),
        global.unwrap_or(default_global),
        &options,
    );
    let a = apim_policy::parse(apim_source::FileId(1), api, &options);
    assert!(
        a.diagnostics
            .iter()
            .all(|d| d.severity != apim_source::Severity::Error),
        "{:?}",
        a.diagnostics
    );
    let (gd, ad) = (
        g.document.expect("global parses"),
        a.document.expect("api parses"),
    );
    let scopes = [
        ScopedDocument {
            scope: Scope::Global,
            document: &gd,
        },
        ScopedDocument {
            scope: Scope::Api,
            document: &ad,
        },
    ];
    let compile_options = CompileOptions {
        named_values: HashMap::new(),
        fragments: HashMap::new(),
        skip_unsupported: false,
        backends: registry.backends.iter().map(|b| b.name.clone()).collect(),
    };
    let (plan, diagnostics) = compile(
        &scopes,
        Arc::new(apim_expr::Engine::default()),
        &compile_options,
    );
    let plan = plan.unwrap_or_else(|| panic!("plan compiles: {diagnostics:?}"));
    let upstream = Arc::new(Scripted::default());
    let clock = Arc::new(VirtualClock::default());
    let deferred = Arc::new(Deferred::default());
    let mut runtime = Runtime::new(
        upstream.clone(),
        clock.clone(),
        Arc::new(LocalTokenIssuer::default()),
        Backends::new(registry),
        deferred.clone(),
    );
    runtime.seed = 7;
    runtime.trace = TRACE;
    Harness {
        plan,
        upstream,
        clock,
        runtime,
        deferred,
    }
}

pub fn post(body: &str) -> Incoming {
    Incoming {
        method: "POST".into(),
        url: "https://apim.example.net/openai/deployments/gpt-4o/chat/completions?api-version=2024-10-21".into(),
        headers: vec![
            ("Content-Type".into(), "application/json".into()),
            ("api-key".into(), "client-secret".into()),
        ],
        body: Some(body.to_string()),
        body_stream: None,
        ip_address: "10.0.0.7".into(),
        service_url: None,
        rest_path: "/deployments/gpt-4o/chat/completions".into(),
        query: "api-version=2024-10-21".into(),
        matched_parameters: Vec::new(),
        info: serde_json::json!({}),
        trace: false,
    }
}

impl Harness {
    pub fn run(&self, incoming: Incoming) -> Outcome {
        futures::executor::block_on(self.plan.run(&self.runtime, incoming))
    }

    pub fn advance(&self, by: Duration) {
        self.clock.advance(by);
    }
}
