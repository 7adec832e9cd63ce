//! Policies that change the message or the pipeline's state: `set-variable`, `set-body`, `set-status`,
//! `set-method`, `return-response`, `trace` (reference 02).

use apim_expr::{BodyHandle, ResponseData};
use apim_policy::policies::{
    return_response as rast, set_body as bast, set_method as mast, set_status as sast,
    set_variable as vast, trace as tast,
};
use apim_policy::spec::Section;
use apim_policy::value::Value;

use crate::Plan;
use crate::compile::{Compiler, Cv};
use crate::run::{Exchange, Flow, PolicyError, Runtime, eval, eval_value, reason_phrase};

use super::headers::{self, SetHeader};

pub(crate) fn empty_response() -> (ResponseData, BodyHandle) {
    (
        ResponseData {
            status: 200,
            reason: "OK".into(),
            headers: Vec::new(),
        },
        BodyHandle::new(None),
    )
}

pub struct SetVariable {
    name: String,
    value: Cv<String>,
}

pub(crate) fn compile_variable(c: &mut Compiler, p: &vast::SetVariable) -> Option<SetVariable> {
    let name = match &p.name {
        Value::Literal { value, .. } => value.clone(),
        other => {
            c.error(other.span(), "set-variable's name must be a literal");
            return None;
        }
    };
    Some(SetVariable {
        name,
        value: c.value(&p.value)?,
    })
}

pub(crate) fn run_variable(
    p: &SetVariable,
    ex: &mut Exchange,
    rt: &Runtime,
    plan: &Plan,
) -> Result<Flow, PolicyError> {
    // Azure: a literal value is a System.String; an expression keeps its type.
    let v = eval_value(&p.value, ex, rt, plan)?;
    note!(ex, format!("set-variable: {} = {}", p.name, v.to_json()));
    ex.variables.set(&p.name, v);
    Ok(Flow::Continue)
}

pub struct SetBody {
    content: Option<Cv<String>>,
    liquid: Option<super::liquid::LiquidTemplate>,
}

pub(crate) fn compile_body(c: &mut Compiler, p: &bast::SetBody) -> Option<SetBody> {
    if matches!(
        &p.template,
        Some(Value::Literal {
            value: bast::Template::Liquid,
            ..
        })
    ) {
        c.touches_body();
        // The template text as written, with the named values that are supplied substituted.
        let text = match &p.content.0 {
            Some(Value::Literal { value, .. }) => value.clone(),
            Some(Value::Template(t)) => c.substitute_known(&t.text),
            Some(other) => {
                c.error(
                    other.span(),
                    "a Liquid template is text, not a policy expression",
                );
                return None;
            }
            None => String::new(),
        };
        return match super::liquid::compile(&text) {
            Ok(t) => Some(SetBody {
                content: None,
                liquid: Some(t),
            }),
            Err(e) => {
                c.error(&p.span, format!("invalid Liquid template: {e}"));
                None
            }
        };
    }
    c.touches_body();
    let content = match &p.content.0 {
        // Body text may hold `{{…}}` that are not named values (the parser is lenient there too).
        Some(Value::Template(t)) => Some(Cv::Lit(c.substitute_known(&t.text))),
        Some(v) => Some(c.value(v)?),
        None => None,
    };
    Some(SetBody {
        content,
        liquid: None,
    })
}

/// The body text a set-body produces.
pub(crate) fn body_of(
    p: &SetBody,
    ex: &mut Exchange,
    rt: &Runtime,
    plan: &Plan,
) -> Result<Option<String>, PolicyError> {
    body_text(p, ex, rt, plan)
}

fn body_text(
    p: &SetBody,
    ex: &mut Exchange,
    rt: &Runtime,
    plan: &Plan,
) -> Result<Option<String>, PolicyError> {
    if let Some(t) = &p.liquid {
        return super::liquid::render(t, ex).map(Some);
    }
    match &p.content {
        Some(cv) => Ok(eval_value(cv, ex, rt, plan)?.to_text()),
        None => Ok(Some(String::new())),
    }
}

pub(crate) fn run_body(
    p: &SetBody,
    ex: &mut Exchange,
    rt: &Runtime,
    plan: &Plan,
) -> Result<Flow, PolicyError> {
    let text = body_text(p, ex, rt, plan)?;
    note!(
        ex,
        format!(
            "set-body: {} bytes",
            text.as_deref().map(str::len).unwrap_or(0)
        )
    );
    match ex.section {
        Section::Inbound | Section::Backend => match &ex.request_body {
            Some(b) => b.set(text),
            None => ex.request_body = Some(BodyHandle::new(text)),
        },
        Section::Outbound | Section::OnError => {
            let (_, body) = ex.response.get_or_insert_with(empty_response);
            body.set(text);
        }
    }
    Ok(Flow::Continue)
}

pub struct SetStatus {
    code: Cv<i64>,
    reason: Option<Cv<String>>,
}

pub(crate) fn compile_status(c: &mut Compiler, p: &sast::SetStatus) -> Option<SetStatus> {
    Some(SetStatus {
        code: c.value(&p.code)?,
        reason: c.opt(&p.reason)?,
    })
}

fn status_of(
    p: &SetStatus,
    ex: &mut Exchange,
    rt: &Runtime,
    plan: &Plan,
) -> Result<(u16, String), PolicyError> {
    let code = eval(&p.code, ex, rt, plan, "code")?;
    let code = u16::try_from(code)
        .ok()
        .filter(|c| (100..=599).contains(c))
        .ok_or_else(|| {
            PolicyError::new(
                "set-status",
                "",
                format!("Status code {code} is not between 100 and 599."),
            )
        })?;
    let reason = match &p.reason {
        Some(r) => eval(r, ex, rt, plan, "reason")?,
        None => reason_phrase(code).to_string(),
    };
    Ok((code, reason))
}

pub(crate) fn run_status(
    p: &SetStatus,
    ex: &mut Exchange,
    rt: &Runtime,
    plan: &Plan,
) -> Result<Flow, PolicyError> {
    let (code, reason) = status_of(p, ex, rt, plan)?;
    note!(ex, format!("set-status: {code} {reason}"));
    let (response, _) = ex.response.get_or_insert_with(empty_response);
    response.status = code;
    response.reason = reason;
    Ok(Flow::Continue)
}

pub struct SetMethod {
    method: Cv<String>,
}

pub(crate) fn compile_method(c: &mut Compiler, p: &mast::SetMethod) -> Option<SetMethod> {
    match &p.content.0 {
        Some(v) => Some(SetMethod {
            method: c.value(v)?,
        }),
        None => {
            c.error(&p.span, "set-method needs the method as its content");
            None
        }
    }
}

/// The method a set-method sets.
pub(crate) fn method_of(
    p: &SetMethod,
    ex: &mut Exchange,
    rt: &Runtime,
    plan: &Plan,
) -> Result<String, PolicyError> {
    Ok(eval(&p.method, ex, rt, plan, "method")?
        .trim()
        .to_ascii_uppercase())
}

pub(crate) fn run_method(
    p: &SetMethod,
    ex: &mut Exchange,
    rt: &Runtime,
    plan: &Plan,
) -> Result<Flow, PolicyError> {
    let m = method_of(p, ex, rt, plan)?;
    note!(ex, format!("set-method: {m}"));
    ex.request.method = m;
    Ok(Flow::Continue)
}

pub struct ReturnResponse {
    variable: Option<String>,
    status: Option<SetStatus>,
    headers: Vec<SetHeader>,
    body: Option<SetBody>,
}

pub(crate) fn compile_return(c: &mut Compiler, p: &rast::ReturnResponse) -> Option<ReturnResponse> {
    let variable = match &p.response_variable_name {
        Some(Value::Literal { value, .. }) => Some(value.clone()),
        Some(other) => {
            c.error(other.span(), "response-variable-name must be a literal");
            return None;
        }
        None => None,
    };
    let status = match &p.set_status {
        Some(s) => Some(compile_status(c, s)?),
        None => None,
    };
    let mut hs = Vec::new();
    for h in &p.set_headers {
        hs.push(headers::compile_header(c, h)?);
    }
    let body = match &p.set_body {
        Some(b) => Some(compile_body(c, b)?),
        None => None,
    };
    Some(ReturnResponse {
        variable,
        status,
        headers: hs,
        body,
    })
}

pub(crate) fn run_return(
    p: &ReturnResponse,
    ex: &mut Exchange,
    rt: &Runtime,
    plan: &Plan,
) -> Result<Flow, PolicyError> {
    // Azure: the default response is 200 OK with an empty body; with response-variable-name, the IResponse in that
    // variable (reference 02 return-response).
    let (mut response, mut body) = empty_response();
    if let Some(name) = &p.variable {
        match ex.variables.get(name).and_then(|v| v.as_response()) {
            Some((r, b)) => {
                response = r;
                body = b.unwrap_or_else(|| BodyHandle::new(None));
            }
            None => {
                return Err(PolicyError::new(
                    "return-response",
                    "",
                    format!("Variable '{name}' does not hold a response."),
                ));
            }
        }
    }
    if let Some(s) = &p.status {
        let (code, reason) = status_of(s, ex, rt, plan)?;
        response.status = code;
        response.reason = reason;
    }
    for h in &p.headers {
        let (name, action, values) = headers::evaluate(h, ex, rt, plan)?;
        headers::apply(&mut response.headers, &name, action, values);
    }
    if let Some(b) = &p.body {
        let text = body_text(b, ex, rt, plan)?;
        body = BodyHandle::new(text);
    }
    note!(
        ex,
        format!("return-response: {} {}", response.status, response.reason)
    );
    ex.response = Some((response, body));
    Ok(Flow::Return)
}

pub struct Trace {
    source: String,
    severity: &'static str,
    message: Option<Cv<String>>,
}

pub(crate) fn compile_trace(c: &mut Compiler, p: &tast::Trace) -> Option<Trace> {
    let source = match &p.source {
        Value::Literal { value, .. } => value.clone(),
        other => {
            c.error(other.span(), "trace's source must be a literal");
            return None;
        }
    };
    let severity = match &p.severity {
        Some(Value::Literal { value, .. }) => value.as_str(),
        _ => "verbose",
    };
    Some(Trace {
        source,
        severity,
        message: c.opt(&p.message.content.0)?,
    })
}

pub(crate) fn run_trace(
    p: &Trace,
    ex: &mut Exchange,
    rt: &Runtime,
    plan: &Plan,
) -> Result<Flow, PolicyError> {
    let message = match &p.message {
        Some(m) => eval_value(m, ex, rt, plan)?.to_text().unwrap_or_default(),
        None => String::new(),
    };
    note!(
        ex,
        format!("trace [{}] {}: {message}", p.severity, p.source)
    );
    Ok(Flow::Continue)
}

pub struct RewriteUri {
    template: Cv<String>,
    copy_unmatched: Option<Cv<bool>>,
}

pub(crate) fn compile_rewrite(
    c: &mut Compiler,
    p: &apim_policy::policies::rewrite_uri::RewriteUri,
) -> Option<RewriteUri> {
    Some(RewriteUri {
        template: c.value(&p.template)?,
        copy_unmatched: c.opt(&p.copy_unmatched_params)?,
    })
}

/// Azure (reference 02 rewrite-uri): the template is the new backend-relative URL; `{name}` takes the
/// operation's template parameters; with copy-unmatched-params (default true) the request's query parameters not
/// named in the template are kept.
pub(crate) fn run_rewrite(
    p: &RewriteUri,
    ex: &mut Exchange,
    rt: &Runtime,
    plan: &Plan,
) -> Result<Flow, PolicyError> {
    let template = eval(&p.template, ex, rt, plan, "template")?;
    let copy = match &p.copy_unmatched {
        Some(v) => eval(v, ex, rt, plan, "copy-unmatched-params")?,
        None => true,
    };
    let mut text = template.clone();
    for (name, value) in &ex.request.matched_parameters {
        text = text.replace(&format!("{{{name}}}"), value);
    }
    let (path, query) = match text.split_once('?') {
        Some((p, q)) => (p.to_string(), crate::run::parse_query(q)),
        None => (text.clone(), Vec::new()),
    };
    let mut new_query = query;
    if copy {
        let named: Vec<String> = new_query
            .iter()
            .map(|(k, _)| k.to_ascii_lowercase())
            .collect();
        for (k, v) in &ex.query {
            if !named.contains(&k.to_ascii_lowercase()) {
                new_query.push((k.clone(), v.clone()));
            }
        }
    }
    note!(
        ex,
        format!(
            "rewrite-uri: {path}{}",
            crate::run::encode_query(&new_query)
        )
    );
    ex.rest_path = path;
    ex.query = new_query;
    Ok(Flow::Continue)
}

pub struct MockResponse {
    status: u16,
    content_type: Option<String>,
}

pub(crate) fn compile_mock(
    c: &mut Compiler,
    p: &apim_policy::policies::mock_response::MockResponse,
) -> Option<MockResponse> {
    let status = match &p.status_code {
        Some(Value::Literal { value, .. }) => u16::try_from(*value)
            .ok()
            .filter(|s| (100..=599).contains(s)),
        None => Some(200),
        Some(_) => None,
    };
    let Some(status) = status else {
        c.error(&p.span, "status-code must be a literal between 100 and 599");
        return None;
    };
    let content_type = match &p.content_type {
        Some(Value::Literal { value, .. }) => Some(value.clone()),
        _ => None,
    };
    Some(MockResponse {
        status,
        content_type,
    })
}

/// Azure: mock-response ends the pipeline with the operation's example response; apim-emu's quick form has no
/// operation examples, so the body is empty (reference 02 mock-response).
pub(crate) fn run_mock(
    p: &MockResponse,
    ex: &mut Exchange,
    _rt: &Runtime,
    _plan: &Plan,
) -> Result<Flow, PolicyError> {
    let mut headers = Vec::new();
    if let Some(ct) = &p.content_type {
        headers.push(("Content-Type".to_string(), ct.clone()));
    }
    note!(ex, format!("mock-response: {}", p.status));
    ex.response = Some((
        ResponseData {
            status: p.status,
            reason: reason_phrase(p.status).into(),
            headers,
        },
        BodyHandle::new(None),
    ));
    Ok(Flow::Return)
}
