//! `<validate-jwt>`: Validates a JWT (signature, lifetime, audience, issuer, claims; optional decryption) from a header, query parameter or expression.
//!
//! Azure: https://learn.microsoft.com/azure/api-management/validate-jwt-policy
//! Executed by apim-exec (`policies/validate_jwt.rs`).

use crate::element;
#[allow(unused_imports)]
use crate::read::{Block, Raw, Text};
use crate::spec::{PolicyInfo, Rule, Scope, Section};
#[allow(unused_imports)]
use crate::value::Seconds;

/// Where and how `<validate-jwt>` may be used.
pub const INFO: PolicyInfo = PolicyInfo {
    category: "Authentication and authorization",
    summary: "Validates a JWT (signature, lifetime, audience, issuer, claims; optional decryption) from a header, query parameter or expression.",
    doc: "https://learn.microsoft.com/azure/api-management/validate-jwt-policy",
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
    /// Validates a JWT (signature, lifetime, audience, issuer, claims; optional decryption) from a header, query parameter or expression.
    pub struct ValidateJwt = "validate-jwt";
    attrs {
        /// one of header-name/query-parameter-name/token-value
        header_name: String = "header-name", optional, expr;
        query_parameter_name: String = "query-parameter-name", optional, expr;
        /// must not include 'Bearer '
        token_value: String = "token-value", optional, expr;
        failed_validation_httpcode: i64 = "failed-validation-httpcode", optional, expr, default "401";
        /// default varies, e.g. 'JWT not present.'
        failed_validation_error_message: String = "failed-validation-error-message", optional, expr;
        require_expiration_time: bool = "require-expiration-time", optional, expr, default "true";
        /// e.g. Bearer; ignored when header-name is a custom header
        require_scheme: String = "require-scheme", optional, expr;
        require_signed_tokens: bool = "require-signed-tokens", optional, expr, default "true";
        /// doc calls it a Timespan; statement says seconds; default '0 seconds'
        clock_skew: Seconds = "clock-skew", optional, expr, default "0";
        /// receives Jwt object
        output_token_variable_name: String = "output-token-variable-name", optional, literal;
    }
    children {
        openid_configs: many OpenidConfig = "openid-config";
        issuer_signing_keys: optional IssuerSigningKeys = "issuer-signing-keys";
        decryption_keys: optional DecryptionKeys = "decryption-keys";
        audiences: optional Audiences = "audiences";
        issuers: optional Issuers = "issuers";
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
        /// claim name; present in policy statement but omitted from validate-jwt attribute table; doc silent on expressions
        name: String = "name", required, expr;
        /// all: every listed value must be present; any: at least one; doc silent on expressions
        match_: Match = "match", optional, expr, default "all";
        /// splits a multi-valued claim, e.g. ','; doc silent on expressions
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
    /// `<issuers>` element.
    pub struct Issuers = "issuers";
    attrs {
    }
    children {
        issuers: some Issuer = "issuer";
    }
    content: ();
    rules: [];
}

element! {
    /// `<issuer>` element.
    pub struct Issuer = "issuer";
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
    /// `<decryption-keys>` element.
    pub struct DecryptionKeys = "decryption-keys";
    attrs {
    }
    children {
        keys: some DecryptionKeysKey = "key";
    }
    content: ();
    rules: [];
}

element! {
    /// `<key>` element.
    pub struct DecryptionKeysKey = "key";
    attrs {
        /// doc silent on expressions
        certificate_id: String = "certificate-id", optional, expr;
    }
    children {
    }
    content: Text;
    rules: [];
}

element! {
    /// `<issuer-signing-keys>` element.
    pub struct IssuerSigningKeys = "issuer-signing-keys";
    attrs {
    }
    children {
        keys: some Key = "key";
    }
    content: ();
    rules: [];
}

element! {
    /// `<key>` element.
    pub struct Key = "key";
    attrs {
        /// matches token kid; doc silent on expressions
        id: String = "id", optional, expr;
        /// uploaded certificate; doc silent on expressions
        certificate_id: String = "certificate-id", optional, expr;
        /// RSA modulus base64url; with e
        n: String = "n", optional, literal;
        /// RSA exponent base64url; with n
        e: String = "e", optional, literal;
    }
    children {
    }
    content: Text;
    rules: [];
}

element! {
    /// `<openid-config>` element.
    pub struct OpenidConfig = "openid-config";
    attrs {
        /// OIDC discovery document URL; JWKS cached 1h, refetch at most every 5 min on unknown kid; doc silent on expressions
        url: String = "url", required, expr;
        /// false disables availability check; default not stated (statement shows true|false); doc silent on expressions
        validate_connectivity: bool = "validate-connectivity", optional, expr;
    }
    children {
    }
    content: ();
    rules: [];
}
