//! `<include-fragment>`: Splices the XML of a named policy fragment in place.
//!
//! Azure: https://learn.microsoft.com/azure/api-management/include-fragment-policy
//! Executed by apim-exec: the fragment is spliced in when the plan is compiled.

use crate::element;
#[allow(unused_imports)]
use crate::read::{Block, Raw, Text};
use crate::spec::{PolicyInfo, Scope, Section};
#[allow(unused_imports)]
use crate::value::Seconds;

/// Where and how `<include-fragment>` may be used.
pub const INFO: PolicyInfo = PolicyInfo {
    category: "Policy control and flow",
    summary: "Splices the XML of a named policy fragment in place.",
    doc: "https://learn.microsoft.com/azure/api-management/include-fragment-policy",
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
    /// Splices the XML of a named policy fragment in place.
    pub struct IncludeFragment = "include-fragment";
    attrs {
        /// Name of a policy fragment in the instance
        fragment_id: String = "fragment-id", required, literal;
    }
    children {
    }
    content: ();
    rules: [];
}
