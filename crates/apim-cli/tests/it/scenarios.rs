//! `apim-emu test` over `tests/scenarios` (the same runner the command uses), a mutated expectation of each kind
//! failing the run, and an invalid scenario file reported with its location.

use apim_cli::scenario::{self, Format, Options};
use std::path::PathBuf;

use crate::root;

fn run(paths: Vec<PathBuf>) -> (u8, String, String) {
    run_with(paths, |_| {})
}

fn run_with(paths: Vec<PathBuf>, configure: impl FnOnce(&mut Options)) -> (u8, String, String) {
    let (mut out, mut err) = (Vec::new(), Vec::new());
    let mut options = Options {
        paths,
        junit: None,
        format: Format::Human,
        filter: None,
        explain: false,
    };
    configure(&mut options);
    let code = scenario::run_command(&options, &mut out, &mut err).expect("the runner runs");
    (
        code,
        String::from_utf8_lossy(&out).into_owned(),
        String::from_utf8_lossy(&err).into_owned(),
    )
}

#[test]
fn the_scenario_suite_passes() {
    let (code, out, err) = run(vec![root().join("tests/scenarios")]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.trim_end().ends_with(" passed, 0 failed"), "{out}");
    let passed: usize = out
        .trim_end()
        .rsplit('\n')
        .next()
        .and_then(|l| l.split(' ').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or(0);
    assert!(passed >= 12, "{out}");
}

#[test]
fn each_kind_of_wrong_expectation_fails_the_run() {
    let original = std::fs::read_to_string(
        root().join("tests/scenarios/seed-failover/throttled-primary.scenario.yaml"),
    )
    .expect("the scenario");
    let dir = root().join("tests/scenarios/seed-failover");
    for (i, (from, to, message)) in [
        (
            "status: 200\n      json",
            "status: 201\n      json",
            "expected status 201",
        ),
        (
            "json: { $.from: backup }",
            "json: { $.from: primary }",
            "expected $.from = \"primary\"",
        ),
        (
            "served_by: [ foundry-primary, foundry-backup ]",
            "served_by: [ foundry-backup ]",
            "expected served by",
        ),
        (
            "breakers: { foundry-primary: open, foundry-backup: closed }",
            "breakers: { foundry-primary: closed }",
            "expected breaker foundry-primary closed",
        ),
        (
            "trace: [ \"circuit breaker foundry-primary: tripped\" ]",
            "trace: [ \"no such line\" ]",
            "expected a trace line",
        ),
        (
            "expect: { status: 200, served_by: [ foundry-backup ] }",
            "expect: { attempts: 2 }",
            "expected 2 attempt(s)",
        ),
        (
            "expect: { status: 200, served_by: [ foundry-backup ] }",
            "expect: { headers: { x-missing: \"v\" } }",
            "expected header x-missing: v",
        ),
        (
            "expect: { status: 200, served_by: [ foundry-backup ] }",
            "expect: { body: \"nope\" }",
            "expected body \"nope\"",
        ),
    ]
    .into_iter()
    .enumerate()
    {
        assert!(original.contains(from), "mutation {i} does not apply");
        // Next to the original, so that its relative paths still resolve.
        let path = dir.join(format!("mutated-{i}-{}.yaml", std::process::id()));
        std::fs::write(&path, original.replacen(from, to, 1)).expect("write");
        let (code, out, err) = run(vec![path.clone()]);
        let _ = std::fs::remove_file(&path);
        assert_eq!(code, 1, "mutation {i}: {out}{err}");
        assert!(out.contains(message), "mutation {i}: {out}");
        assert!(out.trim_end().ends_with("0 passed, 1 failed"), "{out}");
    }
}

#[test]
fn an_invalid_scenario_file_is_a_located_error() {
    let path =
        std::env::temp_dir().join(format!("apim-emu-bad-{}.scenario.yaml", std::process::id()));
    std::fs::write(&path, "service:\n  policy: x.xml\nsteps:\n  - request: { path: /x }\n    expect: { statuss: 200 }\n").expect("write");
    let (code, _, err) = run(vec![path.clone()]);
    let _ = std::fs::remove_file(&path);
    assert_eq!(code, 2);
    assert!(err.contains(".scenario.yaml:5:15: steps[0].expect: unknown field `statuss`, expected one of `status`"), "{err}");
    assert!(
        !err.contains(" at line "),
        "the location is given once: {err}"
    );
}

/// Misspelt keys in a backend's script and in a step are named, not ignored or lost in "no variant matched".
#[test]
fn misspelt_backend_and_step_keys_are_named() {
    for (i, (text, message)) in [
        (
            "service:\n  policy: x.xml\nbackends:\n  b:\n    answers: []\nsteps: []\n",
            ":5:5: backends.b: unknown field `answers`, expected `responses` or `default`",
        ),
        (
            "service:\n  policy: x.xml\nsteps:\n  - advance: PT1S\n    expect: { status: 200 }\n",
            "a step is either `request:` (with an optional `expect:`) or `advance:` alone",
        ),
        (
            "service:\n  policy: x.xml\nsteps:\n  - reqest: { path: / }\n",
            "unknown field `reqest`, expected one of `request`, `expect`, `advance`",
        ),
    ]
    .into_iter()
    .enumerate()
    {
        let path = std::env::temp_dir().join(format!(
            "apim-emu-keys-{i}-{}.scenario.yaml",
            std::process::id()
        ));
        std::fs::write(&path, text).expect("write");
        let (code, _, err) = run(vec![path.clone()]);
        let _ = std::fs::remove_file(&path);
        assert_eq!(code, 2, "{err}");
        assert!(err.contains(message), "case {i}: {err}");
    }
}

/// Wrong token-metric expectations fail the run, each with what was expected and what was emitted.
#[test]
fn wrong_token_metric_expectations_fail_the_run() {
    let dir = root().join("tests/scenarios/token-metrics");
    let original =
        std::fs::read_to_string(dir.join("token-metrics.scenario.yaml")).expect("the scenario");
    for (i, (from, to, message)) in [
        (
            "prompt_tokens: 17",
            "prompt_tokens: 16",
            "expected prompt_tokens 16",
        ),
        (
            "Client IP: 127.0.0.1",
            "Client IP: 10.0.0.1",
            "expected dimension Client IP = \"10.0.0.1\"",
        ),
        (
            "namespace: openai",
            "namespace: other",
            "expected namespace \"other\"",
        ),
        (
            "metrics: []",
            "metrics: [ { total_tokens: 1 } ]",
            "expected 1 token metric(s), got 0",
        ),
        (
            "- { total_tokens: 18 }",
            "- { total_tokens: 18 }\n        - { total_tokens: 18 }",
            "expected 2 token metric(s), got 1",
        ),
    ]
    .into_iter()
    .enumerate()
    {
        assert!(original.contains(from), "mutation {i} does not apply");
        let path = dir.join(format!("mutated-{i}-{}.yaml", std::process::id()));
        std::fs::write(&path, original.replacen(from, to, 1)).expect("write");
        let (code, out, err) = run(vec![path.clone()]);
        let _ = std::fs::remove_file(&path);
        assert_eq!(code, 1, "mutation {i}: {out}{err}");
        assert!(out.contains(message), "mutation {i}: {out}");
    }
}

/// The published JSON Schema names every field the runner reads (so editors complete what the runner accepts).
#[test]
fn the_json_schema_covers_the_scenario_format() {
    let schema: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(root().join("docs/scenario.schema.json")).expect("schema"),
    )
    .expect("the schema is JSON");
    let text = schema.to_string();
    let source =
        std::fs::read_to_string(root().join("crates/apim-cli/src/scenario.rs")).expect("source");
    // The format's types come first in the module, before the runner's own.
    let format = source
        .split("/// A backend's remaining answers")
        .next()
        .expect("the format part");
    for line in format.lines() {
        let line = line.trim();
        if let Some(field) = line.strip_prefix("pub ").and_then(|l| l.split(':').next())
            && !field.contains(' ')
            && !field.contains('(')
            && line.ends_with(',')
        {
            assert!(
                text.contains(&format!("\"{field}\"")),
                "the schema lacks `{field}`"
            );
        }
    }
}

#[test]
fn explain_prints_every_attempt_of_the_seed_failover() {
    let (code, out, _) = run_with(
        vec![root().join("tests/scenarios/seed-failover/throttled-primary.scenario.yaml")],
        |o| o.explain = true,
    );
    assert_eq!(code, 0, "{out}");
    insta::assert_snapshot!("explain_seed_failover", out);
}

#[test]
fn explain_as_json_has_the_facts_of_each_attempt() {
    let (code, out, _) = run_with(
        vec![root().join("tests/scenarios/seed-failover/throttled-primary.scenario.yaml")],
        |o| {
            o.explain = true;
            o.format = Format::Json;
        },
    );
    assert_eq!(code, 0, "{out}");
    let report: serde_json::Value = serde_json::from_str(&out).expect("one JSON report");
    let facts = report["scenarios"][0]["steps"][0]["explain"]
        .as_array()
        .expect("the first request's facts")
        .clone();
    let of = |kind: &str| -> Vec<&serde_json::Value> {
        facts.iter().filter(|f| f["fact"] == kind).collect()
    };
    let pools = of("pool");
    assert_eq!(pools.len(), 2, "one choice per attempt");
    assert_eq!(pools[0]["chosen"], "foundry-primary");
    assert_eq!(pools[0]["group"], 1);
    assert_eq!(pools[1]["chosen"], "foundry-backup");
    assert_eq!(pools[1]["group"], 2);
    let primary = &pools[1]["members"][0];
    assert_eq!(primary["backend"], "foundry-primary");
    assert_eq!(primary["available"], false);
    assert_eq!(primary["open_for_ms"], 60_000);
    assert_eq!(primary["tripped_by"], "429");
    let tripped = of("breaker");
    assert_eq!(tripped[0]["transition"], "tripped");
    assert_eq!(tripped[0]["by_retry_after"], true);
    assert_eq!(tripped[0]["rule"], "foundry-primary-breaker");
    let conditions = of("condition");
    assert_eq!(conditions[0]["value"], "true");
    assert!(
        conditions[0]["parts"]
            .as_array()
            .expect("parts")
            .iter()
            .any(|p| p["source"] == "context.Response.StatusCode" && p["value"] == "429")
    );
    assert_eq!(conditions[1]["value"], "false");
    assert_eq!(of("wait")[0]["wait_ms"], 0);
    assert_eq!(of("wait")[0]["why"], "first-fast-retry");
    assert_eq!(of("final")[0]["status"], 200);
    // The wait the retry computes shows up as time between attempts on the virtual clock.
    let attempts = of("attempt");
    assert_eq!(attempts.len(), 2);
}

#[test]
fn an_answer_with_both_body_and_openai_is_an_invalid_scenario() {
    let dir = std::env::temp_dir().join(format!("apim-emu-scn-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let file = dir.join("both.scenario.yaml");
    std::fs::write(
        &file,
        format!(
            "service: {{ policy: {}, api_path: x }}\nbackends:\n  h: [ {{ body: x, openai: {{}} }} ]\nsteps: []\n",
            root().join("policies/foundry-failover/api.xml").display()
        ),
    )
    .expect("write");
    let (code, _, err) = run(vec![file]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("both `body` and `openai`"), "{err}");
    let _ = std::fs::remove_dir_all(&dir);
}
