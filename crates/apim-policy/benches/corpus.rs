//! Criterion bench: parse and validate every policy XML in the corpus (../shared/corpus or $APIM_EMU_CORPUS),
//! the same work `apim-emu validate` does per file minus I/O. The target is "well under a second" for the
//! whole corpus in release; this measures it instead of asserting a time in a test.

use apim_policy::{ParseOptions, parse};
use apim_source::FileId;
use criterion::{Criterion, criterion_group, criterion_main};

#[path = "../tests/support/corpus.rs"]
mod support;

fn corpus() -> Vec<String> {
    let mut texts = support::corpus_texts();
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
