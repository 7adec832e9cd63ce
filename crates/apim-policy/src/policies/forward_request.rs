//! `<forward-request>`: Sends the current request to the backend service chosen for it in the request context and makes the backend's reply the current response.
//!
//! Azure: https://learn.microsoft.com/azure/api-management/forward-request-policy
//! Executed by apim-exec (`crates/apim-exec/src/policies/`).

use crate::element;
#[allow(unused_imports)]
use crate::read::{Block, Raw, Text};
use crate::spec::{PolicyInfo, Rule, Scope, Section};
#[allow(unused_imports)]
use crate::value::Seconds;

/// Where and how `<forward-request>` may be used.
pub const INFO: PolicyInfo = PolicyInfo {
    category: "Routing",
    summary: "Sends the current request to the backend service chosen for it in the request context and makes the backend's reply the current response.",
    doc: "https://learn.microsoft.com/azure/api-management/forward-request-policy",
    sections: &[Section::Backend],
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
    /// Values of `HttpVersion`.
    pub enum HttpVersion {
        V1 = "1",
        V2or1 = "2or1",
        V2 = "2",
    }
}

element! {
    /// Sends the current request to the backend service chosen for it in the request context and makes the backend's reply the current response.
    pub struct ForwardRequest = "forward-request";
    attrs {
        /// Seconds to wait for the backend's response headers before a timeout error. Minimum 0. Values above 240 may not be honoured. Cannot be combined with timeout-ms.
        timeout: Seconds = "timeout", optional, expr, default "300";
        /// Same timeout in milliseconds (min 0). Cannot be combined with timeout. Doc default N/A.
        timeout_ms: i64 = "timeout-ms", optional, expr;
        /// Seconds to wait for a '100 Continue' from the backend before a timeout error. Doc default N/A.
        continue_timeout: Seconds = "continue-timeout", optional, expr;
        /// 2or1 = try HTTP/2 first and fall back to HTTP/1. The doc does not say whether expressions are allowed (expr=null). The 2023 doc says HTTP/2 is only supported in the self-hosted gateway.
        http_version: HttpVersion = "http-version", optional, expr, default "1";
        /// true = the gateway follows backend redirects; false = the redirect response goes back to the caller.
        follow_redirects: bool = "follow-redirects", optional, expr, default "false";
        /// true = the request body is buffered so it can be sent again on retry. The doc does not say whether expressions are allowed.
        buffer_request_body: bool = "buffer-request-body", optional, expr, default "false";
        /// Chunked responses: true = buffer chunks (8 KB or end of stream) before passing them on; false = pass each chunk on at once (e.g. SSE).
        buffer_response: bool = "buffer-response", optional, literal, default "true";
        /// true = a backend status from 400 to 599 triggers the on-error section.
        fail_on_error_status_code: bool = "fail-on-error-status-code", optional, literal, default "false";
    }
    children {
    }
    content: ();
    rules: [Rule::AtMostOne(&["timeout", "timeout-ms"])];
}
