//! The executor against a scripted upstream on the virtual clock: the seed's failover policy with its ARM
//! backends, pools, retries, errors and on-error, and each policy's observable effect.

mod support;

use std::time::Duration;

use apim_exec::{Clock, Incoming};
use support::*;

const SEED_API: &str = include_str!("../../../policies/foundry-failover/api.xml");
const SEED_BACKENDS: &str = include_str!("../../../policies/foundry-failover/backends.json");

fn seed() -> Harness {
    harness(
        SEED_API,
        None,
        backends(
            SEED_BACKENDS,
            &[
                ("primaryUrl", "http://primary.local/openai"),
                ("backupUrl", "http://backup.local/openai"),
            ],
        ),
    )
}

fn header<'a>(headers: &'a [(String, String)], name: &str) -> Option<&'a str> {
    headers
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_str())
}

#[test]
fn seed_failover_primary_throttled_then_backup_then_primary_again() {
    let h = seed();
    h.upstream.script(
        "foundry-primary",
        vec![
            Answer::Status(
                429,
                vec![("Retry-After", "10")],
                "{\"error\":\"throttled\"}",
            ),
            ok("{\"from\":\"primary\"}"),
        ],
    );
    h.upstream
        .script("foundry-backup", vec![ok("{\"from\":\"backup\"}")]);

    // Primary answers 429 (Retry-After: 10) → its breaker trips → the retry goes through the pool to the backup.
    let first = h.run(post("{\"messages\":[]}"));
    assert_eq!(first.status, 200, "{:#?}", first.trace);
    assert_eq!(first.body.as_deref(), Some("{\"from\":\"backup\"}"));
    assert_eq!(
        (
            h.upstream.seen_by("foundry-primary"),
            h.upstream.seen_by("foundry-backup")
        ),
        (1, 1)
    );
    // The body was buffered (buffer-request-body="true") and reached the backup too.
    assert_eq!(
        h.upstream.seen()[1].body.as_deref(),
        Some("{\"messages\":[]}")
    );

    // The next request skips the open primary without touching it.
    let second = h.run(post("{}"));
    assert_eq!(second.body.as_deref(), Some("{\"from\":\"backup\"}"));
    assert_eq!(h.upstream.seen_by("foundry-primary"), 1);

    // After the Retry-After time the primary is back.
    h.advance(Duration::from_secs(10));
    let third = h.run(post("{}"));
    assert_eq!(
        third.body.as_deref(),
        Some("{\"from\":\"primary\"}"),
        "{:#?}",
        third.trace
    );
    assert_eq!(h.upstream.seen_by("foundry-primary"), 2);
}

#[test]
fn every_member_failing_gives_the_pool_503_without_calling_a_backend() {
    let h = seed();
    h.upstream
        .script("foundry-primary", vec![Answer::Status(503, vec![], "down")]);
    h.upstream
        .script("foundry-backup", vec![Answer::Status(500, vec![], "down")]);
    let first = h.run(post("{}"));
    // Each member tried once (both trip on 5xx), then the pool has nobody: 503.
    assert_eq!(
        (
            h.upstream.seen_by("foundry-primary"),
            h.upstream.seen_by("foundry-backup")
        ),
        (1, 1)
    );
    assert_eq!(first.status, 503, "{:#?}", first.trace);
    assert_eq!(
        first.reason,
        "Backend pool foundry-model-pool is temporarily unavailable"
    );
    let second = h.run(post("{}"));
    assert_eq!(second.status, 503);
    assert_eq!(
        h.upstream.seen().len(),
        2,
        "no backend is called while every member is open"
    );
}

#[test]
fn managed_identity_token_reaches_the_backend_and_the_client_key_does_not() {
    let h = seed();
    h.upstream.script("foundry-primary", vec![ok("{}")]);
    h.run(post("{}"));
    let sent = &h.upstream.seen()[0];
    let auth = header(&sent.headers, "Authorization").expect("Authorization sent");
    let token = auth.strip_prefix("Bearer ").expect("a bearer token");
    let payload = token.split('.').nth(1).expect("a JWT");
    use base64::Engine as _;
    let claims: serde_json::Value = serde_json::from_slice(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(payload)
            .expect("base64url"),
    )
    .expect("JSON claims");
    assert_eq!(claims["aud"], "https://cognitiveservices.azure.com");
    assert_eq!(header(&sent.headers, "api-key"), None);
    assert_eq!(
        sent.url,
        "http://primary.local/openai/deployments/gpt-4o/chat/completions?api-version=2024-10-21"
    );
    assert_eq!(header(&sent.headers, "Host"), Some("primary.local"));
    assert_eq!(header(&sent.headers, "X-Forwarded-For"), Some("10.0.0.7"));
}

const RETRY_UNBUFFERED: &str = r#"<policies>
  <inbound><base /><set-backend-service base-url="http://echo.local/api" /></inbound>
  <backend>
    <retry condition="@(context.Response.StatusCode == 503)" count="1" interval="1">
      <forward-request />
    </retry>
  </backend>
  <outbound><base /></outbound>
</policies>"#;

#[test]
fn an_unbuffered_retry_does_not_replay_the_body_and_a_buffered_one_does() {
    for (policy, replayed) in [
        (RETRY_UNBUFFERED.to_string(), false),
        (
            RETRY_UNBUFFERED.replace(
                "<forward-request />",
                "<forward-request buffer-request-body=\"true\" />",
            ),
            true,
        ),
    ] {
        let h = harness(&policy, None, Default::default());
        h.upstream.script(
            "echo.local",
            vec![Answer::Status(503, vec![], ""), ok("done")],
        );
        let out = h.run(post("{\"prompt\":\"hi\"}"));
        assert_eq!(out.status, 200);
        let seen = h.upstream.seen();
        assert_eq!(seen.len(), 2);
        assert_eq!(seen[0].body.as_deref(), Some("{\"prompt\":\"hi\"}"));
        assert_eq!(seen[1].body.is_some(), replayed, "replayed = {replayed}");
        assert_eq!(
            out.trace.iter().any(|t| t.contains("not replayed")),
            !replayed,
            "{:#?}",
            out.trace
        );
        // interval="1": one second of virtual time passed.
        assert_eq!(h.clock.as_ref().now(), Duration::from_secs(1));
    }
}

const ROUTER: &str = r#"<policies>
  <inbound>
    <base />
    <set-variable name="tier" value="@(context.Request.Headers.GetValueOrDefault("x-tier", "basic"))" />
    <choose>
      <when condition="@((string)context.Variables["tier"] == "blocked")">
        <return-response>
          <set-status code="403" reason="Forbidden" />
          <set-header name="x-why" exists-action="override"><value>@("tier " + context.Variables["tier"])</value></set-header>
          <set-body>{"error":"blocked"}</set-body>
        </return-response>
      </when>
      <when condition="@((string)context.Variables["tier"] == "premium")">
        <set-backend-service base-url="http://premium.local" />
      </when>
      <otherwise>
        <set-backend-service base-url="http://basic.local" />
      </otherwise>
    </choose>
    <set-header name="x-tier" exists-action="delete" />
    <set-header name="x-added" exists-action="append"><value>a</value><value>b</value></set-header>
    <set-query-parameter name="api-version" exists-action="override"><value>2025-01-01</value></set-query-parameter>
    <set-method>PUT</set-method>
    <authentication-basic username="user" password="pa:ss" />
  </inbound>
  <backend><base /></backend>
  <outbound>
    <base />
    <set-header name="x-backend-status" exists-action="override"><value>@(context.Response.StatusCode.ToString())</value></set-header>
    <set-status code="201" reason="Made" />
    <set-body>@(context.Response.Body.As<string>().ToUpper())</set-body>
  </outbound>
</policies>"#;

fn with_header(mut incoming: Incoming, name: &str, value: &str) -> Incoming {
    incoming.headers.push((name.into(), value.into()));
    incoming
}

#[test]
fn choose_routes_and_return_response_ends_the_pipeline() {
    let h = harness(ROUTER, None, Default::default());
    h.upstream.script("premium.local", vec![ok("premium")]);
    h.upstream.script("basic.local", vec![ok("basic")]);

    let blocked = h.run(with_header(post("{}"), "x-tier", "blocked"));
    assert_eq!(
        (blocked.status, blocked.reason.as_str()),
        (403, "Forbidden")
    );
    assert_eq!(header(&blocked.headers, "x-why"), Some("tier blocked"));
    assert_eq!(blocked.body.as_deref(), Some("{\"error\":\"blocked\"}"));
    assert!(
        h.upstream.seen().is_empty(),
        "return-response calls no backend"
    );

    let premium = h.run(with_header(post("{}"), "x-tier", "premium"));
    assert_eq!(premium.status, 201);
    assert_eq!(premium.body.as_deref(), Some("PREMIUM"));
    assert_eq!(header(&premium.headers, "x-backend-status"), Some("200"));
    let sent = &h.upstream.seen()[0];
    assert_eq!(sent.method, "PUT");
    assert_eq!(
        sent.url,
        "http://premium.local/deployments/gpt-4o/chat/completions?api-version=2025-01-01"
    );
    assert_eq!(header(&sent.headers, "x-tier"), None);
    let added: Vec<&str> = sent
        .headers
        .iter()
        .filter(|(n, _)| n == "x-added")
        .map(|(_, v)| v.as_str())
        .collect();
    assert_eq!(added, ["a", "b"]);
    assert_eq!(
        header(&sent.headers, "Authorization"),
        Some("Basic dXNlcjpwYTpzcw==")
    );

    let basic = h.run(post("{}"));
    assert_eq!(basic.body.as_deref(), Some("BASIC"));
}

const FAILING: &str = r#"<policies>
  <inbound>
    <base />
    <set-backend-service base-url="http://svc.local" />
    <set-variable name="n" value="@(int.Parse(context.Request.Headers.GetValueOrDefault("x-n", "")))" id="parse-n" />
  </inbound>
  <backend><base /></backend>
  <outbound><base /></outbound>
  <on-error>
    <set-status code="400" reason="Bad n" />
    <set-header name="x-error" exists-action="override">
      <value>@(context.LastError.Source + "|" + context.LastError.Reason + "|" + context.LastError.Section + "|" + context.LastError.Path + "|" + context.LastError.PolicyId + "|" + context.LastError.Scope)</value>
    </set-header>
  </on-error>
</policies>"#;

#[test]
fn an_expression_failure_goes_to_on_error_with_last_error() {
    let h = harness(FAILING, None, Default::default());
    let out = h.run(post("{}"));
    assert_eq!((out.status, out.reason.as_str()), (400, "Bad n"));
    assert_eq!(
        header(&out.headers, "x-error"),
        Some("set-variable|ExpressionValueEvaluationFailure|inbound|set-variable[1]|parse-n|api")
    );
    assert!(
        out.last_error
            .as_ref()
            .is_some_and(|e| e.message.starts_with("Expression evaluation failed."))
    );
    assert!(h.upstream.seen().is_empty());

    // Without on-error the client gets APIM's 500.
    let bare = FAILING
        .split("<on-error>")
        .next()
        .expect("policy head")
        .to_string()
        + "</policies>";
    let h = harness(&bare, None, Default::default());
    let out = h.run(post("{}"));
    assert_eq!(out.status, 500);
    let body: serde_json::Value =
        serde_json::from_str(out.body.as_deref().expect("a body")).expect("JSON");
    assert_eq!(body["statusCode"], 500);
    assert_eq!(body["message"], "Internal server error");
}

#[test]
fn backend_timeouts_and_refused_connections_are_errors() {
    for (answer, reason) in [
        (Answer::Timeout, "Timeout"),
        (Answer::Refused, "BackendConnectionFailure"),
    ] {
        let policy = r#"<policies><inbound><base /><set-backend-service base-url="http://slow.local" /></inbound>
            <backend><forward-request timeout="5" /></backend>
            <on-error><set-header name="x-reason" exists-action="override"><value>@(context.LastError.Reason)</value></set-header></on-error></policies>"#;
        let h = harness(policy, None, Default::default());
        h.upstream.script("slow.local", vec![answer]);
        let out = h.run(post("{}"));
        assert_eq!(out.status, 500);
        assert_eq!(header(&out.headers, "x-reason"), Some(reason));
        assert_eq!(h.upstream.seen()[0].timeout, Duration::from_secs(5));
    }
}

#[test]
fn fail_on_error_status_code_sends_backend_errors_to_on_error() {
    let policy = r#"<policies><inbound><base /><set-backend-service base-url="http://svc.local" /></inbound>
        <backend><forward-request fail-on-error-status-code="true" /></backend>
        <outbound><set-header name="x-outbound" exists-action="override"><value>ran</value></set-header></outbound>
        <on-error><set-header name="x-source" exists-action="override"><value>@(context.LastError.Source + " " + context.Response.StatusCode)</value></set-header></on-error></policies>"#;
    let h = harness(policy, None, Default::default());
    h.upstream
        .script("svc.local", vec![Answer::Status(404, vec![], "nope")]);
    let out = h.run(post("{}"));
    assert_eq!(
        header(&out.headers, "x-source"),
        Some("forward-request 404")
    );
    assert_eq!(
        header(&out.headers, "x-outbound"),
        None,
        "outbound does not run after an error"
    );
}

const POOL: &str = r#"{
  "$schema": "https://schema.management.azure.com/schemas/2019-04-01/deploymentTemplate.json#",
  "contentVersion": "1.0.0.0",
  "resources": [
    { "copy": { "name": "m", "count": 4 }, "type": "Microsoft.ApiManagement/service/backends", "apiVersion": "2024-05-01",
      "name": "[format('apim/m{0}', copyIndex())]", "properties": { "url": "[format('http://m{0}.local', copyIndex())]", "protocol": "http" } },
    { "type": "Microsoft.ApiManagement/service/backends", "apiVersion": "2024-05-01", "name": "apim/even",
      "properties": { "type": "Pool", "pool": { "services": [ { "id": "/backends/m0" }, { "id": "/backends/m1" }, { "id": "/backends/m2" } ] } } },
    { "type": "Microsoft.ApiManagement/service/backends", "apiVersion": "2024-05-01", "name": "apim/tiers",
      "properties": { "type": "Pool", "pool": { "services": [
        { "id": "/backends/m0", "priority": 1, "weight": 3 }, { "id": "/backends/m1", "priority": 1, "weight": 1 },
        { "id": "/backends/m2", "priority": 2 }, { "id": "/backends/m3", "priority": 2 } ] } } }
  ]
}"#;

fn pool_policy(pool: &str) -> String {
    format!(
        r#"<policies><inbound><base /><set-backend-service backend-id="{pool}" /></inbound><backend><base /></backend></policies>"#
    )
}

#[test]
fn round_robin_spreads_evenly_and_weights_split_proportionally() {
    let h = harness(&pool_policy("even"), None, backends(POOL, &[]));
    for _ in 0..9 {
        assert_eq!(
            h.run(post("{}")).status,
            404,
            "unscripted backends answer 404"
        );
    }
    assert_eq!(
        [
            h.upstream.seen_by("m0"),
            h.upstream.seen_by("m1"),
            h.upstream.seen_by("m2")
        ],
        [3, 3, 3]
    );

    let h = harness(&pool_policy("tiers"), None, backends(POOL, &[]));
    for _ in 0..8 {
        h.run(post("{}"));
    }
    // Priority 1 only (3:1), the lower-priority group is untouched.
    assert_eq!([h.upstream.seen_by("m0"), h.upstream.seen_by("m1")], [6, 2]);
    assert_eq!(h.upstream.seen_by("m2") + h.upstream.seen_by("m3"), 0);
}

#[test]
fn unsupported_policies_are_refused_unless_skipped() {
    let policy =
        r#"<policies><inbound><xml-to-json kind="direct" apply="always" /></inbound></policies>"#;
    let options = apim_policy::read::ParseOptions::default();
    let doc = apim_policy::parse(apim_source::FileId(0), policy, &options)
        .document
        .expect("parses");
    let scopes = [apim_policy::compose::ScopedDocument {
        scope: apim_policy::spec::Scope::Api,
        document: &doc,
    }];
    for skip in [false, true] {
        let (plan, diagnostics) = apim_exec::compile(
            &scopes,
            std::sync::Arc::new(apim_expr::Engine::default()),
            &apim_exec::CompileOptions {
                named_values: Default::default(),
                fragments: Default::default(),
                skip_unsupported: skip,
                backends: Vec::new(),
            },
        );
        assert_eq!(plan.is_some(), skip);
        assert_eq!(diagnostics.len(), 1);
        assert_eq!(diagnostics[0].code, apim_source::Code::PolicyNotExecuted);
    }
}

#[test]
fn an_unknown_backend_id_is_refused_at_compile_time() {
    let options = apim_policy::read::ParseOptions::default();
    let doc = apim_policy::parse(apim_source::FileId(0), &pool_policy("nope"), &options)
        .document
        .expect("parses");
    let scopes = [apim_policy::compose::ScopedDocument {
        scope: apim_policy::spec::Scope::Api,
        document: &doc,
    }];
    let (plan, diagnostics) = apim_exec::compile(
        &scopes,
        std::sync::Arc::new(apim_expr::Engine::default()),
        &apim_exec::CompileOptions {
            named_values: Default::default(),
            fragments: Default::default(),
            skip_unsupported: false,
            backends: vec!["even".into()],
        },
    );
    assert!(plan.is_none());
    assert_eq!(diagnostics[0].code, apim_source::Code::UnknownBackend);
    assert!(
        diagnostics[0]
            .help
            .as_deref()
            .is_some_and(|h| h.contains("even"))
    );
}

/// The support matrix (`executes` in apim-policy, shown in docs/policies.md) says exactly what the executor runs.
#[test]
fn the_support_matrix_matches_the_executor() {
    let mut documented: Vec<&str> = apim_policy::policies::REGISTRY
        .iter()
        .filter(|entry| entry.info.executes)
        .map(|entry| entry.spec.name)
        .collect();
    documented.sort();
    assert_eq!(documented, apim_exec::EXECUTED);
}

#[test]
fn a_connection_failure_looks_like_a_500_to_the_retry_condition() {
    let policy = r#"<policies><inbound><base /><set-backend-service base-url="http://flaky.local" /></inbound>
        <backend><retry condition="@(context.Response.StatusCode >= 500)" count="2" interval="0"><forward-request /></retry></backend></policies>"#;
    let h = harness(policy, None, Default::default());
    h.upstream.script(
        "flaky.local",
        vec![Answer::Refused, Answer::Timeout, ok("recovered")],
    );
    let out = h.run(post("{}"));
    assert_eq!(out.status, 200, "{:#?}", out.trace);
    assert_eq!(out.body.as_deref(), Some("recovered"));
    assert_eq!(h.upstream.seen().len(), 3);
}
