//! `quota` (per subscription, with per-API and per-operation quotas) and `quota-by-key`: calls and/or bandwidth
//! per fixed period.
//!
//! Azure (reference 01, 02, https://learn.microsoft.com/azure/api-management/quota-by-key-policy): `calls`
//! and/or `bandwidth` (kilobytes) per `renewal-period` seconds, a fixed window (0: never renewed); quota's
//! periods start from the subscription's start, quota-by-key's from `first-period-start`; exhausted ⇒ 403 with
//! `Retry-After`, `context.LastError` Source = the policy, Reason `QuotaExceeded`, message "Out of call volume
//! quota. Quota will be replenished in …" or "Out of bandwidth quota. …". quota applies only to calls made with
//! a subscription key; quota-by-key has one counter per key value across scopes.
//!
//! UNVERIFIED: the time in the message is `hh:mm:ss` under a day and `N.NN days` beyond (both forms are
//! reported); bandwidth counts the request and response bodies apim-emu sees, once the request is over; an
//! expression-valued increment of quota-by-key is evaluated at the end of the pipeline, as rate-limit-by-key's
//! is; without a subscription start the periods start at the Unix epoch.

use std::collections::HashMap;

use apim_policy::policies::quota as q;
use apim_policy::policies::quota_by_key as qk;
use apim_policy::value::Value;

use super::rate_limit::{Which, info_field, is_expression, lit, literal, nested_target, targets};
use crate::Plan;
use crate::compile::{Compiler, Cv};
use crate::run::{Exchange, Flow, PolicyError, Runtime, eval};
use apim_expr::{BodyHandle, ResponseData};

/// Counters by name: the period they count in, calls and bytes.
pub type QuotaCounters = HashMap<String, QuotaCounter>;

#[derive(Debug, Default, Clone)]
pub struct QuotaCounter {
    period: i64,
    calls: u64,
    bytes: u64,
}

struct Limit {
    api: Option<Which>,
    operation: Option<Which>,
    calls: Option<u64>,
    kilobytes: Option<u64>,
    /// Seconds; 0: never renewed.
    period: u64,
    counter: String,
}

pub struct Quota {
    limits: Vec<Limit>,
}

pub struct QuotaByKey {
    limit: Limit,
    /// Unix seconds the first period starts at.
    first_start: i64,
    counter_key: Cv<String>,
    condition: Option<Cv<bool>>,
    count: Option<Cv<i64>>,
}

/// A postponed increment: `increment-condition` and `increment-count`.
type Increment = (Option<Cv<bool>>, Option<Cv<i64>>);

/// What a passing request still adds when it is over: its calls (postponed increments) and its bytes.
#[derive(Clone)]
pub struct QuotaPending {
    counter: String,
    period: i64,
    calls: Option<Increment>,
    bandwidth: bool,
}

fn amount(c: &mut Compiler, v: &Option<Value<i64>>) -> Option<Option<u64>> {
    match v {
        Some(v) => Some(Some(lit(c, v)?.max(0) as u64)),
        None => Some(None),
    }
}

pub(crate) fn compile(c: &mut Compiler, p: &q::Quota) -> Option<Quota> {
    let site = format!("quota:{}:{}", p.span.file.0, p.span.start());
    let mut limits = vec![Limit {
        api: None,
        operation: None,
        calls: amount(c, &p.calls)?,
        kilobytes: amount(c, &p.bandwidth)?,
        period: lit(c, &p.renewal_period)?.0,
        counter: site.clone(),
    }];
    for (i, api) in p.apis.iter().enumerate() {
        let which = nested_target(c, &api.id, &api.name, &api.span, "api")?;
        limits.push(Limit {
            api: Some(which.clone()),
            operation: None,
            calls: amount(c, &api.calls)?,
            kilobytes: amount(c, &api.bandwidth)?,
            period: lit(c, &api.renewal_period)?.0,
            counter: format!("{site}/api[{}]", i + 1),
        });
        for (j, op) in api.operations.iter().enumerate() {
            limits.push(Limit {
                api: Some(which.clone()),
                operation: Some(nested_target(c, &op.id, &op.name, &op.span, "operation")?),
                calls: amount(c, &op.calls)?,
                kilobytes: amount(c, &op.bandwidth)?,
                period: lit(c, &op.renewal_period)?.0,
                counter: format!("{site}/api[{}]/operation[{}]", i + 1, j + 1),
            });
        }
    }
    Some(Quota { limits })
}

pub(crate) fn compile_by_key(c: &mut Compiler, p: &qk::QuotaByKey) -> Option<QuotaByKey> {
    let first = literal(c, &p.first_period_start).unwrap_or_else(|| "0001-01-01T00:00:00Z".into());
    let Ok(first_start) = chrono::DateTime::parse_from_rfc3339(&first) else {
        let span = p.first_period_start.as_ref().map_or(&p.span, |v| v.span());
        c.error(
            span,
            format!("first-period-start must be a date like 2025-01-01T00:00:00Z, not `{first}`"),
        );
        return None;
    };
    Some(QuotaByKey {
        limit: Limit {
            api: None,
            operation: None,
            calls: amount(c, &p.calls)?,
            kilobytes: amount(c, &p.bandwidth)?,
            period: lit(c, &p.renewal_period)?.0,
            counter: String::new(),
        },
        first_start: first_start.timestamp(),
        counter_key: c.value(&p.counter_key)?,
        condition: c.opt(&p.increment_condition)?,
        count: c.opt(&p.increment_count)?,
    })
}

/// The period holding `now` (Unix seconds) and the seconds until it ends (`None`: never renewed).
fn period_at(origin: i64, period: u64, now: i64) -> (i64, Option<u64>) {
    if period == 0 {
        return (0, None);
    }
    let period = period.min(i64::MAX as u64) as i64;
    let index = now.saturating_sub(origin).div_euclid(period);
    let end = origin.saturating_add(index.saturating_add(1).saturating_mul(period));
    (index, Some(end.saturating_sub(now).max(1) as u64))
}

fn replenished(seconds: Option<u64>) -> String {
    match seconds {
        None => String::new(),
        Some(s) if s >= 86_400 => format!(
            " Quota will be replenished in {:.2} days.",
            s as f64 / 86_400.0
        ),
        Some(s) => format!(
            " Quota will be replenished in {:02}:{:02}:{:02}.",
            s / 3600,
            s / 60 % 60,
            s % 60
        ),
    }
}

fn exhausted(policy: &str, what: &str, seconds: Option<u64>, ex: &mut Exchange) -> PolicyError {
    let message = format!("Out of {what} quota.{}", replenished(seconds));
    note!(ex, format!("{policy}: {message}"));
    let mut e = PolicyError::new(policy, "QuotaExceeded", message.clone());
    let mut headers = vec![("Content-Type".to_string(), "application/json".to_string())];
    if let Some(s) = seconds {
        headers.push(("Retry-After".into(), s.to_string()));
    }
    e.response = Some(Box::new((
        ResponseData {
            status: 403,
            reason: "Forbidden".into(),
            headers,
        },
        BodyHandle::new(Some(
            serde_json::json!({ "statusCode": 403, "message": message }).to_string(),
        )),
    )));
    e
}

/// Checks one limit; on success returns the period it counts in.
fn check(
    policy: &str,
    l: &Limit,
    counter: &str,
    origin: i64,
    now: i64,
    rt: &Runtime,
    ex: &mut Exchange,
) -> Result<i64, PolicyError> {
    let (period, left) = period_at(origin, l.period, now);
    let mut counters = rt.quota_counters.lock();
    if counters.len() > 1024 {
        counters.retain(|_, c| c.calls > 0 || c.bytes > 0);
    }
    let c = counters.entry(counter.to_string()).or_default();
    if c.period != period {
        *c = QuotaCounter {
            period,
            calls: 0,
            bytes: 0,
        };
    }
    let (calls, bytes) = (c.calls, c.bytes);
    drop(counters);
    if l.calls.is_some_and(|max| calls >= max) {
        return Err(exhausted(policy, "call volume", left, ex));
    }
    if l.kilobytes
        .is_some_and(|kb| bytes >= kb.saturating_mul(1024))
    {
        return Err(exhausted(policy, "bandwidth", left, ex));
    }
    Ok(period)
}

fn add(rt: &Runtime, counter: &str, period: i64, calls: u64, bytes: u64) {
    if let Some(c) = rt.quota_counters.lock().get_mut(counter)
        && c.period == period
    {
        c.calls = c.calls.saturating_add(calls);
        c.bytes = c.bytes.saturating_add(bytes);
    }
}

fn unix_now(rt: &Runtime) -> i64 {
    rt.clock
        .wall()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

pub(crate) fn run(
    p: &Quota,
    ex: &mut Exchange,
    rt: &Runtime,
    _plan: &Plan,
) -> Result<Flow, PolicyError> {
    let field = |part: &str, key: &str| info_field(ex, part, key);
    let Some(subscription) = field("subscription", "id") else {
        note!(ex, "quota: no subscription; not applied".to_string());
        return Ok(Flow::Continue);
    };
    let origin = field("subscription", "startDate")
        .or_else(|| field("subscription", "createdDate"))
        .and_then(|d| chrono::DateTime::parse_from_rfc3339(&d).ok())
        .map_or(0, |d| d.timestamp());
    let applies = targets(ex);
    let now = unix_now(rt);
    let mut passed = Vec::new();
    for l in p.limits.iter().filter(|l| applies(&l.api, &l.operation)) {
        let counter = format!("{}:{subscription}", l.counter);
        let period = check("quota", l, &counter, origin, now, rt, ex)?;
        passed.push((counter, period, l.kilobytes.is_some()));
    }
    for (counter, period, bandwidth) in passed {
        add(rt, &counter, period, 1, 0);
        if bandwidth {
            ex.quota_pending.push(QuotaPending {
                counter,
                period,
                calls: None,
                bandwidth: true,
            });
        }
    }
    note!(ex, format!("quota: subscription {subscription}: passes"));
    Ok(Flow::Continue)
}

pub(crate) fn run_by_key(
    p: &QuotaByKey,
    ex: &mut Exchange,
    rt: &Runtime,
    plan: &Plan,
) -> Result<Flow, PolicyError> {
    let key = eval(&p.counter_key, ex, rt, plan, "counter-key")?;
    let counter = format!("quota-by-key:{key}");
    let period = check(
        "quota-by-key",
        &p.limit,
        &counter,
        p.first_start,
        unix_now(rt),
        rt,
        ex,
    )?;
    let postponed = is_expression(&p.condition) || is_expression(&p.count);
    if !postponed {
        let condition = match &p.condition {
            Some(c) => eval(c, ex, rt, plan, "increment-condition")?,
            None => true,
        };
        let count = match &p.count {
            Some(c) => eval(c, ex, rt, plan, "increment-count")?.max(0) as u64,
            None => 1,
        };
        if condition {
            add(rt, &counter, period, count, 0);
        }
    }
    if postponed || p.limit.kilobytes.is_some() {
        ex.quota_pending.push(QuotaPending {
            counter,
            period,
            calls: postponed.then(|| (p.condition.clone(), p.count.clone())),
            bandwidth: p.limit.kilobytes.is_some(),
        });
    }
    note!(ex, format!("quota-by-key: key {key}: passes"));
    Ok(Flow::Continue)
}

/// At the end of the pipeline: postponed increments and the request's bytes.
pub(crate) fn settle(ex: &mut Exchange, rt: &Runtime, plan: &Plan, response_bytes: usize) {
    let pending = std::mem::take(&mut ex.quota_pending);
    if pending.is_empty() {
        return;
    }
    let request_bytes = ex
        .request_body
        .as_ref()
        .and_then(BodyHandle::peek)
        .map_or(0, |b| b.len());
    let bytes = (request_bytes + response_bytes) as u64;
    for p in pending {
        let mut calls = 0;
        if let Some((condition, count)) = &p.calls {
            let ok = match condition {
                Some(c) => eval(c, ex, rt, plan, "increment-condition").unwrap_or(false),
                None => true,
            };
            let n = match count {
                Some(c) => eval(c, ex, rt, plan, "increment-count").map_or(0, |n| n.max(0) as u64),
                None => 1,
            };
            if ok {
                calls = n;
            }
        }
        add(
            rt,
            &p.counter,
            p.period,
            calls,
            if p.bandwidth { bytes } else { 0 },
        );
    }
}
