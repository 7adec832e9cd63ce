//! `set-header` and `set-query-parameter` (reference 02).
//!
//! Azure: `override` replaces the header with all listed values; `skip` sets it only when absent; `append` adds
//! the values; `delete` removes it. In inbound/backend the request to the backend changes, in outbound/on-error
//! the response to the client. `Connection`, `Content-Length`, `Keep-Alive` and `Transfer-Encoding` cannot be
//! changed.

use apim_policy::policies::set_header::{self as ast, ExistsAction};
use apim_policy::policies::set_query_parameter as qast;
use apim_policy::spec::Section;

use crate::Plan;
use crate::compile::{Compiler, Cv};
use crate::run::{Exchange, Flow, PolicyError, Runtime, eval, eval_value};

pub struct SetHeader {
    name: Cv<String>,
    action: Option<Cv<ExistsAction>>,
    values: Vec<Cv<String>>,
}

pub type SetQueryParameter = SetHeader;

fn values<T>(
    c: &mut Compiler,
    items: &[T],
    text: impl Fn(&T) -> &Option<apim_policy::value::Value<String>>,
) -> Option<Vec<Cv<String>>> {
    let mut out = Vec::new();
    for item in items {
        match text(item) {
            Some(v) => out.push(c.value(v)?),
            None => out.push(Cv::Lit(String::new())),
        }
    }
    Some(out)
}

pub(crate) fn compile_header(c: &mut Compiler, p: &ast::SetHeader) -> Option<SetHeader> {
    Some(SetHeader {
        name: c.value(&p.name)?,
        action: c.opt(&p.exists_action)?,
        values: values(c, &p.values, |v| &v.content.0)?,
    })
}

pub(crate) fn compile_query(
    c: &mut Compiler,
    p: &qast::SetQueryParameter,
) -> Option<SetQueryParameter> {
    Some(SetHeader {
        name: c.value(&p.name)?,
        action: c.opt(&p.exists_action)?.map(|a| match a {
            Cv::Lit(a) => Cv::Lit(match a {
                qast::ExistsAction::Override => ExistsAction::Override,
                qast::ExistsAction::Skip => ExistsAction::Skip,
                qast::ExistsAction::Append => ExistsAction::Append,
                qast::ExistsAction::Delete => ExistsAction::Delete,
            }),
            Cv::Expr(e, s) => Cv::Expr(e, s),
        }),
        values: values(c, &p.values, |v| &v.content.0)?,
    })
}

const PROTECTED: &[&str] = &[
    "connection",
    "content-length",
    "keep-alive",
    "transfer-encoding",
];

/// Applies an exists-action to a list of (name, value) lines.
pub(crate) fn apply(
    lines: &mut Vec<(String, String)>,
    name: &str,
    action: ExistsAction,
    values: Vec<String>,
) {
    let present = lines.iter().any(|(n, _)| n.eq_ignore_ascii_case(name));
    match action {
        ExistsAction::Override => {
            lines.retain(|(n, _)| !n.eq_ignore_ascii_case(name));
            lines.extend(values.into_iter().map(|v| (name.to_string(), v)));
        }
        ExistsAction::Skip => {
            if !present {
                lines.extend(values.into_iter().map(|v| (name.to_string(), v)));
            }
        }
        ExistsAction::Append => lines.extend(values.into_iter().map(|v| (name.to_string(), v))),
        ExistsAction::Delete => lines.retain(|(n, _)| !n.eq_ignore_ascii_case(name)),
    }
}

/// Evaluates the name, action and values.
pub(crate) fn evaluate(
    p: &SetHeader,
    ex: &mut Exchange,
    rt: &Runtime,
    plan: &Plan,
) -> Result<(String, ExistsAction, Vec<String>), PolicyError> {
    let name = eval(&p.name, ex, rt, plan, "name")?;
    let action = match &p.action {
        Some(a) => eval(a, ex, rt, plan, "exists-action")?,
        None => ExistsAction::Override,
    };
    let mut out = Vec::new();
    for v in &p.values {
        // A value that evaluates to null is left out.
        if let Some(text) = eval_value(v, ex, rt, plan)?.to_text() {
            out.push(text);
        }
    }
    Ok((name, action, out))
}

pub(crate) fn run_header(
    p: &SetHeader,
    ex: &mut Exchange,
    rt: &Runtime,
    plan: &Plan,
) -> Result<Flow, PolicyError> {
    let (name, action, values) = evaluate(p, ex, rt, plan)?;
    if PROTECTED.contains(&name.to_ascii_lowercase().as_str()) {
        note!(
            ex,
            format!("set-header: `{name}` cannot be changed; ignored")
        );
        return Ok(Flow::Continue);
    }
    note!(
        ex,
        format!("set-header: {name} {} {values:?}", action.as_str())
    );
    match ex.section {
        Section::Inbound | Section::Backend => {
            apply(&mut ex.request.headers, &name, action, values)
        }
        Section::Outbound | Section::OnError => {
            let (response, _) = ex
                .response
                .get_or_insert_with(crate::policies::messages::empty_response);
            apply(&mut response.headers, &name, action, values);
        }
    }
    Ok(Flow::Continue)
}

pub(crate) fn run_query(
    p: &SetQueryParameter,
    ex: &mut Exchange,
    rt: &Runtime,
    plan: &Plan,
) -> Result<Flow, PolicyError> {
    let (name, action, values) = evaluate(p, ex, rt, plan)?;
    note!(
        ex,
        format!("set-query-parameter: {name} {} {values:?}", action.as_str())
    );
    apply(&mut ex.query, &name, action, values);
    Ok(Flow::Continue)
}
