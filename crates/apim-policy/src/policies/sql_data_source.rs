//! `<sql-data-source>`: GraphQL resolver policy that runs a T-SQL request against Azure SQL and optionally transforms the response.
//!
//! Azure: https://learn.microsoft.com/azure/api-management/sql-data-source-policy
//! Parsing and validation only; execution arrives with the executor.

use crate::element;
#[allow(unused_imports)]
use crate::read::{Block, Raw, Text};
#[allow(unused_imports)]
use crate::spec::{PolicyInfo, Scope, Section};
#[allow(unused_imports)]
use crate::value::Seconds;

/// Where and how `<sql-data-source>` may be used.
pub const INFO: PolicyInfo = PolicyInfo {
    category: "GraphQL resolvers",
    summary: "GraphQL resolver policy that runs a T-SQL request against Azure SQL and optionally transforms the response.",
    doc: "https://learn.microsoft.com/azure/api-management/sql-data-source-policy",
    sections: &[],
    scopes: &[],
    executes: false,
    once_per_section: false,
};

element! {
    /// GraphQL resolver policy that runs a T-SQL request against Azure SQL and optionally transforms the response.
    pub struct SqlDataSource = "sql-data-source";
    attrs {
    }
    children {
        connection_info: one ConnectionInfo = "connection-info";
        include_fragments: many super::include_fragment::IncludeFragment = "include-fragment";
        request: one Request = "request";
        response: optional Response = "response";
    }
    content: ();
    rules: [];
}

element! {
    /// `<response>` element.
    pub struct Response = "response";
    attrs {
    }
    children {
        include_fragment: optional super::include_fragment::IncludeFragment = "include-fragment";
        set_body: optional super::set_body::SetBody = "set-body";
        publish_event: optional super::publish_event::PublishEvent = "publish-event";
    }
    content: ();
    rules: [];
}

element! {
    /// `<request>` element.
    pub struct Request = "request";
    attrs {
        /// at most one row expected
        single_result: bool = "single-result", optional, expr, default "false";
    }
    children {
        include_fragment: optional super::include_fragment::IncludeFragment = "include-fragment";
        set_body: optional super::set_body::SetBody = "set-body";
        sql_statement: one SqlStatement = "sql-statement";
        parameters: optional Parameters = "parameters";
    }
    content: ();
    rules: [];
}

element! {
    /// `<parameters>` element.
    pub struct Parameters = "parameters";
    attrs {
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
        name: String = "name", required, expr;
        /// T-SQL data type
        sql_type: String = "sql-type", optional, expr;
    }
    children {
    }
    content: Text;
    rules: [];
}

element! {
    /// `<sql-statement>` element.
    pub struct SqlStatement = "sql-statement";
    attrs {
    }
    children {
    }
    content: Text;
    rules: [];
}

element! {
    /// `<connection-info>` element.
    pub struct ConnectionInfo = "connection-info";
    attrs {
    }
    children {
        connection_string: one ConnectionString = "connection-string";
        include_fragments: many super::include_fragment::IncludeFragment = "include-fragment";
        authentication_certificate: optional super::authentication_certificate::AuthenticationCertificate = "authentication-certificate";
    }
    content: ();
    rules: [];
}

element! {
    /// `<connection-string>` element.
    pub struct ConnectionString = "connection-string";
    attrs {
        use_managed_identity: bool = "use-managed-identity", optional, expr, default "false";
    }
    children {
    }
    content: Text;
    rules: [];
}
