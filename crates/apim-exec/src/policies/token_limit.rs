//! `llm-token-limit` and `azure-openai-token-limit`: tokens per minute and a token quota per counter key.
//!
//! Azure: https://learn.microsoft.com/azure/api-management/llm-token-limit-policy (reference 02): one counter
//! per key value for every scope that uses it; over the rate ⇒ 429, over the quota ⇒ 403, with `Retry-After`
//! (or the configured header name). Without `estimate-prompt-tokens` the counts come from the response's
//! `usage` (prompt + completion), so a request that overshoots passes and the next ones are refused until the
//! tokens age out; with it, the prompt is estimated up front and a request that would overshoot is refused
//! before the backend sees it. The quota is a fixed window starting at the UTC time truncated to its unit.
//! remaining-tokens / remaining-quota-tokens are set after each execution; tokens-consumed (header) only once
//! the backend has answered, and its variable starts at the estimate and becomes the reported usage.
//!
//! UNVERIFIED: the rate window slides over the last 60 s (as rate-limit's `renewal-period` does); the error
//! Reasons (`TokenLimitExceeded`, `TokenQuotaExceeded`) and body texts follow rate-limit's and quota's; a week
//! starts on Monday. Deviation: the prompt estimate is the request body's length in characters / 4 (APIM uses
//! the model's tokenizer), the rule apim-emu's mock backends count `usage` with.

use std::collections::{HashMap, VecDeque};
use std::time::Duration;

use apim_policy::policies::azure_openai_token_limit as aoai;
use apim_policy::policies::llm_token_limit::{self as llm, TokenQuotaPeriod};
use apim_policy::value::AttrValue;
use apim_policy::value::Value;
use chrono::{DateTime, Datelike, TimeZone, Utc};

use crate::Plan;
use crate::compile::{Compiler, Cv};
use crate::run::{Exchange, Flow, PolicyError, Runtime, eval};
use apim_expr::{BodyHandle, ResponseData};

/// The rate window.
const MINUTE: Duration = Duration::from_secs(60);

pub struct TokenLimit {
    policy: &'static str,
    counter_key: Cv<String>,
    tokens_per_minute: Option<Cv<i64>>,
    token_quota: Option<Cv<i64>>,
    /// Evaluated through its text, since each policy module has its own enum of the same values.
    token_quota_period: Option<Cv<String>>,
    estimate_prompt_tokens: Cv<bool>,
    retry_after_header: String,
    retry_after_variable: Option<String>,
    remaining_quota_header: Option<String>,
    remaining_quota_variable: Option<String>,
    remaining_tokens_header: Option<String>,
    remaining_tokens_variable: Option<String>,
    consumed_header: Option<String>,
    consumed_variable: Option<Cv<String>>,
}

/// One counter key's state.
#[derive(Debug, Default, Clone)]
pub struct TokenCounter {
    /// (clock time, tokens, entry id) of the requests in the last minute, oldest first.
    window: VecDeque<(Duration, u64, u64)>,
    /// UTC start (seconds) of the quota period `quota_used` counts in.
    period_start: i64,
    quota_used: u64,
}

/// The counters of a runtime, by policy and key.
pub type TokenCounters = HashMap<String, TokenCounter>;

/// A request's entry in a counter, settled when the backend answers.
#[derive(Debug, Clone)]
pub struct PendingTokens {
    counter: String,
    entry: u64,
    estimated: u64,
    consumed_header: Option<String>,
    consumed_variable: Option<String>,
}

fn literal(c: &mut Compiler, v: &Option<Value<String>>) -> Option<String> {
    match v {
        Some(Value::Literal { value, .. }) => Some(value.clone()),
        Some(other) => {
            c.error(other.span(), "this attribute must be a literal");
            None
        }
        None => None,
    }
}

macro_rules! compile_fn {
    ($name:ident, $ty:ty, $policy:literal) => {
        pub(crate) fn $name(c: &mut Compiler, p: &$ty) -> Option<TokenLimit> {
            // The prompt estimate reads the request body.
            c.touches_body();
            // Azure: a quota is `token-quota` over a `token-quota-period`; one without the other limits nothing.
            if p.token_quota.is_some() != p.token_quota_period.is_some() {
                c.error(
                    &p.span,
                    "token-quota and token-quota-period go together; give both (or neither)",
                );
                return None;
            }
            Some(TokenLimit {
                policy: $policy,
                counter_key: c.value(&p.counter_key)?,
                tokens_per_minute: c.opt(&p.tokens_per_minute)?,
                token_quota: c.opt(&p.token_quota)?,
                token_quota_period: c.opt(&p.token_quota_period)?.map(|v| match v {
                    Cv::Lit(period) => Cv::Lit(period.as_str().to_string()),
                    Cv::Expr(compiled, source) => Cv::Expr(compiled, source),
                }),
                estimate_prompt_tokens: c.value(&p.estimate_prompt_tokens)?,
                retry_after_header: literal(c, &p.retry_after_header_name)
                    .unwrap_or_else(|| "Retry-After".into()),
                retry_after_variable: literal(c, &p.retry_after_variable_name),
                remaining_quota_header: literal(c, &p.remaining_quota_tokens_header_name),
                remaining_quota_variable: literal(c, &p.remaining_quota_tokens_variable_name),
                remaining_tokens_header: literal(c, &p.remaining_tokens_header_name),
                remaining_tokens_variable: literal(c, &p.remaining_tokens_variable_name),
                consumed_header: literal(c, &p.tokens_consumed_header_name),
                consumed_variable: c.opt(&p.tokens_consumed_variable_name)?,
            })
        }
    };
}

compile_fn!(compile_llm, llm::LlmTokenLimit, "llm-token-limit");
compile_fn!(
    compile_aoai,
    aoai::AzureOpenaiTokenLimit,
    "azure-openai-token-limit"
);

/// Roughly four characters per token, at least one (what the mock backends report as `usage`).
pub fn estimate_tokens(text: &str) -> u64 {
    (text.chars().count() as u64).div_ceil(4).max(1)
}

/// The UTC start and end (seconds) of the quota period holding `now`.
fn period_bounds(period: &TokenQuotaPeriod, now: DateTime<Utc>) -> (i64, i64) {
    let day = |y: i32, m: u32, d: u32| {
        Utc.with_ymd_and_hms(y, m, d, 0, 0, 0)
            .single()
            .map_or(0, |t| t.timestamp())
    };
    let (y, m, d) = (now.year(), now.month(), now.day());
    let today = day(y, m, d);
    match period {
        TokenQuotaPeriod::Hourly => {
            let start = now.timestamp() - now.timestamp().rem_euclid(3600);
            (start, start + 3600)
        }
        TokenQuotaPeriod::Daily => (today, today + 86_400),
        TokenQuotaPeriod::Weekly => {
            let start = today - i64::from(now.weekday().num_days_from_monday()) * 86_400;
            (start, start + 7 * 86_400)
        }
        TokenQuotaPeriod::Monthly => {
            let next = if m == 12 {
                day(y + 1, 1, 1)
            } else {
                day(y, m + 1, 1)
            };
            (day(y, m, 1), next)
        }
        TokenQuotaPeriod::Yearly => (day(y, 1, 1), day(y + 1, 1, 1)),
    }
}

fn refusal(
    policy: &str,
    status: u16,
    reason: &str,
    message: String,
    headers: Vec<(String, String)>,
) -> PolicyError {
    let mut e = PolicyError::new(policy, reason, message.clone());
    let mut all = vec![("Content-Type".to_string(), "application/json".to_string())];
    all.extend(headers);
    let body = serde_json::json!({ "statusCode": status, "message": message });
    e.response = Some(Box::new((
        ResponseData {
            status,
            reason: if status == 429 {
                "Too Many Requests".into()
            } else {
                "Forbidden".into()
            },
            headers: all,
        },
        BodyHandle::new(Some(body.to_string())),
    )));
    e
}

fn set_number(ex: &mut Exchange, variable: &Option<String>, n: u64) {
    if let Some(name) = variable {
        ex.variables
            .set(name, apim_expr::Value::from_json(&serde_json::json!(n)));
    }
}

pub(crate) fn run(
    p: &TokenLimit,
    ex: &mut Exchange,
    rt: &Runtime,
    plan: &Plan,
) -> Result<Flow, PolicyError> {
    let key = eval(&p.counter_key, ex, rt, plan, "counter-key")?;
    let tpm = match &p.tokens_per_minute {
        Some(v) => Some(eval(v, ex, rt, plan, "tokens-per-minute")?.max(0) as u64),
        None => None,
    };
    let quota = match (&p.token_quota, &p.token_quota_period) {
        (Some(q), Some(period)) => Some((eval(q, ex, rt, plan, "token-quota")?.max(0) as u64, {
            let text = eval(period, ex, rt, plan, "token-quota-period")?;
            TokenQuotaPeriod::parse_literal(&text).ok_or_else(|| {
                    PolicyError::new(
                        "",
                        "ExpressionValueEvaluationFailure",
                        format!(
                            "Expression evaluation failed. The value of token-quota-period, '{text}', is not one of Hourly, Daily, Weekly, Monthly, Yearly."
                        ),
                    )
                })?
        })),
        _ => None,
    };
    let estimate = eval(
        &p.estimate_prompt_tokens,
        ex,
        rt,
        plan,
        "estimate-prompt-tokens",
    )?;
    let body = ex
        .request_body
        .as_ref()
        .and_then(BodyHandle::peek)
        .unwrap_or_default();
    // Azure: a streaming request's prompt is always estimated.
    let streaming = serde_json::from_str::<serde_json::Value>(&body)
        .ok()
        .and_then(|v| v.get("stream").and_then(serde_json::Value::as_bool))
        .unwrap_or(false);
    let prompt = if estimate || streaming {
        estimate_tokens(&body)
    } else {
        0
    };
    let now = rt.clock.now();
    let wall: DateTime<Utc> = rt.clock.wall().into();
    let counter_name = format!("{}:{key}", p.policy);
    let mut counters = rt.token_counters.lock();
    // Keys come from requests: forget the ones with nothing left to count, so the map stays bounded.
    if counters.len() > 1024 {
        counters.retain(|_, c| {
            c.quota_used > 0 || c.window.back().is_some_and(|(at, _, _)| *at + MINUTE > now)
        });
    }
    let counter = counters.entry(counter_name.clone()).or_default();
    while counter
        .window
        .front()
        .is_some_and(|(at, _, _)| *at + MINUTE <= now)
    {
        counter.window.pop_front();
    }
    let used = counter
        .window
        .iter()
        .fold(0u64, |sum, (_, t, _)| sum.saturating_add(*t));
    let mut late = Vec::new();
    // Without an estimate a request passes while the count is under the limit; with one, while the prompt fits.
    if let Some(limit) = tpm
        && (used >= limit || used.saturating_add(prompt) > limit)
    {
        // Wait until enough of the window ages out for this request to fit.
        let mut freed = 0u64;
        let mut wait = MINUTE;
        for (at, tokens, _) in &counter.window {
            freed = freed.saturating_add(*tokens);
            let left = used.saturating_sub(freed);
            if left < limit && left.saturating_add(prompt) <= limit {
                wait = (*at + MINUTE).saturating_sub(now);
                break;
            }
        }
        let seconds = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
        let seconds = seconds.max(1);
        drop(counters);
        set_number(ex, &p.retry_after_variable, seconds);
        set_number(ex, &p.remaining_tokens_variable, 0);
        let mut headers = vec![(p.retry_after_header.clone(), seconds.to_string())];
        if let Some(h) = &p.remaining_tokens_header {
            headers.push((h.clone(), "0".into()));
        }
        note!(
            ex,
            format!(
                "{}: key {key}: {used} of {limit} tokens used in the last minute{}; 429, retry after {seconds} s",
                p.policy,
                if prompt > 0 {
                    format!(" and the prompt needs about {prompt}")
                } else {
                    String::new()
                }
            )
        );
        return Err(refusal(
            p.policy,
            429,
            "TokenLimitExceeded",
            format!("Token limit is exceeded. Try again in {seconds} seconds."),
            headers,
        ));
    }
    if let Some((limit, period)) = &quota {
        let (start, end) = period_bounds(period, wall);
        if counter.period_start != start {
            counter.period_start = start;
            counter.quota_used = 0;
        }
        if counter.quota_used >= *limit || counter.quota_used.saturating_add(prompt) > *limit {
            let seconds = (end - wall.timestamp()).max(1) as u64;
            let used = counter.quota_used;
            drop(counters);
            set_number(ex, &p.retry_after_variable, seconds);
            set_number(ex, &p.remaining_quota_variable, 0);
            let mut headers = vec![(p.retry_after_header.clone(), seconds.to_string())];
            if let Some(h) = &p.remaining_quota_header {
                headers.push((h.clone(), "0".into()));
            }
            note!(
                ex,
                format!(
                    "{}: key {key}: {used} of the {limit}-token quota used this period; 403, replenished in {seconds} s",
                    p.policy
                )
            );
            let (h, m, s) = (seconds / 3600, seconds / 60 % 60, seconds % 60);
            return Err(refusal(
                p.policy,
                403,
                "TokenQuotaExceeded",
                format!(
                    "Token quota is exceeded. Quota will be replenished in {h:02}:{m:02}:{s:02}."
                ),
                headers,
            ));
        }
        counter.quota_used = counter.quota_used.saturating_add(prompt);
    }
    let entry = {
        let mut n = rt.token_entry.lock();
        *n += 1;
        *n
    };
    counter.window.push_back((now, prompt, entry));
    let remaining_tokens = tpm.map(|limit| limit.saturating_sub(used.saturating_add(prompt)));
    let remaining_quota = quota
        .as_ref()
        .map(|(limit, _)| limit.saturating_sub(counter.quota_used));
    drop(counters);
    if let Some(r) = remaining_tokens {
        set_number(ex, &p.remaining_tokens_variable, r);
        if let Some(h) = &p.remaining_tokens_header {
            late.push((h.clone(), r.to_string()));
        }
    }
    if let Some(r) = remaining_quota {
        set_number(ex, &p.remaining_quota_variable, r);
        if let Some(h) = &p.remaining_quota_header {
            late.push((h.clone(), r.to_string()));
        }
    }
    let consumed_variable = match &p.consumed_variable {
        Some(v) => Some(eval(v, ex, rt, plan, "tokens-consumed-variable-name")?),
        None => None,
    };
    set_number(ex, &consumed_variable, prompt);
    note!(
        ex,
        format!(
            "{}: key {key}: {}{}passes",
            p.policy,
            tpm.map_or(String::new(), |l| format!(
                "{used} of {l} tokens used in the last minute, "
            )),
            if prompt > 0 {
                format!("prompt estimated at {prompt}, ")
            } else {
                String::new()
            }
        )
    );
    ex.late_headers.extend(late);
    ex.pending_tokens.push(PendingTokens {
        counter: counter_name,
        entry,
        estimated: prompt,
        consumed_header: p.consumed_header.clone(),
        consumed_variable,
    });
    Ok(Flow::Continue)
}

/// Once the backend has answered: the counters take the reported usage in place of the estimate, and the
/// tokens-consumed header and variable are set. A reply without `usage` (an error, a streamed reply) keeps
/// the estimate.
pub(crate) fn settle(ex: &mut Exchange, rt: &Runtime) {
    if ex.pending_tokens.is_empty() {
        return;
    }
    let usage = match &ex.response {
        Some((_, body)) if ex.response_stream.is_none() => body
            .peek()
            .as_deref()
            .and_then(crate::policies::metrics::usage_of)
            .map(|(_, _, total)| total),
        _ => None,
    };
    let pending = std::mem::take(&mut ex.pending_tokens);
    for p in pending {
        let consumed = usage.unwrap_or(p.estimated);
        if let Some(c) = rt.token_counters.lock().get_mut(&p.counter) {
            if let Some(slot) = c.window.iter_mut().find(|(_, _, id)| *id == p.entry) {
                slot.1 = consumed;
            }
            c.quota_used = c
                .quota_used
                .saturating_add(consumed)
                .saturating_sub(p.estimated);
        }
        set_number(ex, &p.consumed_variable, consumed);
        if let Some(h) = &p.consumed_header {
            ex.late_headers.push((h.clone(), consumed.to_string()));
        }
        note!(
            ex,
            format!(
                "token limit: {} counts {consumed} tokens{}",
                p.counter,
                if usage.is_some() {
                    " (the response's usage)"
                } else {
                    " (the estimate: the response has no usage)"
                }
            )
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(y: i32, m: u32, d: u32, h: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(y, m, d, h, 30, 15)
            .single()
            .expect("a valid time")
    }

    #[test]
    fn quota_periods_start_at_the_utc_time_truncated_to_their_unit() {
        let now = at(2026, 12, 31, 22); // a Thursday
        let start = |p| DateTime::from_timestamp(period_bounds(&p, now).0, 0).expect("time");
        let end = |p| DateTime::from_timestamp(period_bounds(&p, now).1, 0).expect("time");
        assert_eq!(
            start(TokenQuotaPeriod::Hourly),
            at(2026, 12, 31, 22) - chrono::Duration::seconds(30 * 60 + 15)
        );
        assert_eq!(
            end(TokenQuotaPeriod::Daily).to_rfc3339(),
            "2027-01-01T00:00:00+00:00"
        );
        assert_eq!(
            start(TokenQuotaPeriod::Weekly).to_rfc3339(),
            "2026-12-28T00:00:00+00:00"
        );
        assert_eq!(
            start(TokenQuotaPeriod::Monthly).to_rfc3339(),
            "2026-12-01T00:00:00+00:00"
        );
        assert_eq!(
            end(TokenQuotaPeriod::Monthly).to_rfc3339(),
            "2027-01-01T00:00:00+00:00"
        );
        assert_eq!(
            end(TokenQuotaPeriod::Yearly).to_rfc3339(),
            "2027-01-01T00:00:00+00:00"
        );
    }
}
