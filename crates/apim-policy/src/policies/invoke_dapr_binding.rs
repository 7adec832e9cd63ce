//! `<invoke-dapr-binding>`: Self-hosted gateway only: triggers a Dapr output binding through the local Dapr sidecar.
//!
//! Azure: https://learn.microsoft.com/azure/api-management/invoke-dapr-binding-policy
//! Parsing and validation only; execution arrives with the executor.

use crate::element;
#[allow(unused_imports)]
use crate::read::{Block, Raw, Text};
use crate::spec::{PolicyInfo, Scope, Section};
#[allow(unused_imports)]
use crate::value::Seconds;

/// Where and how `<invoke-dapr-binding>` may be used.
pub const INFO: PolicyInfo = PolicyInfo {
    category: "Integration and external communication",
    summary: "Self-hosted gateway only: triggers a Dapr output binding through the local Dapr sidecar.",
    doc: "https://learn.microsoft.com/azure/api-management/invoke-dapr-binding-policy",
    sections: &[Section::Inbound, Section::Outbound, Section::OnError],
    scopes: &[Scope::Global, Scope::Product, Scope::Api, Scope::Operation],
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
    /// Self-hosted gateway only: triggers a Dapr output binding through the local Dapr sidecar.
    pub struct InvokeDaprBinding = "invoke-dapr-binding";
    attrs {
        /// binding name
        name: String = "name", required, expr;
        operation: String = "operation", optional, literal;
        ignore_error: bool = "ignore-error", optional, literal, default "false";
        response_variable_name: String = "response-variable-name", optional, literal;
        /// 1..240
        timeout: Seconds = "timeout", optional, expr, default "5";
        template: Template = "template", optional, expr;
        content_type: ContentType = "content-type", optional, expr;
    }
    children {
        metadata: optional Metadata = "metadata";
        data: optional Data = "data";
    }
    content: ();
    rules: [];
}

element! {
    /// `<data>` element.
    pub struct Data = "data";
    attrs {
    }
    children {
    }
    content: Text;
    rules: [];
}

element! {
    /// `<metadata>` element.
    pub struct Metadata = "metadata";
    attrs {
    }
    children {
        items: many Item = "item";
    }
    content: ();
    rules: [];
}

element! {
    /// `<item>` element.
    pub struct Item = "item";
    attrs {
        key: String = "key", required, expr;
    }
    children {
    }
    content: Text;
    rules: [];
}
