//! `<http-data-source>`: GraphQL resolver policy that builds an HTTP request (and optionally post-processes the response) to resolve one schema field.
//!
//! Azure: https://learn.microsoft.com/azure/api-management/http-data-source-policy
//! Parsing and validation only; execution arrives with the executor.

use crate::element;
#[allow(unused_imports)]
use crate::read::{Block, Raw, Text};
#[allow(unused_imports)]
use crate::spec::{PolicyInfo, Scope, Section};
#[allow(unused_imports)]
use crate::value::Seconds;

/// Where and how `<http-data-source>` may be used.
pub const INFO: PolicyInfo = PolicyInfo {
    category: "GraphQL resolvers",
    summary: "GraphQL resolver policy that builds an HTTP request (and optionally post-processes the response) to resolve one schema field.",
    doc: "https://learn.microsoft.com/azure/api-management/http-data-source-policy",
    sections: &[],
    scopes: &[],
    executes: false,
    once_per_section: false,
};

element! {
    /// GraphQL resolver policy that builds an HTTP request (and optionally post-processes the response) to resolve one schema field.
    pub struct HttpDataSource = "http-data-source";
    attrs {
    }
    children {
        http_request: one HttpRequest = "http-request";
        backend: optional Backend = "backend";
        http_response: optional HttpResponse = "http-response";
    }
    content: ();
    rules: [];
}

element! {
    /// `<http-response>` element.
    pub struct HttpResponse = "http-response";
    attrs {
    }
    children {
        set_body: optional super::set_body::SetBody = "set-body";
        xml_to_json: optional super::xml_to_json::XmlToJson = "xml-to-json";
        find_and_replace: optional super::find_and_replace::FindAndReplace = "find-and-replace";
        publish_event: optional super::publish_event::PublishEvent = "publish-event";
        include_fragments: many super::include_fragment::IncludeFragment = "include-fragment";
    }
    content: ();
    rules: [];
}

element! {
    /// `<backend>` element.
    pub struct Backend = "backend";
    attrs {
    }
    children {
        forward_request: optional super::forward_request::ForwardRequest = "forward-request";
    }
    content: ();
    rules: [];
}

element! {
    /// `<http-request>` element.
    pub struct HttpRequest = "http-request";
    attrs {
    }
    children {
        get_authorization_context: optional super::get_authorization_context::GetAuthorizationContext = "get-authorization-context";
        set_backend_service: optional super::set_backend_service::SetBackendService = "set-backend-service";
        include_fragments: many super::include_fragment::IncludeFragment = "include-fragment";
        set_method: one super::set_method::SetMethod = "set-method";
        set_url: one SetUrl = "set-url";
        set_headers: many super::set_header::SetHeader = "set-header";
        set_body: optional super::set_body::SetBody = "set-body";
        authentication_certificate: optional super::authentication_certificate::AuthenticationCertificate = "authentication-certificate";
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
