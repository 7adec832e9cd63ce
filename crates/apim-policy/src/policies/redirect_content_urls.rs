//! `<redirect-content-urls>`: Rewrites backend URLs in the response body to gateway URLs (outbound), or the reverse (inbound).
//!
//! Azure: https://learn.microsoft.com/azure/api-management/redirect-content-urls-policy
//! Parsing and validation only; execution arrives with the executor.

use crate::element;
#[allow(unused_imports)]
use crate::read::{Block, Raw, Text};
use crate::spec::{PolicyInfo, Scope, Section};
#[allow(unused_imports)]
use crate::value::Seconds;

/// Where and how `<redirect-content-urls>` may be used.
pub const INFO: PolicyInfo = PolicyInfo {
    category: "Transformation",
    summary: "Rewrites backend URLs in the response body to gateway URLs (outbound), or the reverse (inbound).",
    doc: "https://learn.microsoft.com/azure/api-management/redirect-content-urls-policy",
    sections: &[Section::Inbound, Section::Outbound],
    scopes: &[
        Scope::Global,
        Scope::Workspace,
        Scope::Product,
        Scope::Api,
        Scope::Operation,
    ],
    executes: false,
    once_per_section: true,
};

element! {
    /// Rewrites backend URLs in the response body to gateway URLs (outbound), or the reverse (inbound).
    pub struct RedirectContentUrls = "redirect-content-urls";
    attrs {
    }
    children {
    }
    content: ();
    rules: [];
}
