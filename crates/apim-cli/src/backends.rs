//! `apim-emu backends`: what ARM templates and APIOps folders resolve to, as APIM would deploy it.
//!
//! Only the result goes to stdout; problems go to stderr as `file:line:col: error: message` (the line and
//! column of the JSON value the problem is about). Exit 0, 1 for invalid definitions, 2 for usage or I/O.

use std::collections::HashMap;
use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{Context as _, bail};
use apim_backend::{BackendKind, Input, LoadOptions, Loaded, Problem, Severity, Threshold};
use arm_template::ParamValue;
use serde_json::{Value, json};

/// Output format of the resolved backends.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// A table: name, type, URL or pool members (priority, weight), circuit breaker rule.
    Human,
    /// An array of `{"name", "properties"}`, properties as ARM would deploy them.
    Json,
}

#[derive(Debug, Clone)]
pub struct Options {
    pub paths: Vec<PathBuf>,
    pub params: Vec<(String, String)>,
    pub parameter_files: Vec<PathBuf>,
    pub backend_urls: Vec<(String, String)>,
    pub format: Format,
}

/// A problem and where it is (line, column), when its JSON path was found in the file.
pub type Located = (Problem, Option<(usize, usize)>);

/// Inputs read from disk, with their text for locating problems.
pub struct Sources {
    pub inputs: Vec<Input>,
    pub texts: HashMap<String, String>,
    /// Malformed JSON and similar, already located.
    pub problems: Vec<Located>,
    pub skipped: Vec<(String, String)>,
}

fn display(path: &Path) -> String {
    path.to_string_lossy().trim_start_matches("./").to_string()
}

/// What a JSON file is.
pub enum JsonKind {
    Template,
    ApiOpsBackend(String),
    Parameters,
    Other,
}

pub fn json_kind(path: &Path, json: &Value) -> JsonKind {
    // `deploymentTemplate.json`, `subscriptionDeploymentTemplate.json`, … (any case).
    let schema = json
        .get("$schema")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_ascii_lowercase();
    if path
        .file_name()
        .is_some_and(|n| n == "backendInformation.json")
    {
        let name = path
            .parent()
            .and_then(Path::file_name)
            .map(|n| n.to_string_lossy().to_string())
            .unwrap_or_default();
        return JsonKind::ApiOpsBackend(name);
    }
    if schema.contains("deploymentparameters") {
        return JsonKind::Parameters;
    }
    if schema.contains("deploymenttemplate") || json.get("resources").is_some() && json.is_object()
    {
        return JsonKind::Template;
    }
    JsonKind::Other
}

/// Whether a JSON file holds backends (an ARM template or an APIOps backend); `None` when it is not valid JSON
/// (reading it reports where).
pub fn json_kind_of_file(path: &Path) -> Option<bool> {
    let text = std::fs::read_to_string(path).ok()?;
    let json: Value = serde_json::from_str(&text).ok()?;
    Some(matches!(
        json_kind(path, &json),
        JsonKind::Template | JsonKind::ApiOpsBackend(_)
    ))
}

/// Reads files and folders: ARM templates, APIOps `backends/<name>/backendInformation.json`. Files named
/// explicitly must be one of those; in folders other JSON files are skipped.
pub fn read_sources(paths: &[PathBuf]) -> anyhow::Result<Sources> {
    let mut sources = Sources {
        inputs: Vec::new(),
        texts: HashMap::new(),
        problems: Vec::new(),
        skipped: Vec::new(),
    };
    for path in paths {
        let is_dir = crate::embedded::file(path).is_none()
            && std::fs::metadata(path)
                .with_context(|| format!("cannot read {}", path.display()))?
                .is_dir();
        if is_dir {
            for entry in walkdir::WalkDir::new(path).sort_by_file_name() {
                let entry =
                    entry.with_context(|| format!("cannot read folder {}", path.display()))?;
                let p = entry.path();
                if entry.file_type().is_file()
                    && p.extension()
                        .is_some_and(|e| e.eq_ignore_ascii_case("json"))
                {
                    add_file(p, false, &mut sources)?;
                }
            }
        } else {
            add_file(path, true, &mut sources)?;
        }
    }
    Ok(sources)
}

/// Adds one JSON file; `explicit` files that are not templates or APIOps backends are usage errors.
pub fn add_file(path: &Path, explicit: bool, sources: &mut Sources) -> anyhow::Result<bool> {
    let name = display(path);
    let ext = path
        .extension()
        .map(|e| e.to_string_lossy().to_ascii_lowercase())
        .unwrap_or_default();
    if matches!(ext.as_str(), "bicep" | "bicepparam") {
        bail!(
            "{name} is a Bicep file, which apim-emu does not read; compile it to an ARM template first: `az bicep build --file {name}`"
        );
    }
    let text = crate::embedded::read_to_string(path)
        .with_context(|| format!("cannot read {name} (UTF-8 JSON expected)"))?;
    let json: Value = match serde_json::from_str(&text) {
        Ok(v) => v,
        Err(e) => {
            if explicit
                || path
                    .file_name()
                    .is_some_and(|n| n == "backendInformation.json")
            {
                let message = e.to_string();
                let message = message
                    .split(" at line ")
                    .next()
                    .unwrap_or(&message)
                    .to_string();
                sources.problems.push((
                    Problem {
                        severity: Severity::Error,
                        file: name.clone(),
                        path: String::new(),
                        message: format!("not valid JSON: {message}"),
                        help: None,
                    },
                    Some((e.line(), e.column())),
                ));
            } else {
                sources.skipped.push((name, "not valid JSON".into()));
            }
            return Ok(false);
        }
    };
    match json_kind(path, &json) {
        JsonKind::Template => sources.inputs.push(Input::Template {
            file: name.clone(),
            json,
        }),
        JsonKind::ApiOpsBackend(backend) => sources.inputs.push(Input::ApiOps {
            file: name.clone(),
            name: backend,
            json,
        }),
        JsonKind::Parameters if explicit => {
            bail!("{name} is an ARM parameters file; pass it with --parameters {name}")
        }
        JsonKind::Other if explicit => bail!(
            "{name} is neither an ARM template (`$schema` …/deploymentTemplate.json#) nor an APIOps backendInformation.json"
        ),
        _ => {
            sources
                .skipped
                .push((name, "not an ARM template or APIOps backend".into()));
            return Ok(false);
        }
    }
    sources.texts.insert(name, text);
    Ok(true)
}

/// `--param` and `--parameters` values.
pub fn parameters(
    params: &[(String, String)],
    files: &[PathBuf],
) -> anyhow::Result<Vec<(String, ParamValue)>> {
    let mut out = Vec::new();
    for f in files {
        let text =
            std::fs::read_to_string(f).with_context(|| format!("cannot read {}", f.display()))?;
        let values = arm_template::read_parameters_file(&text)
            .map_err(|e| anyhow::anyhow!("{}: {e}", f.display()))?;
        out.extend(values);
    }
    // Command-line values win over files.
    for (n, v) in params {
        out.retain(|(m, _)| !m.eq_ignore_ascii_case(n));
        out.push((n.clone(), ParamValue::Text(v.clone())));
    }
    Ok(out)
}

/// Where a problem is: line and column of its JSON path in its file.
pub fn position(problem: &Problem, texts: &HashMap<String, String>) -> Option<(usize, usize)> {
    let text = texts.get(&problem.file)?;
    let offset = arm_template::locate::locate(text, &problem.path)?;
    Some(arm_template::locate::line_col(text, offset))
}

/// `file:line:col: error: message` (+ the JSON path and help).
pub fn render_problem(problem: &Problem, at: Option<(usize, usize)>) -> String {
    let level = match problem.severity {
        Severity::Error => "error",
        Severity::Warning => "warning",
        Severity::Note => "note",
    };
    let mut out = match at {
        Some((l, c)) => format!("{}:{l}:{c}: {level}: {}", problem.file, problem.message),
        None => format!("{}: {level}: {}", problem.file, problem.message),
    };
    if !problem.path.is_empty() {
        out.push_str(&format!("\n  at {}", problem.path));
    }
    if let Some(h) = &problem.help {
        out.push_str(&format!("\n  = help: {h}"));
    }
    out
}

pub fn problem_json(problem: &Problem, at: Option<(usize, usize)>) -> Value {
    json!({
        "severity": match problem.severity { Severity::Error => "error", Severity::Warning => "warning", Severity::Note => "note" },
        "file": problem.file,
        "line": at.map(|a| a.0),
        "column": at.map(|a| a.1),
        "path": problem.path,
        "message": problem.message,
        "help": problem.help,
    })
}

/// Loads everything and returns the result with located problems.
pub fn resolve(options: &Options) -> anyhow::Result<(Loaded, Vec<Located>)> {
    let sources = read_sources(&options.paths)?;
    if sources.inputs.is_empty() && sources.problems.is_empty() {
        bail!(
            "no ARM template or APIOps backend found in {}",
            options
                .paths
                .iter()
                .map(|p| display(p))
                .collect::<Vec<_>>()
                .join(", ")
        );
    }
    let load_options = LoadOptions {
        parameters: parameters(&options.params, &options.parameter_files)?,
        backend_urls: options.backend_urls.clone(),
        context: arm_template::DeploymentContext::default(),
        lenient: false,
    };
    let loaded = apim_backend::load(&sources.inputs, &load_options);
    let mut problems = sources.problems;
    for p in &loaded.problems {
        let at = position(p, &sources.texts);
        problems.push((p.clone(), at));
    }
    Ok((loaded, problems))
}

pub fn run(options: &Options, out: &mut dyn Write, err: &mut dyn Write) -> anyhow::Result<u8> {
    let (loaded, problems) = resolve(options)?;
    // A --backend-url naming no backend is a usage error (exit 2), reported before anything else.
    let usage: Vec<&Located> = problems
        .iter()
        .filter(|(p, _)| p.file == "--backend-url")
        .collect();
    if !usage.is_empty() {
        for (p, at) in usage {
            let _ = writeln!(err, "{}", render_problem(p, *at));
        }
        return Ok(2);
    }
    let mut n_errors = 0;
    for (p, at) in &problems {
        if p.severity == Severity::Error {
            n_errors += 1;
        }
        if p.severity != Severity::Note {
            let _ = writeln!(err, "{}", render_problem(p, *at));
        }
    }
    let result = match options.format {
        Format::Json => {
            let items: Vec<Value> = loaded
                .registry
                .backends
                .iter()
                .map(|b| json!({ "name": b.name, "properties": b.properties }))
                .collect();
            serde_json::to_string_pretty(&Value::Array(items)).expect("JSON values serialize")
                + "\n"
        }
        Format::Human => table(&loaded),
    };
    if let Err(e) = out.write_all(result.as_bytes())
        && e.kind() != std::io::ErrorKind::BrokenPipe
    {
        return Err(e).context("cannot write to stdout");
    }
    if n_errors > 0 {
        let _ = writeln!(
            err,
            "{n_errors} {}",
            if n_errors == 1 { "error" } else { "errors" }
        );
    }
    Ok(u8::from(n_errors > 0))
}

fn seconds(d: std::time::Duration) -> String {
    let s = d.as_secs();
    if s.is_multiple_of(3600) && s > 0 {
        format!("{}h", s / 3600)
    } else if s.is_multiple_of(60) && s > 0 {
        format!("{}m", s / 60)
    } else {
        format!("{}s", d.as_secs_f64())
    }
}

/// The human table.
fn table(loaded: &Loaded) -> String {
    let mut rows: Vec<[String; 4]> = vec![[
        "NAME".into(),
        "TYPE".into(),
        "URL / MEMBERS (priority, weight)".into(),
        "CIRCUIT BREAKER".into(),
    ]];
    for b in &loaded.registry.backends {
        match &b.kind {
            BackendKind::Single(s) => {
                let breaker = match &s.breaker {
                    Some(r) => {
                        let threshold = match r.threshold {
                            Threshold::Count(n) => {
                                format!("{n} failure{}", if n == 1 { "" } else { "s" })
                            }
                            Threshold::Percentage(p) => format!("{p}% failures"),
                        };
                        let ranges: Vec<String> = r
                            .status_ranges
                            .iter()
                            .map(|x| {
                                if x.start() == x.end() {
                                    x.start().to_string()
                                } else {
                                    format!("{}-{}", x.start(), x.end())
                                }
                            })
                            .chain(r.error_reasons.iter().cloned())
                            .collect();
                        format!(
                            "{threshold} of [{}] in {} → open {}{}",
                            ranges.join(", "),
                            seconds(r.interval),
                            seconds(r.trip_duration),
                            if r.accept_retry_after {
                                " (or Retry-After)"
                            } else {
                                ""
                            }
                        )
                    }
                    None => "-".into(),
                };
                let url = match &s.url {
                    Some(u) if s.url_overridden => format!("{u} (--backend-url)"),
                    Some(u) => u.clone(),
                    None => "(unresolved)".into(),
                };
                rows.push([b.name.clone(), "single".into(), url, breaker]);
            }
            BackendKind::Pool(p) => {
                let members: Vec<String> = p
                    .members
                    .iter()
                    .map(|m| format!("{} ({}, {})", m.backend, m.priority, m.weight))
                    .collect();
                let failure = format!("when all tripped: {}", p.failure_status.unwrap_or(503));
                rows.push([b.name.clone(), "pool".into(), members.join(", "), failure]);
            }
        }
    }
    let widths: Vec<usize> = (0..3)
        .map(|i| rows.iter().map(|r| r[i].chars().count()).max().unwrap_or(0))
        .collect();
    let mut out = String::new();
    for r in &rows {
        for (i, cell) in r.iter().enumerate() {
            if i < 3 {
                out.push_str(cell);
                out.push_str(&" ".repeat(widths[i] - cell.chars().count() + 2));
            } else {
                out.push_str(cell);
            }
        }
        out.truncate(out.trim_end().len());
        out.push('\n');
    }
    out
}
