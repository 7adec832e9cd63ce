//! `<set-body>`: Sets the request or response body from literal text, a C# expression, or a Liquid template.
//!
//! Azure: https://learn.microsoft.com/azure/api-management/set-body-policy
//! Executed by apim-exec (`crates/apim-exec/src/policies/`).

use crate::element;
#[allow(unused_imports)]
use crate::read::{Block, Raw, Text};
use crate::spec::{PolicyInfo, Scope, Section};
#[allow(unused_imports)]
use crate::value::Seconds;

/// Where and how `<set-body>` may be used.
pub const INFO: PolicyInfo = PolicyInfo {
    category: "Transformation",
    summary: "Sets the request or response body from literal text, a C# expression, or a Liquid template.",
    doc: "https://learn.microsoft.com/azure/api-management/set-body-policy",
    sections: &[Section::Inbound, Section::Backend, Section::Outbound],
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
    /// Values of `Template`.
    pub enum Template {
        Liquid = "liquid",
        // Azure: undocumented, but Microsoft's MCP OAuth sample uses `template="none"` for a plain body.
        None = "none",
    }
}

crate::attr_enum! {
    /// Values of `XsiNil`.
    pub enum XsiNil {
        Blank = "blank",
        Null = "null",
    }
}

element! {
    /// Sets the request or response body from literal text, a C# expression, or a Liquid template.
    pub struct SetBody = "set-body";
    attrs {
        /// The only supported value is liquid (Liquid templating, 'C# mode', PascalCase filters). The doc's table does not say whether expressions are allowed (expr=null = doc silent).
        template: Template = "template", optional, expr;
        /// How XML elements marked xsi:nil="true" are represented: blank = empty string, null = null value.
        xsi_nil: XsiNil = "xsi-nil", optional, literal, default "blank";
        /// Newer doc versions (2025+) only: when false, date-like strings are copied as-is and not parsed into System.DateTime. Missing from the 2023 markdown.
        parse_date: bool = "parse-date", optional, literal, default "true";
    }
    children {
    }
    content: Raw;
    rules: [];
}
