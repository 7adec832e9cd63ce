//! `<authentication-basic>`: Sets the backend Authorization header to HTTP Basic credentials.
//!
//! Azure: https://learn.microsoft.com/azure/api-management/authentication-basic-policy
//! Executed by apim-exec (`crates/apim-exec/src/policies/`).

use crate::element;
#[allow(unused_imports)]
use crate::read::{Block, Raw, Text};
use crate::spec::{PolicyInfo, Scope, Section};
#[allow(unused_imports)]
use crate::value::Seconds;

/// Where and how `<authentication-basic>` may be used.
pub const INFO: PolicyInfo = PolicyInfo {
    category: "Authentication and authorization",
    summary: "Sets the backend Authorization header to HTTP Basic credentials.",
    doc: "https://learn.microsoft.com/azure/api-management/authentication-basic-policy",
    sections: &[Section::Inbound],
    scopes: &[
        Scope::Global,
        Scope::Workspace,
        Scope::Product,
        Scope::Api,
        Scope::Operation,
    ],
    executes: true,
    once_per_section: true,
};

element! {
    /// Sets the backend Authorization header to HTTP Basic credentials.
    pub struct AuthenticationBasic = "authentication-basic";
    attrs {
        username: String = "username", required, expr;
        password: String = "password", required, expr;
    }
    children {
    }
    content: ();
    rules: [];
}
