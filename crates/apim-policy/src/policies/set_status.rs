//! `<set-status>`: Sets the HTTP status code and reason phrase of the response.
//!
//! Azure: https://learn.microsoft.com/azure/api-management/set-status-policy
//! Executed by apim-exec (`crates/apim-exec/src/policies/`).

use crate::element;
#[allow(unused_imports)]
use crate::read::{Block, Raw, Text};
use crate::spec::{PolicyInfo, Scope, Section};
#[allow(unused_imports)]
use crate::value::Seconds;

/// Where and how `<set-status>` may be used.
pub const INFO: PolicyInfo = PolicyInfo {
    category: "Transformation",
    summary: "Sets the HTTP status code and reason phrase of the response.",
    doc: "https://learn.microsoft.com/azure/api-management/set-status-policy",
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
    /// Sets the HTTP status code and reason phrase of the response.
    pub struct SetStatus = "set-status";
    attrs {
        /// HTTP status code.
        code: i64 = "code", required, expr;
        /// Reason phrase.
        /// Azure: documented as required, but Microsoft's own samples (AI-Gateway labs, policy snippets) omit it
        /// and deploy; APIM then uses the standard reason phrase.
        reason: String = "reason", optional, expr;
    }
    children {
    }
    content: ();
    rules: [];
}
