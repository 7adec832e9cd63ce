//! `<cache-lookup>`: Looks up a cached response for the request and, on a hit, returns it right away. Used with cache-store.
//!
//! Azure: https://learn.microsoft.com/azure/api-management/cache-lookup-policy
//! Parsing and validation only; execution arrives with the executor.

use crate::element;
#[allow(unused_imports)]
use crate::read::{Block, Raw, Text};
use crate::spec::{PolicyInfo, Scope, Section};
#[allow(unused_imports)]
use crate::value::Seconds;

/// Where and how `<cache-lookup>` may be used.
pub const INFO: PolicyInfo = PolicyInfo {
    category: "Caching",
    summary: "Looks up a cached response for the request and, on a hit, returns it right away. Used with cache-store.",
    doc: "https://learn.microsoft.com/azure/api-management/cache-lookup-policy",
    sections: &[Section::Inbound],
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

crate::attr_enum! {
    /// Values of `CachingType`.
    pub enum CachingType {
        PreferExternal = "prefer-external",
        External = "external",
        Internal = "internal",
    }
}

crate::attr_enum! {
    /// Values of `DownstreamCachingType`.
    pub enum DownstreamCachingType {
        None = "none",
        Private = "private",
        Public = "public",
    }
}

element! {
    /// Looks up a cached response for the request and, on a hit, returns it right away. Used with cache-store.
    pub struct CacheLookup = "cache-lookup";
    attrs {
        /// true = cache per developer account owning the subscription key. The doc marks it Required but also lists default false.
        vary_by_developer: bool = "vary-by-developer", required, expr, default "false";
        /// true = cache per user group. Marked Required with default false.
        vary_by_developer_groups: bool = "vary-by-developer-groups", required, expr, default "false";
        /// internal = built-in APIM cache; external = external Redis-compatible cache; prefer-external = external if configured, else internal.
        caching_type: CachingType = "caching-type", optional, literal, default "prefer-external";
        /// none = no downstream caching; private = private downstream caching allowed; public = private and shared downstream caching allowed.
        downstream_caching_type: DownstreamCachingType = "downstream-caching-type", optional, expr, default "none";
        /// When downstream caching is on, turns the must-revalidate Cache-Control directive on or off in gateway responses.
        must_revalidate: bool = "must-revalidate", optional, expr, default "true";
        /// true = requests carrying an Authorization header may be cached.
        allow_private_response_caching: bool = "allow-private-response-caching", optional, expr, default "false";
    }
    children {
        vary_by_headers: many VaryByHeader = "vary-by-header";
        vary_by_query_parameters: many VaryByQueryParameter = "vary-by-query-parameter";
    }
    content: ();
    rules: [];
}

element! {
    /// `<vary-by-query-parameter>` element.
    pub struct VaryByQueryParameter = "vary-by-query-parameter";
    attrs {
    }
    children {
    }
    content: Text;
    rules: [];
}

element! {
    /// `<vary-by-header>` element.
    pub struct VaryByHeader = "vary-by-header";
    attrs {
    }
    children {
    }
    content: Text;
    rules: [];
}
