//! `<emit-metric>`: Emits a custom metric with dimensions to Application Insights.
//!
//! Azure: https://learn.microsoft.com/azure/api-management/emit-metric-policy
//! Executed by apim-exec.

use crate::element;
#[allow(unused_imports)]
use crate::read::{Block, Raw, Text};
use crate::spec::{PolicyInfo, Scope, Section};
#[allow(unused_imports)]
use crate::value::Seconds;

/// Where and how `<emit-metric>` may be used.
pub const INFO: PolicyInfo = PolicyInfo {
    category: "Logging",
    summary: "Emits a custom metric with dimensions to Application Insights.",
    doc: "https://learn.microsoft.com/azure/api-management/emit-metric-policy",
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
    /// Emits a custom metric with dimensions to Application Insights.
    pub struct EmitMetric = "emit-metric";
    attrs {
        name: String = "name", required, literal;
        namespace: String = "namespace", optional, literal, default "API Management";
        /// Current doc: a double (2022 doc said integer); parse as f64
        value: String = "value", optional, expr, default "1";
    }
    children {
        dimensions: some Dimension = "dimension";
    }
    content: ();
    rules: [];
}

element! {
    /// `<dimension>` element.
    pub struct Dimension = "dimension";
    attrs {
        /// 'A string or policy expression'
        name: String = "name", required, expr;
        /// May be omitted only when name is one of the default dimensions
        value: String = "value", optional, expr;
    }
    children {
    }
    content: ();
    rules: [];
}
