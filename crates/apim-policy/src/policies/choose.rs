//! `<choose>`: If/else-if/else control flow: runs the policies of the first <when> whose condition is true, else those of <otherwise>.
//!
//! Azure: https://learn.microsoft.com/azure/api-management/choose-policy
//! Executed by apim-exec (`crates/apim-exec/src/policies/`).

use crate::element;
#[allow(unused_imports)]
use crate::read::{Block, Raw, Text};
use crate::spec::{PolicyInfo, Scope, Section};
#[allow(unused_imports)]
use crate::value::Seconds;

/// Where and how `<choose>` may be used.
pub const INFO: PolicyInfo = PolicyInfo {
    category: "Policy control and flow",
    summary: "If/else-if/else control flow: runs the policies of the first <when> whose condition is true, else those of <otherwise>.",
    doc: "https://learn.microsoft.com/azure/api-management/choose-policy",
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
    /// If/else-if/else control flow: runs the policies of the first <when> whose condition is true, else those of <otherwise>.
    pub struct Choose = "choose";
    attrs {
    }
    children {
        whens: some When = "when";
        otherwise: optional Otherwise = "otherwise";
    }
    content: ();
    rules: [];
}

element! {
    /// `<otherwise>` element.
    pub struct Otherwise = "otherwise";
    attrs {
    }
    children {
    }
    content: Block;
    rules: [];
}

element! {
    /// `<when>` element.
    pub struct When = "when";
    attrs {
        /// Boolean expression or boolean constant
        condition: bool = "condition", required, expr;
    }
    children {
    }
    content: Block;
    rules: [];
}
