//! The command line's arguments (clap) and dispatch; `main` only calls [`run`]. In the library so tests can
//! check that a command line (the compose file's, the README's) parses.
//!
//! Exit codes: 0 success, 1 problems found (validation errors), 2 usage, I/O or internal error.

use crate::{backends, eval, mock, render, scenario, serve, validate};

use std::io::IsTerminal as _;
use std::path::PathBuf;
use std::process::ExitCode;

pub use clap::Parser;
use clap::{Subcommand, ValueEnum};

/// Azure API Management policy emulator: validate, run and test APIM policies locally.
#[derive(Debug, Parser)]
#[command(name = "apim-emu", version, about, long_about = None, propagate_version = true)]
pub struct Cli {
    /// When to color diagnostics.
    #[arg(long, value_enum, default_value_t = ColorChoice::Auto, global = true)]
    color: ColorChoice,

    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum ColorChoice {
    Auto,
    Always,
    Never,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Check policy XML files (and backend definitions in ARM templates) the way APIM reads them and report every
    /// problem.
    #[command(after_help = VALIDATE_EXAMPLES)]
    Validate(ValidateArgs),
    /// Evaluate one policy expression (`@(...)` or `@{...}`) against a JSON context and print its value as JSON.
    #[command(after_help = EVAL_EXAMPLES)]
    Eval(EvalArgs),
    /// Print the backends and pools ARM templates (or APIOps folders) resolve to, as APIM would deploy them.
    #[command(after_help = BACKENDS_EXAMPLES)]
    Backends(BackendsArgs),
    /// Run a local gateway that executes the policies against the backends (no arguments: the built-in
    /// failover demo).
    #[command(after_help = SERVE_EXAMPLES)]
    Serve(Box<ServeArgs>),
    /// Run scenario files (`*.scenario.yaml`): scripted backends, requests and expectations, on a virtual clock.
    #[command(after_help = TEST_EXAMPLES)]
    Test(TestArgs),
    /// Run mock LLM backends shaped like Azure OpenAI (chat completions, completions, embeddings; usage; SSE),
    /// each on its own port, with scripted faults (429 + Retry-After, 5xx, delays, resets, a tokens-per-minute
    /// limit).
    #[command(after_help = MOCK_EXAMPLES)]
    Mock(MockArgs),
    /// Check that a gateway or mock answers (for container healthchecks): GET URL, exit 0 on a 2xx answer.
    #[command(after_help = HEALTH_EXAMPLES)]
    Health(HealthArgs),
}

const HEALTH_EXAMPLES: &str = "\
Examples:
  apim-emu health
  apim-emu health http://127.0.0.1:8081/health

The gateway answers GET /status-0123456789abcdef (the self-hosted gateway's health path), a mock GET /health.
Exit status: 0 a 2xx answer, 1 another answer, no answer, or no answer within --timeout.";

#[derive(Debug, clap::Args)]
struct HealthArgs {
    /// What to GET.
    #[arg(
        value_name = "URL",
        default_value = "http://127.0.0.1:8080/status-0123456789abcdef"
    )]
    url: String,

    /// Seconds to wait for the answer.
    #[arg(long, value_name = "SECONDS", default_value_t = 3)]
    timeout: u64,
}

const MOCK_EXAMPLES: &str = "\
Examples:
  apim-emu mock --backend foundry-primary=8081,region=eastus,throttle=4,retry-after=10 --backend foundry-backup=8082
  apim-emu mock --backend a=0.0.0.0:9001,tpm=2000,status=503@3 --backend b=9002,delay=PT2S@1,cycle=5
  apim-emu mock --config mocks.yaml

A --backend is NAME=ADDR[,KEY=VALUE]...; ADDR is a port (on 127.0.0.1) or HOST:PORT. Faults repeat in a cycle of
requests (cycle=N, default: the last fault's position): throttle=N answers request N of each cycle with 429,
Retry-After (retry-after=SECONDS, default 10), x-ms-retry-after-ms and x-ratelimit-remaining-* headers;
status=CODE@N answers an Azure-shaped error; delay=PT2S@N waits before answering; reset=N drops the connection.
tpm=TOKENS answers 429 with the seconds left in the minute once the minute's tokens are spent.
deployments=A|B answers 404 DeploymentNotFound for others. Every answer names its backend in x-ms-region
(region=NAME, default: the backend's name). GET /health answers 200.

Embeddings are word-hash vectors (the same words give the same vector). Azure AI Content Safety's
/contentsafety/text:analyze scores a few listed words per category (one occurrence: severity 4, two or more: 6)
and text:shieldPrompt flags phrases such as \"ignore previous instructions\"; blocklist=NAME:TERM|TERM gives a
blocklist whose terms in the text are blocklistsMatch entries.

The --config file is YAML:
  backends:
    foundry-primary:
      listen: 127.0.0.1:8081
      region: eastus
      deployments: [gpt-4o]
      tokens-per-minute: 10000
      cycle: 4
      faults:
        - { at: 4, throttle: 10 }
        - { at: 2, status: 503 }
        - { at: 3, delay: PT2S }
        - { at: 1, reset: true }
    content-safety:
      listen: 127.0.0.1:8083
      blocklists: { competitors: [contoso, fabrikam] }";

#[derive(Debug, clap::Args)]
struct MockArgs {
    /// A mock backend: NAME=ADDR[,KEY=VALUE]... (repeatable; keys below).
    #[arg(long = "backend", value_name = "SPEC", value_parser = mock::parse_spec)]
    backends: Vec<(apim_gateway::mock::MockConfig, std::net::SocketAddr)>,

    /// A YAML file of mock backends (see below).
    #[arg(long, value_name = "FILE", required_unless_present = "backends")]
    config: Option<PathBuf>,
}

const TEST_EXAMPLES: &str = "\
Examples:
  apim-emu test tests/scenarios
  apim-emu test tests/scenarios --junit results.xml --filter failover

A scenario names the service under test (policy files or ARM/APIOps service, backends with parameters, named
values), scripts each backend (responses with status, headers, body, delay, or a failure: refused, reset,
timeout; then a default) and lists steps: requests with expectations (status, headers, body, JSON paths, which
backend served each attempt, attempts, breaker states, trace lines) and clock steps (advance: PT30S). Time is
virtual: trip durations, Retry-After and retry intervals take no wall time.

Exit status: 0 all passed, 1 a scenario failed, 2 an invalid scenario file or usage error.";

#[derive(Debug, clap::Args)]
struct TestArgs {
    /// Scenario files or folders (searched recursively for *.scenario.yaml).
    #[arg(required = true, value_name = "PATH")]
    paths: Vec<PathBuf>,

    /// Also write a JUnit XML report.
    #[arg(long, value_name = "FILE")]
    junit: Option<PathBuf>,

    /// Output: `human` (PASS/FAIL lines and a summary) or `json`.
    #[arg(long, value_enum, default_value_t = scenario::Format::Human)]
    format: scenario::Format,

    /// Run only scenarios whose name or path contains TEXT.
    #[arg(long, value_name = "TEXT")]
    filter: Option<String>,

    /// Print every request's explain trace: per attempt the pool's members (open, until when, tripped by what),
    /// the priority group, the round-robin position or weighted credits, the chosen member, the answer, breaker
    /// transitions, the retry condition with its parts' values, the wait, and the final response (in the JSON
    /// output with --format json).
    #[arg(long)]
    explain: bool,
}

const SERVE_EXAMPLES: &str = "\
Examples:
  apim-emu serve
  apim-emu serve --policy policies/foundry-failover/api.xml --backends policies/foundry-failover/backends.json \\
      --param primaryUrl=http://127.0.0.1:8081 --param backupUrl=http://127.0.0.1:8082 --api-path openai
  apim-emu serve --policy api.xml --backends main.json --parameters main.parameters.json \\
      --backend-url foundry1=http://127.0.0.1:8081 --clock virtual --trace

Without --policy or --service, serve runs the demo: the seed's active-passive failover (policies/foundry-failover,
built into the binary) with two built-in mock backends; the primary answers every fourth request with 429 and
Retry-After: 10. It prints a curl line to try and where to watch the breakers. --backend-url NAME=URL points
foundry-primary or foundry-backup at your own server instead of a built-in mock.

With --policy, one API whose URL suffix is --api-path answers every method and path below it; the rest of the path and the
query are appended to the backend URL as APIM does. Without --global-policy, APIM's default global policy
(<backend><forward-request /></backend>) applies. The gateway answers GET /status-0123456789abcdef (health),
GET /_emulator/backends (backends, pools, breaker state, request counts) and, with --clock virtual,
POST /_emulator/clock with a duration (10 or PT10S) to move time.

A policy with errors, or one apim-emu cannot execute yet, stops startup with the same diagnostics `validate`
prints (--skip-unsupported skips the latter with a warning, as the self-hosted gateway does).";

#[derive(Debug, clap::Args)]
struct ServeArgs {
    /// The API-scope policy document (quick form: one API answering every path below --api-path).
    #[arg(long, value_name = "FILE", conflicts_with = "service")]
    policy: Option<PathBuf>,

    /// ARM templates or APIOps extractor folders defining the service (full form): APIs and operations (declared
    /// or from their OpenAPI document), policies at every scope, products, subscriptions (keys printed at startup),
    /// named values, fragments and backends (repeatable).
    #[arg(long, value_name = "FILE")]
    service: Vec<PathBuf>,

    /// The global policy document (default: APIM's, which forwards the request).
    #[arg(long, value_name = "FILE")]
    global_policy: Option<PathBuf>,

    /// Quick form: a product-scope policy, composed between global and API through <base />.
    #[arg(long, value_name = "FILE", requires = "policy")]
    product_policy: Option<PathBuf>,

    /// Quick form: an operation-scope policy, composed below the API's through <base />.
    #[arg(long, value_name = "FILE", requires = "policy")]
    operation_policy: Option<PathBuf>,

    /// ARM templates or APIOps folders with the backends (repeatable).
    #[arg(long = "backends", value_name = "FILE")]
    backends: Vec<PathBuf>,

    /// A template parameter (repeatable), as for `apim-emu backends`.
    #[arg(long = "param", value_name = "NAME=VALUE", value_parser = parse_pair)]
    params: Vec<(String, String)>,

    /// An ARM parameters file (repeatable).
    #[arg(long = "parameters", value_name = "FILE")]
    parameter_files: Vec<PathBuf>,

    /// Replace a backend's URL (repeatable): point real templates at local servers.
    #[arg(long = "backend-url", value_name = "NAME=URL", value_parser = parse_pair)]
    backend_urls: Vec<(String, String)>,

    /// A named value for `{{NAME}}` references (repeatable).
    #[arg(long = "named-value", value_name = "NAME=VALUE", value_parser = parse_named_value)]
    named_values: Vec<(String, String)>,

    /// A JSON file of named values: {"name": "value"} or {"name": {"value": "…" | "env": "VAR", "secret": true}}
    /// (repeatable); secret values are masked as *** in traces and logs.
    #[arg(long = "named-values", value_name = "FILE")]
    named_value_files: Vec<PathBuf>,

    /// Folder of policy fragments (`<id>.xml` or `<id>/policy.xml`).
    #[arg(long, value_name = "DIR")]
    fragments: Option<PathBuf>,

    /// The access token `get-authorization-context` gets for a credential manager connection (repeatable);
    /// without any, every connection gets a local token, and with some, the others are not found.
    #[arg(long = "connection", value_name = "PROVIDER/AUTHORIZATION=TOKEN", value_parser = parse_connection)]
    connections: Vec<(String, String)>,

    /// The API's URL suffix (default: none, every path).
    #[arg(long, value_name = "SUFFIX", default_value = "")]
    api_path: String,

    /// Address to listen on; port 0 picks a free port (printed as `listening on http://ADDR`).
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:8080")]
    listen: std::net::SocketAddr,

    /// Skip policies apim-emu cannot execute yet (with a warning) instead of refusing to start.
    #[arg(long)]
    skip_unsupported: bool,

    /// `real`, or `virtual`: time moves only through POST /_emulator/clock (and waits inside a request).
    #[arg(long, value_enum, default_value_t = serve::ClockKind::Real)]
    clock: serve::ClockKind,

    /// Print every request's explain trace to stderr: per attempt the pool's members and breaker state, the
    /// choice, the answer, breaker transitions, the retry condition's parts and the wait.
    #[arg(long)]
    trace: bool,

    /// Reload policies, templates, parameters, named values and fragments when their files change, keeping
    /// breaker state; an edit with errors is reported as `validate` reports it and the last good configuration
    /// keeps serving.
    #[arg(long)]
    watch: bool,

    /// How --trace prints: aligned `text`, or one `json` object per request.
    #[arg(long, visible_alias = "format", value_enum, default_value_t = serve::TraceFormat::Text, requires = "trace")]
    trace_format: serve::TraceFormat,
}

const BACKENDS_EXAMPLES: &str = "\
Examples:
  apim-emu backends policies/foundry-failover/backends.json \\
      --param primaryUrl=http://127.0.0.1:8081 --param backupUrl=http://127.0.0.1:8082
  apim-emu backends main.json --parameters main.parameters.json --backend-url foundry1=http://127.0.0.1:8081
  apim-emu backends --format json apiops/artifacts/

Reads ARM deployment templates (what `az bicep build` emits: parameters, variables, copy loops, conditions,
nested deployments) and APIOps extractor folders (backends/<name>/backendInformation.json). Values that need a
deployed Azure resource (reference(), listKeys()) cannot be computed locally: pass them with --param, or
replace a backend's URL with --backend-url.

Exit status: 0 all backends valid, 1 invalid definitions (located errors on stderr), 2 usage or I/O error.";

#[derive(Debug, clap::Args)]
struct BackendsArgs {
    /// ARM template files, APIOps backendInformation.json files, or folders holding them.
    #[arg(required = true, value_name = "FILE")]
    paths: Vec<PathBuf>,

    /// A template parameter (repeatable). VALUE is JSON when the parameter is not a string and VALUE is JSON.
    #[arg(long = "param", value_name = "NAME=VALUE", value_parser = parse_pair)]
    params: Vec<(String, String)>,

    /// An ARM parameters file (`{"parameters": {"name": {"value": …}}}`; repeatable; --param wins).
    #[arg(long = "parameters", value_name = "FILE")]
    parameter_files: Vec<PathBuf>,

    /// Replace a backend's URL after resolution (repeatable): point real templates at local servers.
    #[arg(long = "backend-url", value_name = "NAME=URL", value_parser = parse_pair)]
    backend_urls: Vec<(String, String)>,

    /// Output: a table, or a JSON array of {"name", "properties"}.
    #[arg(long, value_enum, default_value_t = backends::Format::Human)]
    format: backends::Format,
}

fn parse_connection(text: &str) -> Result<(String, String), String> {
    let (key, token) = parse_pair(text)?;
    match key.split_once('/') {
        Some((provider, authorization)) if !provider.is_empty() && !authorization.is_empty() => {
            Ok((key, token))
        }
        _ => Err(format!(
            "expected PROVIDER/AUTHORIZATION=TOKEN (the provider-id and authorization-id of get-authorization-context), got `{text}`"
        )),
    }
}

fn parse_pair(text: &str) -> Result<(String, String), String> {
    let (name, value) = text
        .split_once('=')
        .ok_or_else(|| format!("expected NAME=VALUE, got `{text}`"))?;
    if name.is_empty() {
        return Err(format!("the name is empty in `{text}`"));
    }
    Ok((name.to_string(), value.to_string()))
}

const EVAL_EXAMPLES: &str = "\
Examples:
  apim-emu eval '@(1 + 2)'
  apim-emu eval --context ctx.json '@(context.Response.StatusCode == 429)'
  apim-emu eval --context ctx.json --explain '@(context.Response != null && context.Response.StatusCode >= 500)'

The context file is JSON: {\"request\": {\"method\", \"url\", \"originalUrl\", \"headers\": {\"Name\": \"v\" | [\"v1\", \"v2\"]},
\"body\", \"ipAddress\", \"matchedParameters\"}, \"response\": {\"statusCode\", \"statusReason\", \"headers\", \"body\"},
\"variables\": {name: JSON value}, \"lastError\", \"api\", \"operation\", \"product\", \"subscription\", \"user\",
\"deployment\", \"timestamp\", \"elapsedMilliseconds\", \"requestId\"}. No \"response\" means context.Response is null.

Exit status: 0 value printed, 1 the expression is invalid or threw (`ExceptionType: message` on stderr),
2 usage or I/O error.";

#[derive(Debug, clap::Args)]
struct EvalArgs {
    /// The expression, exactly as written in a policy: `@( expression )` or `@{ statements }`.
    #[arg(value_name = "EXPR")]
    expression: String,

    /// JSON file describing `context` (see below); without it, a GET request and no response.
    #[arg(long, value_name = "FILE")]
    context: Option<PathBuf>,

    /// A named value for `{{NAME}}` references (repeatable), substituted before compiling.
    #[arg(long = "named-value", value_name = "NAME=VALUE", value_parser = parse_named_value)]
    named_values: Vec<(String, String)>,

    /// Print every member access, call, operator and cast with its value to stderr, in evaluation order.
    #[arg(long)]
    explain: bool,

    /// `context.Variables[name]` of a missing name throws KeyNotFoundException (plain .NET) instead of
    /// returning null (what Microsoft's policy toolkit says APIM does).
    #[arg(long)]
    strict_variables: bool,
}

const VALIDATE_EXAMPLES: &str = "\
Examples:
  apim-emu validate policies/
  apim-emu validate api.xml --named-value backend-timeout=30 --fragments fragments/
  apim-emu validate --format json policies/ > report.json

Exit status: 0 no errors (warnings allowed), 1 errors found, 2 usage or I/O error.";

#[derive(Debug, clap::Args)]
struct ValidateArgs {
    /// Policy XML files, ARM templates, APIOps backendInformation.json files, or folders (searched recursively;
    /// other files are skipped). Template parameters without a value are not errors here: they come at deploy
    /// time (`apim-emu backends` checks a deployment with its parameters). A literal set-backend-service
    /// backend-id must name a backend of the templates named here or found in the policy's folder (or the
    /// nearest parent folder that has templates).
    #[arg(required = true, value_name = "PATH")]
    paths: Vec<PathBuf>,

    /// Output format: `human` prints diagnostics to stderr, `json` prints one report to stdout.
    #[arg(long, value_enum, default_value_t = validate::Format::Human)]
    format: validate::Format,

    /// Folder of policy fragments used by `include-fragment` (`<id>.xml` or `<id>/policy.xml`).
    #[arg(long, value_name = "DIR")]
    fragments: Option<PathBuf>,

    /// A named value for `{{NAME}}` references (repeatable); values are checked after substitution.
    #[arg(long = "named-value", value_name = "NAME=VALUE", value_parser = parse_named_value)]
    named_values: Vec<(String, String)>,

    /// Treat unresolved named values and fragments as errors instead of warnings.
    #[arg(long)]
    strict: bool,
}

fn parse_named_value(text: &str) -> Result<(String, String), String> {
    let (name, value) = text
        .split_once('=')
        .ok_or_else(|| format!("expected NAME=VALUE, got `{text}`"))?;
    if !apim_policy::value::is_valid_named_value_name(name) {
        return Err(format!(
            "`{name}` is not a valid named-value name (letters, digits, `.`, `-`, `_`)"
        ));
    }
    Ok((name.to_string(), value.to_string()))
}

/// Runs a parsed command line.
pub fn run(cli: Cli) -> ExitCode {
    let color = match cli.color {
        ColorChoice::Always => true,
        ColorChoice::Never => false,
        ColorChoice::Auto => {
            std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none()
        }
    };
    let result = match cli.command {
        Command::Validate(args) => validate::run(&validate::Options {
            paths: args.paths,
            format: args.format,
            fragments: args.fragments,
            named_values: args.named_values,
            strict: args.strict,
            style: render::Style { color },
        }),
        Command::Test(args) => scenario::run_command(
            &scenario::Options {
                paths: args.paths,
                junit: args.junit,
                format: args.format,
                filter: args.filter,
                explain: args.explain,
            },
            &mut std::io::stdout(),
            &mut std::io::stderr(),
        ),
        Command::Serve(args) => serve::run(&serve::Options {
            policy: args.policy,
            service: args.service,
            global_policy: args.global_policy,
            product_policy: args.product_policy,
            operation_policy: args.operation_policy,
            backends: args.backends,
            params: args.params,
            parameter_files: args.parameter_files,
            backend_urls: args.backend_urls,
            named_values: args.named_values,
            named_value_files: args.named_value_files,
            connections: args.connections,
            fragments: args.fragments,
            api_path: args.api_path,
            listen: args.listen,
            skip_unsupported: args.skip_unsupported,
            clock: args.clock,
            trace: args.trace,
            trace_format: args.trace_format,
            watch: args.watch,
            style: render::Style { color },
        }),
        Command::Backends(args) => backends::run(
            &backends::Options {
                paths: args.paths,
                params: args.params,
                parameter_files: args.parameter_files,
                backend_urls: args.backend_urls,
                format: args.format,
            },
            &mut std::io::stdout(),
            &mut std::io::stderr(),
        ),
        Command::Mock(args) => mock::run(
            &mock::Options {
                backends: args.backends,
                config: args.config,
            },
            &mut std::io::stdout(),
        ),
        Command::Health(args) => crate::mock::health(&args.url, args.timeout),
        Command::Eval(args) => eval::run(
            &eval::Options {
                expression: args.expression,
                context: args.context,
                named_values: args.named_values,
                explain: args.explain,
                strict_variables: args.strict_variables,
            },
            &mut std::io::stdout(),
            &mut std::io::stderr(),
        ),
    };
    match result {
        Ok(code) => ExitCode::from(code),
        Err(error) => {
            eprintln!("apim-emu: error: {error:#}");
            ExitCode::from(2)
        }
    }
}
