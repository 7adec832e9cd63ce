//! `<trace>`: Adds a custom trace entry (message plus optional metadata) to request tracing output, Application Insights and resource logs.
//!
//! Azure: https://learn.microsoft.com/azure/api-management/trace-policy
//! Executed by apim-exec (`crates/apim-exec/src/policies/`).

use crate::element;
#[allow(unused_imports)]
use crate::read::{Block, Raw, Text};
use crate::spec::{PolicyInfo, Scope, Section};
#[allow(unused_imports)]
use crate::value::Seconds;

/// Where and how `<trace>` may be used.
pub const INFO: PolicyInfo = PolicyInfo {
    category: "Logging",
    summary: "Adds a custom trace entry (message plus optional metadata) to request tracing output, Application Insights and resource logs.",
    doc: "https://learn.microsoft.com/azure/api-management/trace-policy",
    sections: &[Section::Inbound, Section::Backend, Section::Outbound],
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

crate::attr_enum! {
    /// Values of `Severity`.
    pub enum Severity {
        Verbose = "verbose",
        Information = "information",
        Error = "error",
    }
}

element! {
    /// Adds a custom trace entry (message plus optional metadata) to request tracing output, Application Insights and resource logs.
    pub struct Trace = "trace";
    attrs {
        /// Literal shown in trace viewer
        source: String = "source", required, literal;
        /// ordered lowest to highest; emitted to App Insights/resource logs only if >= diagnostic verbosity
        severity: Severity = "severity", optional, literal, default "verbose";
    }
    children {
        message: one Message = "message";
        metadatas: many Metadata = "metadata";
    }
    content: ();
    rules: [];
}

element! {
    /// `<metadata>` element.
    pub struct Metadata = "metadata";
    attrs {
        /// Statement says 'string literal or expressions'; attribute table silent on expressions
        name: String = "name", required, expr;
        /// as for name
        value: String = "value", required, expr;
    }
    children {
    }
    content: ();
    rules: [];
}

element! {
    /// `<message>` element.
    pub struct Message = "message";
    attrs {
    }
    children {
    }
    content: Text;
    rules: [];
}
