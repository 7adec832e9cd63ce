//! `<xml-to-json>`: Converts an XML request or response body to JSON.
//!
//! Azure: https://learn.microsoft.com/azure/api-management/xml-to-json-policy
//! Parsing and validation only; execution arrives with the executor.

use crate::element;
#[allow(unused_imports)]
use crate::read::{Block, Raw, Text};
use crate::spec::{PolicyInfo, Scope, Section};
#[allow(unused_imports)]
use crate::value::Seconds;

/// Where and how `<xml-to-json>` may be used.
pub const INFO: PolicyInfo = PolicyInfo {
    category: "Transformation",
    summary: "Converts an XML request or response body to JSON.",
    doc: "https://learn.microsoft.com/azure/api-management/xml-to-json-policy",
    sections: &[Section::Inbound, Section::Outbound, Section::OnError],
    scopes: &[
        Scope::Global,
        Scope::Workspace,
        Scope::Product,
        Scope::Api,
        Scope::Operation,
    ],
    executes: false,
    once_per_section: false,
};

crate::attr_enum! {
    /// Values of `Kind`.
    pub enum Kind {
        JavascriptFriendly = "javascript-friendly",
        Direct = "direct",
    }
}

crate::attr_enum! {
    /// Values of `Apply`.
    pub enum Apply {
        Always = "always",
        ContentTypeXml = "content-type-xml",
    }
}

element! {
    /// Converts an XML request or response body to JSON.
    pub struct XmlToJson = "xml-to-json";
    attrs {
        /// javascript-friendly = a JS-friendly JSON shape; direct = JSON mirrors the XML document structure.
        kind: Kind = "kind", required, expr;
        /// always = always convert; content-type-xml = convert only if the Content-Type header says XML.
        apply: Apply = "apply", required, expr;
        /// true = convert only if the request Accept header asks for JSON; false = always convert.
        consider_accept_header: bool = "consider-accept-header", optional, expr, default "true";
        /// true = child elements always become a JSON array; false = only repeated children become an array.
        always_array_child_elements: bool = "always-array-child-elements", optional, expr, default "false";
    }
    children {
    }
    content: ();
    rules: [];
}
