//! `<validate-azure-ad-token>`: Validates a Microsoft Entra-issued JWT (tenant, client app ids, audiences, claims) taken from a header, query parameter or expression.
//!
//! Azure: https://learn.microsoft.com/azure/api-management/validate-azure-ad-token-policy
//! Executed by apim-exec (`policies/validate_jwt.rs`).

use crate::element;
#[allow(unused_imports)]
use crate::read::{Block, Raw, Text};
use crate::spec::{PolicyInfo, Rule, Scope, Section};
#[allow(unused_imports)]
use crate::value::Seconds;

/// Where and how `<validate-azure-ad-token>` may be used.
pub const INFO: PolicyInfo = PolicyInfo {
    category: "Authentication and authorization",
    summary: "Validates a Microsoft Entra-issued JWT (tenant, client app ids, audiences, claims) taken from a header, query parameter or expression.",
    doc: "https://learn.microsoft.com/azure/api-management/validate-azure-ad-token-policy",
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

crate::attr_enum! {
    /// Values of `Match`.
    pub enum Match {
        All = "all",
        Any = "any",
    }
}

element! {
    /// Validates a Microsoft Entra-issued JWT (tenant, client app ids, audiences, claims) taken from a header, query parameter or expression.
    pub struct ValidateAzureAdToken = "validate-azure-ad-token";
    attrs {
        /// tenant id or URL
        tenant_id: String = "tenant-id", required, expr;
        /// one of header-name/query-parameter-name/token-value
        header_name: String = "header-name", optional, expr, default "Authorization";
        query_parameter_name: String = "query-parameter-name", optional, expr;
        /// expression returning the raw token without 'Bearer '
        token_value: String = "token-value", optional, expr;
        /// appears ONLY in the policy statement of the newest docs.azure.cn page ('Microsoft Entra environment endpoint'); attribute table not retrieved – required/expr/default UNVERIFIED; doc silent on expressions
        authentication_endpoint: String = "authentication-endpoint", optional, expr;
        failed_validation_httpcode: i64 = "failed-validation-httpcode", optional, expr, default "401";
        /// default depends on failure, e.g. 'JWT not present.'
        failed_validation_error_message: String = "failed-validation-error-message", optional, expr;
        /// receives Jwt object on success
        output_token_variable_name: String = "output-token-variable-name", optional, literal;
    }
    children {
        /// Azure: required in older docs; newer Microsoft samples (MCP OAuth, secure Responses API) omit it.
        client_application_ids: optional ClientApplicationIds = "client-application-ids";
        backend_application_ids: optional BackendApplicationIds = "backend-application-ids";
        audiences: optional Audiences = "audiences";
        required_claims: optional RequiredClaims = "required-claims";
    }
    content: ();
    rules: [Rule::AtMostOne(&["header-name", "query-parameter-name", "token-value"])];
}

element! {
    /// `<required-claims>` element.
    pub struct RequiredClaims = "required-claims";
    attrs {
    }
    children {
        claims: many Claim = "claim";
    }
    content: ();
    rules: [];
}

element! {
    /// `<claim>` element.
    pub struct Claim = "claim";
    attrs {
        /// claim name
        name: String = "name", required, expr;
        /// all: every listed value must be present; any: at least one
        match_: Match = "match", optional, expr, default "all";
        /// splits a multi-valued claim, e.g. ','
        separator: String = "separator", optional, expr;
    }
    children {
        values: many ValueItem = "value";
    }
    content: ();
    rules: [];
}

element! {
    /// `<value>` element.
    pub struct ValueItem = "value";
    attrs {
    }
    children {
    }
    content: Text;
    rules: [];
}

element! {
    /// `<audiences>` element.
    pub struct Audiences = "audiences";
    attrs {
    }
    children {
        audiences: some Audience = "audience";
    }
    content: ();
    rules: [];
}

element! {
    /// `<audience>` element.
    pub struct Audience = "audience";
    attrs {
    }
    children {
    }
    content: Text;
    rules: [];
}

element! {
    /// `<backend-application-ids>` element.
    pub struct BackendApplicationIds = "backend-application-ids";
    attrs {
    }
    children {
        application_ids: some ApplicationId = "application-id";
    }
    content: ();
    rules: [];
}

element! {
    /// `<client-application-ids>` element.
    pub struct ClientApplicationIds = "client-application-ids";
    attrs {
    }
    children {
        application_ids: some ApplicationId = "application-id";
    }
    content: ();
    rules: [];
}

element! {
    /// `<application-id>` element.
    pub struct ApplicationId = "application-id";
    attrs {
    }
    children {
    }
    content: Text;
    rules: [];
}
