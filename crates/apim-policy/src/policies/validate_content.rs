//! `<validate-content>`: Validates request/response body size and content against JSON, XML or SOAP schemas with ignore/detect/prevent actions.
//!
//! Azure: https://learn.microsoft.com/azure/api-management/validate-content-policy
//! Parsing and validation only; execution arrives with the executor.

use crate::element;
#[allow(unused_imports)]
use crate::read::{Block, Raw, Text};
use crate::spec::{PolicyInfo, Scope, Section};
#[allow(unused_imports)]
use crate::value::Seconds;

/// Where and how `<validate-content>` may be used.
pub const INFO: PolicyInfo = PolicyInfo {
    category: "Content validation",
    summary: "Validates request/response body size and content against JSON, XML or SOAP schemas with ignore/detect/prevent actions.",
    doc: "https://learn.microsoft.com/azure/api-management/validate-content-policy",
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
    /// Values of `ValidateAs`.
    pub enum ValidateAs {
        Json = "json",
        Xml = "xml",
        Soap = "soap",
    }
}

crate::attr_enum! {
    /// Values of `Action`.
    pub enum Action {
        Ignore = "ignore",
        Prevent = "prevent",
        Detect = "detect",
    }
}

crate::attr_enum! {
    /// Values of `UnspecifiedContentTypeAction`.
    pub enum UnspecifiedContentTypeAction {
        Ignore = "ignore",
        Prevent = "prevent",
        Detect = "detect",
    }
}

crate::attr_enum! {
    /// Values of `SizeExceededAction`.
    pub enum SizeExceededAction {
        Ignore = "ignore",
        Prevent = "prevent",
        Detect = "detect",
    }
}

element! {
    /// Validates request/response body size and content against JSON, XML or SOAP schemas with ignore/detect/prevent actions.
    pub struct ValidateContent = "validate-content";
    attrs {
        unspecified_content_type_action: UnspecifiedContentTypeAction = "unspecified-content-type-action", required, expr;
        /// bytes, checked against Content-Length (decompressed); max 4 MB in newest doc (older: 102400)
        max_size: i64 = "max-size", required, expr;
        size_exceeded_action: SizeExceededAction = "size-exceeded-action", required, expr;
        errors_variable_name: String = "errors-variable-name", optional, literal;
    }
    children {
        content_type_map: optional ContentTypeMap = "content-type-map";
        contents: many Content = "content";
    }
    content: ();
    rules: [];
}

element! {
    /// `<content>` element.
    pub struct Content = "content";
    attrs {
        /// empty = all content types in schema; soap: application/soap+xml (1.2) or text/xml (1.1); doc silent on expressions
        type_: String = "type", optional, expr;
        /// doc silent on expressions
        validate_as: ValidateAs = "validate-as", required, expr;
        /// schema added to instance; default is API definition schema; doc silent on expressions
        schema_id: String = "schema-id", optional, expr;
        /// JSON pointer within schema-id JSON schema; not for XML; doc silent on expressions
        schema_ref: String = "schema-ref", optional, expr;
        /// in policy statement but missing from doc's attribute table; required-ness UNVERIFIED; doc silent on expressions
        action: Action = "action", optional, expr;
        /// overrides schema additionalProperties; default = follow schema; doc silent on expressions
        allow_additional_properties: bool = "allow-additional-properties", optional, expr;
        /// newest doc only; doc silent on expressions
        case_insensitive_property_names: bool = "case-insensitive-property-names", optional, expr;
    }
    children {
    }
    content: ();
    rules: [];
}

element! {
    /// `<content-type-map>` element.
    pub struct ContentTypeMap = "content-type-map";
    attrs {
        any_content_type_value: String = "any-content-type-value", optional, literal;
        missing_content_type_value: String = "missing-content-type-value", optional, literal;
    }
    children {
        types: many Type = "type";
    }
    content: ();
    rules: [];
}

element! {
    /// `<type>` element.
    pub struct Type = "type";
    attrs {
        /// known incoming content type; from or when; doc silent on expressions
        from: String = "from", optional, expr;
        /// policy expression condition; from or when
        when: String = "when", optional, expr;
        /// content type used for validation; no attribute table in doc; doc silent on expressions
        to: String = "to", required, expr;
    }
    children {
    }
    content: ();
    rules: [];
}
