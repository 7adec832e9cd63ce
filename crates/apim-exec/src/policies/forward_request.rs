//! `forward-request`: sends the request to the backend and makes its reply the current response.
//!
//! Azure (reference 02, 03): timeout (default 300 s) ⇒ error Reason `Timeout`; connection failure ⇒
//! `BackendConnectionFailure`; `fail-on-error-status-code` turns a 400–599 reply into an error; without
//! `buffer-request-body="true"` a retried request is sent without its body; a pool picks its member per attempt
//! (lowest priority group with an untripped member) and answers 503 when every member is tripped; every reply
//! and failure is recorded by the backend's circuit breaker.

use std::time::Duration;

use apim_backend::BackendKind;
use apim_backend::breaker::{Event, Outcome, parse_retry_after};
use apim_expr::{BodyHandle, ResponseData};
use apim_policy::policies::forward_request as ast;
use apim_policy::value::{Seconds, Value};

use crate::Plan;
use crate::compile::{Compiler, Cv};
use crate::io::{UpstreamError, UpstreamRequest};
use crate::run::{Exchange, Flow, PolicyError, Runtime, Target, eval, join_url};

pub struct ForwardRequest {
    timeout: Option<Cv<Seconds>>,
    timeout_ms: Option<Cv<i64>>,
    follow_redirects: Option<Cv<bool>>,
    buffer_request_body: Option<Cv<bool>>,
    fail_on_error_status_code: bool,
    buffer_response: bool,
    http_version: Option<Cv<ast::HttpVersion>>,
}

// Deviation: `continue-timeout` (waiting for `100 Continue`) is read and validated but not applied; the HTTP
// client sends bodies without `Expect: 100-continue`.
pub(crate) fn compile(c: &mut Compiler, p: &ast::ForwardRequest) -> Option<ForwardRequest> {
    let literal = |v: &Option<Value<bool>>| matches!(v, Some(Value::Literal { value: true, .. }));
    if !matches!(
        &p.buffer_request_body,
        None | Some(Value::Literal { value: false, .. })
    ) {
        // Buffered for retries: the gateway must read the whole upload first.
        c.reads_request_body = true;
    }
    Some(ForwardRequest {
        http_version: c.opt(&p.http_version)?,
        buffer_response: !matches!(
            &p.buffer_response,
            Some(Value::Literal { value: false, .. })
        ),
        timeout: c.opt(&p.timeout)?,
        timeout_ms: c.opt(&p.timeout_ms)?,
        follow_redirects: c.opt(&p.follow_redirects)?,
        buffer_request_body: c.opt(&p.buffer_request_body)?,
        fail_on_error_status_code: literal(&p.fail_on_error_status_code),
    })
}

/// Headers the gateway does not pass on (hop-by-hop, and what it sets itself).
const NOT_FORWARDED: &[&str] = &[
    "connection",
    "keep-alive",
    "proxy-connection",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
    "host",
    "content-length",
];

fn unavailable(status: u16, reason: String, message: String) -> PolicyError {
    let mut e = PolicyError::new("forward-request", "BackendUnavailable", message);
    e.response = Some(Box::new((
        ResponseData {
            status,
            reason,
            headers: Vec::new(),
        },
        BodyHandle::new(None),
    )));
    e
}

pub(crate) async fn run(
    p: &ForwardRequest,
    ex: &mut Exchange,
    rt: &Runtime,
    plan: &Plan,
) -> Result<Flow, PolicyError> {
    let timeout = match (&p.timeout_ms, &p.timeout) {
        (Some(ms), _) => Duration::from_millis(eval(ms, ex, rt, plan, "timeout-ms")?.max(0) as u64),
        (None, Some(s)) => Duration::from_secs(eval(s, ex, rt, plan, "timeout")?.0),
        (None, None) => Duration::from_secs(300),
    };
    let follow_redirects = match &p.follow_redirects {
        Some(v) => eval(v, ex, rt, plan, "follow-redirects")?,
        None => false,
    };
    let buffered = match &p.buffer_request_body {
        Some(v) => eval(v, ex, rt, plan, "buffer-request-body")?,
        None => false,
    };
    let http_version = match &p.http_version {
        Some(v) => match eval(v, ex, rt, plan, "http-version")? {
            ast::HttpVersion::V1 => crate::io::HttpVersion::V1,
            ast::HttpVersion::V2 => crate::io::HttpVersion::V2,
            ast::HttpVersion::V2or1 => crate::io::HttpVersion::V2or1,
        },
        None => crate::io::HttpVersion::V1,
    };
    ex.forward_attempts += 1;
    let now = rt.clock.now();
    let backends = &rt.backends;
    fact!(
        ex,
        crate::explain::Fact::Attempt {
            attempt: ex.forward_attempts,
            at_ms: now.saturating_sub(ex.started).as_millis() as u64,
        }
    );
    // The backend entity this attempt goes to (a pool picks a member now).
    let (base, entity) = match ex.target.clone() {
        Target::Url(u) => (u, None),
        Target::Default => match &ex.service_url {
            Some(u) => (u.clone(), None),
            None => {
                return Err(PolicyError::new(
                    "forward-request",
                    "BackendUrlNotSet",
                    "The API has no backend service URL and no set-backend-service chose one.",
                ));
            }
        },
        Target::Backend(name) => {
            let Some(backend) = backends.registry.get(&name) else {
                return Err(PolicyError::new(
                    "forward-request",
                    "BackendNotFound",
                    format!("Backend with id '{name}' could not be found."),
                ));
            };
            let member = match &backend.kind {
                BackendKind::Single(_) => backend.name.clone(),
                BackendKind::Pool(pool) => {
                    let members = ex.tracing.then(|| pool_members(backends, pool, now));
                    let picked = {
                        let mut balancers = backends.balancers.lock();
                        let balancer = balancers
                            .entry(backend.name.to_ascii_lowercase())
                            .or_insert_with(|| apim_backend::balancer::Balancer::new(pool));
                        balancer.choose(pool, |m| !backends.is_open(&m.backend, now))
                    };
                    if let Some(members) = members {
                        let unavailable = picked.is_none().then(|| {
                            apim_backend::balancer::unavailable(&backend.name, pool, "").status
                        });
                        fact!(
                            ex,
                            crate::explain::Fact::Pool {
                                pool: backend.name.clone(),
                                members,
                                group: picked.as_ref().map(|c| c.group),
                                how: picked.as_ref().map(|c| describe_choice(pool, c)),
                                chosen: picked
                                    .as_ref()
                                    .map(|c| pool.members[c.index].backend.clone()),
                                unavailable,
                            }
                        );
                    }
                    match picked.map(|c| c.index) {
                        Some(i) => {
                            let m = &pool.members[i];
                            note!(
                                ex,
                                format!(
                                    "pool {}: chose {} (priority {}, weight {})",
                                    backend.name, m.backend, m.priority, m.weight
                                )
                            );
                            m.backend.clone()
                        }
                        None => {
                            let u = apim_backend::balancer::unavailable(
                                &backend.name,
                                pool,
                                &backends.unavailable_reason,
                            );
                            note!(
                                ex,
                                format!(
                                    "pool {}: no member available, {} {}",
                                    backend.name, u.status, u.reason
                                )
                            );
                            // Azure: every member tripped ⇒ 503 without calling a backend; visible to retry and
                            // on-error in context.Response (reference 03 §2).
                            return Err(unavailable(u.status, u.reason.clone(), u.reason));
                        }
                    }
                }
            };
            let Some(BackendKind::Single(single)) = backends.registry.get(&member).map(|b| &b.kind)
            else {
                return Err(PolicyError::new(
                    "forward-request",
                    "BackendNotFound",
                    format!("Backend with id '{member}' could not be found."),
                ));
            };
            if backends.is_open(&member, now) {
                let status = single
                    .breaker
                    .as_ref()
                    .and_then(|r| r.failure_status)
                    .unwrap_or(503);
                note!(
                    ex,
                    format!("backend {member}: circuit breaker open, {status} without calling it")
                );
                fact!(
                    ex,
                    crate::explain::Fact::BreakerOpen {
                        backend: member.clone(),
                        status,
                    }
                );
                return Err(unavailable(
                    status,
                    "Service Unavailable".into(),
                    format!("The circuit breaker of backend '{member}' is open."),
                ));
            }
            let Some(url) = single.url.clone() else {
                return Err(PolicyError::new(
                    "forward-request",
                    "BackendUrlNotSet",
                    format!("Backend '{member}' has no URL."),
                ));
            };
            (url, Some((member, single.credentials.clone())))
        }
    };
    let mut query = ex.query.clone();
    let mut headers: Vec<(String, String)> = ex
        .request
        .headers
        .iter()
        .filter(|(n, _)| !NOT_FORWARDED.contains(&n.to_ascii_lowercase().as_str()))
        .cloned()
        .collect();
    if let Some((_, creds)) = &entity {
        // Azure: backend credentials are applied when the backend is used (reference 03 §1; precedence over
        // policy-set headers UNVERIFIED: they override same-named headers).
        super::side_call::apply_credentials(creds, &mut headers, &mut query);
    }
    // An upload passed through keeps its Content-Length when the client sent one.
    if ex.request_stream.is_some()
        && let Some((_, len)) = ex
            .request
            .headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case("content-length"))
    {
        headers.push(("Content-Length".into(), len.clone()));
    }
    let url = join_url(&base, &ex.rest_path, &query);
    if let Some(host) = super::side_call::authority(&url) {
        headers.push(("Host".into(), host));
    }
    // The client's address is appended to X-Forwarded-For (one header, comma-separated).
    let forwarded: Vec<String> = headers
        .iter()
        .filter(|(n, _)| n.eq_ignore_ascii_case("x-forwarded-for"))
        .map(|(_, v)| v.clone())
        .chain(std::iter::once(ex.request.ip_address.clone()))
        .collect();
    headers.retain(|(n, _)| !n.eq_ignore_ascii_case("x-forwarded-for"));
    headers.push(("X-Forwarded-For".into(), forwarded.join(", ")));
    let mut body = ex.request_body.as_ref().and_then(BodyHandle::outgoing);
    let mut body_dropped = false;
    if ex.forward_attempts > 1 && !buffered && body.as_deref().is_some_and(|b| !b.is_empty()) {
        // Azure: the body stream was consumed by the first attempt; without buffer-request-body it is not
        // replayed (reference 02 forward-request, observed).
        note!(
            ex,
            format!(
                "forward-request attempt {}: the request body is not replayed (buffer-request-body is not true)",
                ex.forward_attempts
            )
        );
        body = None;
        body_dropped = true;
    }
    let backend_name = entity.as_ref().map(|(n, _)| n.clone());
    fact!(
        ex,
        crate::explain::Fact::Send {
            method: ex.request.method.clone(),
            url: url.clone(),
            backend: backend_name.clone(),
            body_dropped,
        }
    );
    note!(
        ex,
        format!(
            "forward-request attempt {}: {} {}{}",
            ex.forward_attempts,
            ex.request.method,
            url,
            backend_name
                .as_ref()
                .map(|n| format!(" (backend {n})"))
                .unwrap_or_default()
        )
    );
    if let Some(n) = &backend_name {
        *backends
            .counts
            .lock()
            .entry(n.to_ascii_lowercase())
            .or_insert(0) += 1;
    }
    let result = rt
        .upstream
        .send(UpstreamRequest {
            method: ex.request.method.clone(),
            url,
            headers,
            body,
            timeout,
            follow_redirects,
            backend: backend_name.clone(),
            // An unbuffered upload goes out once, as it arrives.
            body_stream: ex.request_stream.take(),
            stream_response: !p.buffer_response && !plan.reads_response_body(),
            http_version,
        })
        .await;
    let now = rt.clock.now();
    let record = |outcome: Outcome, ex: &mut Exchange| {
        if let Some(name) = &backend_name {
            let (events, rule, cause) = {
                let mut breakers = backends.breakers.lock();
                match breakers.get_mut(&name.to_ascii_lowercase()) {
                    Some(b) => (
                        b.record(now, &outcome),
                        Some(b.rule().name.clone()),
                        b.tripped_by(),
                    ),
                    None => (Vec::new(), None, None),
                }
            };
            for e in events {
                match &e {
                    Event::Tripped {
                        until,
                        failures,
                        by_retry_after,
                        ..
                    } => note!(
                        ex,
                        format!(
                            "circuit breaker {name}: tripped after {failures} failure(s), open for {:?}{}",
                            until.saturating_sub(now),
                            if *by_retry_after {
                                " (Retry-After)"
                            } else {
                                ""
                            }
                        )
                    ),
                    Event::Closed { .. } => note!(ex, format!("circuit breaker {name}: closed")),
                }
                fact!(
                    ex,
                    match &e {
                        Event::Tripped {
                            until,
                            failures,
                            by_retry_after,
                            ..
                        } => crate::explain::Fact::Breaker {
                            backend: name.clone(),
                            transition: "tripped",
                            rule: rule.clone(),
                            cause: cause.clone(),
                            failures: Some(*failures),
                            open_for_ms: Some(until.saturating_sub(now).as_millis() as u64),
                            by_retry_after: *by_retry_after,
                        },
                        Event::Closed { .. } => crate::explain::Fact::Breaker {
                            backend: name.clone(),
                            transition: "closed",
                            rule: rule.clone(),
                            cause: None,
                            failures: None,
                            open_for_ms: None,
                            by_retry_after: false,
                        },
                    }
                );
                backends.events.lock().push((name.clone(), e));
            }
        }
    };
    match result {
        Ok(resp) => {
            let retry_after = resp
                .headers
                .iter()
                .find(|(n, _)| n.eq_ignore_ascii_case("retry-after"))
                .and_then(|(_, v)| parse_retry_after(v, rt.clock.wall()));
            fact!(
                ex,
                crate::explain::Fact::Response {
                    status: resp.status,
                    reason: if resp.reason.is_empty() {
                        crate::run::reason_phrase(resp.status).to_string()
                    } else {
                        resp.reason.clone()
                    },
                    retry_after_ms: retry_after.map(|d| d.as_millis() as u64),
                }
            );
            record(
                Outcome::Response {
                    status: resp.status,
                    retry_after,
                },
                ex,
            );
            note!(
                ex,
                format!("forward-request: {} {}", resp.status, resp.reason)
            );
            let status = resp.status;
            let reason = if resp.reason.is_empty() {
                crate::run::reason_phrase(status).to_string()
            } else {
                resp.reason
            };
            // A reply passed through as a stream (buffer-response="false") stays a stream; the body handle is
            // empty then (nothing in outbound reads it, see Plan::reads_response_body).
            ex.response_stream = resp.stream;
            ex.response = Some((
                ResponseData {
                    status,
                    reason,
                    headers: resp.headers,
                },
                BodyHandle::new(resp.body),
            ));
            if p.fail_on_error_status_code && (400..=599).contains(&status) {
                // Azure: fail-on-error-status-code="true" ⇒ a 400–599 reply triggers on-error (Reason UNVERIFIED).
                let mut e = PolicyError::new(
                    "forward-request",
                    "BackendErrorStatusCode",
                    format!("The backend responded with status code {status}."),
                );
                // The backend's reply stays the current response in on-error and for the client.
                e.response = ex.response.clone().map(Box::new);
                return Err(e);
            }
            Ok(Flow::Continue)
        }
        Err(UpstreamError::Timeout) => {
            fact!(
                ex,
                crate::explain::Fact::NoResponse {
                    reason: "Timeout".into(),
                    message: "Request to the backend service timed out".into(),
                }
            );
            record(
                Outcome::Error {
                    reason: "Timeout".into(),
                },
                ex,
            );
            Err(PolicyError::new(
                "forward-request",
                "Timeout",
                "Request to the backend service timed out",
            ))
        }
        Err(UpstreamError::Connection(m)) => {
            fact!(
                ex,
                crate::explain::Fact::NoResponse {
                    reason: "BackendConnectionFailure".into(),
                    message: m.clone(),
                }
            );
            record(
                Outcome::Error {
                    reason: "BackendConnectionFailure".into(),
                },
                ex,
            );
            Err(PolicyError::new(
                "forward-request",
                "BackendConnectionFailure",
                m,
            ))
        }
    }
}

/// The pool's members as the balancer sees them now (for the explain trace).
fn pool_members(
    backends: &crate::run::Backends,
    pool: &apim_backend::Pool,
    now: Duration,
) -> Vec<crate::explain::Member> {
    let breakers = backends.breakers.lock();
    pool.members
        .iter()
        .map(|m| {
            let breaker = breakers.get(&m.backend.to_ascii_lowercase());
            let open_for_ms = breaker.and_then(|b| match b.state(now) {
                apim_backend::breaker::State::Open { until } => {
                    Some(until.saturating_sub(now).as_millis() as u64)
                }
                apim_backend::breaker::State::Closed => None,
            });
            crate::explain::Member {
                backend: m.backend.clone(),
                priority: m.priority,
                weight: u32::from(m.weight),
                available: open_for_ms.is_none(),
                open_for_ms,
                rule: open_for_ms.and(breaker).map(|b| b.rule().name.clone()),
                tripped_by: open_for_ms.and(breaker).and_then(|b| b.tripped_by()),
            }
        })
        .collect()
}

/// `round-robin position 2 of 3` or the weighted credits.
fn describe_choice(pool: &apim_backend::Pool, c: &apim_backend::balancer::Choice) -> String {
    match &c.how {
        apim_backend::balancer::How::RoundRobin { position, of } => {
            format!("round-robin (equal weights): position {position} of {of}")
        }
        apim_backend::balancer::How::Weighted { total, credits } => format!(
            "weighted (smooth round-robin): credits {}; the highest pays {total}",
            credits
                .iter()
                .map(|(i, credit)| format!("{} {credit}", pool.members[*i].backend))
                .collect::<Vec<_>>()
                .join(", ")
        ),
    }
}
