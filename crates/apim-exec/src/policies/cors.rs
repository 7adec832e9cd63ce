//! `cors`: answers browsers' preflight requests and adds CORS headers to the answers of allowed origins.
//!
//! Azure (reference 02, https://learn.microsoft.com/azure/api-management/cors-policy): origins are `*` or
//! scheme, host and port (80/443 by default); methods default to GET and POST (`*` allows any), with
//! `preflight-result-max-age` (default 0); `allowed-headers` (`*` allows any); `expose-headers`;
//! `allow-credentials` (default false). A preflight (OPTIONS with `Origin` and
//! `Access-Control-Request-Method`) is answered by the cors policy alone: nothing else in the pipeline runs for
//! it. An origin, method or header that does not match: a preflight gets an empty 200 without CORS headers; a
//! GET or HEAD gets an empty 200 when `terminate-unmatched-request` is true, and otherwise goes on without CORS
//! headers (as does any other method).
//!
//! UNVERIFIED: the default of `terminate-unmatched-request` (the documentation contradicts itself; apim-emu
//! keeps the long-standing `true`; set the attribute to be sure); with `*` origins and no credentials the
//! answer's `Access-Control-Allow-Origin` is `*`, otherwise the request's origin; a preflight's
//! `Access-Control-Allow-Methods` lists the allowed methods (the requested one when any is allowed) and
//! `Access-Control-Allow-Headers` repeats the requested headers. Deviation: an operation that itself matches
//! OPTIONS does not switch the preflight handling off.

use apim_policy::policies::cors as ast;
use apim_policy::value::{Seconds, Value};

use crate::Plan;
use crate::compile::{Compiler, Cv};
use crate::run::{Exchange, Flow, PolicyError, Runtime, eval};
use apim_expr::{BodyHandle, RequestData, ResponseData};

pub struct Cors {
    allow_credentials: Option<Cv<bool>>,
    terminate: Option<Cv<bool>>,
    origins: Vec<Cv<String>>,
    methods: Vec<Cv<String>>,
    max_age: Option<Cv<Seconds>>,
    headers: Vec<Cv<String>>,
    expose: Vec<Cv<String>>,
}

fn texts(c: &mut Compiler, items: Vec<&Option<Value<String>>>) -> Option<Vec<Cv<String>>> {
    let mut out = Vec::new();
    for item in items {
        out.push(match item {
            Some(Value::Template(t)) => Cv::Lit(c.substitute_known(&t.text)),
            Some(v) => c.value(v)?,
            None => Cv::Lit(String::new()),
        });
    }
    Some(out)
}

pub(crate) fn compile(c: &mut Compiler, p: &ast::Cors) -> Option<Cors> {
    let origins = texts(
        c,
        p.allowed_origins
            .origins
            .iter()
            .map(|o| &o.content.0)
            .collect(),
    )?;
    let methods = match &p.allowed_methods {
        Some(m) => texts(c, m.methods.iter().map(|x| &x.content.0).collect())?,
        None => vec![Cv::Lit("GET".into()), Cv::Lit("POST".into())],
    };
    let max_age = match &p.allowed_methods {
        Some(m) => c.opt(&m.preflight_result_max_age)?,
        None => None,
    };
    let headers = match &p.allowed_headers {
        Some(h) => texts(c, h.headers.iter().map(|x| &x.content.0).collect())?,
        None => Vec::new(),
    };
    let expose = match &p.expose_headers {
        Some(h) => texts(c, h.headers.iter().map(|x| &x.content.0).collect())?,
        None => Vec::new(),
    };
    Some(Cors {
        allow_credentials: c.opt(&p.allow_credentials)?,
        terminate: c.opt(&p.terminate_unmatched_request)?,
        origins,
        methods,
        max_age,
        headers,
        expose,
    })
}

fn header<'r>(request: &'r RequestData, name: &str) -> Option<&'r str> {
    request
        .headers
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_str())
}

/// A browser's preflight: OPTIONS with `Origin` and `Access-Control-Request-Method`.
pub(crate) fn is_preflight(request: &RequestData) -> bool {
    request.method.eq_ignore_ascii_case("OPTIONS")
        && header(request, "Origin").is_some()
        && header(request, "Access-Control-Request-Method").is_some()
}

/// Scheme, host and port of an origin (ports 80 and 443 filled in).
fn origin_key(origin: &str) -> Option<(String, String, u16)> {
    let url = url::Url::parse(origin.trim()).ok()?;
    Some((
        url.scheme().to_ascii_lowercase(),
        url.host_str()?.to_ascii_lowercase(),
        url.port_or_known_default()?,
    ))
}

fn values(
    list: &[Cv<String>],
    ex: &mut Exchange,
    rt: &Runtime,
    plan: &Plan,
    what: &str,
) -> Result<Vec<String>, PolicyError> {
    let mut out = Vec::with_capacity(list.len());
    for v in list {
        out.push(eval(v, ex, rt, plan, what)?.trim().to_string());
    }
    Ok(out)
}

fn empty_ok(ex: &mut Exchange, why: &str) -> Flow {
    note!(ex, format!("cors: {why}; empty 200"));
    ex.response = Some((
        ResponseData {
            status: 200,
            reason: "OK".into(),
            headers: Vec::new(),
        },
        BodyHandle::new(None),
    ));
    Flow::Return
}

pub(crate) fn run(
    p: &Cors,
    ex: &mut Exchange,
    rt: &Runtime,
    plan: &Plan,
) -> Result<Flow, PolicyError> {
    let Some(origin) = header(&ex.request, "Origin").map(str::to_string) else {
        note!(ex, "cors: no Origin header; not a CORS request".to_string());
        return Ok(Flow::Continue);
    };
    let credentials = match &p.allow_credentials {
        Some(c) => eval(c, ex, rt, plan, "allow-credentials")?,
        None => false,
    };
    let terminate = match &p.terminate {
        Some(t) => eval(t, ex, rt, plan, "terminate-unmatched-request")?,
        None => true,
    };
    let origins = values(&p.origins, ex, rt, plan, "origin")?;
    let any_origin = origins.iter().any(|o| o == "*");
    let origin_ok = any_origin || {
        let key = origin_key(&origin);
        key.is_some() && origins.iter().any(|o| origin_key(o) == key)
    };
    let allow_origin = if any_origin && !credentials {
        "*".to_string()
    } else {
        origin.clone()
    };
    let preflight = is_preflight(&ex.request);
    if !preflight {
        if !origin_ok {
            let safe = ["GET", "HEAD"]
                .iter()
                .any(|m| ex.request.method.eq_ignore_ascii_case(m));
            if safe && terminate {
                return Ok(empty_ok(ex, &format!("origin {origin} is not allowed")));
            }
            note!(
                ex,
                format!("cors: origin {origin} is not allowed; no CORS headers")
            );
            return Ok(Flow::Continue);
        }
        ex.late_headers
            .push(("Access-Control-Allow-Origin".into(), allow_origin));
        if credentials {
            ex.late_headers
                .push(("Access-Control-Allow-Credentials".into(), "true".into()));
        }
        let expose = values(&p.expose, ex, rt, plan, "header")?;
        if !expose.is_empty() {
            ex.late_headers
                .push(("Access-Control-Expose-Headers".into(), expose.join(",")));
        }
        note!(ex, format!("cors: origin {origin} allowed"));
        return Ok(Flow::Continue);
    }
    if !origin_ok {
        return Ok(empty_ok(
            ex,
            &format!("preflight from {origin}, which is not allowed"),
        ));
    }
    let requested_method = header(&ex.request, "Access-Control-Request-Method")
        .unwrap_or_default()
        .trim()
        .to_string();
    let methods = values(&p.methods, ex, rt, plan, "method")?;
    let any_method = methods.iter().any(|m| m == "*");
    if !any_method
        && !methods
            .iter()
            .any(|m| m.eq_ignore_ascii_case(&requested_method))
    {
        return Ok(empty_ok(
            ex,
            &format!("preflight for method {requested_method}, which is not allowed"),
        ));
    }
    let requested_headers: Vec<String> = header(&ex.request, "Access-Control-Request-Headers")
        .map(|h| {
            h.split(',')
                .map(|x| x.trim().to_string())
                .filter(|x| !x.is_empty())
                .collect()
        })
        .unwrap_or_default();
    let allowed_headers = values(&p.headers, ex, rt, plan, "header")?;
    let any_header = allowed_headers.iter().any(|h| h == "*");
    if let Some(h) = requested_headers
        .iter()
        .find(|h| !any_header && !allowed_headers.iter().any(|a| a.eq_ignore_ascii_case(h)))
    {
        return Ok(empty_ok(
            ex,
            &format!("preflight asks for header {h}, which is not allowed"),
        ));
    }
    let mut headers = vec![
        ("Access-Control-Allow-Origin".to_string(), allow_origin),
        (
            "Access-Control-Allow-Methods".to_string(),
            if any_method {
                requested_method.clone()
            } else {
                methods.join(",")
            },
        ),
    ];
    if !requested_headers.is_empty() {
        headers.push((
            "Access-Control-Allow-Headers".into(),
            requested_headers.join(","),
        ));
    }
    if credentials {
        headers.push(("Access-Control-Allow-Credentials".into(), "true".into()));
    }
    let max_age = match &p.max_age {
        Some(m) => eval(m, ex, rt, plan, "preflight-result-max-age")?.0,
        None => 0,
    };
    if max_age > 0 {
        headers.push(("Access-Control-Max-Age".into(), max_age.to_string()));
    }
    note!(
        ex,
        format!("cors: preflight from {origin} for {requested_method} allowed")
    );
    ex.response = Some((
        ResponseData {
            status: 200,
            reason: "OK".into(),
            headers,
        },
        BodyHandle::new(None),
    ));
    Ok(Flow::Return)
}
