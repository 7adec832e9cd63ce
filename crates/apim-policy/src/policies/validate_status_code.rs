//! `<validate-status-code>`: Validates response status codes against those declared in the API schema.
//!
//! Azure: https://learn.microsoft.com/azure/api-management/validate-status-code-policy
//! Parsing and validation only; execution arrives with the executor.

use crate::element;
#[allow(unused_imports)]
use crate::read::{Block, Raw, Text};
use crate::spec::{PolicyInfo, Scope, Section};
#[allow(unused_imports)]
use crate::value::Seconds;

/// Where and how `<validate-status-code>` may be used.
pub const INFO: PolicyInfo = PolicyInfo {
    category: "Content validation",
    summary: "Validates response status codes against those declared in the API schema.",
    doc: "https://learn.microsoft.com/azure/api-management/validate-status-code-policy",
    sections: &[Section::Outbound, Section::OnError],
    scopes: &[Scope::Global, Scope::Product, Scope::Api, Scope::Operation],
    executes: false,
    once_per_section: false,
};

crate::attr_enum! {
    /// Values of `Action`.
    pub enum Action {
        Ignore = "ignore",
        Prevent = "prevent",
        Detect = "detect",
    }
}

crate::attr_enum! {
    /// Values of `UnspecifiedStatusCodeAction`.
    pub enum UnspecifiedStatusCodeAction {
        Ignore = "ignore",
        Prevent = "prevent",
        Detect = "detect",
    }
}

element! {
    /// Validates response status codes against those declared in the API schema.
    pub struct ValidateStatusCode = "validate-status-code";
    attrs {
        unspecified_status_code_action: UnspecifiedStatusCodeAction = "unspecified-status-code-action", required, expr;
        errors_variable_name: String = "errors-variable-name", optional, literal;
    }
    children {
        status_codes: many StatusCode = "status-code";
    }
    content: ();
    rules: [];
}

element! {
    /// `<status-code>` element.
    pub struct StatusCode = "status-code";
    attrs {
        /// doc silent on expressions
        code: i64 = "code", required, expr;
        /// only applies when the code is not in the schema; doc silent on expressions
        action: Action = "action", required, expr;
    }
    children {
    }
    content: ();
    rules: [];
}
