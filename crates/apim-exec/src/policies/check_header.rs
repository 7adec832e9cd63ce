//! `check-header`: a request header must be present and, when values are listed, hold one of them.
//!
//! Azure (reference 01 and 02, https://learn.microsoft.com/azure/api-management/check-header-policy): a missing
//! header ends the request with `failed-check-httpcode` and `failed-check-error-message`, `context.LastError`
//! Reason `HeaderNotFound` ("Header {name} was not found in the request. Access denied."); a value not listed,
//! Reason `HeaderValueNotAllowed` ("Header {name} value of {value} is not allowed. Access denied."). The error
//! goes through on-error like the other predefined errors.
//!
//! UNVERIFIED: the body is `{ "statusCode": code, "message": failed-check-error-message }`; a header sent on
//! several lines (or as a comma-separated list) passes when any of its values is listed.

use apim_policy::policies::check_header as ast;
use apim_policy::value::Value;

use crate::Plan;
use crate::compile::{Compiler, Cv};
use crate::run::{Exchange, Flow, PolicyError, Runtime, eval};
use apim_expr::{BodyHandle, ResponseData};

pub struct CheckHeader {
    name: Cv<String>,
    status: Cv<i64>,
    message: Cv<String>,
    ignore_case: Cv<bool>,
    values: Vec<Cv<String>>,
}

pub(crate) fn compile(c: &mut Compiler, p: &ast::CheckHeader) -> Option<CheckHeader> {
    let mut values = Vec::new();
    for v in &p.values {
        match &v.content.0 {
            Some(Value::Template(t)) => values.push(Cv::Lit(c.substitute_known(&t.text))),
            Some(v) => values.push(c.value(v)?),
            None => values.push(Cv::Lit(String::new())),
        }
    }
    Some(CheckHeader {
        name: c.value(&p.name)?,
        status: c.value(&p.failed_check_httpcode)?,
        message: c.value(&p.failed_check_error_message)?,
        ignore_case: c.value(&p.ignore_case)?,
        values,
    })
}

pub(crate) fn run(
    p: &CheckHeader,
    ex: &mut Exchange,
    rt: &Runtime,
    plan: &Plan,
) -> Result<Flow, PolicyError> {
    let name = eval(&p.name, ex, rt, plan, "name")?;
    let ignore_case = eval(&p.ignore_case, ex, rt, plan, "ignore-case")?;
    let mut allowed = Vec::with_capacity(p.values.len());
    for v in &p.values {
        allowed.push(eval(v, ex, rt, plan, "value")?);
    }
    let sent: Vec<String> = ex
        .request
        .headers
        .iter()
        .filter(|(n, _)| n.eq_ignore_ascii_case(&name))
        .flat_map(|(_, v)| v.split(',').map(|s| s.trim().to_string()))
        .collect();
    let same = |a: &str, b: &str| {
        if ignore_case {
            a.to_lowercase() == b.to_lowercase()
        } else {
            a == b
        }
    };
    let failure = if sent.is_empty() {
        Some((
            "HeaderNotFound",
            format!("Header {name} was not found in the request. Access denied."),
        ))
    } else if !allowed.is_empty() && !sent.iter().any(|s| allowed.iter().any(|a| same(s, a))) {
        Some((
            "HeaderValueNotAllowed",
            format!(
                "Header {name} value of {} is not allowed. Access denied.",
                sent.join(",")
            ),
        ))
    } else {
        None
    };
    let Some((reason, last_error)) = failure else {
        note!(ex, format!("check-header: {name} passes"));
        return Ok(Flow::Continue);
    };
    let status = eval(&p.status, ex, rt, plan, "failed-check-httpcode")?;
    let message = eval(&p.message, ex, rt, plan, "failed-check-error-message")?;
    let status = u16::try_from(status)
        .ok()
        .filter(|s| (100..=599).contains(s))
        .unwrap_or(500);
    note!(
        ex,
        format!("check-header: {reason}: {last_error} → {status}")
    );
    let mut e = PolicyError::new("check-header", reason, last_error);
    e.response = Some(Box::new((
        ResponseData {
            status,
            reason: crate::run::reason_phrase(status).into(),
            headers: vec![("Content-Type".into(), "application/json".into())],
        },
        BodyHandle::new(Some(
            serde_json::json!({ "statusCode": status, "message": message }).to_string(),
        )),
    )));
    Err(e)
}
