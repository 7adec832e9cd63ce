//! `set-backend-service`: where forward-request sends the request (reference 02).
//!
//! Azure: `base-url` replaces the backend base URL; `backend-id` names a backend entity (single or pool) whose
//! URL, credentials and circuit breaker apply; a pool picks its member per forward attempt.

use apim_backend::BackendKind;
use apim_policy::policies::set_backend_service as ast;

use crate::Plan;
use crate::compile::{Compiler, Cv};
use crate::run::{Exchange, Flow, PolicyError, Runtime, Target, eval};

pub struct SetBackendService {
    base_url: Option<Cv<String>>,
    backend_id: Option<Cv<String>>,
}

pub(crate) fn compile(c: &mut Compiler, p: &ast::SetBackendService) -> Option<SetBackendService> {
    let base_url = c.opt(&p.base_url)?;
    let backend_id = c.opt(&p.backend_id)?;
    if let (Some(Cv::Lit(id)), Some(v)) = (&backend_id, &p.backend_id)
        && !c.known_backend(id, v.span())
    {
        return None;
    }
    Some(SetBackendService {
        base_url,
        backend_id,
    })
}

pub(crate) fn run(
    p: &SetBackendService,
    ex: &mut Exchange,
    rt: &Runtime,
    plan: &Plan,
) -> Result<Flow, PolicyError> {
    if let Some(id) = &p.backend_id {
        let id = eval(id, ex, rt, plan, "backend-id")?;
        let Some(backend) = rt.backends.registry.get(&id) else {
            // Azure: an unknown backend id at run time is UNVERIFIED (the service validates literals on save).
            return Err(PolicyError::new(
                "set-backend-service",
                "BackendNotFound",
                format!("Backend with id '{id}' could not be found."),
            ));
        };
        let kind = match backend.kind {
            BackendKind::Single(_) => "Single",
            BackendKind::Pool(_) => "Pool",
        };
        ex.backend_entity = Some((backend.name.clone(), kind.to_string()));
        ex.target = Target::Backend(backend.name.clone());
        note!(
            ex,
            format!("set-backend-service: backend-id {} ({kind})", backend.name)
        );
    } else if let Some(url) = &p.base_url {
        let url = eval(url, ex, rt, plan, "base-url")?;
        ex.backend_entity = None;
        note!(ex, format!("set-backend-service: base-url {url}"));
        ex.target = Target::Url(url);
    }
    Ok(Flow::Continue)
}
