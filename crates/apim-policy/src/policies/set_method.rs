//! `<set-method>`: Changes the HTTP method of the request.
//!
//! Azure: https://learn.microsoft.com/azure/api-management/set-method-policy
//! Executed by apim-exec (`crates/apim-exec/src/policies/`).

use crate::element;
#[allow(unused_imports)]
use crate::read::{Block, Raw, Text};
use crate::spec::{PolicyInfo, Scope, Section};
#[allow(unused_imports)]
use crate::value::Seconds;

/// Where and how `<set-method>` may be used.
pub const INFO: PolicyInfo = PolicyInfo {
    category: "Transformation",
    summary: "Changes the HTTP method of the request.",
    doc: "https://learn.microsoft.com/azure/api-management/set-method-policy",
    sections: &[Section::Inbound, Section::OnError],
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
    /// Changes the HTTP method of the request.
    pub struct SetMethod = "set-method";
    attrs {
    }
    children {
    }
    content: Text;
    rules: [];
}
