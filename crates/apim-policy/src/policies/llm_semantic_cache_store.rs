//! `<llm-semantic-cache-store>`: Stores an LLM chat/completion reply in the external semantic cache for later semantic lookups.
//!
//! Azure: https://learn.microsoft.com/azure/api-management/llm-semantic-cache-store-policy
//! Executed by apim-exec (`policies/semantic_cache.rs`).

use crate::element;
#[allow(unused_imports)]
use crate::read::{Block, Raw, Text};
use crate::spec::{PolicyInfo, Scope, Section};
#[allow(unused_imports)]
use crate::value::Seconds;

/// Where and how `<llm-semantic-cache-store>` may be used.
pub const INFO: PolicyInfo = PolicyInfo {
    category: "Caching",
    summary: "Stores an LLM chat/completion reply in the external semantic cache for later semantic lookups.",
    doc: "https://learn.microsoft.com/azure/api-management/llm-semantic-cache-store-policy",
    sections: &[Section::Outbound],
    scopes: &[Scope::Global, Scope::Product, Scope::Api, Scope::Operation],
    executes: true,
    once_per_section: true,
};

element! {
    /// Stores an LLM chat/completion reply in the external semantic cache for later semantic lookups.
    pub struct LlmSemanticCacheStore = "llm-semantic-cache-store";
    attrs {
        /// Time to live of cached entries in seconds.
        duration: Seconds = "duration", required, expr;
        /// true = cache whatever the response is; absent or false = only 200 OK responses (newest doc revision).
        cache_response: bool = "cache-response", optional, expr;
    }
    children {
    }
    content: ();
    rules: [];
}
