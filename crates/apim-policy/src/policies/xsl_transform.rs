//! `<xsl-transform>`: Applies an XSLT 1.0 stylesheet to the XML request or response body.
//!
//! Azure: https://learn.microsoft.com/azure/api-management/xsl-transform-policy
//! Parsing and validation only; execution arrives with the executor.

use crate::element;
#[allow(unused_imports)]
use crate::read::{Block, Raw, Text};
use crate::spec::{PolicyInfo, Scope, Section};
#[allow(unused_imports)]
use crate::value::Seconds;

/// Where and how `<xsl-transform>` may be used.
pub const INFO: PolicyInfo = PolicyInfo {
    category: "Transformation",
    summary: "Applies an XSLT 1.0 stylesheet to the XML request or response body.",
    doc: "https://learn.microsoft.com/azure/api-management/xsl-transform-policy",
    sections: &[Section::Inbound, Section::Outbound],
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
    /// Applies an XSLT 1.0 stylesheet to the XML request or response body.
    pub struct XslTransform = "xsl-transform";
    attrs {
    }
    children {
        parameters: many Parameter = "parameter";
        xsl_stylesheet: one XslStylesheet = "xsl:stylesheet";
    }
    content: ();
    rules: [];
}

element! {
    /// `<xsl:stylesheet>` element.
    pub struct XslStylesheet = "xsl:stylesheet";
    attrs {
    }
    children {
    }
    content: Raw;
    rules: [];
}

element! {
    /// `<parameter>` element.
    pub struct Parameter = "parameter";
    attrs {
        /// Name of an xsl:param in the stylesheet. The doc's statement writes parameter-name="..." but its examples use name="...". No attribute table; required/expr not documented.
        name: String = "name", optional, expr;
        /// Only in the doc's policy statement (see name). Accept either.
        parameter_name: String = "parameter-name", optional, expr;
    }
    children {
    }
    content: Text;
    rules: [];
}
