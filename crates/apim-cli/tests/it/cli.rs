//! The `apim-emu` binary as users run it: help text, exit codes, output streams, flags.

use std::process::{Command, Output};

use crate::root;

fn apim_emu(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_apim-emu"))
        .args(args)
        .current_dir(root())
        .env("NO_COLOR", "1")
        .output()
        .expect("the binary runs")
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

#[test]
fn help_texts() {
    insta::assert_snapshot!(
        "help",
        String::from_utf8_lossy(&apim_emu(&["--help"]).stdout)
    );
    insta::assert_snapshot!(
        "validate_help",
        String::from_utf8_lossy(&apim_emu(&["validate", "--help"]).stdout)
    );
    insta::assert_snapshot!(
        "backends_help",
        String::from_utf8_lossy(&apim_emu(&["backends", "--help"]).stdout)
    );
    insta::assert_snapshot!(
        "serve_help",
        String::from_utf8_lossy(&apim_emu(&["serve", "--help"]).stdout)
    );
    insta::assert_snapshot!(
        "mock_help",
        String::from_utf8_lossy(&apim_emu(&["mock", "--help"]).stdout)
    );
    insta::assert_snapshot!(
        "test_help",
        String::from_utf8_lossy(&apim_emu(&["test", "--help"]).stdout)
    );
}

#[test]
fn exit_codes() {
    assert_eq!(
        apim_emu(&["validate", "fixtures/policy/ok/raw-expressions.xml"])
            .status
            .code(),
        Some(0)
    );
    // Warnings alone do not fail.
    assert_eq!(
        apim_emu(&[
            "validate",
            "fixtures/policy/err/P023-unresolved-named-value.xml"
        ])
        .status
        .code(),
        Some(0)
    );
    assert_eq!(
        apim_emu(&["validate", "fixtures/policy/err/P012-unknown-policy.xml"])
            .status
            .code(),
        Some(1)
    );
    let missing = apim_emu(&["validate", "no/such/file.xml"]);
    assert_eq!(missing.status.code(), Some(2));
    assert!(
        stderr(&missing).contains("cannot read no/such/file.xml"),
        "{}",
        stderr(&missing)
    );
    assert_eq!(apim_emu(&["validate"]).status.code(), Some(2));
    assert_eq!(
        apim_emu(&["validate", "--format", "yaml", "policies"])
            .status
            .code(),
        Some(2)
    );
}

#[test]
fn bicep_file_points_to_az_bicep_build() {
    let output = apim_emu(&["validate", "policies/foundry-failover/backends.bicep"]);
    assert_eq!(output.status.code(), Some(2));
    assert!(
        stderr(&output).contains("az bicep build --file policies/foundry-failover/backends.bicep"),
        "{}",
        stderr(&output)
    );
}

#[test]
fn folders_skip_files_that_are_not_policies_with_a_note() {
    let output = apim_emu(&["validate", "policies"]);
    assert_eq!(output.status.code(), Some(0));
    let text = stderr(&output);
    assert!(
        text.contains("policies/foundry-failover/backends.bicep: note: skipped, not an XML file"),
        "{text}"
    );
    // The ARM template beside the policies is read as backends (its URL parameters come at deploy time).
    assert!(!text.contains("backends.json: note: skipped"), "{text}");
    assert!(
        text.contains("validated 5 files: 0 errors, 0 warnings (2 skipped)"),
        "{text}"
    );
}

#[test]
fn json_goes_to_stdout_with_positions() {
    let output = apim_emu(&[
        "validate",
        "--format",
        "json",
        "fixtures/policy/err/P012-unknown-policy.xml",
    ]);
    assert_eq!(output.status.code(), Some(1));
    assert!(
        output.stderr.is_empty(),
        "json mode keeps stderr clean: {}",
        stderr(&output)
    );
    let report: serde_json::Value = serde_json::from_slice(&output.stdout).expect("stdout is JSON");
    let diagnostic = &report["files"][0]["diagnostics"][0];
    assert_eq!(diagnostic["code"], "P012");
    assert_eq!(diagnostic["severity"], "error");
    assert_eq!(diagnostic["primary"]["line"], 3);
    assert_eq!(diagnostic["primary"]["col"], 10);
    assert_eq!(diagnostic["help"], "did you mean `set-header`?");
    assert_eq!(report["summary"]["errors"], 1);
}

#[test]
fn named_values_are_checked_after_substitution() {
    let file = "fixtures/policy/err/P023-unresolved-named-value.xml";
    let good = apim_emu(&["validate", file, "--named-value", "backend-timeout=30"]);
    assert_eq!(good.status.code(), Some(0), "{}", stderr(&good));
    assert!(
        stderr(&good).contains("0 errors, 0 warnings"),
        "{}",
        stderr(&good)
    );
    let bad = apim_emu(&["validate", file, "--named-value", "backend-timeout=soon"]);
    assert_eq!(bad.status.code(), Some(1));
    assert!(stderr(&bad).contains("invalid value `soon` for attribute `timeout` of `<forward-request>` (after substituting `{{backend-timeout}}`)"), "{}", stderr(&bad));
    let strict = apim_emu(&["validate", file, "--strict"]);
    assert_eq!(strict.status.code(), Some(1));
    assert!(
        stderr(&strict).contains("error[P023]"),
        "{}",
        stderr(&strict)
    );
    let malformed = apim_emu(&["validate", file, "--named-value", "no-equals-sign"]);
    assert_eq!(malformed.status.code(), Some(2));
}

#[test]
fn fragments_are_resolved_from_a_folder() {
    let file = "fixtures/policy/err/fragment-not-allowed-in-section.xml";
    let without = apim_emu(&["validate", file]);
    assert_eq!(without.status.code(), Some(0));
    assert!(
        stderr(&without).contains("warning[P024]: fragment `auth-header` is not available"),
        "{}",
        stderr(&without)
    );
    let with = apim_emu(&["validate", file, "--fragments", "fixtures/policy/fragments"]);
    assert_eq!(with.status.code(), Some(1));
    let text = stderr(&with);
    assert!(
        text.contains("`rewrite-uri` is not allowed in the `outbound` section"),
        "{text}"
    );
    assert!(
        text.contains("fragment `auth-header` is included in `outbound` here"),
        "{text}"
    );
}
