//! `<return-response>`: Stops pipeline execution and returns a default (200 OK, empty) or custom response straight to the caller.
//!
//! Azure: https://learn.microsoft.com/azure/api-management/return-response-policy
//! Executed by apim-exec (`crates/apim-exec/src/policies/`).

use crate::element;
#[allow(unused_imports)]
use crate::read::{Block, Raw, Text};
use crate::spec::{PolicyInfo, Scope, Section};
#[allow(unused_imports)]
use crate::value::Seconds;

/// Where and how `<return-response>` may be used.
pub const INFO: PolicyInfo = PolicyInfo {
    category: "Transformation",
    summary: "Stops pipeline execution and returns a default (200 OK, empty) or custom response straight to the caller.",
    doc: "https://learn.microsoft.com/azure/api-management/return-response-policy",
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
    /// Stops pipeline execution and returns a default (200 OK, empty) or custom response straight to the caller.
    pub struct ReturnResponse = "return-response";
    attrs {
        /// Context variable holding a response object (e.g. from send-request). Child policies modify that response before it is returned.
        response_variable_name: String = "response-variable-name", optional, literal;
    }
    children {
        set_status: optional super::set_status::SetStatus = "set-status";
        set_headers: many super::set_header::SetHeader = "set-header";
        set_body: optional super::set_body::SetBody = "set-body";
    }
    content: ();
    rules: [];
}
