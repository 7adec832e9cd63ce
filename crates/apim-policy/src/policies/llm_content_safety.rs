//! `<llm-content-safety>`: Sends prompts (inbound) or completions (outbound) to Azure AI Content Safety and blocks with 403 when categories, blocklists or prompt attacks are detected.
//!
//! Azure: https://learn.microsoft.com/azure/api-management/llm-content-safety-policy
//! Executed by apim-exec (`policies/content_safety.rs`).

use crate::element;
#[allow(unused_imports)]
use crate::read::{Block, Raw, Text};
use crate::spec::{PolicyInfo, Scope, Section};
#[allow(unused_imports)]
use crate::value::Seconds;

/// Where and how `<llm-content-safety>` may be used.
pub const INFO: PolicyInfo = PolicyInfo {
    category: "Content validation",
    summary: "Sends prompts (inbound) or completions (outbound) to Azure AI Content Safety and blocks with 403 when categories, blocklists or prompt attacks are detected.",
    doc: "https://learn.microsoft.com/azure/api-management/llm-content-safety-policy",
    sections: &[Section::Inbound, Section::Outbound],
    scopes: &[Scope::Global, Scope::Workspace, Scope::Product, Scope::Api],
    executes: true,
    once_per_section: false,
};

crate::attr_enum! {
    /// Values of `Name`.
    pub enum Name {
        Hate = "Hate",
        SelfHarm = "SelfHarm",
        Sexual = "Sexual",
        Violence = "Violence",
    }
}

crate::attr_enum! {
    /// Values of `OutputType`.
    pub enum OutputType {
        FourSeverityLevels = "FourSeverityLevels",
        EightSeverityLevels = "EightSeverityLevels",
    }
}

element! {
    /// Sends prompts (inbound) or completions (outbound) to Azure AI Content Safety and blocks with 403 when categories, blocklists or prompt attacks are detected.
    pub struct LlmContentSafety = "llm-content-safety";
    attrs {
        /// backend pointing at the Content Safety resource
        backend_id: String = "backend-id", required, expr;
        /// check for user prompt attacks
        shield_prompt: bool = "shield-prompt", optional, expr;
        /// inbound only: also check completions; ignored in outbound (2026 doc)
        enforce_on_completions: bool = "enforce-on-completions", optional, expr;
        /// characters per window; default whole content (2026 doc)
        window_size: i64 = "window-size", optional, expr;
        /// overlap between windows; default none (2026 doc)
        window_overlap_size: i64 = "window-overlap-size", optional, expr;
    }
    children {
        categories: optional Categories = "categories";
        blocklists: optional Blocklists = "blocklists";
    }
    content: ();
    rules: [];
}

element! {
    /// `<blocklists>` element.
    pub struct Blocklists = "blocklists";
    attrs {
    }
    children {
        ids: many Id = "id";
    }
    content: ();
    rules: [];
}

element! {
    /// `<id>` element.
    pub struct Id = "id";
    attrs {
    }
    children {
    }
    content: Text;
    rules: [];
}

element! {
    /// `<categories>` element.
    pub struct Categories = "categories";
    attrs {
        output_type: OutputType = "output-type", optional, expr, default "FourSeverityLevels";
    }
    children {
        categorys: many Category = "category";
    }
    content: ();
    rules: [];
}

element! {
    /// `<category>` element.
    pub struct Category = "category";
    attrs {
        name: Name = "name", required, expr;
        /// 0..7; content with severity below threshold is not blocked
        threshold: i64 = "threshold", required, expr;
    }
    children {
    }
    content: ();
    rules: [];
}
