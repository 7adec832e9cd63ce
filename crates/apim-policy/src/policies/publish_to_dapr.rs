//! `<publish-to-dapr>`: Self-hosted gateway only: posts a message to a Dapr pub/sub topic through the local Dapr sidecar.
//!
//! Azure: https://learn.microsoft.com/azure/api-management/publish-to-dapr-policy
//! Parsing and validation only; execution arrives with the executor.

use crate::element;
#[allow(unused_imports)]
use crate::read::{Block, Raw, Text};
use crate::spec::{PolicyInfo, Scope, Section};
#[allow(unused_imports)]
use crate::value::Seconds;

/// Where and how `<publish-to-dapr>` may be used.
pub const INFO: PolicyInfo = PolicyInfo {
    category: "Integration and external communication",
    summary: "Self-hosted gateway only: posts a message to a Dapr pub/sub topic through the local Dapr sidecar.",
    doc: "https://learn.microsoft.com/azure/api-management/publish-to-dapr-policy",
    sections: &[Section::Inbound],
    scopes: &[
        Scope::Global,
        Scope::Workspace,
        Scope::Product,
        Scope::Api,
        Scope::Operation,
    ],
    executes: false,
    once_per_section: false,
};

crate::attr_enum! {
    /// Values of `Template`.
    pub enum Template {
        Liquid = "Liquid",
    }
}

crate::attr_enum! {
    /// Values of `ContentType`.
    pub enum ContentType {
        ApplicationJson = "application/json",
    }
}

element! {
    /// Self-hosted gateway only: posts a message to a Dapr pub/sub topic through the local Dapr sidecar.
    pub struct PublishToDapr = "publish-to-dapr";
    attrs {
        /// if absent, topic must be 'pubsub-name/topic-name'; default documented as 'None'
        pubsub_name: String = "pubsub-name", optional, expr;
        topic: String = "topic", required, expr;
        /// true: Dapr errors do not trigger on-error
        ignore_error: bool = "ignore-error", optional, literal, default "false";
        response_variable_name: String = "response-variable-name", optional, literal;
        /// 1..240
        timeout: Seconds = "timeout", optional, expr, default "5";
        /// expr column not stated
        template: Template = "template", optional, expr;
        /// expr column not stated
        content_type: ContentType = "content-type", optional, expr;
    }
    children {
    }
    content: Text;
    rules: [];
}
