//! The explain trace: structured facts about each forward attempt (pool members and their breaker state, the
//! priority group, the round-robin position or weighted credits, the chosen member), the answer, breaker
//! transitions, the retry condition with its sub-expression values, the computed wait, and the final response.
//! Recorded only while a request is traced (`serve --trace`, `test --explain`, `Ocp-Apim-Trace`); rendered as
//! aligned text by [`render`] or as JSON through serde.

use serde::Serialize;

/// One fact, in the order it happened.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "fact", rename_all = "snake_case")]
pub enum Fact {
    /// A forward attempt begins, `at_ms` after the request arrived (virtual time under `test`).
    Attempt {
        attempt: u32,
        at_ms: u64,
    },
    /// A pool chose a member (or had none available).
    Pool {
        pool: String,
        members: Vec<Member>,
        /// The priority group the choice came from.
        group: Option<u8>,
        /// `round-robin position 2 of 3`, or the weighted credits.
        how: Option<String>,
        chosen: Option<String>,
        /// With no member available: the pool's answer.
        unavailable: Option<u16>,
    },
    /// A single backend whose breaker is open answered for it without being called.
    BreakerOpen {
        backend: String,
        status: u16,
    },
    Send {
        method: String,
        url: String,
        backend: Option<String>,
        /// The request body is not sent again (not buffered).
        body_dropped: bool,
    },
    Response {
        status: u16,
        reason: String,
        retry_after_ms: Option<u64>,
    },
    NoResponse {
        reason: String,
        message: String,
    },
    Breaker {
        backend: String,
        /// `tripped` or `closed`.
        transition: &'static str,
        rule: Option<String>,
        /// The status or error that tripped it.
        cause: Option<String>,
        failures: Option<u32>,
        open_for_ms: Option<u64>,
        by_retry_after: bool,
    },
    /// A retry condition's value, with the value of every part.
    Condition {
        source: String,
        value: String,
        parts: Vec<Part>,
    },
    /// The wait before the next attempt.
    Wait {
        next_attempt: u32,
        wait_ms: u64,
        why: String,
    },
    RetryDone {
        attempts: u32,
        reason: String,
    },
    Final {
        status: u16,
        reason: String,
    },
}

/// A pool member as the balancer saw it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Member {
    pub backend: String,
    pub priority: u8,
    pub weight: u32,
    pub available: bool,
    /// While its breaker is open: for how much longer.
    pub open_for_ms: Option<u64>,
    pub rule: Option<String>,
    /// The status or error that tripped its breaker.
    pub tripped_by: Option<String>,
}

/// A sub-expression of a condition: `label` is the node kind (member, call, op …).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Part {
    pub label: String,
    pub source: String,
    pub value: String,
}

/// Collapses runs of whitespace (expressions in attributes span lines).
pub fn one_line(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

fn ms(ms: u64) -> String {
    if ms.is_multiple_of(1000) {
        format!("{}s", ms / 1000)
    } else {
        format!("{:.3}s", ms as f64 / 1000.0)
    }
}

/// Aligned, readable text: one head column (`attempt 1`, `retry`, `final`), a label column, the detail.
pub fn render(facts: &[Fact]) -> String {
    let mut out = String::new();
    let mut head = String::new();
    let mut line = |head: &mut String, label: &str, detail: String| {
        out.push_str(&format!("{:<10}  {:<9} {}\n", head, label, detail).replace(" \n", "\n"));
        head.clear();
    };
    for fact in facts {
        match fact {
            Fact::Attempt { attempt, at_ms } => {
                head = format!("attempt {attempt}");
                line(&mut head, "at", format!("+{}", ms(*at_ms)));
            }
            Fact::Pool {
                pool,
                members,
                group,
                how,
                chosen,
                unavailable,
            } => {
                line(&mut head, "pool", pool.clone());
                let width = members.iter().map(|m| m.backend.len()).max().unwrap_or(0);
                for m in members {
                    let state = match (&m.open_for_ms, m.available) {
                        (Some(open), _) => format!(
                            "open for {} more{}{}",
                            ms(*open),
                            m.tripped_by
                                .as_ref()
                                .map(|t| format!(", tripped by {t}"))
                                .unwrap_or_default(),
                            m.rule
                                .as_ref()
                                .map(|r| format!(" (rule {r})"))
                                .unwrap_or_default()
                        ),
                        (None, true) => "available".into(),
                        (None, false) => "unavailable".into(),
                    };
                    line(
                        &mut head,
                        "member",
                        format!(
                            "{:<width$}  priority {}  weight {}  {state}",
                            m.backend, m.priority, m.weight
                        ),
                    );
                }
                if let Some(g) = group {
                    line(&mut head, "group", format!("priority {g}"));
                }
                if let Some(h) = how {
                    line(&mut head, "choice", h.clone());
                }
                match (chosen, unavailable) {
                    (Some(c), _) => line(&mut head, "chosen", c.clone()),
                    (None, Some(status)) => line(
                        &mut head,
                        "chosen",
                        format!("nobody: every member is unavailable, the pool answers {status}"),
                    ),
                    (None, None) => {}
                }
            }
            Fact::BreakerOpen { backend, status } => line(
                &mut head,
                "breaker",
                format!("{backend} is open: {status} without calling it"),
            ),
            Fact::Send {
                method,
                url,
                backend,
                body_dropped,
            } => line(
                &mut head,
                "send",
                format!(
                    "{method} {url}{}{}",
                    backend
                        .as_ref()
                        .map(|b| format!(" (backend {b})"))
                        .unwrap_or_default(),
                    if *body_dropped {
                        "; the body is not replayed (buffer-request-body is not true)"
                    } else {
                        ""
                    }
                ),
            ),
            Fact::Response {
                status,
                reason,
                retry_after_ms,
            } => line(
                &mut head,
                "answer",
                format!(
                    "{status} {reason}{}",
                    retry_after_ms
                        .map(|r| format!(" (Retry-After {})", ms(r)))
                        .unwrap_or_default()
                ),
            ),
            Fact::NoResponse { reason, message } => {
                line(&mut head, "answer", format!("none: {reason}: {message}"))
            }
            Fact::Breaker {
                backend,
                transition,
                rule,
                cause,
                failures,
                open_for_ms,
                by_retry_after,
            } => {
                let detail = if *transition == "tripped" {
                    format!(
                        "{backend} tripped{}{}{}: open for {}{}",
                        rule.as_ref()
                            .map(|r| format!(" (rule {r})"))
                            .unwrap_or_default(),
                        cause
                            .as_ref()
                            .map(|c| format!(" by {c}"))
                            .unwrap_or_default(),
                        failures
                            .map(|f| format!(" after {f} failure(s)"))
                            .unwrap_or_default(),
                        open_for_ms.map(ms).unwrap_or_default(),
                        if *by_retry_after {
                            " (from Retry-After)"
                        } else {
                            " (trip duration)"
                        }
                    )
                } else {
                    format!("{backend} closed")
                };
                line(&mut head, "breaker", detail);
            }
            Fact::Condition {
                source,
                value,
                parts,
            } => {
                head = "retry".into();
                line(&mut head, "condition", format!("{source} = {value}"));
                let width = parts
                    .iter()
                    .map(|p| p.source.chars().count())
                    .max()
                    .unwrap_or(0)
                    .min(60);
                for p in parts {
                    line(
                        &mut head,
                        "",
                        format!("  {:<width$} = {}", p.source, p.value),
                    );
                }
            }
            Fact::Wait {
                next_attempt,
                wait_ms,
                why,
            } => line(
                &mut head,
                "wait",
                format!("{} before attempt {next_attempt} ({why})", ms(*wait_ms)),
            ),
            Fact::RetryDone { attempts, reason } => {
                head = "retry".into();
                line(
                    &mut head,
                    "done",
                    format!("after {attempts} attempt(s): {reason}"),
                );
            }
            Fact::Final { status, reason } => {
                head = "final".into();
                line(&mut head, "response", format!("{status} {reason}"));
            }
        }
    }
    out
}
