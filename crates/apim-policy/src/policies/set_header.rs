//! `<set-header>`: Adds, overrides, appends to, skips or deletes an HTTP header on the request (inbound/backend) or response (outbound/on-error).
//!
//! Azure: https://learn.microsoft.com/azure/api-management/set-header-policy
//! Executed by apim-exec (`crates/apim-exec/src/policies/`).

use crate::element;
#[allow(unused_imports)]
use crate::read::{Block, Raw, Text};
use crate::spec::{PolicyInfo, Scope, Section};
#[allow(unused_imports)]
use crate::value::Seconds;

/// Where and how `<set-header>` may be used.
pub const INFO: PolicyInfo = PolicyInfo {
    category: "Transformation",
    summary: "Adds, overrides, appends to, skips or deletes an HTTP header on the request (inbound/backend) or response (outbound/on-error).",
    doc: "https://learn.microsoft.com/azure/api-management/set-header-policy",
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
    /// Adds, overrides, appends to, skips or deletes an HTTP header on the request (inbound/backend) or response (outbound/on-error).
    pub struct SetHeader = "set-header";
    attrs {
        /// Header name.
        name: String = "name", required, expr;
        /// override replaces the existing value with all listed values; skip keeps an existing header untouched; append adds the values to the existing ones; delete removes the header.
        exists_action: ExistsAction = "exists-action", optional, expr, default "override";
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
