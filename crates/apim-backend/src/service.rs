//! A whole API Management service from ARM templates: APIs (with operations declared as resources or imported
//! from an OpenAPI document), policies at global, product, API and operation scope, products, subscriptions,
//! named values, policy fragments, and the backends.
//!
//! Azure: `Microsoft.ApiManagement/service/{apis, apis/operations, apis/policies, apis/operations/policies,
//! policies, products, products/apis, products/policies, subscriptions, namedValues, policyFragments}` (bicep-types-az
//! 2024-05-01). An API's `subscriptionRequired` defaults to true; its key is read from
//! `subscriptionKeyParameterNames` (default header `Ocp-Apim-Subscription-Key`, query `subscription-key`).

use arm_template::{DeploymentContext, ParamValue};
use serde_json::Value;

use crate::load::Problem;
use crate::model::{Origin, Severity};

const TYPES: &[&str] = &[
    "Microsoft.ApiManagement/service/apis",
    "Microsoft.ApiManagement/service/apis/operations",
    "Microsoft.ApiManagement/service/apis/policies",
    "Microsoft.ApiManagement/service/apis/operations/policies",
    "Microsoft.ApiManagement/service/policies",
    "Microsoft.ApiManagement/service/products",
    "Microsoft.ApiManagement/service/products/apis",
    "Microsoft.ApiManagement/service/products/policies",
    "Microsoft.ApiManagement/service/subscriptions",
    "Microsoft.ApiManagement/service/namedValues",
    "Microsoft.ApiManagement/service/policyFragments",
];

#[derive(Debug, Clone)]
pub struct ApiDef {
    pub name: String,
    pub display_name: String,
    /// The URL suffix (no leading or trailing slash).
    pub path: String,
    pub service_url: Option<String>,
    pub subscription_required: bool,
    pub key_header: String,
    pub key_query: String,
    pub operations: Vec<OperationDef>,
    pub policy: Option<PolicyText>,
    pub origin: Origin,
}

#[derive(Debug, Clone)]
pub struct OperationDef {
    pub name: String,
    pub method: String,
    /// `/deployments/{deployment-id}/chat/completions` (query part dropped).
    pub url_template: String,
    pub policy: Option<PolicyText>,
}

#[derive(Debug, Clone)]
pub struct PolicyText {
    pub text: String,
    /// Where it came from, for diagnostics (`main.json $.resources[4] (apis/x/policies/policy)`).
    pub label: String,
}

#[derive(Debug, Clone)]
pub struct ProductDef {
    pub name: String,
    pub subscription_required: bool,
    pub apis: Vec<String>,
    pub policy: Option<PolicyText>,
}

#[derive(Debug, Clone)]
pub struct SubscriptionDef {
    pub name: String,
    /// `/apis` (all APIs), `/apis/{api}` or `/products/{product}`.
    pub scope: String,
    pub primary_key: String,
    pub secondary_key: String,
    pub active: bool,
}

#[derive(Debug, Clone, Default)]
pub struct Service {
    pub apis: Vec<ApiDef>,
    pub global_policy: Option<PolicyText>,
    pub products: Vec<ProductDef>,
    pub subscriptions: Vec<SubscriptionDef>,
    /// (name, value, secret)
    pub named_values: Vec<(String, String, bool)>,
    pub fragments: Vec<(String, PolicyText)>,
}

fn last(name: &str) -> String {
    name.rsplit('/').next().unwrap_or(name).to_string()
}

fn segment(name: &str, i: usize) -> String {
    name.split('/').nth(i).unwrap_or("").to_string()
}

fn text(v: &Value, key: &str) -> Option<String> {
    v.get(key).and_then(Value::as_str).map(str::to_string)
}

/// A key apim-emu makes up for a subscription whose template does not set one (APIM generates them): stable
/// across runs, printed by `serve`.
pub fn generated_key(subscription: &str, which: &str) -> String {
    arm_template::hash::guid(&["apim-emu-subscription", subscription, which]).replace('-', "")
}

/// An API from its properties (ARM `properties` or APIOps `apiInformation.json`).
fn api_def(name: String, props: &Value, operations: Vec<OperationDef>, origin: Origin) -> ApiDef {
    let names = props.get("subscriptionKeyParameterNames");
    ApiDef {
        display_name: text(props, "displayName").unwrap_or_else(|| name.clone()),
        path: text(props, "path")
            .unwrap_or_default()
            .trim_matches('/')
            .to_string(),
        service_url: text(props, "serviceUrl").filter(|u| !u.is_empty()),
        subscription_required: props
            .get("subscriptionRequired")
            .and_then(Value::as_bool)
            .unwrap_or(true),
        key_header: names
            .and_then(|n| text(n, "header"))
            .unwrap_or_else(|| "Ocp-Apim-Subscription-Key".into()),
        key_query: names
            .and_then(|n| text(n, "query"))
            .unwrap_or_else(|| "subscription-key".into()),
        operations,
        policy: None,
        origin,
        name,
    }
}

/// A subscription from its properties. Azure: the scope is an ARM id or a relative one; `/apis[/x]` or
/// `/products/x` is kept.
fn subscription_def(name: &str, props: &Value) -> SubscriptionDef {
    let scope = text(props, "scope").unwrap_or_else(|| "/apis".into());
    let lower = scope.to_ascii_lowercase();
    let scope = match (lower.rfind("/apis"), lower.rfind("/products/")) {
        (_, Some(i)) | (Some(i), None) => scope[i..].to_string(),
        _ => "/apis".into(),
    };
    SubscriptionDef {
        primary_key: text(props, "primaryKey").unwrap_or_else(|| generated_key(name, "primary")),
        secondary_key: text(props, "secondaryKey")
            .unwrap_or_else(|| generated_key(name, "secondary")),
        active: text(props, "state").is_none_or(|s| s.eq_ignore_ascii_case("active")),
        scope,
        name: name.to_string(),
    }
}

/// Operations of an OpenAPI (2 or 3) document in JSON: method + path template for each `paths` entry.
fn openapi_operations(spec: &Value) -> Vec<OperationDef> {
    let mut out = Vec::new();
    let Some(paths) = spec.get("paths").and_then(Value::as_object) else {
        return out;
    };
    for (path, item) in paths {
        let Some(item) = item.as_object() else {
            continue;
        };
        for (method, op) in item {
            if !matches!(
                method.as_str(),
                "get" | "put" | "post" | "delete" | "options" | "head" | "patch" | "trace"
            ) {
                continue;
            }
            let name = op
                .get("operationId")
                .and_then(Value::as_str)
                .map(str::to_string)
                .unwrap_or_else(|| format!("{method}{path}"));
            out.push(OperationDef {
                name,
                method: method.to_ascii_uppercase(),
                url_template: path.split('?').next().unwrap_or(path).to_string(),
                policy: None,
            });
        }
    }
    out
}

fn policy_text(body: &Value, label: String) -> Option<PolicyText> {
    let props = body.get("properties")?;
    let value = text(props, "value")?;
    let format = text(props, "format")
        .unwrap_or_else(|| "xml".into())
        .to_ascii_lowercase();
    if format.ends_with("-link") {
        return None;
    }
    // Azure: `xml` values are entity-escaped XML (the `rawxml` form is the text as written); both read the same.
    Some(PolicyText { text: value, label })
}

/// Reads the service model from templates (the backends come from [`crate::load`] over the same inputs).
pub fn load_service(
    inputs: &[(String, Value)],
    parameters: &[(String, ParamValue)],
    context: &DeploymentContext,
) -> (Service, Vec<Problem>) {
    let mut service = Service::default();
    let mut problems = Vec::new();
    let wanted = |t: &str| TYPES.iter().any(|w| w.eq_ignore_ascii_case(t));
    let mut resources = Vec::new();
    for (file, json) in inputs {
        let declared: Vec<(String, ParamValue)> = parameters
            .iter()
            .filter(|(n, v)| {
                matches!(v, ParamValue::Text(_))
                    || json
                        .get("parameters")
                        .and_then(Value::as_object)
                        .is_some_and(|p| p.keys().any(|k| k.eq_ignore_ascii_case(n)))
            })
            .cloned()
            .collect();
        let d = arm_template::deploy(
            file,
            json,
            &arm_template::Options {
                context: context.clone(),
                parameters: declared,
                wanted: &wanted,
                require_parameters: true,
            },
        );
        for r in d.resources {
            for u in &r.unresolved {
                problems.push(Problem {
                    severity: Severity::Warning,
                    file: r.file.clone(),
                    path: format!("{}.{}", r.path, u.at),
                    message: format!(
                        "{} could not be computed ({}); left out",
                        u.at, u.error.message
                    ),
                    help: u.error.help.clone(),
                });
            }
            resources.push(r);
        }
    }
    let ty = |r: &arm_template::Deployed| r.type_.to_ascii_lowercase();
    for r in resources
        .iter()
        .filter(|r| ty(r) == "microsoft.apimanagement/service/apis")
    {
        let p = r.body.get("properties").cloned().unwrap_or(Value::Null);
        let mut operations = Vec::new();
        let format = text(&p, "format").unwrap_or_default().to_ascii_lowercase();
        if format.contains("openapi") || format.contains("swagger") {
            let spec = match p.get("value") {
                Some(Value::String(s)) => serde_json::from_str(s).unwrap_or(Value::Null),
                Some(v) => v.clone(),
                None => Value::Null,
            };
            operations = openapi_operations(&spec);
            if operations.is_empty() {
                problems.push(Problem {
                    severity: Severity::Warning,
                    file: r.file.clone(),
                    path: format!("{}.properties.value", r.path),
                    message: "the API's OpenAPI document is not JSON apim-emu can read (YAML and links are not read); the API has no operations".into(),
                    help: None,
                });
            }
        }
        service.apis.push(api_def(
            last(&r.name),
            &p,
            operations,
            Origin {
                file: r.file.clone(),
                path: r.path.clone(),
            },
        ));
    }
    for r in &resources {
        let label = format!("{} {} ({})", r.file, r.path, r.name);
        match ty(r).as_str() {
            "microsoft.apimanagement/service/apis/operations" => {
                let p = r.body.get("properties").cloned().unwrap_or(Value::Null);
                let api = segment(&r.name, 1);
                if let Some(a) = service
                    .apis
                    .iter_mut()
                    .find(|a| a.name.eq_ignore_ascii_case(&api))
                {
                    let name = last(&r.name);
                    a.operations.retain(|o| !o.name.eq_ignore_ascii_case(&name));
                    a.operations.push(OperationDef {
                        name,
                        method: text(&p, "method")
                            .unwrap_or_else(|| "GET".into())
                            .to_ascii_uppercase(),
                        url_template: text(&p, "urlTemplate")
                            .unwrap_or_else(|| "/".into())
                            .split('?')
                            .next()
                            .unwrap_or("/")
                            .to_string(),
                        policy: None,
                    });
                }
            }
            "microsoft.apimanagement/service/products" => {
                let p = r.body.get("properties").cloned().unwrap_or(Value::Null);
                service.products.push(ProductDef {
                    name: last(&r.name),
                    subscription_required: p
                        .get("subscriptionRequired")
                        .and_then(Value::as_bool)
                        .unwrap_or(true),
                    apis: Vec::new(),
                    policy: None,
                });
            }
            "microsoft.apimanagement/service/subscriptions" => {
                let p = r.body.get("properties").cloned().unwrap_or(Value::Null);
                let name = last(&r.name);
                service.subscriptions.push(subscription_def(&name, &p));
            }
            "microsoft.apimanagement/service/namedvalues" => {
                let p = r.body.get("properties").cloned().unwrap_or(Value::Null);
                let name = text(&p, "displayName").unwrap_or_else(|| last(&r.name));
                match text(&p, "value") {
                    Some(v) => service.named_values.push((name, v, p.get("secret").and_then(Value::as_bool).unwrap_or(false))),
                    None => problems.push(Problem {
                        severity: Severity::Warning,
                        file: r.file.clone(),
                        path: r.path.clone(),
                        message: format!("named value `{name}` has no value (Key Vault named values are not read); pass it with --named-value"),
                        help: None,
                    }),
                }
            }
            "microsoft.apimanagement/service/policyfragments" => {
                if let Some(t) = policy_text(&r.body, label) {
                    service.fragments.push((last(&r.name), t));
                }
            }
            _ => {}
        }
    }
    for r in &resources {
        let label = format!("{} {} ({})", r.file, r.path, r.name);
        match ty(r).as_str() {
            "microsoft.apimanagement/service/policies" => {
                service.global_policy = policy_text(&r.body, label)
            }
            "microsoft.apimanagement/service/apis/policies" => {
                let api = segment(&r.name, 1);
                if let Some(a) = service
                    .apis
                    .iter_mut()
                    .find(|a| a.name.eq_ignore_ascii_case(&api))
                {
                    a.policy = policy_text(&r.body, label);
                }
            }
            "microsoft.apimanagement/service/apis/operations/policies" => {
                let (api, op) = (segment(&r.name, 1), segment(&r.name, 2));
                if let Some(o) = service
                    .apis
                    .iter_mut()
                    .find(|a| a.name.eq_ignore_ascii_case(&api))
                    .and_then(|a| {
                        a.operations
                            .iter_mut()
                            .find(|o| o.name.eq_ignore_ascii_case(&op))
                    })
                {
                    o.policy = policy_text(&r.body, label);
                }
            }
            "microsoft.apimanagement/service/products/apis" => {
                let (product, api) = (segment(&r.name, 1), last(&r.name));
                if let Some(p) = service
                    .products
                    .iter_mut()
                    .find(|p| p.name.eq_ignore_ascii_case(&product))
                {
                    p.apis.push(api);
                }
            }
            "microsoft.apimanagement/service/products/policies" => {
                let product = segment(&r.name, 1);
                if let Some(p) = service
                    .products
                    .iter_mut()
                    .find(|p| p.name.eq_ignore_ascii_case(&product))
                {
                    p.policy = policy_text(&r.body, label);
                }
            }
            _ => {}
        }
    }
    (service, problems)
}

/// One file of an APIOps extractor folder: its path relative to the folder (with `/`) and its text.
#[derive(Debug, Clone)]
pub struct ArtifactFile {
    pub path: String,
    pub text: String,
}

fn information(file: &ArtifactFile, problems: &mut Vec<Problem>) -> Value {
    match serde_json::from_str::<Value>(&file.text) {
        Ok(v) => v.get("properties").cloned().unwrap_or(v),
        Err(e) => {
            problems.push(Problem {
                severity: Severity::Error,
                file: file.path.clone(),
                path: String::new(),
                message: format!("not valid JSON: {e}"),
                help: None,
            });
            Value::Null
        }
    }
}

/// The service model of an APIOps extractor folder (Azure/apiops layout: `policy.xml`, `apis/<api>/…`,
/// `products/<product>/…`, `subscriptions/`, `named values/`, `policy fragments/`). Backends are read by
/// [`crate::load`] from `backends/<name>/backendInformation.json`.
pub fn service_from_artifacts(files: &[ArtifactFile]) -> (Service, Vec<Problem>) {
    let mut service = Service::default();
    let mut problems = Vec::new();
    let label = |f: &ArtifactFile| PolicyText {
        text: f.text.clone(),
        label: f.path.clone(),
    };
    let parts =
        |f: &ArtifactFile| -> Vec<String> { f.path.split('/').map(str::to_string).collect() };
    // APIs first, so that operations and products can refer to them.
    for f in files {
        let p = parts(f);
        if p.len() == 3 && p[0] == "apis" && p[2] == "apiInformation.json" {
            let props = information(f, &mut problems);
            service.apis.push(api_def(
                p[1].clone(),
                &props,
                Vec::new(),
                Origin {
                    file: f.path.clone(),
                    path: "$".into(),
                },
            ));
        }
    }
    for f in files {
        let p = parts(f);
        let api = |service: &mut Service, name: &str| -> Option<usize> {
            service
                .apis
                .iter()
                .position(|a| a.name.eq_ignore_ascii_case(name))
        };
        match p.iter().map(String::as_str).collect::<Vec<_>>().as_slice() {
            ["policy.xml"] => service.global_policy = Some(label(f)),
            ["apis", name, spec] if spec.starts_with("specification.") => {
                let parsed: Option<Value> = if spec.ends_with(".json") {
                    serde_json::from_str(&f.text).ok()
                } else if spec.ends_with(".yaml") || spec.ends_with(".yml") {
                    serde_yaml_ng::from_str(&f.text).ok()
                } else {
                    None
                };
                match (parsed, api(&mut service, name)) {
                    (Some(v), Some(i)) => service.apis[i].operations = openapi_operations(&v),
                    (None, Some(_)) => problems.push(Problem {
                        severity: Severity::Warning,
                        file: f.path.clone(),
                        path: String::new(),
                        message: "not an OpenAPI document apim-emu can read (JSON or YAML); the API has no operations".into(),
                        help: None,
                    }),
                    _ => {}
                }
            }
            ["apis", name, "policy.xml"] => {
                if let Some(i) = api(&mut service, name) {
                    service.apis[i].policy = Some(label(f));
                }
            }
            ["products", product, "productInformation.json"] => {
                let props = information(f, &mut problems);
                service.products.push(ProductDef {
                    name: product.to_string(),
                    subscription_required: props
                        .get("subscriptionRequired")
                        .and_then(Value::as_bool)
                        .unwrap_or(true),
                    apis: Vec::new(),
                    policy: None,
                });
            }
            ["subscriptions", name, "subscriptionInformation.json"] => {
                let props = information(f, &mut problems);
                service.subscriptions.push(subscription_def(name, &props));
            }
            ["named values", name, "namedValueInformation.json"] => {
                let props = information(f, &mut problems);
                let display = text(&props, "displayName").unwrap_or_else(|| name.to_string());
                match text(&props, "value") {
                    Some(v) => service.named_values.push((display, v, props.get("secret").and_then(Value::as_bool).unwrap_or(false))),
                    None => problems.push(Problem {
                        severity: Severity::Warning,
                        file: f.path.clone(),
                        path: String::new(),
                        message: format!("named value `{display}` has no value (secrets are not extracted); pass it with --named-value"),
                        help: None,
                    }),
                }
            }
            ["policy fragments", name, "policy.xml"] => {
                service.fragments.push((name.to_string(), label(f)))
            }
            _ => {}
        }
    }
    for f in files {
        let p = parts(f);
        match p.iter().map(String::as_str).collect::<Vec<_>>().as_slice() {
            ["apis", name, "operations", op, "policy.xml"] => {
                if let Some(o) = service
                    .apis
                    .iter_mut()
                    .find(|a| a.name.eq_ignore_ascii_case(name))
                    .and_then(|a| {
                        a.operations
                            .iter_mut()
                            .find(|o| o.name.eq_ignore_ascii_case(op))
                    })
                {
                    o.policy = Some(label(f));
                } else {
                    problems.push(Problem {
                        severity: Severity::Warning,
                        file: f.path.clone(),
                        path: String::new(),
                        message: format!("no operation `{op}` in API `{name}`'s specification; this policy is not used"),
                        help: None,
                    });
                }
            }
            ["products", product, "policy.xml"] => {
                if let Some(pr) = service
                    .products
                    .iter_mut()
                    .find(|x| x.name.eq_ignore_ascii_case(product))
                {
                    pr.policy = Some(label(f));
                }
            }
            [
                "products",
                product,
                "apis",
                api,
                "productApiInformation.json",
            ] => {
                if let Some(pr) = service
                    .products
                    .iter_mut()
                    .find(|x| x.name.eq_ignore_ascii_case(product))
                {
                    pr.apis.push(api.to_string());
                }
            }
            _ => {}
        }
    }
    (service, problems)
}
