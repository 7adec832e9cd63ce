//! `authentication-managed-identity` and `authentication-basic` (reference 02).
//!
//! Azure: the managed identity policy gets an Entra token for `resource` and sets `Authorization: Bearer <token>`
//! (or stores it in `output-token-variable-name` instead); `ignore-error` continues without a token. apim-emu's
//! tokens come from the injected issuer (a local JWT whose audience is the resource).

use apim_policy::policies::authentication_basic as bast;
use apim_policy::policies::authentication_managed_identity as mast;
use apim_policy::value::Value;
use base64::Engine as _;

use crate::Plan;
use crate::compile::{Compiler, Cv};
use crate::run::{Exchange, Flow, PolicyError, Runtime, eval};

pub struct ManagedIdentity {
    resource: Cv<String>,
    client_id: Option<String>,
    output_variable: Option<String>,
    ignore_error: Option<Cv<bool>>,
}

pub(crate) fn compile_managed_identity(
    c: &mut Compiler,
    p: &mast::AuthenticationManagedIdentity,
) -> Option<ManagedIdentity> {
    let literal = |v: &Option<Value<String>>| match v {
        Some(Value::Literal { value, .. }) => Some(value.clone()),
        _ => None,
    };
    Some(ManagedIdentity {
        resource: c.value(&p.resource)?,
        // The documented default text ("system-assigned identity") means no client id.
        client_id: literal(&p.client_id).filter(|id| !id.contains(' ')),
        output_variable: literal(&p.output_token_variable_name),
        ignore_error: c.opt(&p.ignore_error)?,
    })
}

/// A managed-identity token for `resource` as `client_id` (`None`: system-assigned), cached until it expires.
pub(crate) fn cached_token(
    rt: &Runtime,
    resource: &str,
    client_id: Option<&str>,
) -> Result<String, String> {
    // Azure: the token is cached until it expires (reference 02); apim-emu reuses it for 55 of its 60 minutes.
    let key = (resource.to_string(), client_id.map(str::to_string));
    let now = rt.clock.now();
    let cached = rt
        .token_cache
        .lock()
        .get(&key)
        .filter(|(_, until)| now < *until)
        .map(|(t, _)| t.clone());
    match cached {
        Some(t) => Ok(t),
        None => rt
            .tokens
            .token(resource, client_id, rt.clock.wall())
            .inspect(|t| {
                rt.token_cache.lock().insert(
                    key,
                    (t.clone(), now + std::time::Duration::from_secs(55 * 60)),
                );
            }),
    }
}

/// A token for the identity's resource (cached until it expires); `None` when it fails and errors are ignored.
pub(crate) fn token_for(
    p: &ManagedIdentity,
    ex: &mut Exchange,
    rt: &Runtime,
    plan: &Plan,
) -> Result<Option<String>, PolicyError> {
    let resource = eval(&p.resource, ex, rt, plan, "resource")?;
    let ignore = match &p.ignore_error {
        Some(v) => eval(v, ex, rt, plan, "ignore-error")?,
        None => false,
    };
    let token = cached_token(rt, &resource, p.client_id.as_deref());
    match token {
        Ok(token) => {
            note!(
                ex,
                format!(
                    "authentication-managed-identity: token for {resource} ({})",
                    p.client_id.as_deref().unwrap_or("system-assigned")
                )
            );
            Ok(Some(token))
        }
        Err(e) if ignore => {
            note!(
                ex,
                format!("authentication-managed-identity: no token ({e}); ignored")
            );
            Ok(None)
        }
        Err(e) => Err(PolicyError::new(
            "authentication-managed-identity",
            "TokenAcquisitionFailure",
            format!("Failed to obtain a token for resource '{resource}': {e}"),
        )),
    }
}

pub(crate) fn run_managed_identity(
    p: &ManagedIdentity,
    ex: &mut Exchange,
    rt: &Runtime,
    plan: &Plan,
) -> Result<Flow, PolicyError> {
    if let Some(token) = token_for(p, ex, rt, plan)? {
        match &p.output_variable {
            Some(var) => ex.variables.set(var, apim_expr::Value::text(&token)),
            None => {
                ex.request
                    .headers
                    .retain(|(n, _)| !n.eq_ignore_ascii_case("authorization"));
                ex.request
                    .headers
                    .push(("Authorization".into(), format!("Bearer {token}")));
            }
        }
    }
    Ok(Flow::Continue)
}

pub struct Basic {
    username: Cv<String>,
    password: Cv<String>,
}

pub(crate) fn compile_basic(c: &mut Compiler, p: &bast::AuthenticationBasic) -> Option<Basic> {
    Some(Basic {
        username: c.value(&p.username)?,
        password: c.value(&p.password)?,
    })
}

pub(crate) fn run_basic(
    p: &Basic,
    ex: &mut Exchange,
    rt: &Runtime,
    plan: &Plan,
) -> Result<Flow, PolicyError> {
    let user = eval(&p.username, ex, rt, plan, "username")?;
    let password = eval(&p.password, ex, rt, plan, "password")?;
    let encoded = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
    ex.request
        .headers
        .retain(|(n, _)| !n.eq_ignore_ascii_case("authorization"));
    ex.request
        .headers
        .push(("Authorization".into(), format!("Basic {encoded}")));
    note!(ex, format!("authentication-basic: as {user}"));
    Ok(Flow::Continue)
}
