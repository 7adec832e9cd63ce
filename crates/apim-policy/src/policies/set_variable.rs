//! `<set-variable>`: Stores a value (literal string or expression result) in a named context variable.
//!
//! Azure: https://learn.microsoft.com/azure/api-management/set-variable-policy
//! Executed by apim-exec (`crates/apim-exec/src/policies/`).

use crate::element;
#[allow(unused_imports)]
use crate::read::{Block, Raw, Text};
use crate::spec::{PolicyInfo, Scope, Section};
#[allow(unused_imports)]
use crate::value::Seconds;

/// Where and how `<set-variable>` may be used.
pub const INFO: PolicyInfo = PolicyInfo {
    category: "Transformation",
    summary: "Stores a value (literal string or expression result) in a named context variable.",
    doc: "https://learn.microsoft.com/azure/api-management/set-variable-policy",
    sections: &[
        Section::Inbound,
        Section::Backend,
        Section::Outbound,
        Section::OnError,
    ],
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

element! {
    /// Stores a value (literal string or expression result) in a named context variable.
    pub struct SetVariable = "set-variable";
    attrs {
        /// Variable name.
        name: String = "name", required, literal;
        /// A literal (stored as System.String) or an expression. The doc table has no Default column.
        value: String = "value", required, expr;
    }
    children {
    }
    content: ();
    rules: [];
}
