//! `<validate-parameters>`: Validates request header, query and path parameters against the API schema.
//!
//! Azure: https://learn.microsoft.com/azure/api-management/validate-parameters-policy
//! Parsing and validation only; execution arrives with the executor.

use crate::element;
#[allow(unused_imports)]
use crate::read::{Block, Raw, Text};
use crate::spec::{PolicyInfo, Scope, Section};
#[allow(unused_imports)]
use crate::value::Seconds;

/// Where and how `<validate-parameters>` may be used.
pub const INFO: PolicyInfo = PolicyInfo {
    category: "Content validation",
    summary: "Validates request header, query and path parameters against the API schema.",
    doc: "https://learn.microsoft.com/azure/api-management/validate-parameters-policy",
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
    /// Values of `Action`.
    pub enum Action {
        Ignore = "ignore",
        Prevent = "prevent",
        Detect = "detect",
    }
}

crate::attr_enum! {
    /// Values of `SpecifiedParameterAction`.
    pub enum SpecifiedParameterAction {
        Ignore = "ignore",
        Prevent = "prevent",
        Detect = "detect",
    }
}

crate::attr_enum! {
    /// Values of `UnspecifiedParameterAction`.
    pub enum UnspecifiedParameterAction {
        Ignore = "ignore",
        Prevent = "prevent",
        Detect = "detect",
    }
}

element! {
    /// Validates request header, query and path parameters against the API schema.
    pub struct ValidateParameters = "validate-parameters";
    attrs {
        specified_parameter_action: SpecifiedParameterAction = "specified-parameter-action", required, expr;
        unspecified_parameter_action: UnspecifiedParameterAction = "unspecified-parameter-action", required, expr;
        errors_variable_name: String = "errors-variable-name", optional, literal;
    }
    children {
        headers: optional Headers = "headers";
        query: optional Query = "query";
        path: optional Path = "path";
    }
    content: ();
    rules: [];
}

element! {
    /// `<path>` element.
    pub struct Path = "path";
    attrs {
        /// path has no unspecified-parameter-action
        specified_parameter_action: SpecifiedParameterAction = "specified-parameter-action", optional, expr;
    }
    children {
        parameters: many Parameter = "parameter";
    }
    content: ();
    rules: [];
}

element! {
    /// `<query>` element.
    pub struct Query = "query";
    attrs {
        specified_parameter_action: SpecifiedParameterAction = "specified-parameter-action", optional, expr;
        unspecified_parameter_action: UnspecifiedParameterAction = "unspecified-parameter-action", optional, expr;
    }
    children {
        parameters: many Parameter = "parameter";
    }
    content: ();
    rules: [];
}

element! {
    /// `<headers>` element.
    pub struct Headers = "headers";
    attrs {
        /// overrides root
        specified_parameter_action: SpecifiedParameterAction = "specified-parameter-action", optional, expr;
        unspecified_parameter_action: UnspecifiedParameterAction = "unspecified-parameter-action", optional, expr;
    }
    children {
        parameters: many Parameter = "parameter";
    }
    content: ();
    rules: [];
}

element! {
    /// `<parameter>` element.
    pub struct Parameter = "parameter";
    attrs {
        /// doc has no attribute table; doc silent on expressions
        name: String = "name", required, expr;
        /// doc has no attribute table; doc silent on expressions
        action: Action = "action", required, expr;
    }
    children {
    }
    content: ();
    rules: [];
}
