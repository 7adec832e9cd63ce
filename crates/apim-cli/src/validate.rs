//! `apim-emu validate`: read policy files and folders, report every diagnostic, exit 0/1/2.

use std::collections::HashMap;
use std::io::Write as _;
use std::path::{Path, PathBuf};

use anyhow::{Context as _, bail};
use apim_policy::compose::{Fragments, check_backend_ids, check_includes};
use apim_policy::{DocumentKind, ParseOptions, sniff_root};
use apim_source::{Diagnostic, Severity, SourceMap};
use serde_json::json;

use crate::render::{self, Style};

/// Output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// Diagnostics with source snippets on stderr.
    Human,
    /// One JSON document with every file's diagnostics on stdout.
    Json,
}

#[derive(Debug, Clone)]
pub struct Options {
    pub paths: Vec<PathBuf>,
    pub format: Format,
    pub fragments: Option<PathBuf>,
    pub named_values: Vec<(String, String)>,
    pub strict: bool,
    pub style: Style,
}

enum Input {
    Policy(PathBuf),
    /// An ARM template or an APIOps `backendInformation.json`; `explicit` when named on the command line.
    Backends {
        path: PathBuf,
        explicit: bool,
    },
    Skipped {
        path: PathBuf,
        reason: String,
    },
}

/// What `validate` found: per-file diagnostics, skipped files, and the sources to render them.
pub struct Report {
    pub sources: SourceMap,
    pub files: Vec<FileReport>,
    pub skipped: Vec<(String, String)>,
    /// ARM templates and APIOps backend files read.
    pub backend_files: Vec<String>,
    /// Their problems, located (line, column) where the JSON path was found.
    pub backend_problems: Vec<(apim_backend::Problem, Option<(usize, usize)>)>,
}

/// One validated file.
pub struct FileReport {
    pub path: String,
    pub kind: &'static str,
    pub diagnostics: Vec<Diagnostic>,
}

impl Report {
    pub fn n_errors(&self) -> usize {
        self.files
            .iter()
            .map(|file| count(&file.diagnostics, Severity::Error))
            .sum::<usize>()
            + self.backend_count(apim_backend::Severity::Error)
    }

    fn backend_count(&self, severity: apim_backend::Severity) -> usize {
        self.backend_problems
            .iter()
            .filter(|(p, _)| p.severity == severity)
            .count()
    }

    pub fn n_warnings(&self) -> usize {
        self.files
            .iter()
            .map(|file| count(&file.diagnostics, Severity::Warning))
            .sum::<usize>()
            + self.backend_count(apim_backend::Severity::Warning)
    }

    /// Every diagnostic in the human format, skipped-file notes first, then a summary line.
    pub fn write_human(&self, out: &mut dyn std::io::Write, style: Style) -> std::io::Result<()> {
        for (path, reason) in &self.skipped {
            writeln!(out, "{path}: note: skipped, {reason}")?;
        }
        for file in &self.files {
            for diagnostic in &file.diagnostics {
                writeln!(out, "{}", render::human(diagnostic, &self.sources, style))?;
            }
        }
        for (problem, at) in &self.backend_problems {
            if problem.severity != apim_backend::Severity::Note {
                writeln!(out, "{}", crate::backends::render_problem(problem, *at))?;
            }
        }
        let (n_errors, n_warnings) = (self.n_errors(), self.n_warnings());
        let n_files = self.files.len() + self.backend_files.len();
        writeln!(
            out,
            "validated {} {}: {} {}, {} {}{}",
            n_files,
            plural(n_files, "file", "files"),
            n_errors,
            plural(n_errors, "error", "errors"),
            n_warnings,
            plural(n_warnings, "warning", "warnings"),
            if self.skipped.is_empty() {
                String::new()
            } else {
                format!(" ({} skipped)", self.skipped.len())
            },
        )
    }

    /// The whole report as one JSON document.
    pub fn to_json(&self) -> serde_json::Value {
        let files: Vec<_> = self
            .files
            .iter()
            .map(|file| {
                json!({
                    "path": file.path,
                    "kind": file.kind,
                    "errors": count(&file.diagnostics, Severity::Error),
                    "warnings": count(&file.diagnostics, Severity::Warning),
                    "diagnostics": file.diagnostics.iter().map(|d| render::json(d, &self.sources)).collect::<Vec<_>>(),
                })
            })
            .collect();
        json!({
            "files": files,
            "backends": {
                "files": self.backend_files,
                "problems": self.backend_problems.iter().map(|(p, at)| crate::backends::problem_json(p, *at)).collect::<Vec<_>>(),
            },
            "skipped": self.skipped.iter().map(|(path, reason)| json!({"path": path, "reason": reason})).collect::<Vec<_>>(),
            "summary": {
                "files": self.files.len(),
                "errors": self.n_errors(),
                "warnings": self.n_warnings(),
                "skipped": self.skipped.len(),
            },
        })
    }
}

/// Runs the command and prints; the returned code is the exit code (I/O and usage errors are `Err`, exit 2).
pub fn run(options: &Options) -> anyhow::Result<u8> {
    let report = check(options)?;
    match options.format {
        Format::Human => {
            // A closed stderr is not worth failing over.
            let _ = report.write_human(&mut std::io::stderr().lock(), options.style);
        }
        Format::Json => {
            let text = serde_json::to_string_pretty(&report.to_json())
                .expect("JSON values always serialize");
            if let Err(error) = writeln!(std::io::stdout().lock(), "{text}")
                && error.kind() != std::io::ErrorKind::BrokenPipe
            {
                return Err(error).context("cannot write to stdout");
            }
        }
    }
    Ok(u8::from(report.n_errors() > 0))
}

/// Validates every input and collects the report.
pub fn check(options: &Options) -> anyhow::Result<Report> {
    let inputs = collect_inputs(&options.paths)?;
    let mut sources = SourceMap::default();
    let fragments = match &options.fragments {
        Some(dir) => Some(load_fragments(dir, &mut sources)?),
        None => None,
    };
    let parse_options = ParseOptions {
        named_values: options
            .named_values
            .iter()
            .cloned()
            .collect::<HashMap<_, _>>(),
        strict: options.strict,
    };
    let engine = apim_expr::Engine::default();
    let mut files = Vec::new();
    // Parsed documents by index into `files`, for the backend-id check once the backends are loaded.
    let mut documents = Vec::new();
    // Where each backends file's definitions apply, by its display name.
    let mut template_scopes: Vec<(String, BackendScope)> = Vec::new();
    let mut skipped = Vec::new();
    let mut backend_sources = crate::backends::Sources {
        inputs: Vec::new(),
        texts: HashMap::new(),
        problems: Vec::new(),
        skipped: Vec::new(),
    };
    for input in inputs {
        match input {
            Input::Skipped { path, reason } => skipped.push((display(&path), reason)),
            Input::Backends { path, explicit } => {
                crate::backends::add_file(&path, true, &mut backend_sources)?;
                template_scopes.push((display(&path), backend_scope(&path, explicit)));
            }
            Input::Policy(path) => {
                let bytes = std::fs::read(&path)
                    .with_context(|| format!("cannot read {}", path.display()))?;
                let text = String::from_utf8(bytes).map_err(|_| {
                    anyhow::anyhow!(
                        "{}: not UTF-8 text; policy files are UTF-8 XML",
                        path.display()
                    )
                })?;
                let name = display(&path);
                let file = sources.add(name.clone(), text);
                let parsed = apim_policy::parse(file, &sources.file(file).text, &parse_options);
                let mut diagnostics = parsed.diagnostics;
                diagnostics.extend(crate::expressions::check(
                    &engine,
                    &parsed.expressions,
                    &parse_options.named_values,
                ));
                diagnostics.sort_by_key(|diagnostic| diagnostic.primary.span.start());
                let kind = match &parsed.document {
                    Some(document) => {
                        diagnostics.extend(check_includes(
                            document,
                            fragments.as_ref(),
                            &parse_options,
                        ));
                        match document.kind {
                            DocumentKind::Policies(_) => "policies",
                            DocumentKind::Fragment(_) => "fragment",
                        }
                    }
                    None => "unreadable",
                };
                if let Some(document) = parsed.document {
                    documents.push((files.len(), std::path::absolute(&path).ok(), document));
                }
                files.push(FileReport {
                    path: name,
                    kind,
                    diagnostics,
                });
            }
        }
    }
    let backend_files: Vec<String> = backend_sources
        .texts
        .keys()
        .cloned()
        .collect::<std::collections::BTreeSet<_>>()
        .into_iter()
        .collect();
    let mut backend_problems = backend_sources.problems;
    if !backend_sources.inputs.is_empty() {
        // Parameters come at deploy time: missing ones (and what needs them) are warnings here.
        let loaded = apim_backend::load(
            &backend_sources.inputs,
            &apim_backend::LoadOptions {
                lenient: true,
                ..apim_backend::LoadOptions::default()
            },
        );
        for p in loaded.problems {
            let at = crate::backends::position(&p, &backend_sources.texts);
            backend_problems.push((p, at));
        }
        // A literal backend-id must name a backend of the templates that go with the policy (see
        // `backend_scope`). Skipped when one of them could not be read completely: a backend may hide behind
        // that failure, which is reported already.
        for (index, path, document) in &documents {
            let Some(path) = path else { continue };
            let scoped = templates_for(path, &template_scopes);
            if scoped.is_empty() || scoped.iter().any(|file| loaded.incomplete.contains(file)) {
                continue;
            }
            let declared: Vec<String> = loaded
                .declared
                .iter()
                .filter(|(file, _)| scoped.contains(file))
                .map(|(_, name)| name.clone())
                .collect();
            let found = check_backend_ids(document, &declared);
            if !found.is_empty() {
                let diagnostics = &mut files[*index].diagnostics;
                diagnostics.extend(found);
                diagnostics.sort_by_key(|diagnostic| diagnostic.primary.span.start());
            }
        }
    }
    Ok(Report {
        sources,
        files,
        skipped,
        backend_files,
        backend_problems,
    })
}

/// The policies a backends file's definitions are checked against.
enum BackendScope {
    /// Named on the command line: every policy validated with it.
    Everywhere,
    /// Found in a folder: the policies in this folder and below, unless a nearer folder has its own.
    Folder(PathBuf),
}

/// A template's definitions go with the policies of its folder; an APIOps backend
/// (`<root>/backends/<name>/backendInformation.json`) with those of the artifacts root.
fn backend_scope(path: &Path, explicit: bool) -> BackendScope {
    if explicit {
        return BackendScope::Everywhere;
    }
    let absolute = std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf());
    let parent = absolute.parent().unwrap_or(Path::new(""));
    let apiops_root = (absolute
        .file_name()
        .is_some_and(|n| n == "backendInformation.json"))
    .then(|| parent.parent())
    .flatten()
    .filter(|folder| folder.file_name().is_some_and(|n| n == "backends"))
    .and_then(Path::parent);
    BackendScope::Folder(apiops_root.unwrap_or(parent).to_path_buf())
}

/// The backends files whose definitions go with the policy at `policy` (absolute): those named on the command
/// line and those of the nearest enclosing folder that has any.
fn templates_for(policy: &Path, scopes: &[(String, BackendScope)]) -> Vec<String> {
    let mut files: Vec<String> = scopes
        .iter()
        .filter(|(_, scope)| matches!(scope, BackendScope::Everywhere))
        .map(|(file, _)| file.clone())
        .collect();
    let nearest = policy.ancestors().skip(1).find(|folder| {
        scopes
            .iter()
            .any(|(_, scope)| matches!(scope, BackendScope::Folder(f) if f == folder))
    });
    if let Some(folder) = nearest {
        files.extend(
            scopes
                .iter()
                .filter(|(_, scope)| matches!(scope, BackendScope::Folder(f) if f == folder))
                .map(|(file, _)| file.clone()),
        );
    }
    files
}

fn count(diagnostics: &[Diagnostic], severity: Severity) -> usize {
    diagnostics
        .iter()
        .filter(|diagnostic| diagnostic.severity == severity)
        .count()
}

fn plural<'s>(n: usize, one: &'s str, many: &'s str) -> &'s str {
    if n == 1 { one } else { many }
}

pub(crate) fn display(path: &Path) -> String {
    path.to_string_lossy().trim_start_matches("./").to_string()
}

/// Files named on the command line are validated as policy XML (a `.bicep` file is refused with a pointer to
/// `az bicep build`); folders are walked recursively and only XML files whose root is `<policies>` or
/// `<fragment>` are validated, the rest skipped with a note.
fn collect_inputs(paths: &[PathBuf]) -> anyhow::Result<Vec<Input>> {
    let mut inputs = Vec::new();
    for path in paths {
        let metadata =
            std::fs::metadata(path).with_context(|| format!("cannot read {}", path.display()))?;
        if metadata.is_dir() {
            let mut entries: Vec<PathBuf> = Vec::new();
            for entry in walkdir::WalkDir::new(path).sort_by_file_name() {
                let entry =
                    entry.with_context(|| format!("cannot read folder {}", path.display()))?;
                if entry.file_type().is_file() {
                    entries.push(entry.into_path());
                }
            }
            for entry in entries {
                inputs.push(classify(entry));
            }
        } else {
            match extension(path).as_str() {
                "bicep" | "bicepparam" => bail!(
                    "{} is a Bicep file, which apim-emu does not read; compile it to an ARM template first: \
                     `az bicep build --file {}`",
                    path.display(),
                    path.display()
                ),
                "json" => match crate::backends::json_kind_of_file(path) {
                    Some(true) => inputs.push(Input::Backends {
                        path: path.clone(),
                        explicit: true,
                    }),
                    Some(false) => bail!(
                        "{} is not policy XML or an ARM template; `validate` reads policy documents, ARM templates and APIOps backendInformation.json files",
                        path.display()
                    ),
                    None => inputs.push(Input::Backends {
                        path: path.clone(),
                        explicit: true,
                    }),
                },
                "tf" | "csx" | "md" | "yaml" | "yml" => bail!(
                    "{} is not policy XML; `validate` reads policy documents (`<policies>` or `<fragment>` XML files)",
                    path.display()
                ),
                _ => inputs.push(Input::Policy(path.clone())),
            }
        }
    }
    Ok(inputs)
}

fn extension(path: &Path) -> String {
    path.extension()
        .map(|ext| ext.to_string_lossy().to_ascii_lowercase())
        .unwrap_or_default()
}

fn classify(path: PathBuf) -> Input {
    if extension(&path) == "json" {
        return match crate::backends::json_kind_of_file(&path) {
            Some(true) => Input::Backends {
                path,
                explicit: false,
            },
            _ => Input::Skipped {
                path,
                reason: "JSON that is not an ARM template or APIOps backend".to_string(),
            },
        };
    }
    if extension(&path) != "xml" {
        return Input::Skipped {
            path,
            reason: "not an XML file".to_string(),
        };
    }
    let Ok(text) = std::fs::read_to_string(&path) else {
        return Input::Skipped {
            path,
            reason: "not UTF-8 text".to_string(),
        };
    };
    match sniff_root(&text) {
        Some("policies" | "fragment") => Input::Policy(path),
        Some(root) => Input::Skipped {
            path,
            reason: format!("not policy XML (root element `<{root}>`)"),
        },
        None => Input::Skipped {
            path,
            reason: "not policy XML".to_string(),
        },
    }
}

/// Loads fragments from `DIR/<id>.xml` and, as the APIOps extractor lays them out, `DIR/<id>/policy.xml`.
pub(crate) fn load_fragments(dir: &Path, sources: &mut SourceMap) -> anyhow::Result<Fragments> {
    let mut fragments = Fragments::default();
    let entries = std::fs::read_dir(dir)
        .with_context(|| format!("cannot read fragments folder {}", dir.display()))?;
    let mut paths: Vec<PathBuf> = entries
        .filter_map(|entry| entry.ok().map(|entry| entry.path()))
        .collect();
    paths.sort();
    for path in paths {
        let (id, file_path) = if path.is_dir() {
            let policy = path.join("policy.xml");
            if !policy.is_file() {
                continue;
            }
            (
                path.file_name()
                    .map(|name| name.to_string_lossy().into_owned()),
                policy,
            )
        } else if extension(&path) == "xml" {
            (
                path.file_stem()
                    .map(|stem| stem.to_string_lossy().into_owned()),
                path.clone(),
            )
        } else {
            continue;
        };
        let Some(id) = id else { continue };
        let text = std::fs::read_to_string(&file_path)
            .with_context(|| format!("cannot read fragment {}", file_path.display()))?;
        let file = sources.add(display(&file_path), text.clone());
        fragments.insert(id, file, text);
    }
    Ok(fragments)
}
