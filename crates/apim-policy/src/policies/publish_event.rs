//! `<publish-event>`: Inside a resolver response, publishes the result as an event to one or more GraphQL subscription fields.
//!
//! Azure: https://learn.microsoft.com/azure/api-management/publish-event-policy
//! Parsing and validation only; execution arrives with the executor.

use crate::element;
#[allow(unused_imports)]
use crate::read::{Block, Raw, Text};
#[allow(unused_imports)]
use crate::spec::{PolicyInfo, Scope, Section};
#[allow(unused_imports)]
use crate::value::Seconds;

/// Where and how `<publish-event>` may be used.
pub const INFO: PolicyInfo = PolicyInfo {
    category: "GraphQL resolvers",
    summary: "Inside a resolver response, publishes the result as an event to one or more GraphQL subscription fields.",
    doc: "https://learn.microsoft.com/azure/api-management/publish-event-policy",
    sections: &[],
    scopes: &[],
    executes: false,
    once_per_section: false,
};

element! {
    /// Inside a resolver response, publishes the result as an event to one or more GraphQL subscription fields.
    pub struct PublishEvent = "publish-event";
    attrs {
    }
    children {
        targets: one Targets = "targets";
    }
    content: ();
    rules: [];
}

element! {
    /// `<targets>` element.
    pub struct Targets = "targets";
    attrs {
    }
    children {
        graphql_subscriptions: some GraphqlSubscription = "graphql-subscription";
    }
    content: ();
    rules: [];
}

element! {
    /// `<graphql-subscription>` element.
    pub struct GraphqlSubscription = "graphql-subscription";
    attrs {
        /// subscription field name
        id: String = "id", required, expr;
    }
    children {
    }
    content: ();
    rules: [];
}
