//! `<rate-limit-by-key>`: Throttles calls per arbitrary (usually expression-computed) key within a sliding window, returning 429 when exceeded.
//!
//! Azure: https://learn.microsoft.com/azure/api-management/rate-limit-by-key-policy
//! Executed by apim-exec (`policies/rate_limit.rs`).

use crate::element;
#[allow(unused_imports)]
use crate::read::{Block, Raw, Text};
use crate::spec::{PolicyInfo, Scope, Section};
#[allow(unused_imports)]
use crate::value::Seconds;

/// Where and how `<rate-limit-by-key>` may be used.
pub const INFO: PolicyInfo = PolicyInfo {
    category: "Rate limiting and quotas",
    summary: "Throttles calls per arbitrary (usually expression-computed) key within a sliding window, returning 429 when exceeded.",
    doc: "https://learn.microsoft.com/azure/api-management/rate-limit-by-key-policy",
    sections: &[Section::Inbound],
    scopes: &[
        Scope::Global,
        Scope::Workspace,
        Scope::Product,
        Scope::Api,
        Scope::Operation,
    ],
    executes: true,
    once_per_section: false,
};

element! {
    /// Throttles calls per arbitrary (usually expression-computed) key within a sliding window, returning 429 when exceeded.
    pub struct RateLimitByKey = "rate-limit-by-key";
    attrs {
        /// max calls per key value in renewal-period
        calls: i64 = "calls", required, expr;
        /// sliding window, maximum 300
        renewal_period: Seconds = "renewal-period", required, expr;
        /// one counter per key value shared by all scopes where the policy is configured
        counter_key: String = "counter-key", required, expr;
        /// boolean expression deciding whether the request counts; if given as an expression, evaluation and increment are postponed to the end of the outbound pipeline
        increment_condition: bool = "increment-condition", optional, expr;
        /// amount added per request; expression form postpones evaluation/increment to end of outbound
        increment_count: i64 = "increment-count", optional, expr, default "1";
        retry_after_header_name: String = "retry-after-header-name", optional, literal, default "Retry-After";
        retry_after_variable_name: String = "retry-after-variable-name", optional, literal;
        remaining_calls_header_name: String = "remaining-calls-header-name", optional, literal;
        remaining_calls_variable_name: String = "remaining-calls-variable-name", optional, literal;
        /// header whose value is `calls`
        total_calls_header_name: String = "total-calls-header-name", optional, literal;
    }
    children {
    }
    content: ();
    rules: [];
}
