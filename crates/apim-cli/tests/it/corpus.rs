//! Every policy XML in the real-world corpus (../shared/corpus, or $APIM_EMU_CORPUS) validates without
//! errors, except the files that are genuinely broken upstream, each named here with its defect and the
//! diagnostic it must produce. Warnings (unresolved named values and fragments: deployment-time inputs) are
//! fine. Skips loudly when the corpus is absent.

use apim_source::Code;

use crate::{check, human, root};

/// Files broken upstream: (path inside the corpus, expected code, the defect).
const BROKEN_UPSTREAM: &[(&str, Code, &str)] = &[
    (
        "apim-policy-snippets/examples/Call out to an HTTP endpoint and cache the response.policy.xml",
        Code::UnbalancedExpression,
        "an XML tool rewrote its quotes (`Variables[\"latlong=\"\"\"]`), so the rewrite-uri expression never closes",
    ),
    (
        "apim-policy-snippets/examples/Filter response content based on product name.policy.xml",
        Code::XmlSyntax,
        "its first comment is never closed before the next `<!--`, so it contains `--`, which XML forbids",
    ),
    (
        "apim-policy-snippets/examples/Return a blob URL signed with a user delegation SAS token.xml",
        Code::ExpressionMemberNotAllowed,
        "its set-body expression uses `System.Xml.XmlDocument`, which is not on APIM's documented allow-list \
         (only `System.Xml.Linq` and `System.Xml.XmlNodeType` are)",
    ),
];

fn corpus_dir() -> Option<std::path::PathBuf> {
    let dir = std::env::var_os("APIM_EMU_CORPUS")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| root().join("../shared/corpus"));
    dir.is_dir().then_some(dir)
}

#[test]
fn corpus_validates_except_known_broken_files() {
    let Some(dir) = corpus_dir() else {
        eprintln!(
            "SKIPPED corpus test: no corpus at ../shared/corpus and APIM_EMU_CORPUS is not set"
        );
        return;
    };
    let report = check(&[dir.to_str().expect("UTF-8 path")], |_| {});
    eprintln!(
        "corpus: read {} policy files ({} other files skipped): {} errors, {} warnings",
        report.files.len(),
        report.skipped.len(),
        report.n_errors(),
        report.n_warnings()
    );
    assert!(
        report.files.len() >= 100,
        "expected the corpus's policy files, read {}",
        report.files.len()
    );
    let mut unexpected = Vec::new();
    for file in &report.files {
        let relative = std::path::Path::new(&file.path)
            .strip_prefix(&dir)
            .map(|path| path.to_string_lossy().into_owned())
            .unwrap_or_else(|_| file.path.clone());
        let errors: Vec<_> = file
            .diagnostics
            .iter()
            .filter(|diagnostic| diagnostic.is_error())
            .collect();
        match BROKEN_UPSTREAM
            .iter()
            .find(|(path, _, _)| *path == relative)
        {
            Some((_, code, defect)) => assert!(
                errors.iter().any(|diagnostic| diagnostic.code == *code),
                "{relative} is broken upstream ({defect}) and must report {}",
                code.id()
            ),
            None if !errors.is_empty() => unexpected.push(relative),
            None => {}
        }
    }
    assert!(
        unexpected.is_empty(),
        "unexpected errors in {unexpected:#?}\n{}",
        human(&report)
    );
    for (path, _, _) in BROKEN_UPSTREAM {
        assert!(
            dir.join(path).is_file(),
            "named broken file {path} is missing from the corpus"
        );
    }
}
