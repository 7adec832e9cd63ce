//! `validate-jwt`: a JWT from a header, query parameter or expression must be well formed, signed by one of the
//! keys (`issuer-signing-keys`, or the JWKS of an `openid-config`), unexpired, for an allowed audience and
//! issuer, and hold the required claims.
//!
//! Azure (reference 01 and 02, https://learn.microsoft.com/azure/api-management/validate-jwt-policy): failures
//! end the request with `failed-validation-httpcode` (default 401) and go through on-error, with
//! `context.LastError` Reasons `TokenNotPresent` ("JWT not present."), `TokenSignatureInvalid`,
//! `TokenSignatureKeyNotFound`, `TokenExpired`, `TokenAudienceNotAllowed`, `TokenIssuerNotAllowed` (messages end
//! in "Access denied."), `TokenClaimNotFound` ("JWT token is missing the following claims: a, b. Access
//! denied."), `TokenClaimValueNotAllowed` ("Claim {name} value of {value} is not allowed. Access denied."),
//! `JwtInvalid`. `clock-skew` widens the lifetime check; `require-expiration-time` (default true) and
//! `require-signed-tokens` (default true); `output-token-variable-name` receives the `Jwt`. An openid-config's
//! keys are cached for an hour.
//!
//! UNVERIFIED: the response body is `{ "statusCode", "message" }` with `failed-validation-error-message` or the
//! error's message; a token that is not valid yet has Reason `TokenNotYetValid`; without header-name,
//! query-parameter-name and token-value the token is read from `Authorization`; "Bearer " (any scheme) is taken
//! off an Authorization header, and `require-scheme` must then match it.
//! Deviation: `decryption-keys` and keys given by `certificate-id` are refused at load (certificates are not
//! modelled); the library messages differ from .NET's IdentityModel texts.
//!
//! `validate-azure-ad-token` runs here too (Azure:
//! https://learn.microsoft.com/azure/api-management/validate-azure-ad-token-policy): the keys and issuer come
//! from the tenant's OpenID configuration at `{authentication-endpoint}/{tenant-id}/v2.0/.well-known/
//! openid-configuration` (default endpoint `https://login.microsoftonline.com`), fetched through the upstream
//! like any openid-config. UNVERIFIED: the token's `iss` must be that configuration's issuer (its `{tenantid}`
//! filled in from the token's `tid`) or the v1 form `https://sts.windows.net/{tid}/` of the same tenant;
//! `client-application-ids` are matched against `azp` (v2) or `appid` (v1) with Reason
//! `TokenClientApplicationNotAllowed`; `backend-application-ids` are allowed audiences, as themselves and as
//! `api://{id}`; lifetime checks use no clock skew.

use std::collections::HashMap;
use std::time::Duration;

use apim_policy::policies::validate_azure_ad_token as aad;
use apim_policy::policies::validate_jwt as ast;
use apim_policy::value::{Seconds, Value};
use jsonwebtoken::{Algorithm, DecodingKey, Validation};

use crate::Plan;
use crate::compile::{Compiler, Cv};
use crate::io::UpstreamRequest;
use crate::run::{Exchange, Flow, PolicyError, Runtime, eval};
use apim_expr::{BodyHandle, ResponseData};

/// How long an openid-config's keys are reused.
const KEYS_TTL: Duration = Duration::from_secs(3600);
/// Azure: a token whose kid is not among the cached keys makes the keys be fetched again, at most this often.
const REFETCH_AFTER: Duration = Duration::from_secs(300);
/// How long a failed fetch is remembered before trying again.
const FAILED_TTL: Duration = Duration::from_secs(30);

enum Source {
    Header(Cv<String>),
    Query(Cv<String>),
    Value(Cv<String>),
}

struct Key {
    id: Option<Cv<String>>,
    material: Material,
}

#[derive(Clone)]
enum Material {
    /// A base64 symmetric key (the element's text).
    Secret(Cv<String>),
    /// An RSA public key (base64url modulus and exponent).
    Rsa(String, String),
}

struct ClaimRule {
    name: Cv<String>,
    match_: Option<Cv<String>>,
    separator: Option<Cv<String>>,
    values: Vec<Cv<String>>,
}

/// What validate-azure-ad-token adds: the tenant's configuration and the client applications.
struct Entra {
    tenant: Cv<String>,
    endpoint: Option<Cv<String>>,
    client_ids: Vec<Cv<String>>,
}

pub struct ValidateJwt {
    /// `validate-jwt` or `validate-azure-ad-token` (`context.LastError.Source`).
    policy: &'static str,
    entra: Option<Entra>,
    source: Source,
    status: Cv<i64>,
    message: Option<Cv<String>>,
    require_expiration: Cv<bool>,
    require_scheme: Option<Cv<String>>,
    require_signed: Cv<bool>,
    clock_skew: Cv<Seconds>,
    output: Option<String>,
    openid_configs: Vec<Cv<String>>,
    keys: Vec<Key>,
    audiences: Vec<Cv<String>>,
    issuers: Vec<Cv<String>>,
    claims: Vec<ClaimRule>,
}

/// Keys of an openid-config (by its URL): (kid, key, algorithm family) and the clock time they expire.
/// By URL: the configuration, until when it is used, and when it was fetched.
pub type OpenIdKeys = HashMap<String, (OpenIdConfig, Duration, Duration)>;

/// The parts of an OpenID configuration validation uses: the keys of its JWKS and its issuer.
#[derive(Clone, Debug, Default)]
pub struct OpenIdConfig {
    keys: Vec<(Option<String>, JwkKey)>,
    issuer: Option<String>,
}

/// A key from a JWKS document.
#[derive(Clone, Debug)]
pub enum JwkKey {
    Rsa(String, String),
    Secret(Vec<u8>),
}

fn text(c: &mut Compiler, v: &Option<Value<String>>) -> Option<Cv<String>> {
    match v {
        Some(Value::Template(t)) => Some(Cv::Lit(c.substitute_known(&t.text))),
        Some(v) => c.value(v),
        None => Some(Cv::Lit(String::new())),
    }
}

fn refuse(c: &mut Compiler, span: &apim_source::Span, what: &str) {
    let diagnostic = if c.options.skip_unsupported {
        apim_source::Diagnostic::warning(
            apim_source::Code::PolicyNotExecuted,
            format!(
                "validate-jwt with {what} is not executed by apim-emu yet; skipped (--skip-unsupported)"
            ),
            span.clone(),
            "skipped",
        )
    } else {
        apim_source::Diagnostic::error(
            apim_source::Code::PolicyNotExecuted,
            format!("validate-jwt with {what} is not executed by apim-emu yet"),
            span.clone(),
            "not executed",
        )
        .with_help("certificates are not modelled; give the key as `n`/`e` or base64 text, or start with --skip-unsupported")
    };
    c.diagnostics.push(diagnostic);
}

/// `<required-claims>` of either policy (each module has its own element types of the same shape).
macro_rules! required_claims {
    ($c:expr, $p:expr) => {{
        let mut claims = Vec::new();
        if let Some(r) = &$p.required_claims {
            for claim in &r.claims {
                let mut values = Vec::new();
                for v in &claim.values {
                    values.push(text($c, &v.content.0)?);
                }
                claims.push(ClaimRule {
                    name: $c.value(&claim.name)?,
                    match_: $c.opt(&claim.match_)?.map(|m| match m {
                        Cv::Lit(m) => Cv::Lit(m.as_str().to_string()),
                        Cv::Expr(a, b) => Cv::Expr(a, b),
                    }),
                    separator: $c.opt(&claim.separator)?,
                    values,
                });
            }
        }
        claims
    }};
}

/// `output-token-variable-name`: `Some(None)` when absent, `None` (reported) when not a literal.
fn output_variable(c: &mut Compiler, v: &Option<Value<String>>) -> Option<Option<String>> {
    match v {
        Some(Value::Literal { value, .. }) => Some(Some(value.clone())),
        Some(other) => {
            c.error(other.span(), "output-token-variable-name must be a literal");
            None
        }
        None => Some(None),
    }
}

pub(crate) fn compile(c: &mut Compiler, p: &ast::ValidateJwt) -> Option<ValidateJwt> {
    if let Some(d) = &p.decryption_keys {
        refuse(c, &d.span, "decryption-keys (encrypted tokens)");
        return None;
    }
    let source = match (&p.header_name, &p.query_parameter_name, &p.token_value) {
        (Some(h), _, _) => Source::Header(c.value(h)?),
        (_, Some(q), _) => Source::Query(c.value(q)?),
        (_, _, Some(t)) => Source::Value(c.value(t)?),
        _ => Source::Header(Cv::Lit("Authorization".into())),
    };
    let mut keys = Vec::new();
    if let Some(k) = &p.issuer_signing_keys {
        for key in &k.keys {
            if key.certificate_id.is_some() {
                refuse(c, &key.span, "a certificate-id key");
                return None;
            }
            let material = match (&key.n, &key.e) {
                (Some(Value::Literal { value: n, .. }), Some(Value::Literal { value: e, .. })) => {
                    Material::Rsa(n.clone(), e.clone())
                }
                _ => Material::Secret(text(c, &key.content.0)?),
            };
            keys.push(Key {
                id: c.opt(&key.id)?,
                material,
            });
        }
    }
    let mut openid_configs = Vec::new();
    for o in &p.openid_configs {
        openid_configs.push(c.value(&o.url)?);
    }
    let mut audiences = Vec::new();
    if let Some(a) = &p.audiences {
        for x in &a.audiences {
            audiences.push(text(c, &x.content.0)?);
        }
    }
    let mut issuers = Vec::new();
    if let Some(i) = &p.issuers {
        for x in &i.issuers {
            issuers.push(text(c, &x.content.0)?);
        }
    }
    let claims = required_claims!(c, p);
    let output = output_variable(c, &p.output_token_variable_name)?;
    Some(ValidateJwt {
        policy: "validate-jwt",
        entra: None,
        source,
        status: c
            .opt(&p.failed_validation_httpcode)?
            .unwrap_or(Cv::Lit(401)),
        message: c.opt(&p.failed_validation_error_message)?,
        require_expiration: c.opt(&p.require_expiration_time)?.unwrap_or(Cv::Lit(true)),
        require_scheme: c.opt(&p.require_scheme)?,
        require_signed: c.opt(&p.require_signed_tokens)?.unwrap_or(Cv::Lit(true)),
        clock_skew: c.opt(&p.clock_skew)?.unwrap_or(Cv::Lit(Seconds(0))),
        output,
        openid_configs,
        keys,
        audiences,
        issuers,
        claims,
    })
}

async fn entra_openid(
    entra: &Entra,
    ex: &mut Exchange,
    rt: &Runtime,
    plan: &Plan,
    kid: Option<&str>,
) -> Result<OpenIdConfig, PolicyError> {
    let tenant = eval(&entra.tenant, ex, rt, plan, "tenant-id")?;
    let endpoint = match &entra.endpoint {
        Some(e) => Some(eval(e, ex, rt, plan, "authentication-endpoint")?),
        None => None,
    };
    Ok(openid(rt, &entra_config_url(&tenant, endpoint.as_deref()), kid).await)
}

pub(crate) fn compile_aad(c: &mut Compiler, p: &aad::ValidateAzureAdToken) -> Option<ValidateJwt> {
    let source = match (&p.query_parameter_name, &p.token_value, &p.header_name) {
        (Some(q), _, _) => Source::Query(c.value(q)?),
        (_, Some(t), _) => Source::Value(c.value(t)?),
        (_, _, Some(h)) => Source::Header(c.value(h)?),
        _ => Source::Header(Cv::Lit("Authorization".into())),
    };
    let mut audiences = Vec::new();
    if let Some(a) = &p.audiences {
        for x in &a.audiences {
            audiences.push(text(c, &x.content.0)?);
        }
    }
    if let Some(b) = &p.backend_application_ids {
        for x in &b.application_ids {
            let id = text(c, &x.content.0)?;
            // Azure (UNVERIFIED): a backend application id is accepted as the audience itself and as `api://id`.
            if let Cv::Lit(id) = &id {
                audiences.push(Cv::Lit(format!("api://{id}")));
            }
            audiences.push(id);
        }
    }
    let mut client_ids = Vec::new();
    if let Some(ids) = &p.client_application_ids {
        for x in &ids.application_ids {
            client_ids.push(text(c, &x.content.0)?);
        }
    }
    let claims = required_claims!(c, p);
    let output = output_variable(c, &p.output_token_variable_name)?;
    Some(ValidateJwt {
        policy: "validate-azure-ad-token",
        entra: Some(Entra {
            tenant: c.value(&p.tenant_id)?,
            endpoint: c.opt(&p.authentication_endpoint)?,
            client_ids,
        }),
        source,
        status: c
            .opt(&p.failed_validation_httpcode)?
            .unwrap_or(Cv::Lit(401)),
        message: c.opt(&p.failed_validation_error_message)?,
        require_expiration: Cv::Lit(true),
        require_scheme: None,
        require_signed: Cv::Lit(true),
        clock_skew: Cv::Lit(Seconds(0)),
        output,
        openid_configs: Vec::new(),
        keys: Vec::new(),
        audiences,
        issuers: Vec::new(),
        claims,
    })
}

/// A failed validation: `(reason, message)`.
type Failure = (&'static str, String);

fn fail(reason: &'static str, message: impl Into<String>) -> Failure {
    (reason, message.into())
}

async fn openid(rt: &Runtime, url: &str, kid: Option<&str>) -> OpenIdConfig {
    let now = rt.clock.now();
    if let Some((config, until, fetched)) = rt.openid_keys.lock().get(url) {
        let known = kid.is_none_or(|k| config.keys.iter().any(|(id, _)| id.as_deref() == Some(k)));
        if *until > now && (known || *fetched + REFETCH_AFTER > now) {
            return config.clone();
        }
    }
    let config = fetch_openid(rt, url).await;
    // Only a complete answer is kept for the hour; a failure is retried after a short pause.
    let ttl = if config.keys.is_empty() {
        FAILED_TTL
    } else {
        KEYS_TTL
    };
    rt.openid_keys
        .lock()
        .insert(url.to_string(), (config.clone(), now + ttl, now));
    config
}

async fn fetch_openid(rt: &Runtime, url: &str) -> OpenIdConfig {
    let get = |url: String| UpstreamRequest {
        method: "GET".into(),
        url,
        headers: Vec::new(),
        body: None,
        timeout: Duration::from_secs(30),
        follow_redirects: true,
        backend: None,
        body_stream: None,
        stream_response: false,
        http_version: crate::io::HttpVersion::V1,
    };
    let json = |body: Option<String>| {
        body.and_then(|b| serde_json::from_str::<serde_json::Value>(&b).ok())
    };
    let answer = match rt.upstream.send(get(url.to_string())).await {
        Ok(a) if (200..300).contains(&a.status) => a,
        _ => return OpenIdConfig::default(),
    };
    let document = json(answer.body).unwrap_or_default();
    let issuer = document
        .get("issuer")
        .and_then(|i| i.as_str())
        .map(str::to_string);
    let Some(jwks_uri) = document
        .get("jwks_uri")
        .and_then(|u| u.as_str())
        .map(str::to_string)
    else {
        return OpenIdConfig {
            keys: Vec::new(),
            issuer,
        };
    };
    let jwks = match rt.upstream.send(get(jwks_uri)).await {
        Ok(a) if (200..300).contains(&a.status) => a,
        _ => {
            return OpenIdConfig {
                keys: Vec::new(),
                issuer,
            };
        }
    };
    let keys: Vec<(Option<String>, JwkKey)> = json(jwks.body)
        .and_then(|j| j.get("keys").and_then(|k| k.as_array()).cloned())
        .unwrap_or_default()
        .iter()
        .filter_map(|k| {
            let kid = k.get("kid").and_then(|v| v.as_str()).map(str::to_string);
            let s = |f: &str| k.get(f).and_then(|v| v.as_str()).map(str::to_string);
            match k.get("kty").and_then(|v| v.as_str()) {
                Some("RSA") => Some((kid, JwkKey::Rsa(s("n")?, s("e")?))),
                Some("oct") => {
                    use base64::Engine as _;
                    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
                        .decode(s("k")?.trim_end_matches('='))
                        .ok()?;
                    Some((kid, JwkKey::Secret(bytes)))
                }
                _ => None,
            }
        })
        .collect();
    OpenIdConfig { keys, issuer }
}

/// The tenant's OpenID configuration URL: `tenant-id` may be an id, a domain or a URL.
fn entra_config_url(tenant: &str, endpoint: Option<&str>) -> String {
    let tenant = url::Url::parse(tenant)
        .ok()
        .and_then(|u| u.host_str().map(str::to_string))
        .unwrap_or_else(|| tenant.trim().trim_matches('/').to_string());
    let endpoint = match endpoint.map(str::trim).filter(|e| !e.is_empty()) {
        Some(e) if e.contains("://") => e.trim_end_matches('/').to_string(),
        Some(e) => format!("https://{}", e.trim_end_matches('/')),
        None => "https://login.microsoftonline.com".to_string(),
    };
    format!("{endpoint}/{tenant}/v2.0/.well-known/openid-configuration")
}

fn verifies(token: &str, alg: Algorithm, key: &JwkKey) -> bool {
    let decoding = match (key, alg) {
        (JwkKey::Secret(bytes), Algorithm::HS256 | Algorithm::HS384 | Algorithm::HS512) => {
            DecodingKey::from_secret(bytes)
        }
        (
            JwkKey::Rsa(n, e),
            Algorithm::RS256
            | Algorithm::RS384
            | Algorithm::RS512
            | Algorithm::PS256
            | Algorithm::PS384
            | Algorithm::PS512,
        ) => match DecodingKey::from_rsa_components(n, e) {
            Ok(k) => k,
            Err(_) => return false,
        },
        _ => return false,
    };
    let mut validation = Validation::new(alg);
    // Lifetime, audience and issuer are checked here on the injected clock, not by the library.
    validation.validate_exp = false;
    validation.validate_nbf = false;
    validation.validate_aud = false;
    validation.required_spec_claims.clear();
    jsonwebtoken::decode::<serde_json::Value>(token, &decoding, &validation).is_ok()
}

/// The claim's values as strings: an array's items, or a string split by `separator`.
fn claim_values(v: &serde_json::Value, separator: Option<&str>) -> Vec<String> {
    match v {
        serde_json::Value::Array(items) => items
            .iter()
            .map(|i| i.as_str().map_or_else(|| i.to_string(), str::to_string))
            .collect(),
        serde_json::Value::String(s) => match separator.filter(|s| !s.is_empty()) {
            Some(sep) => s.split(sep).map(str::to_string).collect(),
            None => vec![s.clone()],
        },
        other => vec![other.to_string()],
    }
}

async fn validate(
    p: &ValidateJwt,
    ex: &mut Exchange,
    rt: &Runtime,
    plan: &Plan,
) -> Result<Result<String, Failure>, PolicyError> {
    let not_present = || fail("TokenNotPresent", "JWT not present.");
    let token = match &p.source {
        Source::Header(name) => {
            let name = eval(name, ex, rt, plan, "header-name")?;
            let Some(value) = ex
                .request
                .headers
                .iter()
                .find(|(n, _)| n.eq_ignore_ascii_case(&name))
                .map(|(_, v)| v.trim().to_string())
            else {
                return Ok(Err(not_present()));
            };
            let (scheme, token) = match value.split_once(' ') {
                Some((s, t)) if name.eq_ignore_ascii_case("authorization") => {
                    (Some(s.to_string()), t.trim().to_string())
                }
                _ => (None, value),
            };
            if let Some(required) = &p.require_scheme {
                let required = eval(required, ex, rt, plan, "require-scheme")?;
                if name.eq_ignore_ascii_case("authorization")
                    && !scheme
                        .as_deref()
                        .is_some_and(|s| s.eq_ignore_ascii_case(&required))
                {
                    return Ok(Err(not_present()));
                }
            }
            token
        }
        Source::Query(name) => {
            let name = eval(name, ex, rt, plan, "query-parameter-name")?;
            match ex.query.iter().find(|(n, _)| *n == name) {
                Some((_, v)) => v.clone(),
                None => return Ok(Err(not_present())),
            }
        }
        Source::Value(v) => eval(v, ex, rt, plan, "token-value")?,
    };
    if token.is_empty() {
        return Ok(Err(not_present()));
    }
    let parts: Vec<&str> = token.split('.').collect();
    let decode_part = |part: &str| {
        use base64::Engine as _;
        base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(part.trim_end_matches('='))
            .ok()
            .and_then(|b| serde_json::from_slice::<serde_json::Value>(&b).ok())
    };
    let (Some(header), Some(claims)) = (
        parts.first().and_then(|h| decode_part(h)),
        parts.get(1).and_then(|b| decode_part(b)),
    ) else {
        return Ok(Err(fail("JwtInvalid", "JWT is not well formed.")));
    };
    let alg = header.get("alg").and_then(|a| a.as_str()).unwrap_or("none");
    let kid = header
        .get("kid")
        .and_then(|k| k.as_str())
        .map(str::to_string);
    let require_signed = eval(&p.require_signed, ex, rt, plan, "require-signed-tokens")?;
    if alg.eq_ignore_ascii_case("none") {
        if require_signed {
            return Ok(Err(fail(
                "TokenSignatureInvalid",
                "The token is not signed. Access denied.",
            )));
        }
    } else {
        let Ok(algorithm) = alg.parse::<Algorithm>() else {
            return Ok(Err(fail(
                "TokenSignatureInvalid",
                format!("Signature algorithm {alg} is not supported. Access denied."),
            )));
        };
        let mut candidates: Vec<(Option<String>, JwkKey)> = Vec::new();
        for k in &p.keys {
            let id = match &k.id {
                Some(id) => Some(eval(id, ex, rt, plan, "id")?),
                None => None,
            };
            let key = match &k.material {
                Material::Rsa(n, e) => JwkKey::Rsa(n.clone(), e.clone()),
                Material::Secret(text) => {
                    use base64::Engine as _;
                    let text = eval(text, ex, rt, plan, "key")?;
                    match base64::engine::general_purpose::STANDARD.decode(text.trim()) {
                        Ok(bytes) => JwkKey::Secret(bytes),
                        Err(_) => continue,
                    }
                }
            };
            candidates.push((id, key));
        }
        for url in &p.openid_configs {
            let url = eval(url, ex, rt, plan, "url")?;
            candidates.extend(openid(rt, &url, kid.as_deref()).await.keys);
        }
        if let Some(entra) = &p.entra {
            let config = entra_openid(entra, ex, rt, plan, kid.as_deref()).await?;
            candidates.extend(config.keys);
        }
        let usable: Vec<&JwkKey> = candidates
            .iter()
            .filter(|(id, _)| match (&kid, id) {
                (Some(kid), Some(id)) => kid == id,
                _ => true,
            })
            .map(|(_, k)| k)
            .collect();
        if usable.is_empty() {
            return Ok(Err(fail(
                "TokenSignatureKeyNotFound",
                format!(
                    "Signature validation failed: no key{} to check the signature with. Access denied.",
                    kid.as_deref()
                        .map(|k| format!(" with kid '{k}'"))
                        .unwrap_or_default()
                ),
            )));
        }
        if !usable.iter().any(|k| verifies(&token, algorithm, k)) {
            return Ok(Err(fail(
                "TokenSignatureInvalid",
                "Signature validation failed. Access denied.",
            )));
        }
    }
    // Lifetime, on the injected clock.
    let now = rt
        .clock
        .wall()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0);
    let skew = eval(&p.clock_skew, ex, rt, plan, "clock-skew")?.0 as i64;
    let number = |name: &str| claims.get(name).and_then(serde_json::Value::as_i64);
    match number("exp") {
        Some(exp) if exp.saturating_add(skew) <= now => {
            return Ok(Err(fail(
                "TokenExpired",
                "Lifetime validation failed. The token is expired. Access denied.",
            )));
        }
        None if eval(
            &p.require_expiration,
            ex,
            rt,
            plan,
            "require-expiration-time",
        )? =>
        {
            return Ok(Err(fail(
                "TokenExpired",
                "Lifetime validation failed. The token is missing an Expiration Time. Access denied.",
            )));
        }
        _ => {}
    }
    if let Some(nbf) = number("nbf")
        && nbf.saturating_sub(skew) > now
    {
        return Ok(Err(fail(
            "TokenNotYetValid",
            "Lifetime validation failed. The token is not yet valid. Access denied.",
        )));
    }
    if let Some(entra) = &p.entra {
        let config = entra_openid(entra, ex, rt, plan, None).await?;
        let tid = claims
            .get("tid")
            .and_then(|t| t.as_str())
            .unwrap_or_default();
        let iss = claims
            .get("iss")
            .and_then(|i| i.as_str())
            .unwrap_or_default();
        let v2 = config
            .issuer
            .as_deref()
            .map(|i| i.replace("{tenantid}", tid));
        let tenant_of = |issuer: &str| {
            issuer
                .split('/')
                .find(|part| uuid::Uuid::parse_str(part).is_ok())
                .map(str::to_string)
        };
        let v1 = v2
            .as_deref()
            .and_then(tenant_of)
            .map(|t| format!("https://sts.windows.net/{t}/"));
        if !(v2.as_deref() == Some(iss) || v1.as_deref() == Some(iss)) {
            return Ok(Err(fail(
                "TokenIssuerNotAllowed",
                format!("Issuer validation failed. Issuer: '{iss}'. Access denied."),
            )));
        }
        if !entra.client_ids.is_empty() {
            let mut allowed = Vec::new();
            for id in &entra.client_ids {
                allowed.push(eval(id, ex, rt, plan, "application-id")?);
            }
            let client = claims
                .get("azp")
                .or_else(|| claims.get("appid"))
                .and_then(|c| c.as_str())
                .unwrap_or_default();
            if !allowed.iter().any(|a| a.eq_ignore_ascii_case(client)) {
                return Ok(Err(fail(
                    "TokenClientApplicationNotAllowed",
                    format!("Client application '{client}' is not allowed. Access denied."),
                )));
            }
        }
    }
    if !p.audiences.is_empty() {
        let mut allowed = Vec::new();
        for a in &p.audiences {
            allowed.push(eval(a, ex, rt, plan, "audience")?);
        }
        let have = claims
            .get("aud")
            .map(|a| claim_values(a, None))
            .unwrap_or_default();
        if !have.iter().any(|h| allowed.iter().any(|a| a == h)) {
            return Ok(Err(fail(
                "TokenAudienceNotAllowed",
                format!(
                    "Audience validation failed. Audiences: '{}'. Access denied.",
                    have.join(", ")
                ),
            )));
        }
    }
    if !p.issuers.is_empty() {
        let mut allowed = Vec::new();
        for i in &p.issuers {
            allowed.push(eval(i, ex, rt, plan, "issuer")?);
        }
        let iss = claims
            .get("iss")
            .and_then(|i| i.as_str())
            .unwrap_or_default();
        if !allowed.iter().any(|a| a == iss) {
            return Ok(Err(fail(
                "TokenIssuerNotAllowed",
                format!("Issuer validation failed. Issuer: '{iss}'. Access denied."),
            )));
        }
    }
    let mut missing = Vec::new();
    for rule in &p.claims {
        let name = eval(&rule.name, ex, rt, plan, "claim name")?;
        let Some(value) = claims.get(&name) else {
            missing.push(name);
            continue;
        };
        if rule.values.is_empty() {
            continue;
        }
        let separator = match &rule.separator {
            Some(s) => Some(eval(s, ex, rt, plan, "separator")?),
            None => None,
        };
        let any = match &rule.match_ {
            Some(m) => eval(m, ex, rt, plan, "match")?.eq_ignore_ascii_case("any"),
            None => false,
        };
        let have = claim_values(value, separator.as_deref());
        let mut wanted = Vec::new();
        for v in &rule.values {
            wanted.push(eval(v, ex, rt, plan, "value")?);
        }
        let ok = if any {
            wanted.iter().any(|w| have.contains(w))
        } else {
            wanted.iter().all(|w| have.contains(w))
        };
        if !ok {
            return Ok(Err(fail(
                "TokenClaimValueNotAllowed",
                format!(
                    "Claim {name} value of {} is not allowed. Access denied.",
                    have.join(",")
                ),
            )));
        }
    }
    if !missing.is_empty() {
        return Ok(Err(fail(
            "TokenClaimNotFound",
            format!(
                "JWT token is missing the following claims: {}. Access denied.",
                missing.join(", ")
            ),
        )));
    }
    Ok(Ok(token))
}

pub(crate) async fn run(
    p: &ValidateJwt,
    ex: &mut Exchange,
    rt: &Runtime,
    plan: &Plan,
) -> Result<Flow, PolicyError> {
    match validate(p, ex, rt, plan).await? {
        Ok(token) => {
            if let Some(name) = &p.output {
                let jwt = apim_expr::Value::jwt(&token).unwrap_or_else(apim_expr::Value::null);
                ex.variables.set(name, jwt);
            }
            note!(ex, format!("{}: the token is valid", p.policy));
            Ok(Flow::Continue)
        }
        Err((reason, message)) => {
            let status = eval(&p.status, ex, rt, plan, "failed-validation-httpcode")?;
            let status = u16::try_from(status)
                .ok()
                .filter(|s| (100..=599).contains(s))
                .unwrap_or(401);
            let body_message = match &p.message {
                Some(m) => eval(m, ex, rt, plan, "failed-validation-error-message")?,
                None => message.clone(),
            };
            note!(ex, format!("{}: {reason}: {message} → {status}", p.policy));
            let mut e = PolicyError::new(p.policy, reason, message);
            e.response = Some(Box::new((
                ResponseData {
                    status,
                    reason: crate::run::reason_phrase(status).into(),
                    headers: vec![("Content-Type".into(), "application/json".into())],
                },
                BodyHandle::new(Some(
                    serde_json::json!({ "statusCode": status, "message": body_message })
                        .to_string(),
                )),
            )));
            Err(e)
        }
    }
}
