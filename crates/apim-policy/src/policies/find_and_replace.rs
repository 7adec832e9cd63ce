//! `<find-and-replace>`: Replaces occurrences of a substring in the request or response body with another string.
//!
//! Azure: https://learn.microsoft.com/azure/api-management/find-and-replace-policy
//! Executed by apim-exec.

use crate::element;
#[allow(unused_imports)]
use crate::read::{Block, Raw, Text};
use crate::spec::{PolicyInfo, Scope, Section};
#[allow(unused_imports)]
use crate::value::Seconds;

/// Where and how `<find-and-replace>` may be used.
pub const INFO: PolicyInfo = PolicyInfo {
    category: "Transformation",
    summary: "Replaces occurrences of a substring in the request or response body with another string.",
    doc: "https://learn.microsoft.com/azure/api-management/find-and-replace-policy",
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
    /// Replaces occurrences of a substring in the request or response body with another string.
    pub struct FindAndReplace = "find-and-replace";
    attrs {
        /// String to search for.
        from: String = "from", required, expr;
        /// Replacement string. An empty string removes the matches.
        to: String = "to", required, expr;
    }
    children {
    }
    content: ();
    rules: [];
}
