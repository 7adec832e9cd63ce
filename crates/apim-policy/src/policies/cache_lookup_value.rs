//! `<cache-lookup-value>`: Reads a value from the cache by key into a context variable, or sets a default on a miss.
//!
//! Azure: https://learn.microsoft.com/azure/api-management/cache-lookup-value-policy
//! Executed by apim-exec (`crates/apim-exec/src/policies/`).

use crate::element;
#[allow(unused_imports)]
use crate::read::{Block, Raw, Text};
use crate::spec::{PolicyInfo, Scope, Section};
#[allow(unused_imports)]
use crate::value::Seconds;

/// Where and how `<cache-lookup-value>` may be used.
pub const INFO: PolicyInfo = PolicyInfo {
    category: "Caching",
    summary: "Reads a value from the cache by key into a context variable, or sets a default on a miss.",
    doc: "https://learn.microsoft.com/azure/api-management/cache-lookup-value-policy",
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
    /// Reads a value from the cache by key into a context variable, or sets a default on a miss.
    pub struct CacheLookupValue = "cache-lookup-value";
    attrs {
        /// internal = built-in APIM cache; external = external Redis-compatible cache; prefer-external = external if configured, else internal.
        caching_type: CachingType = "caching-type", optional, literal, default "prefer-external";
        /// Value assigned to the variable on a cache miss. If omitted, null is assigned (doc default `null`). NOTE: the variable-name row says that on a miss 'the variable will not be set', which contradicts this.
        default_value: String = "default-value", optional, expr;
        /// Cache key to look up.
        key: String = "key", required, expr;
        /// Context variable that receives the cached value on a hit.
        variable_name: String = "variable-name", required, literal;
    }
    children {
    }
    content: ();
    rules: [];
}
