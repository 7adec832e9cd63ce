//! `apim-emu`: the command line. Owns the terminal: argument parsing, rendering, exit codes.
//!
//! Exit codes: 0 success, 1 problems found (validation errors), 2 usage, I/O or internal error.

use apim_cli::{backends, eval, render, validate};

use std::io::IsTerminal as _;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand, ValueEnum};

/// Azure API Management policy emulator: validate, run and test APIM policies locally.
#[derive(Debug, Parser)]
#[command(name = "apim-emu", version, about, long_about = None, propagate_version = true)]
struct Cli {
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
    /// time (`apim-emu backends` checks a deployment with its parameters).
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

fn main() -> ExitCode {
    let cli = Cli::parse();
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
