//! `<validate-client-certificate>`: Checks the client TLS certificate against trust/revocation/validity rules and a list of allowed identities.
//!
//! Azure: https://learn.microsoft.com/azure/api-management/validate-client-certificate-policy
//! Parsing and validation only; execution arrives with the executor.

use crate::element;
#[allow(unused_imports)]
use crate::read::{Block, Raw, Text};
use crate::spec::{PolicyInfo, Scope, Section};
#[allow(unused_imports)]
use crate::value::Seconds;

/// Where and how `<validate-client-certificate>` may be used.
pub const INFO: PolicyInfo = PolicyInfo {
    category: "Authentication and authorization",
    summary: "Checks the client TLS certificate against trust/revocation/validity rules and a list of allowed identities.",
    doc: "https://learn.microsoft.com/azure/api-management/validate-client-certificate-policy",
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
    /// Checks the client TLS certificate against trust/revocation/validity rules and a list of allowed identities.
    pub struct ValidateClientCertificate = "validate-client-certificate";
    attrs {
        validate_revocation: bool = "validate-revocation", optional, literal, default "true";
        validate_trust: bool = "validate-trust", optional, literal, default "true";
        validate_not_before: bool = "validate-not-before", optional, literal, default "true";
        validate_not_after: bool = "validate-not-after", optional, literal, default "true";
        /// true: continue on failure instead of going to on-error
        ignore_error: bool = "ignore-error", optional, literal, default "false";
    }
    children {
        identities: optional Identities = "identities";
    }
    content: ();
    rules: [];
}

element! {
    /// `<identities>` element.
    pub struct Identities = "identities";
    attrs {
    }
    children {
        identitys: many Identity = "identity";
    }
    content: ();
    rules: [];
}

element! {
    /// `<identity>` element.
    pub struct Identity = "identity";
    attrs {
        /// doc silent on expressions
        thumbprint: String = "thumbprint", optional, expr;
        /// doc silent on expressions
        serial_number: String = "serial-number", optional, expr;
        /// doc silent on expressions
        common_name: String = "common-name", optional, expr;
        /// distinguished name; quote RDN values containing commas; doc silent on expressions
        subject: String = "subject", optional, expr;
        /// SAN dnsName; doc silent on expressions
        dns_name: String = "dns-name", optional, expr;
        /// doc silent on expressions
        issuer_subject: String = "issuer-subject", optional, expr;
        /// doc silent on expressions
        issuer_thumbprint: String = "issuer-thumbprint", optional, expr;
        /// mutually exclusive with other issuer-* attributes; doc silent on expressions
        issuer_certificate_id: String = "issuer-certificate-id", optional, expr;
    }
    children {
    }
    content: ();
    rules: [];
}
