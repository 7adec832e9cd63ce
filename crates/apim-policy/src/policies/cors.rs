//! `<cors>`: Adds CORS support: answers preflight OPTIONS requests and adds CORS headers for allowed origins.
//!
//! Azure: https://learn.microsoft.com/azure/api-management/cors-policy
//! Executed by apim-exec (`policies/cors.rs`).

use crate::element;
#[allow(unused_imports)]
use crate::read::{Block, Raw, Text};
use crate::spec::{PolicyInfo, Scope, Section};
#[allow(unused_imports)]
use crate::value::Seconds;

/// Where and how `<cors>` may be used.
pub const INFO: PolicyInfo = PolicyInfo {
    category: "Cross-domain",
    summary: "Adds CORS support: answers preflight OPTIONS requests and adds CORS headers for allowed origins.",
    doc: "https://learn.microsoft.com/azure/api-management/cors-policy",
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
    /// Adds CORS support: answers preflight OPTIONS requests and adds CORS headers for allowed origins.
    pub struct Cors = "cors";
    attrs {
        /// Value of Access-Control-Allow-Credentials in the preflight response.
        allow_credentials: bool = "allow-credentials", optional, expr, default "false";
        /// What happens to cross-origin requests that don't match. Preflight: true = end at once with empty 200; false = try other cors policies directly under inbound, else empty 200. GET/HEAD with Origin: true = empty 200; false = continue without CORS headers. DEFAULT CONFLICT: the 2024-07 table says false, but the same page's 'Common configuration issues' says its default is true. Older docs and the local notes say true. Make it configurable.
        terminate_unmatched_request: bool = "terminate-unmatched-request", optional, expr, default "false";
    }
    children {
        allowed_origins: one AllowedOrigins = "allowed-origins";
        allowed_methods: optional AllowedMethods = "allowed-methods";
        /// Azure: documented as required, but Microsoft's A2A sample omits it and deploys.
        allowed_headers: optional AllowedHeaders = "allowed-headers";
        expose_headers: optional ExposeHeaders = "expose-headers";
    }
    content: ();
    rules: [];
}

element! {
    /// `<expose-headers>` element.
    pub struct ExposeHeaders = "expose-headers";
    attrs {
    }
    children {
        headers: some Header = "header";
    }
    content: ();
    rules: [];
}

element! {
    /// `<allowed-headers>` element.
    pub struct AllowedHeaders = "allowed-headers";
    attrs {
    }
    children {
        headers: some Header = "header";
    }
    content: ();
    rules: [];
}

element! {
    /// `<header>` element.
    pub struct Header = "header";
    attrs {
    }
    children {
    }
    content: Text;
    rules: [];
}

element! {
    /// `<allowed-methods>` element.
    pub struct AllowedMethods = "allowed-methods";
    attrs {
        /// Value of Access-Control-Max-Age in the preflight response.
        preflight_result_max_age: Seconds = "preflight-result-max-age", optional, expr, default "0";
    }
    children {
        methods: some Method = "method";
    }
    content: ();
    rules: [];
}

element! {
    /// `<method>` element.
    pub struct Method = "method";
    attrs {
    }
    children {
    }
    content: Text;
    rules: [];
}

element! {
    /// `<allowed-origins>` element.
    pub struct AllowedOrigins = "allowed-origins";
    attrs {
    }
    children {
        origins: some Origin = "origin";
    }
    content: ();
    rules: [];
}

element! {
    /// `<origin>` element.
    pub struct Origin = "origin";
    attrs {
    }
    children {
    }
    content: Text;
    rules: [];
}
