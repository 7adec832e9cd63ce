//! Criterion bench: parse and validate every policy XML in the corpus (../shared/corpus or $APIM_EMU_CORPUS),
//! the same work `apim-emu validate` does per file minus I/O. The target is "well under a second" for the
//! whole corpus in release; this measures it instead of asserting a time in a test.

use apim_policy::{ParseOptions, parse};
use apim_source::FileId;
use criterion::{Criterion, criterion_group, criterion_main};

fn corpus() -> Vec<String> {
    let dir = std::env::var_os("APIM_EMU_CORPUS")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| {
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/corpus")
        });
    let mut texts = Vec::new();
    let mut stack = vec![dir];
    while let Some(dir) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            if path.is_dir() {
                stack.push(path);
            } else if path.extension().is_some_and(|ext| ext == "xml")
                && let Ok(text) = std::fs::read_to_string(&path)
            {
                texts.push(text);
            }
        }
    }
    if texts.is_empty() {
        eprintln!("no corpus found: benchmarking the example policies only");
        texts.push(include_str!("../../../policies/foundry-failover/api.xml").to_string());
        texts.push(include_str!("../../../policies/openai-load-balancing/api.xml").to_string());
    }
    texts
}

fn validate_corpus(criterion: &mut Criterion) {
    let texts = corpus();
    let bytes: usize = texts.iter().map(String::len).sum();
    eprintln!("corpus: {} files, {} KiB", texts.len(), bytes / 1024);
    let options = ParseOptions::default();
    criterion.bench_function("validate whole corpus", |bencher| {
        bencher.iter(|| {
            let mut n_diagnostics = 0;
            for (idx, text) in texts.iter().enumerate() {
                n_diagnostics += parse(FileId(idx as u32), text, &options).diagnostics.len();
            }
            n_diagnostics
        })
    });
}

criterion_group!(benches, validate_corpus);
criterion_main!(benches);
