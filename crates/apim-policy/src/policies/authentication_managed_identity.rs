//! `<authentication-managed-identity>`: Obtains an Entra access token with the instance managed identity and sets it as a Bearer Authorization header (or stores it in a variable).
//!
//! Azure: https://learn.microsoft.com/azure/api-management/authentication-managed-identity-policy
//! Executed by apim-exec (`crates/apim-exec/src/policies/`).

use crate::element;
#[allow(unused_imports)]
use crate::read::{Block, Raw, Text};
use crate::spec::{PolicyInfo, Scope, Section};
#[allow(unused_imports)]
use crate::value::Seconds;

/// Where and how `<authentication-managed-identity>` may be used.
pub const INFO: PolicyInfo = PolicyInfo {
    category: "Authentication and authorization",
    summary: "Obtains an Entra access token with the instance managed identity and sets it as a Bearer Authorization header (or stores it in a variable).",
    doc: "https://learn.microsoft.com/azure/api-management/authentication-managed-identity-policy",
    // Deviation: documented for inbound only; Microsoft's MCP OAuth sample calls it in outbound (inside
    // `choose`) to reach Cosmos DB, so outbound is accepted too.
    sections: &[Section::Inbound, Section::Outbound],
    scopes: &[Scope::Global, Scope::Product, Scope::Api, Scope::Operation],
    executes: true,
    once_per_section: false,
};

crate::attr_enum! {
    /// Values of `authentication-provider`.
    pub enum AuthenticationProvider {
        WorkloadIdentity = "WorkloadIdentity",
    }
}

element! {
    /// Obtains an Entra access token with the instance managed identity and sets it as a Bearer Authorization header (or stores it in a variable).
    pub struct AuthenticationManagedIdentity = "authentication-managed-identity";
    attrs {
        /// app ID URI / audience of the target
        resource: String = "resource", required, expr;
        /// user-assigned identity client id
        client_id: String = "client-id", optional, literal, default "system-assigned identity";
        /// Self-hosted gateway only: `WorkloadIdentity` uses the gateway workload's identity (2025 docs).
        authentication_provider: AuthenticationProvider = "authentication-provider", optional, literal;
        /// store token string in variable instead of header
        output_token_variable_name: String = "output-token-variable-name", optional, literal;
        /// doc silent on expressions; true continues pipeline if no token
        ignore_error: bool = "ignore-error", optional, expr, default "false";
    }
    children {
    }
    content: ();
    rules: [];
}
