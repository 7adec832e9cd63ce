//! `<authentication-certificate>`: Presents a client certificate (by thumbprint, certificate id or inline bytes) when calling the backend.
//!
//! Azure: https://learn.microsoft.com/azure/api-management/authentication-certificate-policy
//! Parsing and validation only; execution arrives with the executor.

use crate::element;
#[allow(unused_imports)]
use crate::read::{Block, Raw, Text};
use crate::spec::{PolicyInfo, Rule, Scope, Section};
#[allow(unused_imports)]
use crate::value::Seconds;

/// Where and how `<authentication-certificate>` may be used.
pub const INFO: PolicyInfo = PolicyInfo {
    category: "Authentication and authorization",
    summary: "Presents a client certificate (by thumbprint, certificate id or inline bytes) when calling the backend.",
    doc: "https://learn.microsoft.com/azure/api-management/authentication-certificate-policy",
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
    /// Presents a client certificate (by thumbprint, certificate id or inline bytes) when calling the backend.
    pub struct AuthenticationCertificate = "authentication-certificate";
    attrs {
        /// either thumbprint or certificate-id
        thumbprint: String = "thumbprint", optional, expr;
        /// certificate resource name; preferred for Key Vault certs
        certificate_id: String = "certificate-id", optional, expr;
        /// certificate as byte array (expression), when not from the certificate store
        body: String = "body", optional, expr;
        /// needed if body certificate is password protected
        password: String = "password", optional, expr;
    }
    children {
    }
    content: ();
    rules: [Rule::ExactlyOne(&["thumbprint", "certificate-id", "body"])];
}
