//! `<cross-domain>`: Serves an Adobe Flash / Silverlight cross-domain policy so those clients can call the API.
//!
//! Azure: https://learn.microsoft.com/azure/api-management/cross-domain-policy
//! Parsing and validation only; execution arrives with the executor.

use crate::element;
#[allow(unused_imports)]
use crate::read::{Block, Raw, Text};
use crate::spec::{PolicyInfo, Scope, Section};
#[allow(unused_imports)]
use crate::value::Seconds;

/// Where and how `<cross-domain>` may be used.
pub const INFO: PolicyInfo = PolicyInfo {
    category: "Cross-domain",
    summary: "Serves an Adobe Flash / Silverlight cross-domain policy so those clients can call the API.",
    doc: "https://learn.microsoft.com/azure/api-management/cross-domain-policy",
    sections: &[Section::Inbound],
    scopes: &[Scope::Global],
    executes: false,
    once_per_section: false,
};

element! {
    /// Serves an Adobe Flash / Silverlight cross-domain policy so those clients can call the API.
    pub struct CrossDomain = "cross-domain";
    attrs {
    }
    children {
    }
    content: Raw;
    rules: [];
}
