//! The sandbox: whatever an expression does, the result is a value, a .NET exception or a located error,
//! never a crash or a hang. Runs on threads with small stacks, as a tokio worker or a test thread would.

use apim_expr::{Context, Engine, Environment, ErrorKind};

fn context() -> Context {
    Context::from_json(&serde_json::json!({}), &Environment::default()).expect("empty context")
}

/// Compiles and evaluates on a thread with a 256 KiB stack: `Ok(json)`, `Err(exception or load error)`.
fn run_small_stack(text: String) -> Result<String, String> {
    std::thread::Builder::new()
        .stack_size(256 * 1024)
        .spawn(move || {
            let engine = Engine::default();
            let compiled = engine
                .compile(&text)
                .map_err(|e| format!("{:?}: {}", e.kind, e.message))?;
            engine
                .eval(&compiled, &context(), &Environment::default())
                .map(|v| v.to_json())
                .map_err(|e| e.exception)
        })
        .expect("thread starts")
        .join()
        .expect("no panic")
}

const SHAPES: &[(&str, &str)] = &[
    ("(", ")"),
    ("Math.Abs(", ")"),
    ("new [] {", "}[0]"),
    ("-(", ")"),
    ("(1 + ", ")"),
    ("context.Variables.GetValueOrDefault<int>(\"a\", ", ")"),
    ("(true ? ", " : 0)"),
    ("new JArray(", ").Count"),
];

#[test]
fn deep_nesting_within_the_limit_evaluates_on_a_small_stack() {
    for (open, close) in SHAPES {
        let text = format!("@({}1{})", open.repeat(80), close.repeat(80));
        let r = run_small_stack(text);
        assert!(r.is_ok(), "{open}…{close} ×80: {r:?}");
    }
}

#[test]
fn nesting_beyond_the_limit_is_a_located_error_not_a_stack_overflow() {
    for n in [129, 1_000, 5_000] {
        for (open, close) in SHAPES {
            let text = format!("@({}1{})", open.repeat(n), close.repeat(n));
            let r = run_small_stack(text);
            assert!(
                r.as_ref().is_err_and(|e| e.starts_with("Limit")),
                "{open}…{close} ×{n}: {r:?}"
            );
        }
    }
    let e = Engine::default()
        .compile(&format!("@({}1{})", "(".repeat(200), ")".repeat(200)))
        .expect_err("too deep");
    assert_eq!(e.kind, ErrorKind::Limit);
    assert!(
        e.range.start > 100 && e.range.start < 200,
        "points into the nesting: {:?}",
        e.range
    );
}

#[test]
fn long_flat_chains_are_not_nesting() {
    let chain = vec!["context.Request.Method == \"GET\""; 1_000].join(" && ");
    assert_eq!(run_small_stack(format!("@({chain})")), Ok("true".into()));
    let absurd = vec!["true"; 20_000].join(" && ");
    let r = run_small_stack(format!("@({absurd})"));
    assert!(r.as_ref().is_err_and(|e| e.starts_with("Limit")), "{r:?}");
    let sum = vec!["1"; 1_000].join(" + ");
    assert_eq!(run_small_stack(format!("@({sum})")), Ok("1000".into()));
    let block = "x += 1; ".repeat(3_000);
    assert_eq!(
        run_small_stack(format!("@{{ int x = 0; {block} return x; }}")),
        Ok("3000".into())
    );
}

#[test]
fn an_endless_loop_hits_the_operation_limit() {
    for text in [
        "@{ while (true) { } }",
        "@{ int i = 0; for (;;) { i++; } }",
        "@{ var s = \"\"; while (s.Length >= 0) { s = s + \"\"; } return s; }",
    ] {
        assert_eq!(
            run_small_stack(text.into()),
            Err("SandboxLimitExceeded".into()),
            "{text}"
        );
    }
}

#[test]
fn runaway_strings_and_collections_hit_the_size_limits() {
    for text in [
        "@{ var s = \"x\"; while (true) { s = s + s; } }",
        "@{ var l = new List<int>(); while (true) { l.Add(1); } }",
        "@(new string('x', int.MaxValue))",
        "@(string.Concat(Enumerable.Repeat(\"abcdefgh\", 100000000)))",
    ] {
        let r = run_small_stack(text.into());
        assert!(
            matches!(
                r.as_ref().map_err(String::as_str),
                Err("SandboxLimitExceeded" | "OutOfMemoryException")
            ),
            "{text}: {r:?}"
        );
    }
}
