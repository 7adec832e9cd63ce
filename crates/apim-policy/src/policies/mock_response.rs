//! `<mock-response>`: Stops normal pipeline processing and returns a mocked response built from the operation's response examples or schema (or empty).
//!
//! Azure: https://learn.microsoft.com/azure/api-management/mock-response-policy
//! Executed by apim-exec (`crates/apim-exec/src/policies/`).

use crate::element;
#[allow(unused_imports)]
use crate::read::{Block, Raw, Text};
use crate::spec::{PolicyInfo, Scope, Section};
#[allow(unused_imports)]
use crate::value::Seconds;

/// Where and how `<mock-response>` may be used.
pub const INFO: PolicyInfo = PolicyInfo {
    category: "Transformation",
    summary: "Stops normal pipeline processing and returns a mocked response built from the operation's response examples or schema (or empty).",
    doc: "https://learn.microsoft.com/azure/api-management/mock-response-policy",
    sections: &[Section::Inbound, Section::Outbound, Section::OnError],
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
    /// Stops normal pipeline processing and returns a mocked response built from the operation's response examples or schema (or empty).
    pub struct MockResponse = "mock-response";
    attrs {
        /// Status code of the mock response; also selects the example or schema.
        status_code: i64 = "status-code", optional, literal, default "200";
        /// Content-Type of the mock response; also selects the example or schema. Doc default 'None' (first content type found is used).
        content_type: String = "content-type", optional, literal;
    }
    children {
    }
    content: ();
    rules: [];
}
