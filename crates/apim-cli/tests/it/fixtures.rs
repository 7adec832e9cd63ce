//! Golden tests over `fixtures/policy/{ok,err}`: `ok` files produce no diagnostics at all; every `err` file
//! produces at least one, snapshotted exactly as `apim-emu validate` prints it. Fragments for
//! `include-fragment` come from `fixtures/policy/fragments`.

use apim_source::Code;

use crate::{check, human, root};

fn check_fixture(path: &std::path::Path) -> apim_cli::validate::Report {
    let relative = path
        .strip_prefix(root())
        .expect("fixtures are inside the workspace");
    check(&[relative.to_str().expect("UTF-8 path")], |options| {
        options.fragments = Some(root().join("fixtures/policy/fragments"));
    })
}

#[test]
fn ok_fixtures_have_no_diagnostics() {
    let mut n_files = 0;
    for entry in std::fs::read_dir(root().join("fixtures/policy/ok")).expect("ok fixtures exist") {
        let path = entry.expect("readable folder").path();
        let report = check_fixture(&path);
        let diagnostics: Vec<_> = report
            .files
            .iter()
            .flat_map(|file| &file.diagnostics)
            .collect();
        assert!(
            diagnostics.is_empty(),
            "{}:\n{}",
            path.display(),
            human(&report)
        );
        n_files += 1;
    }
    assert!(n_files >= 5);
}

#[test]
fn err_fixtures_print_their_diagnostics() {
    insta::glob!("../../../../fixtures/policy/err", "*.xml", |path| {
        let report = check_fixture(path);
        assert!(
            report.files.iter().any(|file| !file.diagnostics.is_empty()),
            "{} produced no diagnostics",
            path.display()
        );
        insta::assert_snapshot!(human(&report));
    });
}

/// Every diagnostic code has an `err` fixture named after it that produces it (these are also the examples
/// in docs/diagnostics.md).
#[test]
fn every_code_has_a_fixture_that_triggers_it() {
    // Produced when a plan is compiled for `serve` (they need backends or the executor), tested in apim-exec.
    const COMPILE_ONLY: &[Code] = &[Code::PolicyNotExecuted, Code::UnknownBackend];
    for code in Code::ALL.iter().filter(|code| !COMPILE_ONLY.contains(code)) {
        let prefix = format!("{}-", code.id());
        let fixture = std::fs::read_dir(root().join("fixtures/policy/err"))
            .expect("err fixtures exist")
            .map(|entry| entry.expect("readable folder").path())
            .find(|path| {
                path.file_name()
                    .is_some_and(|name| name.to_string_lossy().starts_with(&prefix))
            });
        let Some(fixture) = fixture else {
            panic!(
                "no fixtures/policy/err/{prefix}*.xml for {}",
                code.summary()
            )
        };
        let report = check_fixture(&fixture);
        assert!(
            report
                .files
                .iter()
                .flat_map(|file| &file.diagnostics)
                .any(|diagnostic| diagnostic.code == *code),
            "{} does not produce {}:\n{}",
            fixture.display(),
            code.id(),
            human(&report)
        );
    }
}

/// The example policies in `policies/` validate without a single diagnostic.
#[test]
fn example_policies_validate_clean() {
    let report = check(&["policies"], |_| {});
    assert!(
        report.files.len() >= 3,
        "expected the example policies, found {}",
        report.files.len()
    );
    let n_diagnostics: usize = report.files.iter().map(|file| file.diagnostics.len()).sum();
    assert_eq!(n_diagnostics, 0, "{}", human(&report));
}
