//! Repository chores run as `cargo run -p xtask -- <task>`; the checks also run as tests.
//!
//! Tasks: `tidy` (every Rust file starts with a `//!` module comment), `docs` (regenerate
//! `docs/policies.md` and `docs/diagnostics.md` from the policy registry and the diagnostic codes), `oracle`
//! (ask the real C# runtime, ../shared/tools/csharp-oracle, for the expected value of every expression in
//! `fixtures/expr/constructs.txt`, written to `fixtures/expr/constructs.oracle.jsonl`; needs Mono).

mod docs;

use std::path::{Path, PathBuf};

fn main() {
    let task = std::env::args().nth(1).unwrap_or_default();
    match task.as_str() {
        "tidy" => {
            let problems = tidy(&workspace_root());
            for problem in &problems {
                eprintln!("{problem}");
            }
            std::process::exit(i32::from(!problems.is_empty()));
        }
        "docs" => {
            let root = workspace_root();
            for (path, text) in docs::generate(&root) {
                std::fs::write(root.join(&path), text)
                    .unwrap_or_else(|error| panic!("cannot write {path}: {error}"));
                println!("wrote {path}");
            }
        }
        "oracle" => {
            let root = workspace_root();
            if let Err(problem) = oracle(&root) {
                eprintln!("{problem}");
                std::process::exit(1);
            }
        }
        _ => {
            eprintln!("usage: cargo run -p xtask -- tidy|docs|oracle");
            std::process::exit(2);
        }
    }
}

/// The expressions of `fixtures/expr/constructs.txt` (one per line, `#` lines are titles).
fn construct_lines(root: &Path) -> Result<Vec<String>, String> {
    let path = root.join("fixtures/expr/constructs.txt");
    let text = std::fs::read_to_string(&path).map_err(|e| format!("{}: {e}", path.display()))?;
    Ok(text
        .lines()
        .filter(|line| !line.trim().is_empty() && !line.starts_with('#'))
        .map(str::to_string)
        .collect())
}

fn oracle(root: &Path) -> Result<(), String> {
    let exprs = construct_lines(root)?;
    let input =
        std::env::temp_dir().join(format!("apim-emu-constructs-{}.jsonl", std::process::id()));
    let lines: Vec<String> = exprs
        .iter()
        .map(|e| serde_json::Value::String(e.clone()).to_string())
        .collect();
    std::fs::write(&input, lines.join("\n") + "\n").map_err(|e| e.to_string())?;
    let output = std::process::Command::new("python3")
        .arg(root.join("../shared/tools/csharp-oracle/oracle.py"))
        .arg("--context")
        .arg(root.join("fixtures/expr/context.json"))
        .arg("--jsonl")
        .arg(&input)
        .output()
        .map_err(|e| format!("cannot run the oracle: {e}"))?;
    let _ = std::fs::remove_file(&input);
    if !output.status.success() {
        return Err(format!(
            "the oracle failed:\n{}",
            String::from_utf8_lossy(&output.stderr)
        ));
    }
    let stdout = String::from_utf8_lossy(&output.stdout);
    let results: Vec<&str> = stdout.lines().filter(|l| l.starts_with('{')).collect();
    if results.len() != exprs.len() {
        return Err(format!(
            "the oracle answered {} of {} expressions",
            results.len(),
            exprs.len()
        ));
    }
    let path = root.join("fixtures/expr/constructs.oracle.jsonl");
    std::fs::write(&path, results.join("\n") + "\n").map_err(|e| e.to_string())?;
    println!("wrote {} ({} expressions)", path.display(), results.len());
    Ok(())
}

fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("xtask lives one level below the workspace root")
        .to_path_buf()
}

/// Every `.rs` file under `crates/` and `xtask/` must open with a `//!` comment saying what it is for.
fn tidy(root: &Path) -> Vec<String> {
    let mut problems = Vec::new();
    let mut stack = vec![root.join("crates"), root.join("xtask")];
    while let Some(dir) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            if path.is_dir() {
                if !path.ends_with("target") {
                    stack.push(path);
                }
            } else if path.extension().is_some_and(|ext| ext == "rs") {
                let text = std::fs::read_to_string(&path).unwrap_or_default();
                if !text.trim_start().starts_with("//!") {
                    problems.push(format!(
                        "{}: file must start with a `//!` module comment",
                        path.display()
                    ));
                }
            }
        }
    }
    problems.sort();
    problems
}

#[cfg(test)]
mod tests {
    #[test]
    fn every_rust_file_has_a_module_comment() {
        let problems = super::tidy(&super::workspace_root());
        assert!(problems.is_empty(), "{}", problems.join("\n"));
    }

    #[test]
    fn generated_docs_are_up_to_date() {
        let root = super::workspace_root();
        for (path, expected) in super::docs::generate(&root) {
            let actual = std::fs::read_to_string(root.join(&path)).unwrap_or_default();
            assert!(
                actual == expected,
                "{path} is stale: run `cargo run -p xtask -- docs`"
            );
        }
    }
}
