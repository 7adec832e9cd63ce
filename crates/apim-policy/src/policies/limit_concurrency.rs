//! `<limit-concurrency>`: Wraps child policies and lets at most max-count requests per key execute them concurrently; excess requests get 429 immediately.
//!
//! Azure: https://learn.microsoft.com/azure/api-management/limit-concurrency-policy
//! Parsing and validation only; execution arrives with the executor.

use crate::element;
#[allow(unused_imports)]
use crate::read::{Block, Raw, Text};
use crate::spec::{PolicyInfo, Scope, Section};
#[allow(unused_imports)]
use crate::value::Seconds;

/// Where and how `<limit-concurrency>` may be used.
pub const INFO: PolicyInfo = PolicyInfo {
    category: "Rate limiting and quotas",
    summary: "Wraps child policies and lets at most max-count requests per key execute them concurrently; excess requests get 429 immediately.",
    doc: "https://learn.microsoft.com/azure/api-management/limit-concurrency-policy",
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
    executes: false,
    once_per_section: false,
};

element! {
    /// Wraps child policies and lets at most max-count requests per key execute them concurrently; excess requests get 429 immediately.
    pub struct LimitConcurrency = "limit-concurrency";
    attrs {
        /// concurrency scope; can be shared by several policies
        key: String = "key", required, expr;
        /// max requests allowed inside at once; no expressions
        max_count: i64 = "max-count", required, literal;
    }
    children {
    }
    content: Block;
    rules: [];
}
