//! `<ip-filter>`: Allows or forbids calls based on the caller IP matching listed addresses or ranges.
//!
//! Azure: https://learn.microsoft.com/azure/api-management/ip-filter-policy
//! Executed by apim-exec (`policies/ip_filter.rs`).

use crate::element;
#[allow(unused_imports)]
use crate::read::{Block, Raw, Text};
use crate::spec::{PolicyInfo, Rule, Scope, Section};
#[allow(unused_imports)]
use crate::value::Seconds;

/// Where and how `<ip-filter>` may be used.
pub const INFO: PolicyInfo = PolicyInfo {
    category: "Authentication and authorization",
    summary: "Allows or forbids calls based on the caller IP matching listed addresses or ranges.",
    doc: "https://learn.microsoft.com/azure/api-management/ip-filter-policy",
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

crate::attr_enum! {
    /// Values of `Action`.
    pub enum Action {
        Allow = "allow",
        Forbid = "forbid",
    }
}

element! {
    /// Allows or forbids calls based on the caller IP matching listed addresses or ranges.
    pub struct IpFilter = "ip-filter";
    attrs {
        action: Action = "action", required, expr;
    }
    children {
        address: many Address = "address";
        address_ranges: many AddressRange = "address-range";
    }
    content: ();
    rules: [Rule::AtLeastOne(&["address", "address-range"])];
}

element! {
    /// `<address-range>` element.
    pub struct AddressRange = "address-range";
    attrs {
        /// start IP; doc has no attribute table, required-ness inferred from statement; doc silent on expressions
        from: String = "from", required, expr;
        /// end IP; inferred; doc silent on expressions
        to: String = "to", required, expr;
    }
    children {
    }
    content: ();
    rules: [];
}

element! {
    /// `<address>` element.
    pub struct Address = "address";
    attrs {
    }
    children {
    }
    content: Text;
    rules: [];
}
