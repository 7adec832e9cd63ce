//! Golden `apim-emu eval --explain` traces of the retry conditions in the example policies (the seeds'
//! failover and load-balancing setups), against the responses that decide a retry: throttling, a failing
//! backend, an exhausted pool, success, and no response at all. Each trace shows every member access,
//! operator and call with its value, and marks the short-circuited parts as not evaluated.

use apim_cli::eval::{self, Options};

use crate::root;

/// The `condition` of the first `<retry>` in a policy file, as the policy reader decodes it.
fn retry_condition(policy: &str) -> String {
    let text = std::fs::read_to_string(root().join(policy)).expect("policy file");
    let parsed = apim_policy::parse(
        apim_source::FileId(0),
        &text,
        &apim_policy::ParseOptions::default(),
    );
    let retry_at = text.find("<retry").expect("the policy has a retry");
    parsed
        .expressions
        .into_iter()
        .find(|expr| expr.span.start() as usize > retry_at)
        .expect("the retry has a condition")
        .text
}

fn explain(expression: &str, context: &str) -> String {
    let options = Options {
        expression: expression.to_string(),
        context: Some(root().join("fixtures/expr/explain").join(context)),
        named_values: Vec::new(),
        explain: true,
        strict_variables: false,
    };
    let (mut out, mut err) = (Vec::new(), Vec::new());
    let code = eval::run(&options, &mut out, &mut err).expect("eval runs");
    format!(
        "exit {code}\n--- stdout\n{}--- stderr (the trace)\n{}",
        String::from_utf8_lossy(&out),
        String::from_utf8_lossy(&err)
    )
}

const CONTEXTS: &[&str] = &[
    "429-throttled.json",
    "503-backend.json",
    "503-pool-exhausted.json",
    "200-ok.json",
    "no-response.json",
];

#[test]
fn foundry_failover_retry_condition() {
    let condition = retry_condition("policies/foundry-failover/api.xml");
    for context in CONTEXTS {
        insta::assert_snapshot!(
            format!("foundry-failover@{context}"),
            explain(&condition, context),
            &condition
        );
    }
}

#[test]
fn openai_load_balancing_retry_condition() {
    let condition = retry_condition("policies/openai-load-balancing/api.xml");
    for context in CONTEXTS {
        insta::assert_snapshot!(
            format!("openai-load-balancing@{context}"),
            explain(&condition, context),
            &condition
        );
    }
}

/// A condition that throws: the nodes the exception passed through are marked as having thrown it, the parts
/// after it as not evaluated, and the failure is reported with its location.
#[test]
fn a_part_that_throws_is_marked_as_thrown() {
    let trace = explain(
        "@(context.Response.Headers.GetValueOrDefault(\"x-ms-retry-after\", \"x\") != \"\" && int.Parse(context.Response.Headers.GetValueOrDefault(\"x-ms-retry-after\", \"x\")) > 2 || context.Response.StatusCode == 503)",
        "429-throttled.json",
    );
    assert!(
        trace.contains("int.Parse(context.Response.Headers.GetValueOrDefault(\"x-ms-retry-after\", \"x\")) (threw FormatException)"),
        "{trace}"
    );
    assert!(
        trace.contains("context.Response.StatusCode == 503 (not evaluated)"),
        "{trace}"
    );
    assert!(!trace.contains("int.Parse(context.Response.Headers.GetValueOrDefault(\"x-ms-retry-after\", \"x\")) (not evaluated)"), "{trace}");
    insta::assert_snapshot!(trace);
}
