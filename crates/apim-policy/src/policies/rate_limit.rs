//! `<rate-limit>`: Throttles calls per subscription to a fixed number within a sliding time window, returning 429 when exceeded.
//!
//! Azure: https://learn.microsoft.com/azure/api-management/rate-limit-policy
//! Executed by apim-exec (`policies/rate_limit.rs`).

use crate::element;
#[allow(unused_imports)]
use crate::read::{Block, Raw, Text};
use crate::spec::{PolicyInfo, Scope, Section};
#[allow(unused_imports)]
use crate::value::Seconds;

/// Where and how `<rate-limit>` may be used.
pub const INFO: PolicyInfo = PolicyInfo {
    category: "Rate limiting and quotas",
    summary: "Throttles calls per subscription to a fixed number within a sliding time window, returning 429 when exceeded.",
    doc: "https://learn.microsoft.com/azure/api-management/rate-limit-policy",
    sections: &[Section::Inbound],
    scopes: &[Scope::Product, Scope::Api, Scope::Operation],
    executes: true,
    once_per_section: true,
};

element! {
    /// Throttles calls per subscription to a fixed number within a sliding time window, returning 429 when exceeded.
    pub struct RateLimit = "rate-limit";
    attrs {
        /// max calls per renewal-period; no expressions
        calls: i64 = "calls", required, literal;
        /// sliding window in seconds, maximum 300; no expressions
        renewal_period: Seconds = "renewal-period", required, literal;
        /// custom response header carrying retry interval (s) when limit exceeded
        retry_after_header_name: String = "retry-after-header-name", optional, literal, default "Retry-After";
        /// context variable receiving retry interval (s)
        retry_after_variable_name: String = "retry-after-variable-name", optional, literal;
        /// response header set after each execution to remaining calls
        remaining_calls_header_name: String = "remaining-calls-header-name", optional, literal;
        /// variable set after each execution to remaining calls
        remaining_calls_variable_name: String = "remaining-calls-variable-name", optional, literal;
        /// response header whose value is `calls`
        total_calls_header_name: String = "total-calls-header-name", optional, literal;
    }
    children {
        apis: many Api = "api";
    }
    content: ();
    rules: [];
}

element! {
    /// `<api>` element.
    pub struct Api = "api";
    attrs {
        /// API name; either name or id must be given; if both, id wins and name is ignored. Doc silent on expressions.
        name: String = "name", optional, literal;
        /// API id; either name or id must be given; id takes precedence. Doc silent on expressions.
        id: String = "id", optional, literal;
        /// max calls in renewal-period; expressions not allowed
        calls: i64 = "calls", required, literal;
        /// sliding window length; max 300; expressions not allowed
        renewal_period: Seconds = "renewal-period", required, literal;
    }
    children {
        operations: many Operation = "operation";
    }
    content: ();
    rules: [];
}

element! {
    /// `<operation>` element.
    pub struct Operation = "operation";
    attrs {
        /// Operation name; either name or id must be given; if both, id wins and name is ignored. Doc silent on expressions.
        name: String = "name", optional, literal;
        /// Operation id; either name or id must be given; id takes precedence. Doc silent on expressions.
        id: String = "id", optional, literal;
        /// max calls in renewal-period; expressions not allowed
        calls: i64 = "calls", required, literal;
        /// sliding window length; max 300; expressions not allowed
        renewal_period: Seconds = "renewal-period", required, literal;
    }
    children {
    }
    content: ();
    rules: [];
}
