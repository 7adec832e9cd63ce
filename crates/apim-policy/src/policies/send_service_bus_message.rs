//! `<send-service-bus-message>`: Publishes a message (payload plus optional properties) to an Azure Service Bus queue or topic using a managed identity (preview).
//!
//! Azure: https://learn.microsoft.com/azure/api-management/send-service-bus-message-policy
//! Parsing and validation only; execution arrives with the executor.

use crate::element;
#[allow(unused_imports)]
use crate::read::{Block, Raw, Text};
use crate::spec::{PolicyInfo, Rule, Scope, Section};
#[allow(unused_imports)]
use crate::value::Seconds;

/// Where and how `<send-service-bus-message>` may be used.
pub const INFO: PolicyInfo = PolicyInfo {
    category: "Integration and external communication",
    summary: "Publishes a message (payload plus optional properties) to an Azure Service Bus queue or topic using a managed identity (preview).",
    doc: "https://learn.microsoft.com/azure/api-management/send-service-bus-message-policy",
    sections: &[Section::Inbound, Section::Outbound, Section::OnError],
    scopes: &[Scope::Global, Scope::Product, Scope::Api, Scope::Operation],
    executes: false,
    once_per_section: false,
};

element! {
    /// Publishes a message (payload plus optional properties) to an Azure Service Bus queue or topic using a managed identity (preview).
    pub struct SendServiceBusMessage = "send-service-bus-message";
    attrs {
        /// Expressions and named values allowed. One of queue-name/topic-name must be given
        queue_name: String = "queue-name", optional, expr;
        /// Expressions and named values allowed. One of queue-name/topic-name must be given
        topic_name: String = "topic-name", optional, expr;
        /// FQDN of the Service Bus namespace, e.g. my-sb.servicebus.windows.net; doc marks it not required (no default documented)
        namespace: String = "namespace", optional, expr;
        /// User-assigned identity client id; system-assigned identity if omitted
        client_id: String = "client-id", optional, expr;
    }
    children {
        message_properties: optional MessageProperties = "message-properties";
        payload: one Payload = "payload";
    }
    content: ();
    rules: [Rule::ExactlyOne(&["queue-name", "topic-name"])];
}

element! {
    /// `<payload>` element.
    pub struct Payload = "payload";
    attrs {
    }
    children {
    }
    content: Text;
    rules: [];
}

element! {
    /// `<message-properties>` element.
    pub struct MessageProperties = "message-properties";
    attrs {
    }
    children {
        message_propertys: many MessageProperty = "message-property";
    }
    content: ();
    rules: [];
}

element! {
    /// `<message-property>` element.
    pub struct MessageProperty = "message-property";
    attrs {
        /// expr column not given for the sub-attribute
        name: String = "name", required, expr;
    }
    children {
    }
    content: Text;
    rules: [];
}
