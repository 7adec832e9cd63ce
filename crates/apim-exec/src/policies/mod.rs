//! The executor side of each policy: its compiled form, how it is compiled from the AST, and how it runs.
//! One module per policy (the parser side is `apim-policy/src/policies/<name>.rs`).

mod authentication;
pub mod authorization_context;
mod cache;
mod check_header;
mod choose;
pub mod content_safety;
pub mod cors;
mod find_and_replace;
mod forward_request;
mod headers;
mod ip_filter;
mod liquid;
pub mod llm_text;
pub mod log_to_eventhub;
mod messages;
pub mod metrics;
pub mod quota;
pub mod rate_limit;
mod requests;
mod retry;
pub mod semantic_cache;
mod set_backend_service;
mod side_call;
pub mod token_limit;
pub mod validate_jwt;

use apim_policy::policies::Policy;
use apim_source::Span;

use crate::Plan;
use crate::compile::{Compiler, Step};
use crate::io::BoxFuture;
use crate::run::{Exchange, Flow, PolicyError, Runtime};

/// A compiled policy.
pub enum Op {
    SetBackendService(set_backend_service::SetBackendService),
    ForwardRequest(forward_request::ForwardRequest),
    Retry(retry::Retry),
    Choose(choose::Choose),
    SetHeader(headers::SetHeader),
    SetQueryParameter(headers::SetQueryParameter),
    SetVariable(messages::SetVariable),
    SetBody(messages::SetBody),
    SetStatus(messages::SetStatus),
    SetMethod(messages::SetMethod),
    ReturnResponse(messages::ReturnResponse),
    Trace(messages::Trace),
    AuthenticationManagedIdentity(authentication::ManagedIdentity),
    AuthenticationBasic(authentication::Basic),
    SendRequest(requests::SendRequest),
    SendOneWayRequest(requests::SendOneWayRequest),
    Wait(requests::Wait),
    CacheStoreValue(cache::Store),
    CacheLookupValue(cache::Lookup),
    CacheRemoveValue(cache::Remove),
    RewriteUri(messages::RewriteUri),
    MockResponse(messages::MockResponse),
    EmitTokenMetric(metrics::EmitTokenMetric),
    TokenLimit(token_limit::TokenLimit),
    RateLimit(rate_limit::RateLimit),
    RateLimitByKey(rate_limit::RateLimitByKey),
    CheckHeader(check_header::CheckHeader),
    FindAndReplace(find_and_replace::FindAndReplace),
    EmitMetric(metrics::EmitMetric),
    LogToEventhub(log_to_eventhub::LogToEventhub),
    ValidateJwt(Box<validate_jwt::ValidateJwt>),
    IpFilter(ip_filter::IpFilter),
    Cors(Box<cors::Cors>),
    Quota(quota::Quota),
    QuotaByKey(Box<quota::QuotaByKey>),
    SemanticCacheLookup(semantic_cache::Lookup),
    SemanticCacheStore(semantic_cache::Store),
    ContentSafety(std::sync::Arc<content_safety::ContentSafety>),
    GetAuthorizationContext(authorization_context::GetAuthorizationContext),
}

impl Step {
    /// Whether this step is, or holds (inside choose or retry), a step named `name`.
    pub(crate) fn holds(&self, name: &str) -> bool {
        self.name == name
            || match &self.op {
                Op::Choose(c) => c.blocks().any(|b| b.iter().any(|s| s.holds(name))),
                Op::Retry(r) => r.steps().iter().any(|s| s.holds(name)),
                _ => false,
            }
    }
}

/// A policy's element name, span and `id`; `None` for `<base />` and unknown elements.
pub fn identity(policy: &Policy) -> Option<(&'static str, Span, Option<String>)> {
    let name = policy.known_name()?;
    Some((
        name,
        policy.span().clone(),
        policy.policy_id().map(str::to_string),
    ))
}

/// The policies the executor runs (the rest are refused by `serve` unless skipped).
pub const EXECUTED: &[&str] = &[
    "authentication-basic",
    "authentication-managed-identity",
    "azure-openai-emit-token-metric",
    "azure-openai-semantic-cache-lookup",
    "azure-openai-semantic-cache-store",
    "azure-openai-token-limit",
    "cache-lookup-value",
    "cache-remove-value",
    "cache-store-value",
    "check-header",
    "choose",
    "cors",
    "emit-metric",
    "find-and-replace",
    "forward-request",
    "get-authorization-context",
    "include-fragment",
    "ip-filter",
    "llm-content-safety",
    "llm-emit-token-metric",
    "llm-semantic-cache-lookup",
    "llm-semantic-cache-store",
    "llm-token-limit",
    "log-to-eventhub",
    "mock-response",
    "quota",
    "quota-by-key",
    "rate-limit",
    "rate-limit-by-key",
    "retry",
    "return-response",
    "rewrite-uri",
    "send-one-way-request",
    "send-request",
    "set-backend-service",
    "set-body",
    "set-header",
    "set-method",
    "set-query-parameter",
    "set-status",
    "set-variable",
    "trace",
    "validate-azure-ad-token",
    "validate-jwt",
    "wait",
];

/// Compiles one policy; `None` when it cannot be executed (reported) or has errors (reported).
pub(crate) fn compile(c: &mut Compiler, policy: &Policy, path: &str) -> Option<Op> {
    Some(match policy {
        Policy::SetBackendService(p) => Op::SetBackendService(set_backend_service::compile(c, p)?),
        Policy::ForwardRequest(p) => Op::ForwardRequest(forward_request::compile(c, p)?),
        Policy::Retry(p) => Op::Retry(retry::compile(c, p, path)?),
        Policy::Choose(p) => Op::Choose(choose::compile(c, p, path)?),
        Policy::SetHeader(p) => Op::SetHeader(headers::compile_header(c, p)?),
        Policy::SetQueryParameter(p) => Op::SetQueryParameter(headers::compile_query(c, p)?),
        Policy::SetVariable(p) => Op::SetVariable(messages::compile_variable(c, p)?),
        Policy::SetBody(p) => Op::SetBody(messages::compile_body(c, p)?),
        Policy::SetStatus(p) => Op::SetStatus(messages::compile_status(c, p)?),
        Policy::SetMethod(p) => Op::SetMethod(messages::compile_method(c, p)?),
        Policy::ReturnResponse(p) => Op::ReturnResponse(messages::compile_return(c, p)?),
        Policy::Trace(p) => Op::Trace(messages::compile_trace(c, p)?),
        Policy::AuthenticationManagedIdentity(p) => {
            Op::AuthenticationManagedIdentity(authentication::compile_managed_identity(c, p)?)
        }
        Policy::AuthenticationBasic(p) => {
            Op::AuthenticationBasic(authentication::compile_basic(c, p)?)
        }
        Policy::SendRequest(p) => Op::SendRequest(requests::compile_send(c, p)?),
        Policy::SendOneWayRequest(p) => Op::SendOneWayRequest(requests::compile_one_way(c, p)?),
        Policy::Wait(p) => Op::Wait(requests::compile_wait(c, p, path)?),
        Policy::CacheStoreValue(p) => Op::CacheStoreValue(cache::compile_store(c, p)?),
        Policy::CacheLookupValue(p) => Op::CacheLookupValue(cache::compile_lookup(c, p)?),
        Policy::CacheRemoveValue(p) => Op::CacheRemoveValue(cache::compile_remove(c, p)?),
        Policy::RewriteUri(p) => Op::RewriteUri(messages::compile_rewrite(c, p)?),
        Policy::MockResponse(p) => Op::MockResponse(messages::compile_mock(c, p)?),
        Policy::LlmEmitTokenMetric(p) => Op::EmitTokenMetric(metrics::compile_llm(c, p)?),
        Policy::AzureOpenaiEmitTokenMetric(p) => Op::EmitTokenMetric(metrics::compile_aoai(c, p)?),
        Policy::ValidateJwt(p) => Op::ValidateJwt(Box::new(validate_jwt::compile(c, p)?)),
        Policy::ValidateAzureAdToken(p) => {
            Op::ValidateJwt(Box::new(validate_jwt::compile_aad(c, p)?))
        }
        Policy::Quota(p) => Op::Quota(quota::compile(c, p)?),
        Policy::QuotaByKey(p) => Op::QuotaByKey(Box::new(quota::compile_by_key(c, p)?)),
        Policy::Cors(p) => Op::Cors(Box::new(cors::compile(c, p)?)),
        Policy::IpFilter(p) => Op::IpFilter(ip_filter::compile(c, p)?),
        Policy::CheckHeader(p) => Op::CheckHeader(check_header::compile(c, p)?),
        Policy::FindAndReplace(p) => Op::FindAndReplace(find_and_replace::compile(c, p)?),
        Policy::EmitMetric(p) => Op::EmitMetric(metrics::compile_custom(c, p)?),
        Policy::LogToEventhub(p) => Op::LogToEventhub(log_to_eventhub::compile(c, p)?),
        Policy::RateLimit(p) => Op::RateLimit(rate_limit::compile(c, p, path)?),
        Policy::RateLimitByKey(p) => Op::RateLimitByKey(rate_limit::compile_by_key(c, p)?),
        Policy::LlmTokenLimit(p) => Op::TokenLimit(token_limit::compile_llm(c, p)?),
        Policy::AzureOpenaiTokenLimit(p) => Op::TokenLimit(token_limit::compile_aoai(c, p)?),
        Policy::LlmSemanticCacheLookup(p) => {
            Op::SemanticCacheLookup(semantic_cache::compile_lookup_llm(c, p)?)
        }
        Policy::AzureOpenaiSemanticCacheLookup(p) => {
            Op::SemanticCacheLookup(semantic_cache::compile_lookup_aoai(c, p)?)
        }
        Policy::LlmSemanticCacheStore(p) => {
            Op::SemanticCacheStore(semantic_cache::compile_store_llm(c, p)?)
        }
        Policy::AzureOpenaiSemanticCacheStore(p) => {
            Op::SemanticCacheStore(semantic_cache::compile_store_aoai(c, p)?)
        }
        Policy::GetAuthorizationContext(p) => {
            Op::GetAuthorizationContext(authorization_context::compile(c, p)?)
        }
        Policy::LlmContentSafety(p) => {
            Op::ContentSafety(std::sync::Arc::new(content_safety::compile(c, p)?))
        }
        other => {
            if !c.options.skip_unsupported {
                let name = other.name();
                c.diagnostics.push(
                    apim_source::Diagnostic::error(
                        apim_source::Code::PolicyNotExecuted,
                        format!("`{name}` is not executed by apim-emu yet"),
                        other.span().clone(),
                        "not executed",
                    )
                    .with_help("remove it, or start with --skip-unsupported to skip it (as the self-hosted gateway skips policies it does not support)"),
                );
            }
            return None;
        }
    })
}

/// Runs one step.
pub(crate) fn run<'a>(
    step: &'a Step,
    ex: &'a mut Exchange,
    rt: &'a Runtime,
    plan: &'a Plan,
) -> BoxFuture<'a, Result<Flow, PolicyError>> {
    Box::pin(async move {
        match &step.op {
            Op::SetBackendService(p) => set_backend_service::run(p, ex, rt, plan),
            Op::ForwardRequest(p) => forward_request::run(p, ex, rt, plan).await,
            Op::Retry(p) => retry::run(p, ex, rt, plan).await,
            Op::Choose(p) => choose::run(p, ex, rt, plan).await,
            Op::SetHeader(p) => headers::run_header(p, ex, rt, plan),
            Op::SetQueryParameter(p) => headers::run_query(p, ex, rt, plan),
            Op::SetVariable(p) => messages::run_variable(p, ex, rt, plan),
            Op::SetBody(p) => messages::run_body(p, ex, rt, plan),
            Op::SetStatus(p) => messages::run_status(p, ex, rt, plan),
            Op::SetMethod(p) => messages::run_method(p, ex, rt, plan),
            Op::ReturnResponse(p) => messages::run_return(p, ex, rt, plan),
            Op::Trace(p) => messages::run_trace(p, ex, rt, plan),
            Op::AuthenticationManagedIdentity(p) => {
                authentication::run_managed_identity(p, ex, rt, plan)
            }
            Op::AuthenticationBasic(p) => authentication::run_basic(p, ex, rt, plan),
            Op::SendRequest(p) => requests::run_send(p, ex, rt, plan).await,
            Op::SendOneWayRequest(p) => requests::run_one_way(p, ex, rt, plan),
            Op::Wait(p) => requests::run_wait(p, ex, rt, plan).await,
            Op::CacheStoreValue(p) => cache::run_store(p, ex, rt, plan),
            Op::CacheLookupValue(p) => cache::run_lookup(p, ex, rt, plan),
            Op::CacheRemoveValue(p) => cache::run_remove(p, ex, rt, plan),
            Op::RewriteUri(p) => messages::run_rewrite(p, ex, rt, plan),
            Op::MockResponse(p) => messages::run_mock(p, ex, rt, plan),
            Op::EmitTokenMetric(p) => metrics::run(p, ex, rt, plan),
            Op::TokenLimit(p) => token_limit::run(p, ex, rt, plan),
            Op::RateLimit(p) => rate_limit::run(p, ex, rt, plan),
            Op::CheckHeader(p) => check_header::run(p, ex, rt, plan),
            Op::IpFilter(p) => ip_filter::run(p, ex, rt, plan),
            Op::Cors(p) => cors::run(p, ex, rt, plan),
            Op::Quota(p) => quota::run(p, ex, rt, plan),
            Op::QuotaByKey(p) => quota::run_by_key(p, ex, rt, plan),
            Op::ValidateJwt(p) => validate_jwt::run(p, ex, rt, plan).await,
            Op::FindAndReplace(p) => find_and_replace::run(p, ex, rt, plan),
            Op::EmitMetric(p) => metrics::run_custom(p, ex, rt, plan),
            Op::LogToEventhub(p) => log_to_eventhub::run(p, ex, rt, plan),
            Op::RateLimitByKey(p) => rate_limit::run_by_key(p, ex, rt, plan),
            // Boxed: their futures are large, and every step's future is as large as the largest arm's.
            Op::SemanticCacheLookup(p) => {
                Box::pin(semantic_cache::run_lookup(p, ex, rt, plan)).await
            }
            Op::SemanticCacheStore(p) => semantic_cache::run_store(p, ex, rt, plan),
            Op::ContentSafety(p) => Box::pin(content_safety::run(p, step, ex, rt, plan)).await,
            Op::GetAuthorizationContext(p) => authorization_context::run(p, ex, rt, plan),
        }
    })
}
