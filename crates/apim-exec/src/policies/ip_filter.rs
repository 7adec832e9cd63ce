//! `ip-filter`: lets through (`allow`) or turns away (`forbid`) callers whose address is listed.
//!
//! Azure (reference 01 and 02, https://learn.microsoft.com/azure/api-management/ip-filter-policy): the caller is
//! `context.Request.IpAddress`; addresses and inclusive `from`–`to` ranges, IPv4 or IPv6. Errors go through
//! on-error: `CallerIpNotAllowed` ("Caller IP address {ip} is not allowed. Access denied.") when `allow` does not
//! list it, `CallerIpBlocked` ("Caller IP address is blocked. Access denied.") when `forbid` does,
//! `FailedToParseCallerIP` ("Failed to establish IP address for the caller. Access denied.").
//!
//! UNVERIFIED: the status is 403 with `{ "statusCode": 403, "message": … }`; a listed entry that is not an
//! address matches nothing.

use std::net::IpAddr;

use apim_policy::policies::ip_filter as ast;
use apim_policy::value::Value;

use crate::Plan;
use crate::compile::{Compiler, Cv};
use crate::run::{Exchange, Flow, PolicyError, Runtime, eval};
use apim_expr::{BodyHandle, ResponseData};

pub struct IpFilter {
    /// `allow` or `forbid`.
    action: Cv<String>,
    addresses: Vec<Cv<String>>,
    ranges: Vec<(Cv<String>, Cv<String>)>,
}

pub(crate) fn compile(c: &mut Compiler, p: &ast::IpFilter) -> Option<IpFilter> {
    let action = match c.value(&p.action)? {
        Cv::Lit(a) => Cv::Lit(a.as_str().to_string()),
        Cv::Expr(a, b) => Cv::Expr(a, b),
    };
    let mut addresses = Vec::new();
    for a in &p.address {
        addresses.push(match &a.content.0 {
            Some(Value::Template(t)) => Cv::Lit(c.substitute_known(&t.text)),
            Some(v) => c.value(v)?,
            None => Cv::Lit(String::new()),
        });
    }
    let mut ranges = Vec::new();
    for r in &p.address_ranges {
        ranges.push((c.value(&r.from)?, c.value(&r.to)?));
    }
    Some(IpFilter {
        action,
        addresses,
        ranges,
    })
}

/// An address as a number that orders like the address (IPv4 mapped into IPv6 so both compare).
fn ordinal(ip: IpAddr) -> u128 {
    match ip {
        IpAddr::V4(v4) => u128::from(v4.to_ipv6_mapped()),
        IpAddr::V6(v6) => u128::from(v6),
    }
}

fn parse(text: &str) -> Option<u128> {
    text.trim().parse::<IpAddr>().ok().map(ordinal)
}

pub(crate) fn run(
    p: &IpFilter,
    ex: &mut Exchange,
    rt: &Runtime,
    plan: &Plan,
) -> Result<Flow, PolicyError> {
    let action = eval(&p.action, ex, rt, plan, "action")?;
    let forbid = match action.to_ascii_lowercase().as_str() {
        "forbid" => true,
        "allow" => false,
        _ => {
            return Err(PolicyError::new(
                "ip-filter",
                "ExpressionValueEvaluationFailure",
                format!(
                    "Expression evaluation failed. The value of action, '{action}', is not allow or forbid."
                ),
            ));
        }
    };
    let caller = ex.request.ip_address.clone();
    let Some(ip) = parse(&caller) else {
        return Err(refusal(
            ex,
            "FailedToParseCallerIP",
            "Failed to establish IP address for the caller. Access denied.".into(),
        ));
    };
    let mut listed = false;
    for a in &p.addresses {
        listed |= parse(&eval(a, ex, rt, plan, "address")?) == Some(ip);
    }
    for (from, to) in &p.ranges {
        let (from, to) = (
            parse(&eval(from, ex, rt, plan, "from")?),
            parse(&eval(to, ex, rt, plan, "to")?),
        );
        if let (Some(from), Some(to)) = (from, to) {
            listed |= from <= ip && ip <= to;
        }
    }
    match (forbid, listed) {
        (false, false) => Err(refusal(
            ex,
            "CallerIpNotAllowed",
            format!("Caller IP address {caller} is not allowed. Access denied."),
        )),
        (true, true) => Err(refusal(
            ex,
            "CallerIpBlocked",
            "Caller IP address is blocked. Access denied.".into(),
        )),
        _ => {
            note!(ex, format!("ip-filter: {caller} passes"));
            Ok(Flow::Continue)
        }
    }
}

fn refusal(ex: &mut Exchange, reason: &str, message: String) -> PolicyError {
    note!(ex, format!("ip-filter: {reason}: {message}"));
    let mut e = PolicyError::new("ip-filter", reason, message.clone());
    e.response = Some(Box::new((
        ResponseData {
            status: 403,
            reason: "Forbidden".into(),
            headers: vec![("Content-Type".into(), "application/json".into())],
        },
        BodyHandle::new(Some(
            serde_json::json!({ "statusCode": 403, "message": message }).to_string(),
        )),
    )));
    e
}
