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
    // Produced when a plan is compiled for `serve` (it needs the executor), tested in apim-exec.
    const COMPILE_ONLY: &[Code] = &[Code::PolicyNotExecuted];
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

/// `validate` on absolute paths.
fn validate_paths(paths: Vec<std::path::PathBuf>) -> apim_cli::validate::Report {
    let options = apim_cli::validate::Options {
        paths,
        format: apim_cli::validate::Format::Human,
        fragments: None,
        named_values: Vec::new(),
        strict: false,
        style: apim_cli::render::Style { color: false },
    };
    apim_cli::validate::check(&options).expect("validate runs")
}

/// A literal `set-backend-service backend-id` is checked against the backends of the templates validated with
/// it (APIM refuses to save a policy naming a backend that does not exist), and only then.
#[test]
fn backend_ids_are_checked_against_the_templates_validated_with_them() {
    let dir = std::env::temp_dir().join(format!("apim-emu-backend-ids-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("temp dir");
    let template = root().join("fixtures/policy/err/P041-unknown-backend/backends.json");
    let policy = |name: &str, set_backend: &str| {
        let path = dir.join(name);
        std::fs::write(
            &path,
            format!(
                "<policies>\n<inbound>\n<base />\n{set_backend}\n</inbound>\n<backend>\n<forward-request />\n</backend>\n</policies>\n"
            ),
        )
        .expect("write");
        path
    };
    let p041 = |paths: Vec<std::path::PathBuf>| -> Vec<String> {
        validate_paths(paths)
            .files
            .iter()
            .flat_map(|file| &file.diagnostics)
            .filter(|diagnostic| diagnostic.code == Code::UnknownBackend)
            .map(|diagnostic| diagnostic.message.clone())
            .collect()
    };

    let typo = policy(
        "typo.xml",
        r#"<set-backend-service backend-id="openai-pol" />"#,
    );
    assert_eq!(
        p041(vec![typo.clone(), template.clone()]),
        ["backend `openai-pol` is not defined"]
    );
    // Without a template there is nothing to check against.
    assert!(p041(vec![typo.clone()]).is_empty());
    // Entity ids compare without regard to case; expressions and the Dapr form are not backend names.
    for (name, element) in [
        (
            "case.xml",
            r#"<set-backend-service backend-id="OPENAI-POOL" />"#,
        ),
        (
            "expr.xml",
            r#"<set-backend-service backend-id="@((string)context.Variables["b"])" />"#,
        ),
        (
            "dapr.xml",
            r#"<set-backend-service backend-id="dapr" dapr-app-id="orders" dapr-method="list" />"#,
        ),
        // A deployment tool's placeholder, filled in before deploying.
        (
            "placeholder.xml",
            r#"<set-backend-service backend-id="{backend-id}" />"#,
        ),
    ] {
        let path = policy(name, element);
        assert!(
            p041(vec![path, template.clone()]).is_empty(),
            "{name} is accepted"
        );
    }
    // A template whose backend names cannot be computed: a backend may hide there, so no check.
    let unknown_name = dir.join("unknown-name.json");
    std::fs::write(
        &unknown_name,
        r#"{"resources": [{"type": "Microsoft.ApiManagement/service/backends", "apiVersion": "2024-06-01-preview",
            "name": "[concat('apim/', reference('x').name)]", "properties": {"url": "https://a.example"}}]}"#,
    )
    .expect("write");
    assert!(p041(vec![typo, template.clone(), unknown_name]).is_empty());

    // In folders, a template goes with the policies of its folder and below (the nearest folder that has
    // templates wins); an APIOps backend goes with the whole artifacts folder.
    let tree = dir.join("tree");
    let put = |relative: &str, text: &str| {
        let path = tree.join(relative);
        std::fs::create_dir_all(path.parent().expect("a parent")).expect("folders");
        std::fs::write(path, text).expect("write");
    };
    let typo_policy = std::fs::read_to_string(dir.join("typo.xml")).expect("read");
    let backends = std::fs::read_to_string(&template).expect("read");
    put("with/backends.json", &backends);
    put("with/api.xml", &typo_policy);
    put("with/operations/get/policy.xml", &typo_policy);
    put("without/api.xml", &typo_policy);
    let apiops_backend =
        root().join("fixtures/arm/ok/apiops/backends/orders/backendInformation.json");
    put(
        "apiops/backends/orders/backendInformation.json",
        &std::fs::read_to_string(apiops_backend).expect("read"),
    );
    put(
        "apiops/apis/orders/policy.xml",
        &typo_policy.replace("openai-pol", "order"),
    );
    let mut flagged: Vec<String> = validate_paths(vec![tree.clone()])
        .files
        .iter()
        .filter(|file| {
            file.diagnostics
                .iter()
                .any(|diagnostic| diagnostic.code == Code::UnknownBackend)
        })
        .map(|file| {
            std::path::Path::new(&file.path)
                .strip_prefix(&tree)
                .expect("inside the tree")
                .to_string_lossy()
                .into_owned()
        })
        .collect();
    flagged.sort();
    assert_eq!(
        flagged,
        [
            "apiops/apis/orders/policy.xml",
            "with/api.xml",
            "with/operations/get/policy.xml"
        ]
    );
    let _ = std::fs::remove_dir_all(&dir);
}
