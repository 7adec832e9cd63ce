//! `apim-emu backends` over `fixtures/arm/{ok,err}` (snapshots of the resolved JSON and of the located
//! problems), the seed's failover template, and every ARM template in the corpus (with the committed parameters
//! files of `fixtures/arm/corpus/`).

use apim_cli::backends::{self, Format, Options};
use std::path::{Path, PathBuf};

use crate::root;

/// Arguments in a `.args` sidecar: one token per line (`--param`, `NAME=VALUE`, …).
fn args_of(fixture: &Path) -> Vec<String> {
    let sidecar = fixture.with_extension("args");
    std::fs::read_to_string(sidecar)
        .unwrap_or_default()
        .lines()
        .map(str::to_string)
        .filter(|l| !l.is_empty())
        .collect()
}

fn options(paths: Vec<PathBuf>, args: &[String], format: Format) -> Options {
    let mut o = Options {
        paths,
        params: Vec::new(),
        parameter_files: Vec::new(),
        backend_urls: Vec::new(),
        format,
    };
    let mut it = args.iter();
    while let Some(flag) = it.next() {
        let value = it.next().expect("a value after each flag");
        let pair = || {
            let (n, v) = value.split_once('=').expect("NAME=VALUE");
            (n.to_string(), v.to_string())
        };
        match flag.as_str() {
            "--param" => o.params.push(pair()),
            "--backend-url" => o.backend_urls.push(pair()),
            "--parameters" => o.parameter_files.push(root().join(value)),
            other => panic!("unknown flag {other} in a .args file"),
        }
    }
    o
}

/// Runs in the workspace root's terms: paths relative to it in the output.
fn run(options: &Options) -> (u8, String, String) {
    let (mut out, mut err) = (Vec::new(), Vec::new());
    let code = backends::run(options, &mut out, &mut err).expect("backends runs");
    let strip =
        |b: Vec<u8>| String::from_utf8_lossy(&b).replace(&format!("{}/", root().display()), "");
    (code, strip(out), strip(err))
}

fn fixtures(kind: &str) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(root().join("fixtures/arm").join(kind))
        .expect("fixtures exist")
        .map(|e| e.expect("readable").path())
        .filter(|p| p.is_dir() || p.extension().is_some_and(|e| e == "json"))
        .collect();
    v.sort();
    v
}

#[test]
fn ok_fixtures_resolve_without_problems() {
    let all = fixtures("ok");
    assert!(all.len() >= 4);
    for fixture in all {
        let (code, out, err) = run(&options(
            vec![fixture.clone()],
            &args_of(&fixture),
            Format::Json,
        ));
        assert_eq!(code, 0, "{}:\n{err}", fixture.display());
        assert!(!err.contains("error"), "{}:\n{err}", fixture.display());
        let name = fixture
            .file_stem()
            .expect("a name")
            .to_string_lossy()
            .to_string();
        insta::assert_snapshot!(format!("arm-ok-{name}"), format!("{out}--- stderr\n{err}"));
    }
}

#[test]
fn err_fixtures_report_located_problems() {
    let all = fixtures("err");
    assert!(all.len() >= 6);
    for fixture in all {
        let (code, _, err) = run(&options(
            vec![fixture.clone()],
            &args_of(&fixture),
            Format::Json,
        ));
        // A --backend-url naming no backend is a usage error; everything else is an invalid definition.
        let expected = if err.starts_with("--backend-url:") {
            2
        } else {
            1
        };
        assert_eq!(code, expected, "{}:\n{err}", fixture.display());
        assert!(err.contains("error: "), "{}:\n{err}", fixture.display());
        let name = fixture
            .file_stem()
            .expect("a name")
            .to_string_lossy()
            .to_string();
        insta::assert_snapshot!(format!("arm-err-{name}"), err);
    }
}

fn shared() -> Option<PathBuf> {
    let dir = std::env::var_os("APIM_EMU_SHARED")
        .map(PathBuf::from)
        .unwrap_or_else(|| root().join("../shared"));
    dir.is_dir().then_some(dir)
}

/// The seed's Bicep as `az bicep build` emits it resolves to the failover pool the seed describes.
#[test]
fn seed_failover_template_resolves_to_the_priority_pool() {
    let Some(shared) = shared() else {
        eprintln!("SKIPPED seed test: no ../shared and APIM_EMU_SHARED is not set");
        return;
    };
    let args: Vec<String> = [
        "--param",
        "primaryUrl=http://127.0.0.1:8081",
        "--param",
        "backupUrl=http://127.0.0.1:8082",
    ]
    .map(String::from)
    .to_vec();
    let seed = shared.join("seeds/seed002-backends.arm.json");
    let (code, out, err) = run(&options(vec![seed.clone()], &args, Format::Json));
    assert_eq!(code, 0, "{err}");
    let v: serde_json::Value = serde_json::from_str(&out).expect("JSON output");
    let names: Vec<&str> = v
        .as_array()
        .expect("array")
        .iter()
        .map(|b| b["name"].as_str().expect("name"))
        .collect();
    assert_eq!(
        names,
        ["foundry-primary", "foundry-backup", "foundry-model-pool"]
    );
    assert_eq!(v[0]["properties"]["url"], "http://127.0.0.1:8081");
    assert_eq!(
        v[0]["properties"]["circuitBreaker"]["rules"][0]["failureCondition"]["statusCodeRanges"][1]
            ["min"],
        500
    );
    let pool = &v[2]["properties"];
    assert_eq!(pool["type"], "Pool");
    assert_eq!(pool["pool"]["failureResponse"]["statusCode"], 503);
    let services = pool["pool"]["services"].as_array().expect("services");
    assert!(
        services[0]["id"]
            .as_str()
            .expect("id")
            .ends_with("/backends/foundry-primary")
    );
    assert_eq!(services[0]["priority"], 1);
    assert!(
        services[1]["id"]
            .as_str()
            .expect("id")
            .ends_with("/backends/foundry-backup")
    );
    assert_eq!(services[1]["priority"], 2);
    let (code, table, _) = run(&options(vec![seed], &args, Format::Human));
    assert_eq!(code, 0);
    insta::assert_snapshot!("arm-seed-table", table);
}

/// Every ARM template in the corpus resolves unmodified, given the committed parameters file and
/// `--backend-url` for URLs that come from resources apim-emu does not deploy.
#[test]
fn corpus_templates_resolve_with_committed_parameters() {
    let Some(shared) = shared() else {
        eprintln!("SKIPPED corpus ARM test: no ../shared and APIM_EMU_SHARED is not set");
        return;
    };
    let corpus = shared.join("corpus");
    let mut templates = Vec::new();
    for entry in walkdir::WalkDir::new(&corpus).sort_by_file_name() {
        let entry = entry.expect("readable corpus");
        let p = entry.path();
        if p.extension().is_some_and(|e| e == "json")
            && let Ok(text) = std::fs::read_to_string(p)
            && text.contains("deploymentTemplate.json")
        {
            templates.push(p.to_path_buf());
        }
    }
    assert!(!templates.is_empty(), "the corpus has ARM templates");
    let mut n_backends = 0;
    for t in &templates {
        let relative = t
            .strip_prefix(&corpus)
            .expect("inside the corpus")
            .to_string_lossy()
            .replace('/', "--");
        let stem = relative
            .trim_end_matches(".json")
            .trim_end_matches("--main");
        let params = root()
            .join("fixtures/arm/corpus")
            .join(format!("{stem}.parameters.json"));
        assert!(
            params.is_file(),
            "no committed parameters file {} for {}",
            params.display(),
            t.display()
        );
        let mut args = vec![
            "--parameters".to_string(),
            params
                .strip_prefix(root())
                .expect("in root")
                .to_string_lossy()
                .to_string(),
        ];
        args.extend(args_of(&params.with_file_name(format!("{stem}.json"))));
        let (code, out, err) = run(&options(vec![t.clone()], &args, Format::Json));
        assert_eq!(code, 0, "{}:\n{err}", t.display());
        let v: serde_json::Value = serde_json::from_str(&out).expect("JSON output");
        let n = v.as_array().expect("array").len();
        assert!(n > 0, "{} resolves to no backends", t.display());
        n_backends += n;
        insta::assert_snapshot!(format!("arm-corpus-{stem}"), out);
    }
    eprintln!(
        "corpus: {} ARM templates resolve to {n_backends} backends",
        templates.len()
    );
}
