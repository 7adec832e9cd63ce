//! `<azure-openai-semantic-cache-lookup>`: Looks up a semantically similar cached reply to an LLM chat/completion prompt (vector similarity via an embeddings backend) and returns it on a hit.
//!
//! Azure: https://learn.microsoft.com/azure/api-management/azure-openai-semantic-cache-lookup-policy
//! Executed by apim-exec (`policies/semantic_cache.rs`).

use crate::element;
#[allow(unused_imports)]
use crate::read::{Block, Raw, Text};
use crate::spec::{PolicyInfo, Scope, Section};
#[allow(unused_imports)]
use crate::value::Seconds;

/// Where and how `<azure-openai-semantic-cache-lookup>` may be used.
pub const INFO: PolicyInfo = PolicyInfo {
    category: "Caching",
    summary: "Looks up a semantically similar cached reply to an LLM chat/completion prompt (vector similarity via an embeddings backend) and returns it on a hit.",
    doc: "https://learn.microsoft.com/azure/api-management/azure-openai-semantic-cache-lookup-policy",
    sections: &[Section::Inbound],
    scopes: &[Scope::Global, Scope::Product, Scope::Api, Scope::Operation],
    executes: true,
    once_per_section: true,
};

crate::attr_enum! {
    /// Values of `EmbeddingsBackendAuth`.
    pub enum EmbeddingsBackendAuth {
        SystemAssigned = "system-assigned",
    }
}

element! {
    /// Looks up a semantically similar cached reply to an LLM chat/completion prompt (vector similarity via an embeddings backend) and returns it on a hit.
    pub struct AzureOpenaiSemanticCacheLookup = "azure-openai-semantic-cache-lookup";
    attrs {
        /// Decimal from 0.0 to 1.0. Newer doc: lower values need greater semantic similarity to match. Expressions: doc silent.
        score_threshold: f64 = "score-threshold", required, expr;
        /// Backend entity id of the embeddings API. Expressions: doc silent.
        embeddings_backend_id: String = "embeddings-backend-id", required, expr;
        /// Must be system-assigned (managed identity). Expressions: doc silent.
        embeddings_backend_auth: EmbeddingsBackendAuth = "embeddings-backend-auth", required, expr;
        /// true (recommended in newer doc) = drop system messages from the prompt before comparing.
        ignore_system_messages: bool = "ignore-system-messages", optional, expr, default "false";
        /// If set, caching is skipped when the number of remaining dialog messages exceeds it.
        max_message_count: i64 = "max-message-count", optional, expr;
    }
    children {
        vary_bys: many VaryBy = "vary-by";
    }
    content: ();
    rules: [];
}

element! {
    /// `<vary-by>` element.
    pub struct VaryBy = "vary-by";
    attrs {
    }
    children {
    }
    content: Text;
    rules: [];
}
