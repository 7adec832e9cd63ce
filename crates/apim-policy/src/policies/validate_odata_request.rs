//! `<validate-odata-request>`: Validates URL, headers and parameters of an OData request against the OData specification.
//!
//! Azure: https://learn.microsoft.com/azure/api-management/validate-odata-request-policy
//! Parsing and validation only; execution arrives with the executor.

use crate::element;
#[allow(unused_imports)]
use crate::read::{Block, Raw, Text};
use crate::spec::{PolicyInfo, Scope, Section};
#[allow(unused_imports)]
use crate::value::Seconds;

/// Where and how `<validate-odata-request>` may be used.
pub const INFO: PolicyInfo = PolicyInfo {
    category: "Content validation",
    summary: "Validates URL, headers and parameters of an OData request against the OData specification.",
    doc: "https://learn.microsoft.com/azure/api-management/validate-odata-request-policy",
    sections: &[Section::Inbound],
    scopes: &[Scope::Global, Scope::Workspace, Scope::Product, Scope::Api],
    executes: false,
    once_per_section: true,
};

element! {
    /// Validates URL, headers and parameters of an OData request against the OData specification.
    pub struct ValidateOdataRequest = "validate-odata-request";
    attrs {
        /// doc silent on expressions
        error_variable_name: String = "error-variable-name", optional, expr;
        /// doc silent on expressions
        default_odata_version: String = "default-odata-version", optional, expr, default "4.0";
        /// doc silent on expressions
        min_odata_version: String = "min-odata-version", optional, expr;
        /// doc silent on expressions
        max_odata_version: String = "max-odata-version", optional, expr;
        /// bytes; doc silent on expressions
        max_size: i64 = "max-size", optional, expr;
    }
    children {
    }
    content: ();
    rules: [];
}
