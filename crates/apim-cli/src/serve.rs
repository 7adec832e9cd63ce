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

#[derive(Debug, Clone)]
pub struct Options {
    pub policy: PathBuf,
    pub global_policy: Option<PathBuf>,
    pub backends: Vec<PathBuf>,
    pub params: Vec<(String, String)>,
    pub parameter_files: Vec<PathBuf>,
    pub backend_urls: Vec<(String, String)>,
    pub named_values: Vec<(String, String)>,
    /// JSON files of named values: `{"name": "value"}` or `{"name": {"value" | "env": …, "secret": true}}`.
    pub named_value_files: Vec<PathBuf>,
    pub fragments: Option<PathBuf>,
    pub api_path: String,
    pub listen: SocketAddr,
    pub skip_unsupported: bool,
    pub clock: ClockKind,
    pub trace: bool,
    pub style: Style,
}

/// APIM's default global policy: forward the request (reference 01 §1).
pub const DEFAULT_GLOBAL_POLICY: &str = "<policies>\n  <inbound />\n  <backend>\n    <forward-request />\n  </backend>\n  <outbound />\n  <on-error />\n</policies>\n";

/// Builds the gateway, or prints every problem to `err` and returns the exit code (1).
pub fn prepare(
    o: &Options,
    err: &mut dyn Write,
) -> anyhow::Result<Result<apim_gateway::Gateway, u8>> {
    // Backends.
    let mut registry = apim_backend::Registry::default();
    if !o.backends.is_empty() || !o.backend_urls.is_empty() {
        let (loaded, problems) = crate::backends::resolve(&crate::backends::Options {
            paths: o.backends.clone(),
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
            return Ok(Err(1));
        }
        registry = loaded.registry;
    }
    // Named values: files first, then --named-value.
    let mut named_values: HashMap<String, String> = HashMap::new();
    let mut secrets = Vec::new();
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
    // Policies.
    let parse_options = apim_policy::read::ParseOptions {
        named_values: named_values.clone(),
        strict: true,
    };
    let mut sources = SourceMap::default();
    let read = |path: &PathBuf| -> anyhow::Result<String> {
        std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))
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
    let api_file = sources.add(crate::validate::display(&o.policy), read(&o.policy)?);
    let mut diagnostics = Vec::new();
    let global = apim_policy::parse(global_file, &sources.file(global_file).text, &parse_options);
    let api = apim_policy::parse(api_file, &sources.file(api_file).text, &parse_options);
    diagnostics.extend(global.diagnostics.iter().cloned());
    diagnostics.extend(api.diagnostics.iter().cloned());
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
    let scopes: Vec<ScopedDocument> = [(Scope::Global, &global), (Scope::Api, &api)]
        .into_iter()
        .filter_map(|(scope, parsed)| {
            parsed
                .document
                .as_ref()
                .map(|document| ScopedDocument { scope, document })
        })
        .collect();
    let parse_failed =
        diagnostics.iter().any(|d| d.severity == Severity::Error) || scopes.len() < 2;
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
    Ok(Ok(apim_gateway::Gateway::new(
        vec![apim_gateway::Api {
            suffix: o.api_path.trim_matches('/').to_string(),
            service_url: None,
            plan,
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

pub fn run(o: &Options) -> anyhow::Result<u8> {
    // One log line per request at `info`; RUST_LOG=apim_emu=warn quiets it, RUST_LOG=debug adds the libraries'.
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("apim_emu=info"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(o.style.color)
        .try_init();
    let gateway = match prepare(o, &mut std::io::stderr())? {
        Ok(g) => g,
        Err(code) => return Ok(code),
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    runtime.block_on(async {
        let shutdown = async {
            let _ = tokio::signal::ctrl_c().await;
            eprintln!("apim-emu: shutting down");
        };
        apim_gateway::serve(Arc::new(gateway), o.listen, shutdown, |addr| {
            println!("listening on http://{addr}");
            let _ = std::io::stdout().flush();
        })
        .await
        .with_context(|| format!("cannot listen on {}", o.listen))
    })?;
    Ok(0)
}
