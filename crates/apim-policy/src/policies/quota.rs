//! `<quota>`: Enforces a renewable or lifetime call-count and/or bandwidth quota per subscription, returning 403 when exhausted.
//!
//! Azure: https://learn.microsoft.com/azure/api-management/quota-policy
//! Executed by apim-exec (`policies/quota.rs`).

use crate::element;
#[allow(unused_imports)]
use crate::read::{Block, Raw, Text};
use crate::spec::{PolicyInfo, Rule, Scope, Section};
#[allow(unused_imports)]
use crate::value::Seconds;

/// Where and how `<quota>` may be used.
pub const INFO: PolicyInfo = PolicyInfo {
    category: "Rate limiting and quotas",
    summary: "Enforces a renewable or lifetime call-count and/or bandwidth quota per subscription, returning 403 when exhausted.",
    doc: "https://learn.microsoft.com/azure/api-management/quota-policy",
    sections: &[Section::Inbound],
    scopes: &[Scope::Product],
    executes: true,
    once_per_section: true,
};

element! {
    /// Enforces a renewable or lifetime call-count and/or bandwidth quota per subscription, returning 403 when exhausted.
    pub struct Quota = "quota";
    attrs {
        /// max kilobytes per renewal-period; calls and/or bandwidth required
        bandwidth: i64 = "bandwidth", optional, literal;
        /// max calls per renewal-period; calls and/or bandwidth required
        calls: i64 = "calls", optional, literal;
        /// fixed window, start relative to subscription start time; 0 means infinite
        renewal_period: Seconds = "renewal-period", required, literal;
    }
    children {
        apis: many Api = "api";
    }
    content: ();
    rules: [Rule::AtLeastOne(&["calls", "bandwidth"])];
}

element! {
    /// `<api>` element.
    pub struct Api = "api";
    attrs {
        /// API name; name or id required; id wins if both. Doc silent on expressions.
        name: String = "name", optional, literal;
        /// API id; name or id required. Doc silent on expressions.
        id: String = "id", optional, literal;
        /// kilobytes; calls and/or bandwidth must be given; no expressions
        bandwidth: i64 = "bandwidth", optional, literal;
        /// calls and/or bandwidth must be given; no expressions
        calls: i64 = "calls", optional, literal;
        /// fixed window; 0 = infinite; no expressions
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
        /// Operation name; name or id required; id wins if both. Doc silent on expressions.
        name: String = "name", optional, literal;
        /// Operation id; name or id required. Doc silent on expressions.
        id: String = "id", optional, literal;
        /// kilobytes; calls and/or bandwidth must be given; no expressions
        bandwidth: i64 = "bandwidth", optional, literal;
        /// calls and/or bandwidth must be given; no expressions
        calls: i64 = "calls", optional, literal;
        /// fixed window; 0 = infinite; no expressions
        renewal_period: Seconds = "renewal-period", required, literal;
    }
    children {
    }
    content: ();
    rules: [];
}
