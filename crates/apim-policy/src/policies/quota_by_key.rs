//! `<quota-by-key>`: Enforces a renewable or lifetime call-count and/or bandwidth quota per arbitrary key, returning 403 when exhausted.
//!
//! Azure: https://learn.microsoft.com/azure/api-management/quota-by-key-policy
//! Executed by apim-exec (`policies/quota.rs`).

use crate::element;
#[allow(unused_imports)]
use crate::read::{Block, Raw, Text};
use crate::spec::{PolicyInfo, Rule, Scope, Section};
#[allow(unused_imports)]
use crate::value::Seconds;

/// Where and how `<quota-by-key>` may be used.
pub const INFO: PolicyInfo = PolicyInfo {
    category: "Rate limiting and quotas",
    summary: "Enforces a renewable or lifetime call-count and/or bandwidth quota per arbitrary key, returning 403 when exhausted.",
    doc: "https://learn.microsoft.com/azure/api-management/quota-by-key-policy",
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
    /// Enforces a renewable or lifetime call-count and/or bandwidth quota per arbitrary key, returning 403 when exhausted.
    pub struct QuotaByKey = "quota-by-key";
    attrs {
        /// kilobytes; calls and/or bandwidth required
        bandwidth: i64 = "bandwidth", optional, literal;
        /// calls and/or bandwidth required
        calls: i64 = "calls", optional, literal;
        /// one counter per key value across all scopes
        counter_key: String = "counter-key", required, expr;
        increment_condition: bool = "increment-condition", optional, expr;
        /// present only in newer (2025+) doc versions (seen on learn.microsoft.com/docs.azure.cn page); not in the 03/2024 markdown
        increment_count: i64 = "increment-count", optional, expr, default "1";
        /// fixed window relative to first-period-start; minimum 300; 0 = infinite
        renewal_period: Seconds = "renewal-period", required, literal;
        /// ISO 8601 yyyy-MM-ddTHH:mm:ssZ
        first_period_start: String = "first-period-start", optional, literal, default "0001-01-01T00:00:00Z";
    }
    children {
    }
    content: ();
    rules: [Rule::AtLeastOne(&["calls", "bandwidth"])];
}
