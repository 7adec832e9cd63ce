//! `<proxy>`: Sends requests forwarded to backends through an HTTP proxy, optionally with proxy credentials.
//!
//! Azure: https://learn.microsoft.com/azure/api-management/proxy-policy
//! Parsing and validation only; execution arrives with the executor.

use crate::element;
#[allow(unused_imports)]
use crate::read::{Block, Raw, Text};
use crate::spec::{PolicyInfo, Scope, Section};
#[allow(unused_imports)]
use crate::value::Seconds;

/// Where and how `<proxy>` may be used.
pub const INFO: PolicyInfo = PolicyInfo {
    category: "Routing",
    summary: "Sends requests forwarded to backends through an HTTP proxy, optionally with proxy credentials.",
    doc: "https://learn.microsoft.com/azure/api-management/proxy-policy",
    sections: &[Section::Inbound],
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
    /// Sends requests forwarded to backends through an HTTP proxy, optionally with proxy credentials.
    pub struct Proxy = "proxy";
    attrs {
        /// Proxy URL of the form http://host:port. Only HTTP (not HTTPS) between gateway and proxy.
        url: String = "url", required, expr;
        /// Proxy authentication user name (Basic and NTLM only).
        username: String = "username", optional, expr;
        /// Proxy authentication password. The doc recommends named values / Key Vault.
        password: String = "password", optional, expr;
    }
    children {
    }
    content: ();
    rules: [];
}
