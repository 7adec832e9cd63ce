//! `send-request`, `send-one-way-request` and `wait` (reference 02).
//!
//! Azure: `send-request` builds a new request (`mode="new"`, the default: set-url and set-method required) or a
//! copy of the current one (`mode="copy"`: its headers and body), waits for the reply (timeout default 60 s) and
//! stores it as an `IResponse` in `response-variable-name`; with `ignore-error="true"` a failure leaves the
//! variable null instead of raising an error. `send-one-way-request` sends the same kind of request without waiting.
//! `wait` runs its children (send-request, cache-lookup-value, choose) at the same time and finishes when all (or,
//! with `for="any"`, the first) have.

use std::time::Duration;

use apim_expr::{BodyHandle, ResponseData};
use apim_policy::policies::send_one_way_request as oast;
use apim_policy::policies::send_request as sast;
use apim_policy::policies::wait as wast;
use apim_policy::value::{Seconds, Value};

use crate::Plan;
use crate::compile::{Compiler, Cv, Step};
use crate::io::{UpstreamError, UpstreamRequest};
use crate::run::{Exchange, Flow, PolicyError, Runtime, eval, run_steps};

use super::authentication::{self, ManagedIdentity};
use super::headers::{self, SetHeader};
use super::messages::{self, SetBody, SetMethod};

/// What send-request and send-one-way-request share.
pub struct Outgoing {
    copy: Option<Cv<bool>>,
    timeout: Option<Cv<Seconds>>,
    url: Option<Cv<String>>,
    method: Option<SetMethod>,
    headers: Vec<SetHeader>,
    body: Option<SetBody>,
    identity: Option<ManagedIdentity>,
}

pub struct SendRequest {
    outgoing: Outgoing,
    variable: Cv<String>,
    ignore_error: bool,
}

pub struct SendOneWayRequest {
    outgoing: Outgoing,
}

macro_rules! outgoing {
    ($c:expr, $p:expr, $mode:ty, $copy:path) => {{
        let c: &mut Compiler = $c;
        let copy = match &$p.mode {
            Some(Value::Literal { value, .. }) => Some(Cv::Lit(matches!(value, $copy))),
            Some(Value::Expression(_)) | Some(Value::Template(_)) => {
                c.error(
                    &$p.span,
                    "an expression in `mode` is not executed by apim-emu yet; write new or copy",
                );
                return None;
            }
            None => None,
        };
        let url = match &$p.set_url {
            Some(u) => match &u.content.0 {
                Some(v) => Some(c.value(v)?),
                None => None,
            },
            None => None,
        };
        let method = match &$p.set_method {
            Some(m) => Some(messages::compile_method(c, m)?),
            None => None,
        };
        let mut hs = Vec::new();
        for h in &$p.set_headers {
            hs.push(headers::compile_header(c, h)?);
        }
        let body = match &$p.set_body {
            Some(b) => Some(messages::compile_body(c, b)?),
            None => None,
        };
        let identity = match &$p.authentication_managed_identity {
            Some(m) => Some(authentication::compile_managed_identity(c, m)?),
            None => None,
        };
        Outgoing {
            copy,
            timeout: c.opt(&$p.timeout)?,
            url,
            method,
            headers: hs,
            body,
            identity,
        }
    }};
}

pub(crate) fn compile_send(c: &mut Compiler, p: &sast::SendRequest) -> Option<SendRequest> {
    let outgoing = outgoing!(c, p, sast::Mode, sast::Mode::Copy);
    if outgoing.copy.is_some() {
        c.reads_request_body = true;
    }
    Some(SendRequest {
        outgoing,
        variable: c.value(&p.response_variable_name)?,
        ignore_error: matches!(&p.ignore_error, Some(Value::Literal { value: true, .. })),
    })
}

pub(crate) fn compile_one_way(
    c: &mut Compiler,
    p: &oast::SendOneWayRequest,
) -> Option<SendOneWayRequest> {
    Some(SendOneWayRequest {
        outgoing: outgoing!(c, p, oast::Mode, oast::Mode::Copy),
    })
}

/// Builds the request (evaluating every expression now, in the current context).
fn build(
    o: &Outgoing,
    ex: &mut Exchange,
    rt: &Runtime,
    plan: &Plan,
) -> Result<UpstreamRequest, PolicyError> {
    let copy = match &o.copy {
        Some(v) => eval(v, ex, rt, plan, "mode")?,
        None => false,
    };
    let mut request = UpstreamRequest {
        method: "GET".into(),
        url: String::new(),
        headers: Vec::new(),
        body: None,
        timeout: Duration::from_secs(60),
        follow_redirects: false,
        backend: None,
        body_stream: None,
        stream_response: false,
        http_version: crate::io::HttpVersion::V1,
    };
    if copy {
        request.method = ex.request.method.clone();
        request.url = ex.request.url.clone();
        request.headers = ex.request.headers.clone();
        request.body = ex.request_body.as_ref().and_then(BodyHandle::peek);
    }
    if let Some(t) = &o.timeout {
        request.timeout = Duration::from_secs(eval(t, ex, rt, plan, "timeout")?.0);
    }
    if let Some(u) = &o.url {
        request.url = eval(u, ex, rt, plan, "set-url")?;
    }
    if let Some(m) = &o.method {
        request.method = messages::method_of(m, ex, rt, plan)?;
    }
    for h in &o.headers {
        let (name, action, values) = headers::evaluate(h, ex, rt, plan)?;
        headers::apply(&mut request.headers, &name, action, values);
    }
    if let Some(b) = &o.body {
        request.body = messages::body_of(b, ex, rt, plan)?;
    }
    if let Some(identity) = &o.identity
        && let Some(token) = authentication::token_for(identity, ex, rt, plan)?
    {
        request
            .headers
            .retain(|(n, _)| !n.eq_ignore_ascii_case("authorization"));
        request
            .headers
            .push(("Authorization".into(), format!("Bearer {token}")));
    }
    if url::Url::parse(&request.url).is_err() {
        return Err(PolicyError::new(
            "",
            "",
            format!(
                "'{}' is not an absolute URL; set-url needs one",
                request.url
            ),
        ));
    }
    Ok(request)
}

pub(crate) async fn run_send(
    p: &SendRequest,
    ex: &mut Exchange,
    rt: &Runtime,
    plan: &Plan,
) -> Result<Flow, PolicyError> {
    let variable = eval(&p.variable, ex, rt, plan, "response-variable-name")?;
    let request = build(&p.outgoing, ex, rt, plan)?;
    note!(
        ex,
        format!("send-request: {} {}", request.method, request.url)
    );
    match rt.upstream.send(request).await {
        Ok(resp) => {
            let reason = if resp.reason.is_empty() {
                crate::run::reason_phrase(resp.status).to_string()
            } else {
                resp.reason
            };
            note!(ex, format!("send-request: {} → {variable}", resp.status));
            let value = apim_expr::Value::response(
                &ResponseData {
                    status: resp.status,
                    reason,
                    headers: resp.headers,
                },
                &BodyHandle::new(resp.body),
            );
            ex.variables.set(&variable, value);
            Ok(Flow::Continue)
        }
        Err(e) => {
            let (reason, message) = match e {
                UpstreamError::Timeout => ("Timeout", "Request timed out".to_string()),
                UpstreamError::Connection(m) => ("BackendConnectionFailure", m),
            };
            if p.ignore_error {
                note!(
                    ex,
                    format!("send-request: {reason} ignored; {variable} = null")
                );
                ex.variables.set(&variable, apim_expr::Value::null());
                Ok(Flow::Continue)
            } else {
                Err(PolicyError::new("send-request", reason, message))
            }
        }
    }
}

pub(crate) fn run_one_way(
    p: &SendOneWayRequest,
    ex: &mut Exchange,
    rt: &Runtime,
    plan: &Plan,
) -> Result<Flow, PolicyError> {
    let request = build(&p.outgoing, ex, rt, plan)?;
    note!(
        ex,
        format!(
            "send-one-way-request: {} {} (not awaited)",
            request.method, request.url
        )
    );
    let upstream = rt.upstream.clone();
    rt.spawner.spawn(Box::pin(async move {
        // Azure: the response is not waited for and errors are not reported to the pipeline.
        let _ = upstream.send(request).await;
    }));
    Ok(Flow::Continue)
}

pub struct Wait {
    any: Option<Cv<wast::For>>,
    children: Vec<Step>,
}

pub(crate) fn compile_wait(c: &mut Compiler, p: &wast::Wait, path: &str) -> Option<Wait> {
    Some(Wait {
        any: c.opt(&p.for_)?,
        children: c.block(&p.content.0, path),
    })
}

pub(crate) async fn run_wait(
    p: &Wait,
    ex: &mut Exchange,
    rt: &Runtime,
    plan: &Plan,
) -> Result<Flow, PolicyError> {
    let any = match &p.any {
        Some(v) => matches!(eval(v, ex, rt, plan, "for")?, wast::For::Any),
        None => false,
    };
    // Each child runs on its own view of the request; variables are shared, so what send-request and
    // cache-lookup-value store is seen afterwards.
    let mut views: Vec<Exchange> = p.children.iter().map(|_| ex.fork()).collect();
    let runs: Vec<_> = p
        .children
        .iter()
        .zip(views.iter_mut())
        .map(|(child, view)| run_steps(std::slice::from_ref(child), view, rt, plan))
        .collect();
    let results = if any {
        let (first, _, _rest) = futures::future::select_all(runs).await;
        vec![first]
    } else {
        futures::future::join_all(runs).await
    };
    for view in &views {
        ex.trace.extend(view.trace.iter().cloned());
        ex.facts.extend(view.facts.iter().cloned());
    }
    note!(
        ex,
        format!("wait for=\"{}\": done", if any { "any" } else { "all" })
    );
    for r in results {
        r?;
    }
    Ok(Flow::Continue)
}
