//! `<wait>`: Runs its immediate child policies in parallel and completes when all (or the first) of them finish.
//!
//! Azure: https://learn.microsoft.com/azure/api-management/wait-policy
//! Executed by apim-exec (`crates/apim-exec/src/policies/`).

use crate::element;
#[allow(unused_imports)]
use crate::read::{Block, Raw, Text};
use crate::spec::{PolicyInfo, Scope, Section};
#[allow(unused_imports)]
use crate::value::Seconds;

/// Where and how `<wait>` may be used.
pub const INFO: PolicyInfo = PolicyInfo {
    category: "Policy control and flow",
    summary: "Runs its immediate child policies in parallel and completes when all (or the first) of them finish.",
    doc: "https://learn.microsoft.com/azure/api-management/wait-policy",
    sections: &[Section::Inbound, Section::Backend, Section::Outbound],
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
    /// Values of `For`.
    pub enum For {
        All = "all",
        Any = "any",
    }
}

element! {
    /// Runs its immediate child policies in parallel and completes when all (or the first) of them finish.
    pub struct Wait = "wait";
    attrs {
        /// any: finish on first completed child and terminate the others
        for_: For = "for", optional, expr, default "all";
    }
    children {
    }
    content: Block;
    rules: [];
}
