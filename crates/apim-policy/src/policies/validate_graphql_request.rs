//! `<validate-graphql-request>`: Validates a GraphQL request (size, depth, schema) and authorizes individual query paths.
//!
//! Azure: https://learn.microsoft.com/azure/api-management/validate-graphql-request-policy
//! Parsing and validation only; execution arrives with the executor.

use crate::element;
#[allow(unused_imports)]
use crate::read::{Block, Raw, Text};
use crate::spec::{PolicyInfo, Scope, Section};
#[allow(unused_imports)]
use crate::value::Seconds;

/// Where and how `<validate-graphql-request>` may be used.
pub const INFO: PolicyInfo = PolicyInfo {
    category: "Content validation",
    summary: "Validates a GraphQL request (size, depth, schema) and authorizes individual query paths.",
    doc: "https://learn.microsoft.com/azure/api-management/validate-graphql-request-policy",
    sections: &[Section::Inbound],
    scopes: &[Scope::Global, Scope::Workspace, Scope::Product, Scope::Api],
    executes: false,
    once_per_section: true,
};

crate::attr_enum! {
    /// Values of `Action`.
    pub enum Action {
        Allow = "allow",
        Remove = "remove",
        Reject = "reject",
        Ignore = "ignore",
    }
}

element! {
    /// Validates a GraphQL request (size, depth, schema) and authorizes individual query paths.
    pub struct ValidateGraphqlRequest = "validate-graphql-request";
    attrs {
        error_variable_name: String = "error-variable-name", optional, expr;
        /// bytes; max 102400
        max_size: i64 = "max-size", required, expr;
        max_depth: i64 = "max-depth", optional, expr, default "6";
    }
    children {
        authorize: optional Authorize = "authorize";
    }
    content: ();
    rules: [];
}

element! {
    /// `<authorize>` element.
    pub struct Authorize = "authorize";
    attrs {
    }
    children {
        rules: many Rule = "rule";
    }
    content: ();
    rules: [];
}

element! {
    /// `<rule>` element.
    pub struct Rule = "rule";
    attrs {
        /// /type/field; '/__*' = introspection; most specific match wins; doc silent on expressions
        path: String = "path", required, expr;
        action: Action = "action", optional, expr, default "allow";
    }
    children {
    }
    content: ();
    rules: [];
}
