//! `<json-to-xml>`: Converts a JSON request or response body to XML.
//!
//! Azure: https://learn.microsoft.com/azure/api-management/json-to-xml-policy
//! Parsing and validation only; execution arrives with the executor.

use crate::element;
#[allow(unused_imports)]
use crate::read::{Block, Raw, Text};
use crate::spec::{PolicyInfo, Scope, Section};
#[allow(unused_imports)]
use crate::value::Seconds;

/// Where and how `<json-to-xml>` may be used.
pub const INFO: PolicyInfo = PolicyInfo {
    category: "Transformation",
    summary: "Converts a JSON request or response body to XML.",
    doc: "https://learn.microsoft.com/azure/api-management/json-to-xml-policy",
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
    /// Values of `Apply`.
    pub enum Apply {
        Always = "always",
        ContentTypeJson = "content-type-json",
    }
}

element! {
    /// Converts a JSON request or response body to XML.
    pub struct JsonToXml = "json-to-xml";
    attrs {
        /// always = always convert; content-type-json = convert only if the Content-Type header says JSON.
        apply: Apply = "apply", required, expr;
        /// true = convert only if the request Accept header asks for XML; false = always convert.
        consider_accept_header: bool = "consider-accept-header", optional, expr, default "true";
        /// false = date values are copied as-is during conversion.
        parse_date: bool = "parse-date", optional, literal, default "true";
        /// Namespace separator character. Doc default 'Underscore'.
        namespace_separator: String = "namespace-separator", optional, expr, default "_";
        /// Property-name prefix (usually xmlns) marking a property as a namespace declaration on the current element.
        namespace_prefix: String = "namespace-prefix", optional, expr;
        /// If set, properties inside the object with this name become XML attributes of the element. Doc default 'Not set'.
        attribute_block_name: String = "attribute-block-name", optional, expr;
    }
    children {
    }
    content: ();
    rules: [];
}
