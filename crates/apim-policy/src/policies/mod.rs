//! The closed set of policies: one module per policy, the [`Policy`] enum, and the registry that maps an
//! element name to its spec, usage facts and parser.
//!
//! A new policy is a module with an `element!` declaration and an `INFO`, plus one line in `policies!` below.
//! This module also reads a list of policies (a section, a `<when>`, a `<retry>` …): unknown names with
//! did-you-mean, section allow-lists, `<base />` placement, and policies allowed only once per section.

use apim_source::{Code, Diagnostic, Span};

use crate::read::{Ctx, Element, ElementReader, did_you_mean};
use crate::spec::{ElementSpec, PolicyInfo};
use crate::xml::{XmlElement, XmlNode};

pub mod authentication_basic;
pub mod authentication_certificate;
pub mod authentication_managed_identity;
pub mod azure_openai_emit_token_metric;
pub mod azure_openai_semantic_cache_lookup;
pub mod azure_openai_semantic_cache_store;
pub mod azure_openai_token_limit;
pub mod cache_lookup;
pub mod cache_lookup_value;
pub mod cache_remove_value;
pub mod cache_store;
pub mod cache_store_value;
pub mod check_header;
pub mod choose;
pub mod cors;
pub mod cosmosdb_data_source;
pub mod cross_domain;
pub mod emit_metric;
pub mod find_and_replace;
pub mod forward_request;
pub mod get_authorization_context;
pub mod http_data_source;
pub mod include_fragment;
pub mod invoke_dapr_binding;
pub mod ip_filter;
pub mod json_to_xml;
pub mod jsonp;
pub mod limit_concurrency;
pub mod llm_content_safety;
pub mod llm_emit_token_metric;
pub mod llm_semantic_cache_lookup;
pub mod llm_semantic_cache_store;
pub mod llm_token_limit;
pub mod log_to_eventhub;
pub mod mock_response;
pub mod proxy;
pub mod publish_event;
pub mod publish_to_dapr;
pub mod quota;
pub mod quota_by_key;
pub mod rate_limit;
pub mod rate_limit_by_key;
pub mod redirect_content_urls;
pub mod retry;
pub mod return_response;
pub mod rewrite_uri;
pub mod send_one_way_request;
pub mod send_request;
pub mod send_service_bus_message;
pub mod set_backend_service;
pub mod set_body;
pub mod set_graphql_resolver;
pub mod set_header;
pub mod set_method;
pub mod set_query_parameter;
pub mod set_status;
pub mod set_variable;
pub mod sql_data_source;
pub mod trace;
pub mod validate_azure_ad_token;
pub mod validate_client_certificate;
pub mod validate_content;
pub mod validate_graphql_request;
pub mod validate_headers;
pub mod validate_jwt;
pub mod validate_odata_request;
pub mod validate_parameters;
pub mod validate_status_code;
pub mod wait;
pub mod xml_to_json;
pub mod xsl_transform;

/// `<base />`: where the same section of the enclosing scope runs.
#[derive(Debug, Clone, PartialEq)]
pub struct Base {
    pub span: Span,
}

/// An element that is not a policy (already reported).
#[derive(Debug, Clone, PartialEq)]
pub struct Unknown {
    pub name: String,
    pub span: Span,
}

/// One registered policy.
pub struct PolicyEntry {
    pub spec: &'static ElementSpec,
    pub info: &'static PolicyInfo,
    parse: fn(&mut ElementReader<'_, '_>) -> Option<Policy>,
}

macro_rules! policies {
    ($( $variant:ident => $module:ident :: $ty:ident, )*) => {
        /// A policy statement, typed. Variants are boxed: policy structs differ a lot in size, and a list of
        /// policies should not pay for the largest one in every slot.
        #[derive(Debug, Clone, PartialEq)]
        pub enum Policy {
            $( $variant(Box<$module::$ty>), )*
            Base(Base),
            /// An unknown element, kept so later stages can point at it; the document has an error.
            Unknown(Unknown),
        }

        /// Every policy APIM documents, sorted by element name.
        pub static REGISTRY: &[PolicyEntry] = &[
            $( PolicyEntry {
                spec: &<$module::$ty as Element>::SPEC,
                info: &$module::INFO,
                parse: |reader| <$module::$ty as Element>::parse(reader).map(|policy| Policy::$variant(Box::new(policy))),
            }, )*
        ];

        impl Policy {
            /// The element name, such as `set-header`.
            pub fn name(&self) -> &str {
                match self {
                    $( Policy::$variant(_) => <$module::$ty as Element>::SPEC.name, )*
                    Policy::Base(_) => "base",
                    Policy::Unknown(unknown) => &unknown.name,
                }
            }

            /// The element name of a known policy (`None` for `<base />` and unknown elements).
            pub fn known_name(&self) -> Option<&'static str> {
                match self {
                    $( Policy::$variant(_) => Some(<$module::$ty as Element>::SPEC.name), )*
                    Policy::Base(_) | Policy::Unknown(_) => None,
                }
            }

            /// The `id` attribute (`context.LastError.PolicyId`).
            pub fn policy_id(&self) -> Option<&str> {
                match self {
                    $( Policy::$variant(policy) => policy.policy_id.as_deref(), )*
                    Policy::Base(_) | Policy::Unknown(_) => None,
                }
            }

            /// Calls `visit` with each policy list nested directly in this policy (`<when>` blocks …).
            pub fn for_each_block<'p>(&'p self, visit: &mut dyn FnMut(&'p [Policy])) {
                match self {
                    $( Policy::$variant(policy) => crate::read::Walk::walk(policy.as_ref(), visit), )*
                    Policy::Base(_) | Policy::Unknown(_) => {}
                }
            }

            /// The whole element in the source.
            pub fn span(&self) -> &Span {
                match self {
                    $( Policy::$variant(policy) => &policy.span, )*
                    Policy::Base(base) => &base.span,
                    Policy::Unknown(unknown) => &unknown.span,
                }
            }
        }
    };
}

policies! {
    AuthenticationBasic => authentication_basic::AuthenticationBasic,
    AuthenticationCertificate => authentication_certificate::AuthenticationCertificate,
    AuthenticationManagedIdentity => authentication_managed_identity::AuthenticationManagedIdentity,
    AzureOpenaiEmitTokenMetric => azure_openai_emit_token_metric::AzureOpenaiEmitTokenMetric,
    AzureOpenaiSemanticCacheLookup => azure_openai_semantic_cache_lookup::AzureOpenaiSemanticCacheLookup,
    AzureOpenaiSemanticCacheStore => azure_openai_semantic_cache_store::AzureOpenaiSemanticCacheStore,
    AzureOpenaiTokenLimit => azure_openai_token_limit::AzureOpenaiTokenLimit,
    CacheLookup => cache_lookup::CacheLookup,
    CacheLookupValue => cache_lookup_value::CacheLookupValue,
    CacheRemoveValue => cache_remove_value::CacheRemoveValue,
    CacheStore => cache_store::CacheStore,
    CacheStoreValue => cache_store_value::CacheStoreValue,
    CheckHeader => check_header::CheckHeader,
    Choose => choose::Choose,
    Cors => cors::Cors,
    CosmosdbDataSource => cosmosdb_data_source::CosmosdbDataSource,
    CrossDomain => cross_domain::CrossDomain,
    EmitMetric => emit_metric::EmitMetric,
    FindAndReplace => find_and_replace::FindAndReplace,
    ForwardRequest => forward_request::ForwardRequest,
    GetAuthorizationContext => get_authorization_context::GetAuthorizationContext,
    HttpDataSource => http_data_source::HttpDataSource,
    IncludeFragment => include_fragment::IncludeFragment,
    InvokeDaprBinding => invoke_dapr_binding::InvokeDaprBinding,
    IpFilter => ip_filter::IpFilter,
    JsonToXml => json_to_xml::JsonToXml,
    Jsonp => jsonp::Jsonp,
    LimitConcurrency => limit_concurrency::LimitConcurrency,
    LlmContentSafety => llm_content_safety::LlmContentSafety,
    LlmEmitTokenMetric => llm_emit_token_metric::LlmEmitTokenMetric,
    LlmSemanticCacheLookup => llm_semantic_cache_lookup::LlmSemanticCacheLookup,
    LlmSemanticCacheStore => llm_semantic_cache_store::LlmSemanticCacheStore,
    LlmTokenLimit => llm_token_limit::LlmTokenLimit,
    LogToEventhub => log_to_eventhub::LogToEventhub,
    MockResponse => mock_response::MockResponse,
    Proxy => proxy::Proxy,
    PublishEvent => publish_event::PublishEvent,
    PublishToDapr => publish_to_dapr::PublishToDapr,
    Quota => quota::Quota,
    QuotaByKey => quota_by_key::QuotaByKey,
    RateLimit => rate_limit::RateLimit,
    RateLimitByKey => rate_limit_by_key::RateLimitByKey,
    RedirectContentUrls => redirect_content_urls::RedirectContentUrls,
    Retry => retry::Retry,
    ReturnResponse => return_response::ReturnResponse,
    RewriteUri => rewrite_uri::RewriteUri,
    SendOneWayRequest => send_one_way_request::SendOneWayRequest,
    SendRequest => send_request::SendRequest,
    SendServiceBusMessage => send_service_bus_message::SendServiceBusMessage,
    SetBackendService => set_backend_service::SetBackendService,
    SetBody => set_body::SetBody,
    SetGraphqlResolver => set_graphql_resolver::SetGraphqlResolver,
    SetHeader => set_header::SetHeader,
    SetMethod => set_method::SetMethod,
    SetQueryParameter => set_query_parameter::SetQueryParameter,
    SetStatus => set_status::SetStatus,
    SetVariable => set_variable::SetVariable,
    SqlDataSource => sql_data_source::SqlDataSource,
    Trace => trace::Trace,
    ValidateAzureAdToken => validate_azure_ad_token::ValidateAzureAdToken,
    ValidateClientCertificate => validate_client_certificate::ValidateClientCertificate,
    ValidateContent => validate_content::ValidateContent,
    ValidateGraphqlRequest => validate_graphql_request::ValidateGraphqlRequest,
    ValidateHeaders => validate_headers::ValidateHeaders,
    ValidateJwt => validate_jwt::ValidateJwt,
    ValidateOdataRequest => validate_odata_request::ValidateOdataRequest,
    ValidateParameters => validate_parameters::ValidateParameters,
    ValidateStatusCode => validate_status_code::ValidateStatusCode,
    Wait => wait::Wait,
    XmlToJson => xml_to_json::XmlToJson,
    XslTransform => xsl_transform::XslTransform,
}

/// The registry entry of a policy by element name.
pub fn lookup(name: &str) -> Option<&'static PolicyEntry> {
    REGISTRY
        .binary_search_by(|entry| entry.spec.name.cmp(name))
        .ok()
        .map(|idx| &REGISTRY[idx])
}

/// Reads the child elements of `parent` as policies. `in_section` is true directly inside a section, the only
/// place `<base />` may appear.
pub(crate) fn parse_policies(
    ctx: &mut Ctx<'_>,
    parent: &XmlElement,
    in_section: bool,
) -> Vec<Policy> {
    let mut policies = Vec::new();
    let mut base_seen: Option<Span> = None;
    let mut once_seen: Vec<(&'static str, Span)> = Vec::new();
    for node in &parent.children {
        let XmlNode::Element(element) = node else {
            continue;
        };
        policies.push(parse_policy(
            ctx,
            element,
            parent,
            in_section,
            &mut base_seen,
            &mut once_seen,
        ));
    }
    policies
}

fn parse_policy(
    ctx: &mut Ctx<'_>,
    element: &XmlElement,
    parent: &XmlElement,
    in_section: bool,
    base_seen: &mut Option<Span>,
    once_seen: &mut Vec<(&'static str, Span)>,
) -> Policy {
    if element.name == "base" {
        check_base(ctx, element, parent, in_section, base_seen);
        return Policy::Base(Base {
            span: element.span.clone(),
        });
    }
    let Some(entry) = lookup(&element.name) else {
        let mut diagnostic = Diagnostic::error(
            Code::UnknownPolicy,
            format!("unknown policy `{}`", element.name),
            element.name_span.clone(),
            "not a known policy",
        );
        let candidates = REGISTRY.iter().map(|entry| entry.spec.name).chain(["base"]);
        if let Some(suggestion) = did_you_mean(&element.name, candidates) {
            diagnostic = diagnostic.with_help(format!("did you mean `{suggestion}`?"));
        } else if let Some(section) = crate::spec::Section::from_name(&element.name) {
            diagnostic = diagnostic.with_help(format!(
                "`<{}>` is a section; sections go directly inside `<policies>`",
                section.as_str()
            ));
        }
        ctx.push(diagnostic);
        return Policy::Unknown(Unknown {
            name: element.name.clone(),
            span: element.span.clone(),
        });
    };
    if let Some(section) = ctx.section
        && !entry.info.sections.contains(&section)
    {
        let allowed: Vec<&str> = entry
            .info
            .sections
            .iter()
            .map(|section| section.as_str())
            .collect();
        ctx.push(
            Diagnostic::error(
                Code::PolicyNotAllowedInSection,
                format!(
                    "`{}` is not allowed in the `{}` section",
                    element.name,
                    section.as_str()
                ),
                element.name_span.clone(),
                format!("not allowed in `{}`", section.as_str()),
            )
            .with_help(format!(
                "`{}` may be used in: {}",
                element.name,
                allowed.join(", ")
            )),
        );
    }
    if entry.info.once_per_section && in_section {
        if let Some((_, first)) = once_seen.iter().find(|(name, _)| *name == entry.spec.name) {
            ctx.push(
                Diagnostic::error(
                    Code::RepeatedPolicy,
                    format!("`{}` may appear only once per section", element.name),
                    element.name_span.clone(),
                    "repeated here",
                )
                .with_secondary(first.clone(), "first here"),
            );
        } else {
            once_seen.push((entry.spec.name, element.name_span.clone()));
        }
    }
    let mut reader = ElementReader::new(ctx, element, entry.spec);
    match (entry.parse)(&mut reader) {
        Some(policy) if !reader.failed() => policy,
        _ => Policy::Unknown(Unknown {
            name: element.name.clone(),
            span: element.span.clone(),
        }),
    }
}

fn check_base(
    ctx: &mut Ctx<'_>,
    element: &XmlElement,
    parent: &XmlElement,
    in_section: bool,
    base_seen: &mut Option<Span>,
) {
    if !element.attrs.is_empty() || element.children.iter().any(|node| !matches!(node, XmlNode::Text(range) if ctx.text[range.start as usize..range.end as usize].trim().is_empty())) {
        ctx.push(Diagnostic::error(
            Code::MisplacedBase,
            "`<base />` takes no attributes or content",
            element.name_span.clone(),
            "write `<base />`",
        ));
    }
    if !in_section {
        let help = if ctx.section.is_none() {
            "fragments are inserted into a section as they are and cannot contain `<base />`"
                .to_string()
        } else {
            format!(
                "`<base />` must be a direct child of a section, not of `<{}>`",
                parent.name
            )
        };
        ctx.push(
            Diagnostic::error(
                Code::MisplacedBase,
                format!("`<base />` is not allowed inside `<{}>`", parent.name),
                element.name_span.clone(),
                "misplaced",
            )
            .with_help(help),
        );
    } else if let Some(first) = base_seen {
        ctx.push(
            Diagnostic::error(
                Code::MisplacedBase,
                "a section may contain `<base />` only once",
                element.name_span.clone(),
                "second `<base />`",
            )
            .with_secondary(first.clone(), "first here"),
        );
    } else {
        *base_seen = Some(element.name_span.clone());
    }
}
