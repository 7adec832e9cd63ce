//! `<rewrite-uri>`: Rewrites the backend-relative request URL (path and query) from its public form to the form the backend expects.
//!
//! Azure: https://learn.microsoft.com/azure/api-management/rewrite-uri-policy
//! Executed by apim-exec (`crates/apim-exec/src/policies/`).

use crate::element;
#[allow(unused_imports)]
use crate::read::{Block, Raw, Text};
use crate::spec::{PolicyInfo, Scope, Section};
#[allow(unused_imports)]
use crate::value::Seconds;

/// Where and how `<rewrite-uri>` may be used.
pub const INFO: PolicyInfo = PolicyInfo {
    category: "Transformation",
    summary: "Rewrites the backend-relative request URL (path and query) from its public form to the form the backend expects.",
    doc: "https://learn.microsoft.com/azure/api-management/rewrite-uri-policy",
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
    /// Rewrites the backend-relative request URL (path and query) from its public form to the form the backend expects.
    pub struct RewriteUri = "rewrite-uri";
    attrs {
        /// New URL (path plus optional query); {param} refers to operation template parameters. If an expression is used, the whole value must be one expression.
        template: String = "template", required, expr;
        /// true = incoming query parameters not in the original operation URL template are appended to the rewritten URL.
        copy_unmatched_params: bool = "copy-unmatched-params", optional, expr, default "true";
    }
    children {
    }
    content: ();
    rules: [];
}
