//! `<cache-store>`: Stores the current response in the cache for the set time, so a matching cache-lookup can serve it later.
//!
//! Azure: https://learn.microsoft.com/azure/api-management/cache-store-policy
//! Parsing and validation only; execution arrives with the executor.

use crate::element;
#[allow(unused_imports)]
use crate::read::{Block, Raw, Text};
use crate::spec::{PolicyInfo, Scope, Section};
#[allow(unused_imports)]
use crate::value::Seconds;

/// Where and how `<cache-store>` may be used.
pub const INFO: PolicyInfo = PolicyInfo {
    category: "Caching",
    summary: "Stores the current response in the cache for the set time, so a matching cache-lookup can serve it later.",
    doc: "https://learn.microsoft.com/azure/api-management/cache-store-policy",
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
    /// Stores the current response in the cache for the set time, so a matching cache-lookup can serve it later.
    pub struct CacheStore = "cache-store";
    attrs {
        /// Time to live of the cached entry in seconds.
        duration: Seconds = "duration", required, expr;
        /// true = cache the current response whatever its status. If omitted, only 200 OK responses are cached.
        cache_response: bool = "cache-response", optional, expr, default "false";
    }
    children {
    }
    content: ();
    rules: [];
}
