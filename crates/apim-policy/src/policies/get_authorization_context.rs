//! `<get-authorization-context>`: Fetches the access token/claims of a credential-manager connection into a context variable.
//!
//! Azure: https://learn.microsoft.com/azure/api-management/get-authorization-context-policy
//! Executed by apim-exec (`policies/authorization_context.rs`).

use crate::element;
#[allow(unused_imports)]
use crate::read::{Block, Raw, Text};
use crate::spec::{PolicyInfo, Scope, Section};
#[allow(unused_imports)]
use crate::value::Seconds;

/// Where and how `<get-authorization-context>` may be used.
pub const INFO: PolicyInfo = PolicyInfo {
    category: "Authentication and authorization",
    summary: "Fetches the access token/claims of a credential-manager connection into a context variable.",
    doc: "https://learn.microsoft.com/azure/api-management/get-authorization-context-policy",
    sections: &[Section::Inbound],
    scopes: &[Scope::Global, Scope::Product, Scope::Api, Scope::Operation],
    executes: true,
    once_per_section: false,
};

crate::attr_enum! {
    /// Values of `IdentityType`.
    pub enum IdentityType {
        Managed = "managed",
        Jwt = "jwt",
    }
}

element! {
    /// Fetches the access token/claims of a credential-manager connection into a context variable.
    pub struct GetAuthorizationContext = "get-authorization-context";
    attrs {
        /// credential provider resource id
        provider_id: String = "provider-id", required, expr;
        /// connection resource id
        authorization_id: String = "authorization-id", required, expr;
        /// receives an Authorization object {AccessToken:string, Claims:IReadOnlyDictionary<string,object>}
        context_variable_name: String = "context-variable-name", required, expr;
        /// managed = instance system-assigned identity; jwt = token in `identity`
        identity_type: IdentityType = "identity-type", optional, expr, default "managed";
        /// Entra JWT (aud https://azure-api.net/authorization-manager, oid, tid); ignored unless identity-type=jwt
        identity: String = "identity", optional, expr;
        /// true: variable set to null on error; false: return 500 / go to on-error with LastError
        ignore_error: bool = "ignore-error", optional, expr, default "false";
    }
    children {
    }
    content: ();
    rules: [];
}
