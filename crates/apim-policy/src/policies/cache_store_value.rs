//! `<cache-store-value>`: Stores a value in the cache under a key for the given number of seconds.
//!
//! Azure: https://learn.microsoft.com/azure/api-management/cache-store-value-policy
//! Executed by apim-exec (`crates/apim-exec/src/policies/`).

use crate::element;
#[allow(unused_imports)]
use crate::read::{Block, Raw, Text};
use crate::spec::{PolicyInfo, Scope, Section};
#[allow(unused_imports)]
use crate::value::Seconds;

/// Where and how `<cache-store-value>` may be used.
pub const INFO: PolicyInfo = PolicyInfo {
    category: "Caching",
    summary: "Stores a value in the cache under a key for the given number of seconds.",
    doc: "https://learn.microsoft.com/azure/api-management/cache-store-value-policy",
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

crate::attr_enum! {
    /// Values of `CachingType`.
    pub enum CachingType {
        PreferExternal = "prefer-external",
        External = "external",
        Internal = "internal",
    }
}

element! {
    /// Stores a value in the cache under a key for the given number of seconds.
    pub struct CacheStoreValue = "cache-store-value";
    attrs {
        /// internal = built-in APIM cache; external = external Redis-compatible cache; prefer-external = external if configured, else internal.
        caching_type: CachingType = "caching-type", optional, literal, default "prefer-external";
        /// Time to live in seconds.
        duration: Seconds = "duration", required, expr;
        /// Cache key.
        key: String = "key", required, expr;
        /// Value to cache. Expressions allowed, and an expression may return a non-string.
        value: String = "value", required, expr;
    }
    children {
    }
    content: ();
    rules: [];
}
