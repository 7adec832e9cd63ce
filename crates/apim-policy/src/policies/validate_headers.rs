//! `<validate-headers>`: Validates response headers against the API schema.
//!
//! Azure: https://learn.microsoft.com/azure/api-management/validate-headers-policy
//! Parsing and validation only; execution arrives with the executor.

use crate::element;
#[allow(unused_imports)]
use crate::read::{Block, Raw, Text};
use crate::spec::{PolicyInfo, Scope, Section};
#[allow(unused_imports)]
use crate::value::Seconds;

/// Where and how `<validate-headers>` may be used.
pub const INFO: PolicyInfo = PolicyInfo {
    category: "Content validation",
    summary: "Validates response headers against the API schema.",
    doc: "https://learn.microsoft.com/azure/api-management/validate-headers-policy",
    sections: &[Section::Outbound, Section::OnError],
    scopes: &[
        Scope::Global,
        Scope::Workspace,
        Scope::Product,
        Scope::Api,
        Scope::Operation,
    ],
    executes: false,
    once_per_section: true,
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
    /// Values of `SpecifiedHeaderAction`.
    pub enum SpecifiedHeaderAction {
        Ignore = "ignore",
        Prevent = "prevent",
        Detect = "detect",
    }
}

crate::attr_enum! {
    /// Values of `UnspecifiedHeaderAction`.
    pub enum UnspecifiedHeaderAction {
        Ignore = "ignore",
        Prevent = "prevent",
        Detect = "detect",
    }
}

element! {
    /// Validates response headers against the API schema.
    pub struct ValidateHeaders = "validate-headers";
    attrs {
        specified_header_action: SpecifiedHeaderAction = "specified-header-action", required, expr;
        unspecified_header_action: UnspecifiedHeaderAction = "unspecified-header-action", required, expr;
        errors_variable_name: String = "errors-variable-name", optional, literal;
    }
    children {
        headers: many Header = "header";
    }
    content: ();
    rules: [];
}

element! {
    /// `<header>` element.
    pub struct Header = "header";
    attrs {
        /// no attribute table in doc; doc silent on expressions
        name: String = "name", required, expr;
        /// no attribute table in doc; doc silent on expressions
        action: Action = "action", required, expr;
    }
    children {
    }
    content: ();
    rules: [];
}
