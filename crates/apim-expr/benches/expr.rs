//! Expression speed: a typical retry condition must evaluate in well under 2 µs (it runs after every
//! backend response), and compiling every expression of the corpus must take under a second (it happens
//! when policies load). Run with `cargo bench -p apim-expr`.

use apim_expr::{Context, Engine, Environment};
use criterion::{Criterion, criterion_group, criterion_main};

const RETRY: &str = "@(context.Response.StatusCode == 429 || (context.Response.StatusCode == 503 && !context.Response.StatusReason.Contains(\"Backend pool\") && !context.Response.StatusReason.Contains(\"is temporarily unavailable\")))";

fn retry_condition(c: &mut Criterion) {
    let engine = Engine::default();
    let env = Environment::default();
    let compiled = engine.compile(RETRY).expect("compiles");
    for (name, status, reason) in [
        ("retry condition (429)", 429, "Too Many Requests"),
        (
            "retry condition (503 pool exhausted)",
            503,
            "Backend pool p is temporarily unavailable",
        ),
    ] {
        let ctx = Context::from_json(
            &serde_json::json!({ "response": { "statusCode": status, "statusReason": reason } }),
            &env,
        )
        .expect("context");
        c.bench_function(name, |b| {
            b.iter(|| engine.eval(&compiled, &ctx, &env).expect("evaluates"))
        });
    }
}

/// Every `@(`…`)` / `@{`…`}` in the corpus's policy files (skipped when the corpus is absent).
fn corpus_expressions() -> Vec<String> {
    let dir = std::env::var_os("APIM_EMU_CORPUS")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| {
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/corpus")
        });
    let mut out = Vec::new();
    let mut stack = vec![dir];
    while let Some(d) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else {
            continue;
        };
        for p in entries.flatten().map(|e| e.path()) {
            if p.is_dir() {
                stack.push(p);
            } else if p.extension().is_some_and(|e| e == "xml") {
                let text = std::fs::read_to_string(&p).unwrap_or_default();
                out.extend(
                    apim_policy::scan::prescan(apim_source::FileId(0), &text)
                        .exprs
                        .into_iter()
                        .map(|e| e.text),
                );
            }
        }
    }
    out
}

fn compile_corpus(c: &mut Criterion) {
    let exprs = corpus_expressions();
    if exprs.is_empty() {
        eprintln!("SKIPPED compile-corpus bench: no corpus (set APIM_EMU_CORPUS)");
        return;
    }
    let engine = Engine::default();
    let mut group = c.benchmark_group("load");
    group.sample_size(10);
    group.bench_function(format!("compile {} corpus expressions", exprs.len()), |b| {
        b.iter(|| exprs.iter().filter(|e| engine.compile(e).is_ok()).count())
    });
    group.finish();
}

criterion_group!(benches, retry_condition, compile_corpus);
criterion_main!(benches);
