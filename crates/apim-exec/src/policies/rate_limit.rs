//! `rate-limit` (per subscription, with per-API and per-operation limits) and `rate-limit-by-key`.
//!
//! Azure (reference 02, https://learn.microsoft.com/azure/api-management/rate-limit-by-key-policy): calls are
//! counted in a sliding window of `renewal-period` seconds; over `calls` ⇒ 429 with `Retry-After` (or the
//! configured header), `context.LastError` Source = the policy, Reason `RateLimitExceeded`, body
//! `{ "statusCode": 429, "message": "Rate limit is exceeded. Try again in N seconds." }` (observed).
//! rate-limit applies only to calls made with a subscription key, one counter per subscription and policy
//! definition, and its `<api>`/`<operation>` limits apply independently to the matching API (id wins over name)
//! and operation. rate-limit-by-key has one counter per key value shared by every scope using it; when
//! `increment-condition` or `increment-count` is an expression, they are evaluated and the counter incremented
//! at the end of the pipeline, so the limit shows one call late. Remaining-calls headers and variables are
//! set after each execution; total-calls is `calls`.
//!
//! UNVERIFIED: refused calls are not counted; a postponed increment also happens when the request ended in
//! on-error. Counting is exact here; the distributed gateway counts approximately.

use std::collections::{HashMap, VecDeque};
use std::time::Duration;

use apim_policy::policies::rate_limit as rl;
use apim_policy::policies::rate_limit_by_key as rlk;
use apim_policy::value::{Seconds, Value};

use crate::Plan;
use crate::compile::{Compiler, Cv};
use crate::run::{Exchange, Flow, PolicyError, Runtime, eval};
use apim_expr::{BodyHandle, ResponseData};

/// Sliding windows by counter name: (clock time, calls) of each counted request, oldest first.
pub type RateCounters = HashMap<String, VecDeque<(Duration, u64)>>;

struct Headers {
    retry_after_header: String,
    retry_after_variable: Option<String>,
    remaining_header: Option<String>,
    remaining_variable: Option<String>,
    total_header: Option<String>,
}

pub struct RateLimitByKey {
    calls: Cv<i64>,
    period: Cv<Seconds>,
    counter_key: Cv<String>,
    increment_condition: Option<Cv<bool>>,
    increment_count: Option<Cv<i64>>,
    headers: Headers,
}

/// Which API or operation a nested limit is for: its id (which wins) or its name.
#[derive(Clone)]
pub(crate) enum Which {
    Id(String),
    Name(String),
}

/// One limit of rate-limit: the policy's own, or an API's or an operation's inside it.
struct Limit {
    /// Which API and operation it is for; `None`: every call.
    api: Option<Which>,
    operation: Option<Which>,
    calls: u64,
    period: u64,
    /// Unique in the plan (scope and path of the policy, and the element).
    counter: String,
}

pub struct RateLimit {
    limits: Vec<Limit>,
    headers: Headers,
}

/// A rate-limit-by-key increment left for the end of the pipeline.
#[derive(Clone)]
pub struct PostponedIncrement {
    counter: String,
    condition: Option<Cv<bool>>,
    count: Option<Cv<i64>>,
}

pub(crate) fn literal(c: &mut Compiler, v: &Option<Value<String>>) -> Option<String> {
    match v {
        Some(Value::Literal { value, .. }) => Some(value.clone()),
        Some(other) => {
            c.error(other.span(), "this attribute must be a literal");
            None
        }
        None => None,
    }
}

pub(crate) fn is_expression<T>(v: &Option<Cv<T>>) -> bool {
    matches!(v, Some(Cv::Expr(..)))
}

/// The header and variable names both rate-limit policies take.
macro_rules! headers_of {
    ($c:expr, $p:expr) => {
        Headers {
            retry_after_header: literal($c, &$p.retry_after_header_name)
                .unwrap_or_else(|| "Retry-After".into()),
            retry_after_variable: literal($c, &$p.retry_after_variable_name),
            remaining_header: literal($c, &$p.remaining_calls_header_name),
            remaining_variable: literal($c, &$p.remaining_calls_variable_name),
            total_header: literal($c, &$p.total_calls_header_name),
        }
    };
}

pub(crate) fn compile_by_key(c: &mut Compiler, p: &rlk::RateLimitByKey) -> Option<RateLimitByKey> {
    Some(RateLimitByKey {
        calls: c.value(&p.calls)?,
        period: c.value(&p.renewal_period)?,
        counter_key: c.value(&p.counter_key)?,
        increment_condition: c.opt(&p.increment_condition)?,
        increment_count: c.opt(&p.increment_count)?,
        headers: headers_of!(c, p),
    })
}

/// Azure: renewal periods are at most 300 seconds.
const MAX_PERIOD: u64 = 300;

fn period_of(c: &mut Compiler, v: &Value<Seconds>) -> Option<u64> {
    let period = lit(c, v)?.0;
    if !(1..=MAX_PERIOD).contains(&period) {
        c.error(
            v.span(),
            format!("renewal-period must be 1 to {MAX_PERIOD} seconds, not {period}"),
        );
        return None;
    }
    Some(period)
}

pub(crate) fn lit<T: Clone>(c: &mut Compiler, v: &Value<T>) -> Option<T> {
    match v {
        Value::Literal { value, .. } => Some(value.clone()),
        other => {
            c.error(other.span(), "this attribute must be a literal");
            None
        }
    }
}

/// Azure: a nested limit names its API or operation by id, which wins, or by name.
pub(crate) fn nested_target(
    c: &mut Compiler,
    id: &Option<Value<String>>,
    name: &Option<Value<String>>,
    span: &apim_source::Span,
    element: &str,
) -> Option<Which> {
    match (literal(c, id), literal(c, name)) {
        (Some(id), _) => Some(Which::Id(id)),
        (None, Some(name)) => Some(Which::Name(name)),
        (None, None) => {
            c.error(span, format!("an `<{element}>` limit needs `id` or `name`"));
            None
        }
    }
}

pub(crate) fn compile(c: &mut Compiler, p: &rl::RateLimit, path: &str) -> Option<RateLimit> {
    // One counter per policy definition: its place in its file (the path alone repeats across APIs).
    let site = format!("rate-limit:{}:{}:{path}", p.span.file.0, p.span.start());
    let mut limits = vec![Limit {
        api: None,
        operation: None,
        calls: lit(c, &p.calls)?.max(0) as u64,
        period: period_of(c, &p.renewal_period)?,
        counter: site.clone(),
    }];
    for (i, api) in p.apis.iter().enumerate() {
        // Azure: id wins over name.
        let which = nested_target(c, &api.id, &api.name, &api.span, "api")?;
        limits.push(Limit {
            api: Some(which.clone()),
            operation: None,
            calls: lit(c, &api.calls)?.max(0) as u64,
            period: period_of(c, &api.renewal_period)?,
            counter: format!("{site}/api[{}]", i + 1),
        });
        for (j, op) in api.operations.iter().enumerate() {
            let op_which = nested_target(c, &op.id, &op.name, &op.span, "operation")?;
            limits.push(Limit {
                api: Some(which.clone()),
                operation: Some(op_which),
                calls: lit(c, &op.calls)?.max(0) as u64,
                period: period_of(c, &op.renewal_period)?,
                counter: format!("{site}/api[{}]/operation[{}]", i + 1, j + 1),
            });
        }
    }
    Some(RateLimit {
        limits,
        headers: headers_of!(c, p),
    })
}

fn set_number(ex: &mut Exchange, variable: &Option<String>, n: u64) {
    if let Some(name) = variable {
        ex.variables
            .set(name, apim_expr::Value::from_json(&serde_json::json!(n)));
    }
}

/// Calls counted in the window ending now, after dropping what left it.
fn used(window: &mut VecDeque<(Duration, u64)>, period: Duration, now: Duration) -> u64 {
    while window.front().is_some_and(|(at, _)| *at + period <= now) {
        window.pop_front();
    }
    window
        .iter()
        .fold(0u64, |sum, (_, n)| sum.saturating_add(*n))
}

/// Drops counters whose calls have all left the longest possible window, so that keys taken from requests
/// cannot grow the map without end.
fn sweep(counters: &mut RateCounters, now: Duration) {
    if counters.len() > 1024 {
        let longest = Duration::from_secs(MAX_PERIOD);
        counters.retain(|_, w| w.back().is_some_and(|(at, _)| *at + longest > now));
    }
}

/// Whole seconds until the window has room for one more call.
fn retry_after(
    window: &VecDeque<(Duration, u64)>,
    calls: u64,
    period: Duration,
    now: Duration,
) -> u64 {
    let total = window
        .iter()
        .fold(0u64, |sum, (_, n)| sum.saturating_add(*n));
    let mut freed = 0u64;
    let mut wait = period;
    for (at, n) in window {
        freed = freed.saturating_add(*n);
        if total.saturating_sub(freed) < calls {
            wait = (*at + period).saturating_sub(now);
            break;
        }
    }
    (wait.as_secs() + u64::from(wait.subsec_nanos() > 0)).max(1)
}

fn refusal(policy: &str, seconds: u64, h: &Headers, calls: u64, ex: &mut Exchange) -> PolicyError {
    set_number(ex, &h.retry_after_variable, seconds);
    set_number(ex, &h.remaining_variable, 0);
    let message = format!("Rate limit is exceeded. Try again in {seconds} seconds.");
    let mut e = PolicyError::new(policy, "RateLimitExceeded", "Rate limit is exceeded");
    let mut headers = vec![
        ("Content-Type".to_string(), "application/json".to_string()),
        (h.retry_after_header.clone(), seconds.to_string()),
    ];
    if let Some(name) = &h.remaining_header {
        headers.push((name.clone(), "0".into()));
    }
    if let Some(name) = &h.total_header {
        headers.push((name.clone(), calls.to_string()));
    }
    e.response = Some(Box::new((
        ResponseData {
            status: 429,
            reason: "Too Many Requests".into(),
            headers,
        },
        BodyHandle::new(Some(
            serde_json::json!({ "statusCode": 429, "message": message }).to_string(),
        )),
    )));
    e
}

fn passed(ex: &mut Exchange, h: &Headers, remaining: u64, calls: u64) {
    set_number(ex, &h.remaining_variable, remaining);
    if let Some(name) = &h.remaining_header {
        ex.late_headers.push((name.clone(), remaining.to_string()));
    }
    if let Some(name) = &h.total_header {
        ex.late_headers.push((name.clone(), calls.to_string()));
    }
}

pub(crate) fn run_by_key(
    p: &RateLimitByKey,
    ex: &mut Exchange,
    rt: &Runtime,
    plan: &Plan,
) -> Result<Flow, PolicyError> {
    let calls = eval(&p.calls, ex, rt, plan, "calls")?.max(0) as u64;
    let period = eval(&p.period, ex, rt, plan, "renewal-period")?.0;
    if !(1..=MAX_PERIOD).contains(&period) {
        return Err(PolicyError::new(
            "rate-limit-by-key",
            "ExpressionValueEvaluationFailure",
            format!(
                "Expression evaluation failed. renewal-period must be 1 to {MAX_PERIOD} seconds, not {period}."
            ),
        ));
    }
    let period = Duration::from_secs(period);
    let key = eval(&p.counter_key, ex, rt, plan, "counter-key")?;
    let counter = format!("rate-limit-by-key:{key}");
    // Azure: expression-valued increment settings are evaluated at the end of the pipeline.
    let postponed = is_expression(&p.increment_condition) || is_expression(&p.increment_count);
    let increment = if postponed {
        0
    } else {
        let condition = match &p.increment_condition {
            Some(c) => eval(c, ex, rt, plan, "increment-condition")?,
            None => true,
        };
        let count = match &p.increment_count {
            Some(c) => eval(c, ex, rt, plan, "increment-count")?.max(0) as u64,
            None => 1,
        };
        if condition { count } else { 0 }
    };
    let now = rt.clock.now();
    let mut counters = rt.rate_counters.lock();
    sweep(&mut counters, now);
    let window = counters.entry(counter.clone()).or_default();
    let n = used(window, period, now);
    if n >= calls {
        let seconds = retry_after(window, calls, period, now);
        drop(counters);
        note!(
            ex,
            format!(
                "rate-limit-by-key: key {key}: {n} of {calls} calls in {}s; 429, retry after {seconds} s",
                period.as_secs()
            )
        );
        return Err(refusal("rate-limit-by-key", seconds, &p.headers, calls, ex));
    }
    if increment > 0 {
        window.push_back((now, increment));
    }
    drop(counters);
    note!(
        ex,
        format!(
            "rate-limit-by-key: key {key}: {n} of {calls} calls in {}s; passes{}",
            period.as_secs(),
            if postponed {
                " (counted at the end of the pipeline)"
            } else {
                ""
            }
        )
    );
    passed(
        ex,
        &p.headers,
        calls.saturating_sub(n.saturating_add(increment)),
        calls,
    );
    if postponed {
        ex.postponed_increments.push(PostponedIncrement {
            counter,
            condition: p.increment_condition.clone(),
            count: p.increment_count.clone(),
        });
    }
    Ok(Flow::Continue)
}

/// At the end of the pipeline: evaluates postponed increment conditions and counts (against the final
/// response) and records them. An expression that fails counts nothing.
pub(crate) fn settle(ex: &mut Exchange, rt: &Runtime, plan: &Plan) {
    let pending = std::mem::take(&mut ex.postponed_increments);
    for p in pending {
        let condition = match &p.condition {
            Some(c) => eval(c, ex, rt, plan, "increment-condition"),
            None => Ok(true),
        };
        let count = match &p.count {
            Some(c) => eval(c, ex, rt, plan, "increment-count").map(|n| n.max(0) as u64),
            None => Ok(1),
        };
        match (condition, count) {
            (Ok(true), Ok(n)) if n > 0 => {
                rt.rate_counters
                    .lock()
                    .entry(p.counter.clone())
                    .or_default()
                    .push_back((rt.clock.now(), n));
                note!(
                    ex,
                    format!(
                        "rate-limit-by-key: {} counts {n} at the end of the pipeline",
                        p.counter
                    )
                );
            }
            (Ok(_), Ok(_)) => {
                note!(
                    ex,
                    format!("rate-limit-by-key: {} does not count this call", p.counter)
                );
            }
            (Err(e), _) | (_, Err(e)) => {
                note!(
                    ex,
                    format!(
                        "rate-limit-by-key: {}: the increment failed ({}); not counted",
                        p.counter, e.message
                    )
                );
            }
        }
    }
}

/// A field of what the gateway told the executor about the request (`subscription`/`id`, `api`/`name` …).
pub(crate) fn info_field(ex: &Exchange, part: &str, key: &str) -> Option<String> {
    ex.info_json
        .get(part)
        .and_then(|p| p.get(key))
        .and_then(serde_json::Value::as_str)
        .map(str::to_string)
}

/// The API and operation of the request, for nested limits: whether `api` and `operation` name them.
pub(crate) fn targets(ex: &Exchange) -> impl Fn(&Option<Which>, &Option<Which>) -> bool + use<> {
    let field = |part: &str, key: &str| info_field(ex, part, key);
    let api = [field("api", "id"), field("api", "name")];
    let operation = [field("operation", "id"), field("operation", "name")];
    let matches = |wanted: &Option<Which>, have: &[Option<String>; 2]| match wanted {
        None => true,
        Some(Which::Id(w)) => have[0]
            .as_deref()
            .is_some_and(|h| h.eq_ignore_ascii_case(w)),
        Some(Which::Name(w)) => have[1]
            .as_deref()
            .is_some_and(|h| h.eq_ignore_ascii_case(w)),
    };
    move |a, o| matches(a, &api) && matches(o, &operation)
}

pub(crate) fn run(
    p: &RateLimit,
    ex: &mut Exchange,
    rt: &Runtime,
    _plan: &Plan,
) -> Result<Flow, PolicyError> {
    // Azure: applied only to calls made with a subscription key.
    let Some(subscription) = info_field(ex, "subscription", "id") else {
        note!(ex, "rate-limit: no subscription; not applied".to_string());
        return Ok(Flow::Continue);
    };
    let applies = targets(ex);
    let now = rt.clock.now();
    let mut counters = rt.rate_counters.lock();
    sweep(&mut counters, now);
    let applicable: Vec<&Limit> = p
        .limits
        .iter()
        .filter(|l| applies(&l.api, &l.operation))
        .collect();
    // Check every applicable limit before counting the call against any.
    let mut remaining = u64::MAX;
    let mut tightest = 0;
    for l in &applicable {
        let period = Duration::from_secs(l.period);
        let window = counters
            .entry(format!("{}:{subscription}", l.counter))
            .or_default();
        let n = used(window, period, now);
        if n >= l.calls {
            let seconds = retry_after(window, l.calls, period, now);
            drop(counters);
            note!(
                ex,
                format!(
                    "rate-limit: subscription {subscription}: {n} of {} calls in {}s; 429, retry after {seconds} s",
                    l.calls, l.period
                )
            );
            return Err(refusal("rate-limit", seconds, &p.headers, l.calls, ex));
        }
        let left = l.calls.saturating_sub(n).saturating_sub(1);
        if left < remaining {
            remaining = left;
            tightest = l.calls;
        }
    }
    for l in &applicable {
        counters
            .entry(format!("{}:{subscription}", l.counter))
            .or_default()
            .push_back((now, 1));
    }
    drop(counters);
    note!(
        ex,
        format!("rate-limit: subscription {subscription}: passes, {remaining} call(s) left")
    );
    passed(ex, &p.headers, remaining, tightest);
    Ok(Flow::Continue)
}
