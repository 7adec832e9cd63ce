//! `<check-header>`: Requires a request header to be present and optionally to match one of a set of values; otherwise ends the request with a configured status and message.
//!
//! Azure: https://learn.microsoft.com/azure/api-management/check-header-policy
//! Executed by apim-exec.

use crate::element;
#[allow(unused_imports)]
use crate::read::{Block, Raw, Text};
use crate::spec::{PolicyInfo, Scope, Section};
#[allow(unused_imports)]
use crate::value::Seconds;

/// Where and how `<check-header>` may be used.
pub const INFO: PolicyInfo = PolicyInfo {
    category: "Authentication and authorization",
    summary: "Requires a request header to be present and optionally to match one of a set of values; otherwise ends the request with a configured status and message.",
    doc: "https://learn.microsoft.com/azure/api-management/check-header-policy",
    sections: &[Section::Inbound],
    scopes: &[Scope::Global, Scope::Product, Scope::Api, Scope::Operation],
    executes: true,
    once_per_section: false,
};

element! {
    /// Requires a request header to be present and optionally to match one of a set of values; otherwise ends the request with a configured status and message.
    pub struct CheckHeader = "check-header";
    attrs {
        /// header to check
        name: String = "name", required, expr;
        /// status code returned on failure
        failed_check_httpcode: i64 = "failed-check-httpcode", required, expr;
        /// message placed in response body on failure; special characters must be escaped
        failed_check_error_message: String = "failed-check-error-message", required, expr;
        /// case-insensitive comparison of values
        ignore_case: bool = "ignore-case", required, expr;
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
