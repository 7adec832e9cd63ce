//! `<set-query-parameter>`: Adds, replaces, appends to, skips or deletes a query string parameter on the backend request.
//!
//! Azure: https://learn.microsoft.com/azure/api-management/set-query-parameter-policy
//! Executed by apim-exec (`crates/apim-exec/src/policies/`).

use crate::element;
#[allow(unused_imports)]
use crate::read::{Block, Raw, Text};
use crate::spec::{PolicyInfo, Scope, Section};
#[allow(unused_imports)]
use crate::value::Seconds;

/// Where and how `<set-query-parameter>` may be used.
pub const INFO: PolicyInfo = PolicyInfo {
    category: "Transformation",
    summary: "Adds, replaces, appends to, skips or deletes a query string parameter on the backend request.",
    doc: "https://learn.microsoft.com/azure/api-management/set-query-parameter-policy",
    sections: &[Section::Inbound, Section::Backend],
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
    /// Values of `ExistsAction`.
    pub enum ExistsAction {
        Override = "override",
        Skip = "skip",
        Append = "append",
        Delete = "delete",
    }
}

element! {
    /// Adds, replaces, appends to, skips or deletes a query string parameter on the backend request.
    pub struct SetQueryParameter = "set-query-parameter";
    attrs {
        /// Query parameter name.
        name: String = "name", required, expr;
        /// Same meaning as set-header's exists-action.
        exists_action: ExistsAction = "exists-action", optional, expr, default "override";
    }
    children {
        values: some ValueItem = "value";
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
