//! `<retry>`: Runs its child policies once, then re-runs them with fixed/linear/exponential waits while the condition is true and the retry count is not exhausted.
//!
//! Azure: https://learn.microsoft.com/azure/api-management/retry-policy
//! Executed by apim-exec (`crates/apim-exec/src/policies/`).

use crate::element;
#[allow(unused_imports)]
use crate::read::{Block, Raw, Text};
use crate::spec::{PolicyInfo, Scope, Section};
#[allow(unused_imports)]
use crate::value::Seconds;

/// Where and how `<retry>` may be used.
pub const INFO: PolicyInfo = PolicyInfo {
    category: "Policy control and flow",
    summary: "Runs its child policies once, then re-runs them with fixed/linear/exponential waits while the condition is true and the retry count is not exhausted.",
    doc: "https://learn.microsoft.com/azure/api-management/retry-policy",
    sections: &[
        Section::Inbound,
        Section::Backend,
        Section::Outbound,
        Section::OnError,
    ],
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
    /// Runs its child policies once, then re-runs them with fixed/linear/exponential waits while the condition is true and the retry count is not exhausted.
    pub struct Retry = "retry";
    attrs {
        /// true = keep retrying, false = stop; evaluated after the children ran
        condition: bool = "condition", required, expr;
        /// Number of retries, 1..50 (current doc; 2022 doc just 'positive number')
        count: i64 = "count", required, expr;
        interval: Seconds = "interval", required, expr;
        /// enables exponential algorithm (with delta)
        max_interval: Seconds = "max-interval", optional, expr;
        /// enables linear (interval+delta) or exponential (with max-interval)
        delta: Seconds = "delta", optional, expr;
        /// first retry immediately
        first_fast_retry: bool = "first-fast-retry", optional, expr, default "false";
    }
    children {
    }
    content: Block;
    rules: [];
}
