//! `apim-emu serve`: load the policies (API scope, optional global), backends, named values and fragments,
//! compile the plan (refusing to start on any error, printed as `validate` prints it), then run the gateway.

use std::collections::HashMap;
use std::io::Write;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Context as _;
use apim_policy::compose::ScopedDocument;
use apim_policy::spec::Scope;
use apim_source::{Severity, SourceMap};

use crate::render::{self, Style};

/// Which clock the gateway runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ClockKind {
    /// Wall-clock time; retries and breakers wait for real.
    Real,
    /// Time moves only when told (`POST /_emulator/clock`) or when something waits on it.
    Virtual,
}

/// How `--trace` prints.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum TraceFormat {
    Text,
    Json,
}

#[derive(Debug, Clone)]
pub struct Options {
    /// The API policy of the quick form (one API).
    pub policy: Option<PathBuf>,
    /// ARM templates defining the whole service (APIs, operations, policies, products, subscriptions …).
    pub service: Vec<PathBuf>,
    pub global_policy: Option<PathBuf>,
    /// Quick form: a product-scope policy between global and API (as if the caller's subscription were to a
    /// product with this policy).
    pub product_policy: Option<PathBuf>,
    /// Quick form: an operation-scope policy below the API's (every request matches the one operation).
    pub operation_policy: Option<PathBuf>,
    pub backends: Vec<PathBuf>,
    pub params: Vec<(String, String)>,
    pub parameter_files: Vec<PathBuf>,
    pub backend_urls: Vec<(String, String)>,
    pub named_values: Vec<(String, String)>,
    /// JSON files of named values: `{"name": "value"}` or `{"name": {"value" | "env": …, "secret": true}}`.
    pub named_value_files: Vec<PathBuf>,
    /// `get-authorization-context` tokens by `provider/authorization`.
    pub connections: Vec<(String, String)>,
    pub fragments: Option<PathBuf>,
    pub api_path: String,
    pub listen: SocketAddr,
    pub skip_unsupported: bool,
    pub clock: ClockKind,
    pub trace: bool,
    pub trace_format: TraceFormat,
    /// Reload policies, templates and named values when their files change.
    pub watch: bool,
    pub style: Style,
}

/// APIM's default global policy: forward the request (reference 01 §1).
pub const DEFAULT_GLOBAL_POLICY: &str = "<policies>\n  <inbound />\n  <backend>\n    <forward-request />\n  </backend>\n  <outbound />\n  <on-error />\n</policies>\n";

/// Builds the gateway, or prints every problem to `err` and returns the exit code (1).
pub fn prepare(
    o: &Options,
    err: &mut dyn Write,
) -> anyhow::Result<Result<apim_gateway::Gateway, u8>> {
    prepare_with(o, err, &|registry| runtime_for(o, registry))
}

/// What a gateway runs on: a runtime for the loaded backends, and the virtual clock if there is one.
pub type World<'a> = dyn Fn(
        apim_backend::Registry,
    ) -> anyhow::Result<(apim_exec::Runtime, Option<Arc<apim_exec::VirtualClock>>)>
    + 'a;

/// [`prepare`] with the runtime made by `world` (scenarios use a scripted upstream and a virtual clock).
pub fn prepare_with(
    o: &Options,
    err: &mut dyn Write,
    world: &World,
) -> anyhow::Result<Result<apim_gateway::Gateway, u8>> {
    if !o.service.is_empty() {
        return prepare_service(o, err, world);
    }
    let Some(registry) = load_backends(o, &o.backends, err)? else {
        return Ok(Err(1));
    };
    let (named_values, secrets) = load_named_values(o, HashMap::new())?;
    // Policies.
    let parse_options = apim_policy::read::ParseOptions {
        named_values: named_values.clone(),
        strict: true,
    };
    let mut sources = SourceMap::default();
    let read = |path: &PathBuf| -> anyhow::Result<String> {
        crate::embedded::read_to_string(path)
            .with_context(|| format!("cannot read {}", path.display()))
    };
    let global_text = match &o.global_policy {
        Some(p) => read(p)?,
        None => DEFAULT_GLOBAL_POLICY.to_string(),
    };
    let global_name = o
        .global_policy
        .as_ref()
        .map(|p| crate::validate::display(p))
        .unwrap_or_else(|| "<default global policy>".into());
    let global_file = sources.add(global_name, global_text);
    let Some(policy) = &o.policy else {
        anyhow::bail!("pass --policy FILE (one API) or --service FILE (APIs from templates)");
    };
    let api_file = sources.add(crate::validate::display(policy), read(policy)?);
    let mut extra_files = Vec::new();
    for (scope, path) in [
        (Scope::Product, &o.product_policy),
        (Scope::Operation, &o.operation_policy),
    ] {
        if let Some(path) = path {
            extra_files.push((
                scope,
                sources.add(crate::validate::display(path), read(path)?),
            ));
        }
    }
    let mut diagnostics = Vec::new();
    let global = apim_policy::parse(global_file, &sources.file(global_file).text, &parse_options);
    let api = apim_policy::parse(api_file, &sources.file(api_file).text, &parse_options);
    let extra: Vec<(Scope, apim_policy::Parsed)> = extra_files
        .iter()
        .map(|(scope, file)| {
            (
                *scope,
                apim_policy::parse(*file, &sources.file(*file).text, &parse_options),
            )
        })
        .collect();
    diagnostics.extend(global.diagnostics.iter().cloned());
    diagnostics.extend(api.diagnostics.iter().cloned());
    for (_, parsed) in &extra {
        diagnostics.extend(parsed.diagnostics.iter().cloned());
    }
    let mut fragments = HashMap::new();
    if let Some(dir) = &o.fragments {
        let loaded = crate::validate::load_fragments(dir, &mut sources)?;
        let ids: Vec<String> = loaded.ids().map(str::to_string).collect();
        for id in ids {
            if let Some((file, text)) = loaded.get(&id) {
                let parsed = apim_policy::parse(file, text, &parse_options);
                diagnostics.extend(parsed.diagnostics.iter().cloned());
                if let Some(apim_policy::DocumentKind::Fragment(policies)) =
                    parsed.document.map(|d| d.kind)
                {
                    fragments.insert(id, policies);
                }
            }
        }
    }
    let mut ordered: Vec<(Scope, &apim_policy::Parsed)> =
        vec![(Scope::Global, &global), (Scope::Api, &api)];
    ordered.extend(extra.iter().map(|(scope, parsed)| (*scope, parsed)));
    // Global → product → API → operation.
    ordered.sort_by_key(|(scope, _)| *scope);
    let scopes: Vec<ScopedDocument> = ordered
        .into_iter()
        .filter_map(|(scope, parsed)| {
            parsed
                .document
                .as_ref()
                .map(|document| ScopedDocument { scope, document })
        })
        .collect();
    let parse_failed =
        diagnostics.iter().any(|d| d.severity == Severity::Error) || scopes.len() < 2 + extra.len();
    let mut plan = None;
    if !parse_failed {
        let (compiled, compile_diagnostics) = apim_exec::compile(
            &scopes,
            Arc::new(apim_expr::Engine::default()),
            &apim_exec::CompileOptions {
                named_values,
                fragments,
                skip_unsupported: o.skip_unsupported,
                backends: registry.backends.iter().map(|b| b.name.clone()).collect(),
            },
        );
        diagnostics.extend(compile_diagnostics);
        plan = compiled;
    }
    diagnostics.sort_by_key(|d| (d.primary.span.file, d.primary.span.start()));
    diagnostics.dedup();
    for d in &diagnostics {
        writeln!(err, "{}", render::human(d, &sources, o.style))?;
    }
    let Some(plan) = plan else {
        writeln!(err, "apim-emu: the policies have errors; not starting")?;
        return Ok(Err(1));
    };
    let (runtime, virtual_clock) = world(registry)?;
    Ok(Ok(apim_gateway::Gateway::new(
        vec![apim_gateway::Api {
            suffix: o.api_path.trim_matches('/').to_string(),
            service_url: None,
            plan: Some(plan),
            operations: Vec::new(),
            subscription_key: None,
            name: "emulated".into(),
            info: serde_json::json!({
                "api": { "id": "emulated", "name": "emulated", "path": o.api_path.trim_matches('/') },
                "deployment": { "region": "local", "serviceName": "apim-emu", "gatewayId": "apim-emu" },
            }),
        }],
        runtime,
        virtual_clock,
        secrets,
    )))
}

/// The full form: APIs, operations, policies at every scope, products, subscriptions, named values and fragments
/// from ARM templates.
fn prepare_service(
    o: &Options,
    err: &mut dyn Write,
    world: &World,
) -> anyhow::Result<Result<apim_gateway::Gateway, u8>> {
    let files = crate::backends::read_sources(&o.service)?;
    for (p, at) in &files.problems {
        writeln!(err, "{}", crate::backends::render_problem(p, *at))?;
    }
    if !files.problems.is_empty() {
        return Ok(Err(1));
    }
    // Backends: from the templates, the APIOps folders that have a `backends/` folder, and --backends.
    let all_backend_paths: Vec<PathBuf> = o
        .service
        .iter()
        .filter(|p| !p.is_dir() || p.join("backends").is_dir())
        .chain(&o.backends)
        .cloned()
        .collect();
    let Some(registry) = load_backends(o, &all_backend_paths, err)? else {
        return Ok(Err(1));
    };
    let templates: Vec<(String, serde_json::Value)> = files
        .inputs
        .iter()
        .filter_map(|i| match i {
            apim_backend::Input::Template { file, json } => Some((file.clone(), json.clone())),
            _ => None,
        })
        .collect();
    let params = crate::backends::parameters(&o.params, &o.parameter_files)?;
    let (mut service, mut problems) = apim_backend::service::load_service(
        &templates,
        &params,
        &arm_template::DeploymentContext::default(),
    );
    // APIOps extractor folders.
    for dir in o.service.iter().filter(|p| p.is_dir()) {
        let mut artifacts = Vec::new();
        for entry in walkdir::WalkDir::new(dir).sort_by_file_name() {
            let entry = entry.with_context(|| format!("cannot read folder {}", dir.display()))?;
            let ext = entry
                .path()
                .extension()
                .map(|e| e.to_string_lossy().to_ascii_lowercase())
                .unwrap_or_default();
            if !entry.file_type().is_file()
                || !matches!(ext.as_str(), "json" | "xml" | "yaml" | "yml")
            {
                continue;
            }
            let relative = entry.path().strip_prefix(dir).unwrap_or(entry.path());
            let path = relative
                .components()
                .map(|c| c.as_os_str().to_string_lossy().into_owned())
                .collect::<Vec<_>>()
                .join("/");
            let text = std::fs::read_to_string(entry.path())
                .with_context(|| format!("cannot read {}", entry.path().display()))?;
            artifacts.push(apim_backend::service::ArtifactFile { path, text });
        }
        let (found, more) = apim_backend::service::service_from_artifacts(&artifacts);
        let prefix = crate::validate::display(dir);
        problems.extend(more.into_iter().map(|mut p| {
            p.file = format!("{prefix}/{}", p.file);
            p
        }));
        let relabel = |mut t: apim_backend::service::PolicyText| {
            t.label = format!("{prefix}/{}", t.label);
            t
        };
        service.apis.extend(found.apis.into_iter().map(|mut a| {
            a.policy = a.policy.map(relabel);
            for op in &mut a.operations {
                op.policy = op.policy.take().map(relabel);
            }
            a
        }));
        if found.global_policy.is_some() {
            service.global_policy = found.global_policy.map(relabel);
        }
        service
            .products
            .extend(found.products.into_iter().map(|mut p| {
                p.policy = p.policy.map(relabel);
                p
            }));
        service.subscriptions.extend(found.subscriptions);
        service.named_values.extend(found.named_values);
        service
            .fragments
            .extend(found.fragments.into_iter().map(|(id, t)| (id, relabel(t))));
    }
    for p in &problems {
        let at = crate::backends::position(p, &files.texts);
        writeln!(err, "{}", crate::backends::render_problem(p, at))?;
    }
    if service.apis.is_empty() {
        writeln!(
            err,
            "apim-emu: the templates define no APIs (Microsoft.ApiManagement/service/apis); not starting"
        )?;
        return Ok(Err(1));
    }
    let base: HashMap<String, (String, bool)> = service
        .named_values
        .iter()
        .map(|(n, v, secret)| (n.clone(), (v.clone(), *secret)))
        .collect();
    let (named_values, secrets) = load_named_values(o, base)?;
    let parse_options = apim_policy::read::ParseOptions {
        named_values: named_values.clone(),
        strict: true,
    };
    let mut sources = SourceMap::default();
    let mut diagnostics = Vec::new();
    let mut parse = |label: &str, text: &str, diagnostics: &mut Vec<apim_source::Diagnostic>| {
        let file = sources.add(label.to_string(), text.to_string());
        let parsed = apim_policy::parse(file, text, &parse_options);
        diagnostics.extend(parsed.diagnostics.iter().cloned());
        parsed.document
    };
    let global = match (&service.global_policy, &o.global_policy) {
        (_, Some(path)) => parse(
            &crate::validate::display(path),
            &std::fs::read_to_string(path)
                .with_context(|| format!("cannot read {}", path.display()))?,
            &mut diagnostics,
        ),
        (Some(t), None) => parse(&t.label, &t.text, &mut diagnostics),
        (None, None) => parse(
            "<default global policy>",
            DEFAULT_GLOBAL_POLICY,
            &mut diagnostics,
        ),
    };
    let mut fragments = HashMap::new();
    for (id, t) in &service.fragments {
        if let Some(apim_policy::DocumentKind::Fragment(policies)) =
            parse(&t.label, &t.text, &mut diagnostics).map(|d| d.kind)
        {
            fragments.insert(id.clone(), policies);
        }
    }
    // Documents per API, operation and product.
    let products: Vec<(String, Vec<String>, Option<apim_policy::PolicyDocument>)> = service
        .products
        .iter()
        .map(|p| {
            (
                p.name.clone(),
                p.apis.clone(),
                p.policy
                    .as_ref()
                    .and_then(|t| parse(&t.label, &t.text, &mut diagnostics)),
            )
        })
        .collect();
    let apis: Vec<(
        apim_backend::service::ApiDef,
        Option<apim_policy::PolicyDocument>,
        Vec<Option<apim_policy::PolicyDocument>>,
    )> = service
        .apis
        .iter()
        .map(|a| {
            let doc = a
                .policy
                .as_ref()
                .and_then(|t| parse(&t.label, &t.text, &mut diagnostics));
            let ops = a
                .operations
                .iter()
                .map(|op| {
                    op.policy
                        .as_ref()
                        .and_then(|t| parse(&t.label, &t.text, &mut diagnostics))
                })
                .collect();
            (a.clone(), doc, ops)
        })
        .collect();
    let engine = Arc::new(apim_expr::Engine::default());
    let compile_options = apim_exec::CompileOptions {
        named_values,
        fragments,
        skip_unsupported: o.skip_unsupported,
        backends: registry.backends.iter().map(|b| b.name.clone()).collect(),
    };
    let parse_failed = diagnostics.iter().any(|d| d.severity == Severity::Error);
    let mut gateway_apis = Vec::new();
    let compile = |scopes: Vec<ScopedDocument>, diagnostics: &mut Vec<apim_source::Diagnostic>| {
        let (plan, ds) = apim_exec::compile(&scopes, engine.clone(), &compile_options);
        diagnostics.extend(ds);
        plan
    };
    if !parse_failed {
        for (api, api_doc, op_docs) in &apis {
            let api_info = serde_json::json!({ "id": api.name, "name": api.display_name, "path": api.path, "serviceUrl": api.service_url });
            let api_products: Vec<(&String, &apim_policy::PolicyDocument)> = products
                .iter()
                .filter(|(_, apis, doc)| {
                    doc.is_some() && apis.iter().any(|a| a.eq_ignore_ascii_case(&api.name))
                })
                .filter_map(|(n, _, d)| d.as_ref().map(|d| (n, d)))
                .collect();
            let mut operations = Vec::new();
            for (op, op_doc) in api.operations.iter().zip(op_docs) {
                let mut plans = Vec::new();
                if let Some(plan) = compile(
                    scopes_for(global.as_ref(), None, api_doc.as_ref(), op_doc.as_ref()),
                    &mut diagnostics,
                ) {
                    plans.push((None, plan));
                }
                for (product, doc) in &api_products {
                    if let Some(plan) = compile(
                        scopes_for(
                            global.as_ref(),
                            Some(doc),
                            api_doc.as_ref(),
                            op_doc.as_ref(),
                        ),
                        &mut diagnostics,
                    ) {
                        plans.push((Some((*product).clone()), plan));
                    }
                }
                operations.push(apim_gateway::Operation {
                    name: op.name.clone(),
                    method: op.method.clone(),
                    url_template: op.url_template.clone(),
                    plans,
                    info: serde_json::json!({
                        "api": api_info,
                        "operation": { "id": op.name, "name": op.name, "method": op.method, "urlTemplate": op.url_template },
                        "deployment": { "region": "local", "serviceName": "apim-emu", "gatewayId": "apim-emu" },
                    }),
                });
            }
            // An API without operations (an OpenAPI document apim-emu could not read) answers every path.
            let plan = if api.operations.is_empty() {
                compile(
                    scopes_for(global.as_ref(), None, api_doc.as_ref(), None),
                    &mut diagnostics,
                )
            } else {
                None
            };
            gateway_apis.push(apim_gateway::Api {
                suffix: api.path.clone(),
                service_url: api.service_url.clone(),
                plan,
                info: serde_json::json!({ "api": api_info, "deployment": { "region": "local", "serviceName": "apim-emu" } }),
                operations,
                subscription_key: api.subscription_required.then(|| (api.key_header.clone(), api.key_query.clone())),
                name: api.name.clone(),
            });
        }
    }
    diagnostics.sort_by_key(|d| (d.primary.span.file, d.primary.span.start()));
    diagnostics.dedup();
    for d in &diagnostics {
        writeln!(err, "{}", render::human(d, &sources, o.style))?;
    }
    if diagnostics.iter().any(|d| d.severity == Severity::Error) {
        writeln!(err, "apim-emu: the policies have errors; not starting")?;
        return Ok(Err(1));
    }
    let (runtime, virtual_clock) = world(registry)?;
    let mut gateway = apim_gateway::Gateway::new(gateway_apis, runtime, virtual_clock, secrets);
    for sub in &service.subscriptions {
        let product_apis = sub
            .scope
            .strip_prefix("/products/")
            .and_then(|p| {
                service
                    .products
                    .iter()
                    .find(|x| x.name.eq_ignore_ascii_case(p))
            })
            .map(|p| p.apis.clone())
            .unwrap_or_default();
        writeln!(
            err,
            "subscription {} ({}): key {}",
            sub.name, sub.scope, sub.primary_key
        )?;
        gateway.subscriptions.push(apim_gateway::Subscription {
            name: sub.name.clone(),
            keys: vec![sub.primary_key.clone(), sub.secondary_key.clone()],
            scope: sub.scope.clone(),
            active: sub.active,
            product_apis,
        });
    }
    for api in &gateway.apis {
        writeln!(
            err,
            "api {} at /{} ({} operations)",
            api.name,
            api.suffix,
            api.operations.len()
        )?;
    }
    Ok(Ok(gateway))
}

/// The documents of one operation, broadest scope first.
fn scopes_for<'a>(
    global: Option<&'a apim_policy::PolicyDocument>,
    product: Option<&'a apim_policy::PolicyDocument>,
    api: Option<&'a apim_policy::PolicyDocument>,
    operation: Option<&'a apim_policy::PolicyDocument>,
) -> Vec<ScopedDocument<'a>> {
    [
        (Scope::Global, global),
        (Scope::Product, product),
        (Scope::Api, api),
        (Scope::Operation, operation),
    ]
    .into_iter()
    .filter_map(|(scope, document)| document.map(|document| ScopedDocument { scope, document }))
    .collect()
}

/// The backends of `paths` (templates or APIOps folders); `None` when they have errors (printed).
fn load_backends(
    o: &Options,
    paths: &[PathBuf],
    err: &mut dyn Write,
) -> anyhow::Result<Option<apim_backend::Registry>> {
    if paths.is_empty() && o.backend_urls.is_empty() {
        return Ok(Some(apim_backend::Registry::default()));
    }
    let (loaded, problems) = crate::backends::resolve(&crate::backends::Options {
        paths: paths.to_vec(),
        params: o.params.clone(),
        parameter_files: o.parameter_files.clone(),
        backend_urls: o.backend_urls.clone(),
        format: crate::backends::Format::Human,
    })?;
    let mut failed = false;
    for (p, at) in &problems {
        if p.severity == apim_backend::Severity::Error {
            failed = true;
        }
        if p.severity != apim_backend::Severity::Note {
            writeln!(err, "{}", crate::backends::render_problem(p, *at))?;
        }
    }
    if failed {
        writeln!(err, "apim-emu: the backends have errors; not starting")?;
        return Ok(None);
    }
    Ok(Some(loaded.registry))
}

/// Named values: `base` (from the service), then `--named-values` files, then `--named-value`; and the values
/// to mask.
fn load_named_values(
    o: &Options,
    base: HashMap<String, (String, bool)>,
) -> anyhow::Result<(HashMap<String, String>, Vec<String>)> {
    let mut secrets: Vec<String> = base
        .values()
        .filter(|(_, s)| *s)
        .map(|(v, _)| v.clone())
        .collect();
    let mut named_values: HashMap<String, String> =
        base.into_iter().map(|(k, (v, _))| (k, v)).collect();
    for file in &o.named_value_files {
        let text = std::fs::read_to_string(file)
            .with_context(|| format!("cannot read {}", file.display()))?;
        let json: serde_json::Value = serde_json::from_str(&text)
            .with_context(|| format!("{}: not valid JSON", file.display()))?;
        let Some(entries) = json.as_object() else {
            anyhow::bail!("{}: expected an object of name → value", file.display());
        };
        for (name, entry) in entries {
            let (value, secret) = match entry {
                serde_json::Value::String(v) => (v.clone(), false),
                serde_json::Value::Object(o) => {
                    let secret = o
                        .get("secret")
                        .and_then(serde_json::Value::as_bool)
                        .unwrap_or(false);
                    let value = match (o.get("value"), o.get("env")) {
                        (Some(serde_json::Value::String(v)), _) => v.clone(),
                        (_, Some(serde_json::Value::String(var))) => std::env::var(var).with_context(|| {
                            format!("{}: named value `{name}` reads environment variable {var}, which is not set", file.display())
                        })?,
                        _ => anyhow::bail!("{}: named value `{name}` needs \"value\" or \"env\"", file.display()),
                    };
                    (value, secret)
                }
                other => (other.to_string(), false),
            };
            if secret {
                secrets.push(value.clone());
            }
            named_values.insert(name.clone(), value);
        }
    }
    named_values.extend(o.named_values.iter().cloned());
    Ok((named_values, secrets))
}

/// The configured credential manager connections, keyed as `get-authorization-context` looks them up.
pub(crate) fn connections(o: &Options) -> HashMap<String, String> {
    o.connections
        .iter()
        .filter_map(|(key, token)| {
            let (provider, authorization) = key.split_once('/')?;
            Some((
                apim_exec::connection_key(provider, authorization),
                token.clone(),
            ))
        })
        .collect()
}

/// The runtime (real HTTP, the chosen clock) and the virtual clock handle.
fn runtime_for(
    o: &Options,
    registry: apim_backend::Registry,
) -> anyhow::Result<(apim_exec::Runtime, Option<Arc<apim_exec::VirtualClock>>)> {
    let virtual_clock = (o.clock == ClockKind::Virtual)
        .then(|| Arc::new(apim_exec::VirtualClock::new(std::time::SystemTime::now())));
    let clock: Arc<dyn apim_exec::Clock> = match &virtual_clock {
        Some(c) => c.clone(),
        None => Arc::new(apim_gateway::SystemClock::default()),
    };
    let mut runtime = apim_exec::Runtime::new(
        Arc::new(apim_gateway::HttpUpstream::new().context("cannot create the HTTP client")?),
        clock,
        Arc::new(apim_exec::LocalTokenIssuer::default()),
        apim_exec::Backends::new(registry),
        Arc::new(apim_gateway::TokioSpawn),
    );
    runtime.seed = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(1);
    runtime.trace = o.trace;
    runtime.connections = connections(o);
    Ok((runtime, virtual_clock))
}

/// The demo's mock backends by template parameter: the primary answers request 4 of every 4 with 429 and
/// `Retry-After: 10`, the backup always answers.
pub fn demo_mocks() -> Vec<(&'static str, apim_gateway::mock::MockConfig)> {
    let mut primary = apim_gateway::mock::MockConfig::new("foundry-primary");
    primary.cycle = 4;
    primary.faults = vec![(4, apim_gateway::mock::Fault::Throttle { retry_after: 10 })];
    let backup = apim_gateway::mock::MockConfig::new("foundry-backup");
    vec![("primaryUrl", primary), ("backupUrl", backup)]
}

/// With neither --policy nor --service: the seed's active-passive setup (embedded), its backends pointed at
/// built-in mocks (or at --backend-url). Returns the options to serve, the mocks (kept running) and the banner.
async fn demo(
    o: &Options,
) -> anyhow::Result<(Options, Vec<apim_gateway::mock::Mock>, Vec<String>)> {
    let extra = [
        (o.global_policy.is_some(), "--global-policy"),
        (o.product_policy.is_some(), "--product-policy"),
        (o.operation_policy.is_some(), "--operation-policy"),
        (!o.backends.is_empty(), "--backends"),
        (!o.params.is_empty(), "--param"),
        (!o.parameter_files.is_empty(), "--parameters"),
        (!o.named_values.is_empty(), "--named-value"),
        (!o.named_value_files.is_empty(), "--named-values"),
        (o.fragments.is_some(), "--fragments"),
        (!o.api_path.is_empty(), "--api-path"),
    ];
    if let Some((_, flag)) = extra.iter().find(|(given, _)| *given) {
        anyhow::bail!(
            "{flag} needs --policy FILE or --service FILE; without them, `serve` runs the built-in demo, which takes only --listen, --backend-url, --clock and --trace"
        );
    }
    let mut options = o.clone();
    options.policy = Some(PathBuf::from(crate::embedded::DEMO_POLICY));
    options.backends = vec![PathBuf::from(crate::embedded::DEMO_BACKENDS)];
    options.api_path = "openai".into();
    let mut mocks = Vec::new();
    let mut banner = vec![
        "apim-emu demo: the seed's active-passive failover (policies/foundry-failover, built in)".to_string(),
        "  pool foundry-model-pool: foundry-primary (priority 1), foundry-backup (priority 2); each trips on one 429 or 5xx".to_string(),
        "  for PT1M, or for the Retry-After it answers; the retry policy sends the failed request on to the backup".to_string(),
    ];
    for (param, config) in demo_mocks() {
        let name = config.name.clone();
        let url = match o.backend_urls.iter().find(|(n, _)| *n == name) {
            Some((_, url)) => {
                banner.push(format!("  {name}: {url}"));
                url.clone()
            }
            None => {
                let summary = crate::mock::describe(&config);
                let m = apim_gateway::mock::start(config, SocketAddr::from(([127, 0, 0, 1], 0)))
                    .await
                    .with_context(|| format!("cannot start the built-in mock `{name}`"))?;
                banner.push(format!(
                    "  {name}: built-in mock on http://{} ({summary})",
                    m.addr
                ));
                let url = format!("http://{}/openai", m.addr);
                mocks.push(m);
                url
            }
        };
        options.params.push((param.to_string(), url));
    }
    Ok((options, mocks, banner))
}

pub fn run(o: &Options) -> anyhow::Result<u8> {
    // One log line per request at `info`; RUST_LOG=apim_emu=warn quiets it, RUST_LOG=debug adds the libraries'.
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("apim_emu=info"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(o.style.color)
        .try_init();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    runtime.block_on(async {
        let (options, _mocks, banner) = if o.policy.is_none() && o.service.is_empty() {
            if o.watch {
                anyhow::bail!(
                    "--watch needs --policy FILE or --service FILE (the built-in demo has no files to watch)"
                );
            }
            demo(o).await?
        } else {
            (o.clone(), Vec::new(), Vec::new())
        };
        let mut gateway = match prepare(&options, &mut std::io::stderr())? {
            Ok(g) => g,
            Err(code) => return Ok(code),
        };
        gateway.trace_format = match o.trace_format {
            TraceFormat::Text => apim_gateway::TraceFormat::Text,
            TraceFormat::Json => apim_gateway::TraceFormat::Json,
        };
        let live = apim_gateway::Live::new(Arc::new(gateway));
        let watched = if o.watch {
            // The first fingerprint is taken before the gateway listens, so an edit made any time after the
            // `watching` line is seen, however late the watch task first runs on a loaded machine.
            let o2 = options.clone();
            let (files, last) = tokio::task::spawn_blocking(move || {
                let files = watched_files(&o2);
                let last = fingerprint(&files);
                (files, last)
            })
            .await
            .context("cannot read the watched files")?;
            let count = files.len();
            tokio::spawn(watch(options.clone(), files, last, live.clone()));
            Some(count)
        } else {
            None
        };
        let signal = crate::shutdown_signal();
        let shutdown = async {
            signal.await;
            eprintln!("apim-emu: shutting down");
        };
        apim_gateway::serve(live, o.listen, shutdown, |addr| {
            let mut out = std::io::stdout().lock();
            if let Some(count) = watched {
                let _ = writeln!(
                    out,
                    "watching {count} file(s) for changes; an edit with errors keeps the last good configuration serving"
                );
            }
            for line in &banner {
                let _ = writeln!(out, "{line}");
            }
            let _ = writeln!(out, "listening on http://{addr}");
            if !banner.is_empty() {
                let host = if addr.ip().is_unspecified() {
                    format!("127.0.0.1:{}", addr.port())
                } else {
                    addr.to_string()
                };
                let _ = writeln!(out);
                let _ = writeln!(
                    out,
                    "Try it (every fourth request to the primary is throttled; the answer's x-ms-region names the backend):"
                );
                let _ = writeln!(
                    out,
                    "  curl -i 'http://{host}/openai/deployments/gpt-4o/chat/completions?api-version=2024-10-21' \\\n       -H 'content-type: application/json' -d '{{\"messages\": [{{\"role\": \"user\", \"content\": \"hi\"}}]}}'"
                );
                let _ = writeln!(out, "Watch the breakers and which backend is chosen:");
                let _ = writeln!(out, "  curl -s http://{host}/_emulator/backends");
            }
            let _ = out.flush();
        })
        .await
        .with_context(|| format!("cannot listen on {}", o.listen))?;
        Ok(0)
    })
}

/// The files a configuration is read from (folders walked), for `--watch`.
pub fn watched_files(o: &Options) -> Vec<PathBuf> {
    let mut roots: Vec<PathBuf> = Vec::new();
    roots.extend(o.policy.iter().cloned());
    roots.extend(o.global_policy.iter().cloned());
    roots.extend(o.product_policy.iter().cloned());
    roots.extend(o.operation_policy.iter().cloned());
    roots.extend(o.service.iter().cloned());
    roots.extend(o.backends.iter().cloned());
    roots.extend(o.parameter_files.iter().cloned());
    roots.extend(o.named_value_files.iter().cloned());
    roots.extend(o.fragments.iter().cloned());
    let mut files = Vec::new();
    for root in roots {
        if crate::embedded::file(&root).is_some() {
            continue;
        }
        if root.is_dir() {
            files.extend(
                walkdir::WalkDir::new(&root)
                    .sort_by_file_name()
                    .into_iter()
                    .filter_map(Result::ok)
                    .filter(|e| e.file_type().is_file())
                    .map(|e| e.into_path()),
            );
        } else {
            files.push(root);
        }
    }
    files.sort();
    files.dedup();
    files
}

/// A hash of each file's contents (`None`: unreadable or missing).
fn fingerprint(files: &[PathBuf]) -> Vec<Option<u64>> {
    use std::hash::{Hash, Hasher};
    files
        .iter()
        .map(|f| {
            std::fs::read(f).ok().map(|bytes| {
                let mut h = std::collections::hash_map::DefaultHasher::new();
                bytes.hash(&mut h);
                h.finish()
            })
        })
        .collect()
}

/// `--watch`: polls the files' contents every 300 ms (polling works the same on every platform and on container
/// bind mounts); on a change, loads the whole configuration again and swaps it in with the breaker, balancer,
/// cache and token state carried over. An edit with errors is reported as `validate` reports it and the last
/// good configuration keeps serving.
async fn watch(
    o: Options,
    mut files: Vec<PathBuf>,
    mut last: Vec<Option<u64>>,
    live: Arc<apim_gateway::Live>,
) {
    let mut ticker = tokio::time::interval(std::time::Duration::from_millis(300));
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    loop {
        ticker.tick().await;
        let o2 = o.clone();
        let Ok((now_files, now)) = tokio::task::spawn_blocking(move || {
            // Folders may gain files (a new fragment, an APIOps artifact).
            let current = watched_files(&o2);
            let hashes = fingerprint(&current);
            (current, hashes)
        })
        .await
        else {
            continue;
        };
        if now_files == files && now == last {
            continue;
        }
        let changed: Vec<String> = now_files
            .iter()
            .zip(&now)
            .filter(|(file, hash)| {
                files
                    .iter()
                    .position(|f| f == *file)
                    .and_then(|i| last.get(i))
                    != Some(*hash)
            })
            .map(|(file, _)| crate::validate::display(file))
            .collect();
        files = now_files;
        last = now;
        let (o2, old) = (o.clone(), live.current());
        let Ok((result, report)) = tokio::task::spawn_blocking(move || {
            let mut err = Vec::new();
            let result = reload(&o2, &old, &mut err);
            (result, err)
        })
        .await
        else {
            continue;
        };
        let report = String::from_utf8_lossy(&report).replace(
            "; not starting",
            "; the last good configuration keeps serving",
        );
        let what = if changed.is_empty() {
            "files".to_string()
        } else {
            changed.join(", ")
        };
        match result {
            Ok(Ok(gateway)) => {
                eprint!("{report}");
                live.replace(Arc::new(gateway));
                eprintln!("apim-emu: {what} changed; reloaded (breaker state kept)");
            }
            Ok(Err(_)) => {
                eprint!("{report}");
                eprintln!(
                    "apim-emu: {what} changed; the edit has errors, the last good configuration keeps serving"
                );
            }
            Err(e) => eprintln!(
                "apim-emu: {what} changed; cannot reload: {e:#}; the last good configuration keeps serving"
            ),
        }
    }
}

/// Loads the configuration again on the running gateway's world (upstream, clock, token issuer), carrying over
/// breaker and balancer state, the cache and cached tokens.
fn reload(
    o: &Options,
    old: &apim_gateway::Gateway,
    err: &mut dyn Write,
) -> anyhow::Result<Result<apim_gateway::Gateway, u8>> {
    let previous = &old.runtime;
    let world = |registry: apim_backend::Registry| {
        let mut runtime = apim_exec::Runtime::new(
            previous.upstream.clone(),
            previous.clock.clone(),
            previous.tokens.clone(),
            apim_exec::Backends::new(registry),
            previous.spawner.clone(),
        );
        runtime.seed = previous.seed;
        runtime.trace = previous.trace;
        runtime.backends.adopt(&previous.backends);
        *runtime.request_counter.lock() = *previous.request_counter.lock();
        *runtime.token_cache.lock() = previous.token_cache.lock().clone();
        *runtime.cache.lock() = previous.cache.lock().clone();
        *runtime.metrics.lock() = previous.metrics.lock().clone();
        *runtime.token_counters.lock() = previous.token_counters.lock().clone();
        *runtime.token_entry.lock() = *previous.token_entry.lock();
        *runtime.rate_counters.lock() = previous.rate_counters.lock().clone();
        *runtime.quota_counters.lock() = previous.quota_counters.lock().clone();
        *runtime.events.lock() = previous.events.lock().clone();
        *runtime.semantic_cache.lock() = previous.semantic_cache.lock().clone();
        runtime.connections = connections(o);
        Ok((runtime, old.virtual_clock.clone()))
    };
    Ok(prepare_with(o, err, &world)?.map(|mut gateway| {
        gateway.trace_format = old.trace_format;
        gateway
    }))
}
