//! `<llm-emit-token-metric>`: Emits LLM token-usage metrics (total/prompt/completion, plus preview categories) with dimensions to Application Insights.
//!
//! Azure: https://learn.microsoft.com/azure/api-management/llm-emit-token-metric-policy
//! Executed by apim-exec (`policies/metrics.rs`): recorded in an in-memory metrics sink.

use crate::element;
#[allow(unused_imports)]
use crate::read::{Block, Raw, Text};
use crate::spec::{PolicyInfo, Scope, Section};
#[allow(unused_imports)]
use crate::value::Seconds;

/// Where and how `<llm-emit-token-metric>` may be used.
pub const INFO: PolicyInfo = PolicyInfo {
    category: "Logging",
    summary: "Emits LLM token-usage metrics (total/prompt/completion, plus preview categories) with dimensions to Application Insights.",
    doc: "https://learn.microsoft.com/azure/api-management/llm-emit-token-metric-policy",
    sections: &[Section::Inbound],
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
    /// Emits LLM token-usage metrics (total/prompt/completion, plus preview categories) with dimensions to Application Insights.
    pub struct LlmEmitTokenMetric = "llm-emit-token-metric";
    attrs {
        namespace: String = "namespace", optional, literal, default "API Management";
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
