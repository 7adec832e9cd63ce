//! `<jsonp>`: Wraps a JSON response in a JavaScript callback (JSONP) when the request carries the callback query parameter.
//!
//! Azure: https://learn.microsoft.com/azure/api-management/jsonp-policy
//! Parsing and validation only; execution arrives with the executor.

use crate::element;
#[allow(unused_imports)]
use crate::read::{Block, Raw, Text};
use crate::spec::{PolicyInfo, Scope, Section};
#[allow(unused_imports)]
use crate::value::Seconds;

/// Where and how `<jsonp>` may be used.
pub const INFO: PolicyInfo = PolicyInfo {
    category: "Cross-domain",
    summary: "Wraps a JSON response in a JavaScript callback (JSONP) when the request carries the callback query parameter.",
    doc: "https://learn.microsoft.com/azure/api-management/jsonp-policy",
    sections: &[Section::Outbound],
    scopes: &[
        Scope::Global,
        Scope::Workspace,
        Scope::Product,
        Scope::Api,
        Scope::Operation,
    ],
    executes: false,
    once_per_section: true,
};

element! {
    /// Wraps a JSON response in a JavaScript callback (JSONP) when the request carries the callback query parameter.
    pub struct Jsonp = "jsonp";
    attrs {
        /// Name of the query parameter holding the callback function name (e.g. cb; ?cb=XYZ makes the body XYZ(<json>)). The doc's own description is muddled; the example makes the meaning clear.
        callback_parameter_name: String = "callback-parameter-name", required, expr;
    }
    children {
    }
    content: ();
    rules: [];
}
