//! `get-authorization-context`: the access token of a credential manager connection, into a variable.
//!
//! Azure (https://learn.microsoft.com/azure/api-management/get-authorization-context-policy): the variable
//! `context-variable-name` gets an `Authorization` object (`AccessToken`, `Claims`) for the connection
//! `authorization-id` of the credential provider `provider-id`, fetched with the instance's managed identity
//! (`identity-type="managed"`, the default) or with the Entra token in `identity` (`identity-type="jwt"`). On
//! an error (for example the connection is not found) the policy fails (500, or on-error with
//! `context.LastError`), unless `ignore-error="true"`, which sets the variable to null.
//!
//! Deviation: there is no credential manager here. A connection's token is the one configured for
//! `provider/authorization` (`serve --connection`, a scenario's `service.connections`); a connection nobody
//! configured gets a token from the local token issuer (a JWT whose audience is `provider/authorization`), so
//! policies run without setup; once any connection is configured, the others are not found. `Claims` is empty.
//! UNVERIFIED: the error Reason (`AuthorizationContextNotFound`, `IdentityRequired`) and messages.

use apim_policy::policies::get_authorization_context as ast;

use crate::Plan;
use crate::compile::{Compiler, Cv};
use crate::run::{Exchange, Flow, PolicyError, Runtime, eval};

const POLICY: &str = "get-authorization-context";

pub struct GetAuthorizationContext {
    provider: Cv<String>,
    authorization: Cv<String>,
    variable: Cv<String>,
    jwt: Option<Cv<String>>,
    identity: Option<Cv<String>>,
    ignore_error: Option<Cv<bool>>,
}

pub(crate) fn compile(
    c: &mut Compiler,
    p: &ast::GetAuthorizationContext,
) -> Option<GetAuthorizationContext> {
    Some(GetAuthorizationContext {
        provider: c.value(&p.provider_id)?,
        authorization: c.value(&p.authorization_id)?,
        variable: c.value(&p.context_variable_name)?,
        jwt: c.opt(&p.identity_type)?.map(|v| match v {
            Cv::Lit(t) => Cv::Lit(t.as_str().to_string()),
            Cv::Expr(compiled, source) => Cv::Expr(compiled, source),
        }),
        identity: c.opt(&p.identity)?,
        ignore_error: c.opt(&p.ignore_error)?,
    })
}

/// The key a connection is configured under: `provider/authorization`, compared without case.
pub fn connection_key(provider: &str, authorization: &str) -> String {
    format!("{provider}/{authorization}").to_ascii_lowercase()
}

pub(crate) fn run(
    p: &GetAuthorizationContext,
    ex: &mut Exchange,
    rt: &Runtime,
    plan: &Plan,
) -> Result<Flow, PolicyError> {
    let provider = eval(&p.provider, ex, rt, plan, "provider-id")?;
    let authorization = eval(&p.authorization, ex, rt, plan, "authorization-id")?;
    let variable = eval(&p.variable, ex, rt, plan, "context-variable-name")?;
    let identity_type = match &p.jwt {
        Some(v) => eval(v, ex, rt, plan, "identity-type")?,
        None => "managed".to_string(),
    };
    let ignore = match &p.ignore_error {
        Some(v) => eval(v, ex, rt, plan, "ignore-error")?,
        None => false,
    };
    let identity = match &p.identity {
        Some(v) => eval(v, ex, rt, plan, "identity")?,
        None => String::new(),
    };
    let key = connection_key(&provider, &authorization);
    let token: Result<String, (&str, String)> = if identity_type.eq_ignore_ascii_case("jwt")
        && identity.trim().is_empty()
    {
        Err((
            "IdentityRequired",
            "identity-type is jwt but the identity attribute gives no token".into(),
        ))
    } else if let Some(t) = rt.connections.get(&key) {
        Ok(t.clone())
    } else if rt.connections.is_empty() {
        rt.tokens
            .token(
                &format!("{provider}/{authorization}"),
                None,
                rt.clock.wall(),
            )
            .map_err(|e| ("AuthorizationContextNotFound", e))
    } else {
        Err((
            "AuthorizationContextNotFound",
            format!(
                "Authorization '{authorization}' of provider '{provider}' was not found (configured: {})",
                {
                    let mut known: Vec<&str> = rt.connections.keys().map(String::as_str).collect();
                    known.sort_unstable();
                    known.join(", ")
                }
            ),
        ))
    };
    match token {
        Ok(token) => {
            note!(
                ex,
                format!(
                    "{POLICY}: {provider}/{authorization} → {variable} ({})",
                    if rt.connections.contains_key(&key) {
                        "configured token"
                    } else {
                        "local token"
                    }
                )
            );
            ex.variables.set(
                &variable,
                apim_expr::Value::authorization(&token, Vec::new()),
            );
            Ok(Flow::Continue)
        }
        Err((_, message)) if ignore => {
            note!(
                ex,
                format!("{POLICY}: {message}; ignored, {variable} = null")
            );
            ex.variables.set(&variable, apim_expr::Value::null());
            Ok(Flow::Continue)
        }
        Err((reason, message)) => Err(PolicyError::new(POLICY, reason, message)),
    }
}
