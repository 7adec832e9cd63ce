//! `<cache-remove-value>`: Deletes a cached item by its key.
//!
//! Azure: https://learn.microsoft.com/azure/api-management/cache-remove-value-policy
//! Executed by apim-exec (`crates/apim-exec/src/policies/`).

use crate::element;
#[allow(unused_imports)]
use crate::read::{Block, Raw, Text};
use crate::spec::{PolicyInfo, Scope, Section};
#[allow(unused_imports)]
use crate::value::Seconds;

/// Where and how `<cache-remove-value>` may be used.
pub const INFO: PolicyInfo = PolicyInfo {
    category: "Caching",
    summary: "Deletes a cached item by its key.",
    doc: "https://learn.microsoft.com/azure/api-management/cache-remove-value-policy",
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
    /// Deletes a cached item by its key.
    pub struct CacheRemoveValue = "cache-remove-value";
    attrs {
        /// internal = built-in APIM cache; external = external Redis-compatible cache; prefer-external = external if configured, else internal.
        caching_type: CachingType = "caching-type", optional, literal, default "prefer-external";
        /// Key of the cached value to remove.
        key: String = "key", required, expr;
    }
    children {
    }
    content: ();
    rules: [];
}
