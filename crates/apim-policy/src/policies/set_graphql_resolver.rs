//! `<set-graphql-resolver>`: Legacy (retired) policy that resolved a GraphQL parent-type/field through an embedded http-data-source.
//!
//! Azure: https://learn.microsoft.com/azure/api-management/set-graphql-resolver-policy
//! Parsing and validation only; execution arrives with the executor.

use crate::element;
#[allow(unused_imports)]
use crate::read::{Block, Raw, Text};
use crate::spec::{PolicyInfo, Scope, Section};
#[allow(unused_imports)]
use crate::value::Seconds;

/// Where and how `<set-graphql-resolver>` may be used.
pub const INFO: PolicyInfo = PolicyInfo {
    category: "Retired",
    summary: "Legacy (retired) policy that resolved a GraphQL parent-type/field through an embedded http-data-source.",
    doc: "https://learn.microsoft.com/azure/api-management/set-graphql-resolver-policy",
    sections: &[Section::Backend],
    scopes: &[Scope::Global, Scope::Product, Scope::Api, Scope::Operation],
    executes: false,
    once_per_section: false,
};

element! {
    /// Legacy (retired) policy that resolved a GraphQL parent-type/field through an embedded http-data-source.
    pub struct SetGraphqlResolver = "set-graphql-resolver";
    attrs {
        parent_type: String = "parent-type", required, expr;
        field: String = "field", required, expr;
    }
    children {
        http_data_source: one super::http_data_source::HttpDataSource = "http-data-source";
    }
    content: ();
    rules: [];
}
