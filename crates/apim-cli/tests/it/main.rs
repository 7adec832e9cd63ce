//! The single integration-test binary of apim-emu: golden fixtures, the real-world corpus, the example
//! policies, and the command line as a user runs it (help, exit codes, JSON, named values, fragments).

mod backends;
mod cli;
mod compose;
mod corpus;
mod demo;
mod explain;
mod fixtures;
mod gateway;
mod scenarios;
mod watch;

use std::path::{Path, PathBuf};

use apim_cli::render::Style;
use apim_cli::validate::{self, Format, Options, Report};

/// The workspace root, so paths in output read `fixtures/policy/…` as in the repository.
pub fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .and_then(Path::parent)
        .expect("crates/apim-cli sits two levels below the workspace root")
        .to_path_buf()
}

/// Runs `validate` on paths relative to the workspace root (the process's directory is changed per call
/// would race between tests, so relative display paths are made by stripping the root afterwards).
pub fn check(paths: &[&str], configure: impl FnOnce(&mut Options)) -> Report {
    let mut options = Options {
        paths: paths.iter().map(|path| root().join(path)).collect(),
        format: Format::Human,
        fragments: None,
        named_values: Vec::new(),
        strict: false,
        style: Style { color: false },
    };
    configure(&mut options);
    validate::check(&options).expect("validate runs")
}

/// The human output exactly as printed, with the workspace root removed from paths.
pub fn human(report: &Report) -> String {
    let mut out = Vec::new();
    report
        .write_human(&mut out, Style { color: false })
        .expect("writing to a Vec cannot fail");
    let text = String::from_utf8(out).expect("output is UTF-8");
    text.replace(&format!("{}/", root().display()), "")
}
