//! `<send-one-way-request>`: Fires a side HTTP request to a URL and continues immediately without waiting for or storing a response.
//!
//! Azure: https://learn.microsoft.com/azure/api-management/send-one-way-request-policy
//! Executed by apim-exec (`crates/apim-exec/src/policies/`).

use crate::element;
#[allow(unused_imports)]
use crate::read::{Block, Raw, Text};
use crate::spec::{PolicyInfo, Scope, Section};
#[allow(unused_imports)]
use crate::value::Seconds;

/// Where and how `<send-one-way-request>` may be used.
pub const INFO: PolicyInfo = PolicyInfo {
    category: "Integration and external communication",
    summary: "Fires a side HTTP request to a URL and continues immediately without waiting for or storing a response.",
    doc: "https://learn.microsoft.com/azure/api-management/send-one-way-request-policy",
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
    /// Values of `Mode`.
    pub enum Mode {
        New = "new",
        Copy = "copy",
    }
}

element! {
    /// Fires a side HTTP request to a URL and continues immediately without waiting for or storing a response.
    pub struct SendOneWayRequest = "send-one-way-request";
    attrs {
        /// same meaning as send-request
        mode: Mode = "mode", optional, expr, default "new";
        timeout: Seconds = "timeout", optional, expr, default "60";
    }
    children {
        set_url: optional SetUrl = "set-url";
        set_method: optional super::set_method::SetMethod = "set-method";
        set_headers: many super::set_header::SetHeader = "set-header";
        set_body: optional super::set_body::SetBody = "set-body";
        authentication_certificate: optional super::authentication_certificate::AuthenticationCertificate = "authentication-certificate";
        authentication_managed_identity: optional super::authentication_managed_identity::AuthenticationManagedIdentity = "authentication-managed-identity";
        proxy: optional Proxy = "proxy";
    }
    content: ();
    rules: [];
}

element! {
    /// `<proxy>` element.
    pub struct Proxy = "proxy";
    attrs {
        /// http://host:port; only HTTP between gateway and proxy. Expr: proxy page (2022) says 'Policy expressions: supported' globally, no per-attribute column.
        url: String = "url", required, expr;
        username: String = "username", optional, expr;
        password: String = "password", optional, expr;
    }
    children {
    }
    content: ();
    rules: [];
}

element! {
    /// `<set-url>` element.
    pub struct SetUrl = "set-url";
    attrs {
    }
    children {
    }
    content: Text;
    rules: [];
}
