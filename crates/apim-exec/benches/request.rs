//! One request through the seed's failover policy (pool, managed identity, header rewrites, retry around
//! forward-request) with a scripted upstream answering 200 at once: the executor's own cost per request.

use std::sync::Arc;

use apim_exec::*;
use apim_policy::compose::ScopedDocument;
use apim_policy::spec::Scope;
use criterion::{Criterion, criterion_group, criterion_main};

const TRACE: bool = false;

struct Instant200;

impl Upstream for Instant200 {
    fn send(
        &self,
        _request: UpstreamRequest,
    ) -> BoxFuture<'_, Result<UpstreamResponse, UpstreamError>> {
        Box::pin(std::future::ready(Ok(UpstreamResponse {
            status: 200,
            reason: "OK".into(),
            headers: vec![("Content-Type".into(), "application/json".into())],
            body: Some("{\"choices\":[]}".into()),
            stream: None,
        })))
    }
}

fn bench(c: &mut Criterion) {
    let api = include_str!("../../../policies/foundry-failover/api.xml");
    let template: serde_json::Value = serde_json::from_str(include_str!(
        "../../../policies/foundry-failover/backends.json"
    ))
    .expect("JSON");
    let loaded = apim_backend::load(
        &[apim_backend::Input::Template {
            file: "backends.json".into(),
            json: template,
        }],
        &apim_backend::LoadOptions {
            parameters: vec![
                (
                    "primaryUrl".into(),
                    arm_template::ParamValue::Text("http://primary.local/openai".into()),
                ),
                (
                    "backupUrl".into(),
                    arm_template::ParamValue::Text("http://backup.local/openai".into()),
                ),
            ],
            ..Default::default()
        },
    );
    let options = apim_policy::read::ParseOptions::default();
    let global = apim_policy::parse(
        apim_source::FileId(0),
        "<policies><inbound /><backend><forward-request /></backend><outbound /></policies>",
        &options,
    )
    .document
    .expect("global");
    let api = apim_policy::parse(apim_source::FileId(1), api, &options)
        .document
        .expect("api");
    let scopes = [
        ScopedDocument {
            scope: Scope::Global,
            document: &global,
        },
        ScopedDocument {
            scope: Scope::Api,
            document: &api,
        },
    ];
    let compile_options = CompileOptions {
        named_values: Default::default(),
        fragments: Default::default(),
        skip_unsupported: false,
        backends: loaded
            .registry
            .backends
            .iter()
            .map(|b| b.name.clone())
            .collect(),
    };
    let (plan, _) = compile(
        &scopes,
        Arc::new(apim_expr::Engine::default()),
        &compile_options,
    );
    let plan = plan.expect("plan");
    let mut runtime = Runtime::new(
        Arc::new(Instant200),
        Arc::new(VirtualClock::default()),
        Arc::new(LocalTokenIssuer::default()),
        Backends::new(loaded.registry),
        Arc::new(Deferred::default()),
    );
    runtime.trace = TRACE;
    let incoming = Incoming {
        method: "POST".into(),
        url: "https://apim.example.net/openai/deployments/gpt-4o/chat/completions?api-version=2024-10-21".into(),
        headers: vec![("Content-Type".into(), "application/json".into()), ("api-key".into(), "k".into())],
        body: Some("{\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}".into()),
        ip_address: "10.0.0.1".into(),
        rest_path: "/deployments/gpt-4o/chat/completions".into(),
        query: "api-version=2024-10-21".into(),
        ..Default::default()
    };
    c.bench_function("seed failover request (scripted 200)", |b| {
        b.iter(|| {
            let outcome = futures::executor::block_on(plan.run(&runtime, incoming.clone()));
            assert_eq!(outcome.status, 200);
        })
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
