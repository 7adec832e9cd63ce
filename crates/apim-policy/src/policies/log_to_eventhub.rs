//! `<log-to-eventhub>`: Sends a string message to an Event Hub configured as an API Management Logger entity.
//!
//! Azure: https://learn.microsoft.com/azure/api-management/log-to-eventhub-policy
//! Executed by apim-exec.

use crate::element;
#[allow(unused_imports)]
use crate::read::{Block, Raw, Text};
use crate::spec::{PolicyInfo, Rule, Scope, Section};
#[allow(unused_imports)]
use crate::value::Seconds;

/// Where and how `<log-to-eventhub>` may be used.
pub const INFO: PolicyInfo = PolicyInfo {
    category: "Integration and external communication",
    summary: "Sends a string message to an Event Hub configured as an API Management Logger entity.",
    doc: "https://learn.microsoft.com/azure/api-management/log-to-eventhub-policy",
    sections: &[
        Section::Inbound,
        Section::Backend,
        Section::Outbound,
        Section::OnError,
    ],
    scopes: &[Scope::Global, Scope::Product, Scope::Api, Scope::Operation],
    executes: true,
    once_per_section: false,
};

element! {
    /// Sends a string message to an Event Hub configured as an API Management Logger entity.
    pub struct LogToEventhub = "log-to-eventhub";
    attrs {
        /// Logger entity id
        logger_id: String = "logger-id", required, literal;
        /// Partition index; do not combine with partition-key
        partition_id: String = "partition-id", optional, literal;
        /// Do not combine with partition-id
        partition_key: String = "partition-key", optional, expr;
    }
    children {
    }
    content: Text;
    rules: [Rule::AtMostOne(&["partition-id", "partition-key"])];
}
