//! `retry`: runs its children, then again while the condition is true and retries remain.
//!
//! Azure (reference 02 retry): children run before the first evaluation of `condition`; `count` is the number
//! of retries; waits: fixed `interval`; linear `interval + k·delta`; exponential
//! `min(max-interval, interval + (2^k − 1)·random(0.8·delta, 1.2·delta))` with k = 0 for the first retry;
//! `first-fast-retry` makes the first retry immediate (the schedule then continues at k = 1, UNVERIFIED).
//! An error in a child sets `context.LastError`; the condition decides whether to retry (Microsoft's toolkit
//! does the same; UNVERIFIED in the docs) or the error goes on to on-error.

use std::sync::Arc;
use std::time::Duration;

use apim_expr::LastErrorData;
use apim_policy::policies::retry as ast;
use apim_policy::value::Seconds;

use crate::Plan;
use crate::compile::{Compiler, Cv, Step};
use crate::run::{Exchange, Flow, PolicyError, Runtime, eval, eval_condition, run_steps};

pub struct Retry {
    condition: Cv<bool>,
    /// The condition compiled for the explain trace.
    condition_explained: Option<Arc<apim_expr::Compiled>>,
    count: Cv<i64>,
    interval: Cv<Seconds>,
    max_interval: Option<Cv<Seconds>>,
    delta: Option<Cv<Seconds>>,
    first_fast_retry: Option<Cv<bool>>,
    children: Vec<Step>,
}

impl Retry {
    /// The steps it repeats.
    pub(crate) fn steps(&self) -> &[Step] {
        &self.children
    }
}

pub(crate) fn compile(c: &mut Compiler, p: &ast::Retry, path: &str) -> Option<Retry> {
    let condition = c.value(&p.condition)?;
    Some(Retry {
        condition_explained: c.explained(&condition),
        condition,
        count: c.value(&p.count)?,
        interval: c.value(&p.interval)?,
        max_interval: c.opt(&p.max_interval)?,
        delta: c.opt(&p.delta)?,
        first_fast_retry: c.opt(&p.first_fast_retry)?,
        children: c.block(&p.content.0, path),
    })
}

/// The wait before retry `k` (0-based), `unit` a number in [0, 1) for the random factor.
pub fn wait(interval: u64, delta: Option<u64>, max: Option<u64>, k: u32, unit: f64) -> Duration {
    let secs = match (delta, max) {
        (Some(d), Some(m)) => {
            let factor = 0.8 + 0.4 * unit;
            let grown = interval as f64 + (2f64.powi(k as i32) - 1.0) * factor * d as f64;
            grown.min(m as f64)
        }
        (Some(d), None) => (interval + k as u64 * d) as f64,
        _ => interval as f64,
    };
    Duration::from_secs_f64(secs.max(0.0))
}

fn last_error(e: &PolicyError, ex: &Exchange) -> LastErrorData {
    LastErrorData {
        source: e.source.clone(),
        reason: e.reason.clone(),
        message: e.message.clone(),
        scope: String::new(),
        section: format!("{:?}", ex.section).to_lowercase(),
        path: e.at.as_ref().map(|a| a.2.clone()).unwrap_or_default(),
        policy_id: e.at.as_ref().and_then(|a| a.3.clone()).unwrap_or_default(),
    }
}

pub(crate) async fn run(
    p: &Retry,
    ex: &mut Exchange,
    rt: &Runtime,
    plan: &Plan,
) -> Result<Flow, PolicyError> {
    let count = eval(&p.count, ex, rt, plan, "count")?.max(0) as u32;
    let interval = eval(&p.interval, ex, rt, plan, "interval")?.0;
    let delta = match &p.delta {
        Some(d) => Some(eval(d, ex, rt, plan, "delta")?.0),
        None => None,
    };
    let max = match &p.max_interval {
        Some(m) => Some(eval(m, ex, rt, plan, "max-interval")?.0),
        None => None,
    };
    let fast = match &p.first_fast_retry {
        Some(f) => eval(f, ex, rt, plan, "first-fast-retry")?,
        None => false,
    };
    let mut retries = 0u32;
    loop {
        let result = run_steps(&p.children, ex, rt, plan).await;
        let failure = match result {
            Ok(f @ (Flow::Return | Flow::CacheHit)) => return Ok(f),
            Ok(Flow::Continue) => None,
            Err(e) => {
                // The condition sees the failure (and a response that came with it, such as a pool's 503).
                ex.last_error = Some(last_error(&e, ex));
                if let Some(r) = &e.response {
                    ex.response = Some((**r).clone());
                } else if matches!(e.reason.as_str(), "Timeout" | "BackendConnectionFailure") {
                    // Reference 02 retry (UNVERIFIED in Microsoft's docs; what Microsoft's policy toolkit does): a
                    // backend that gave no response looks like a 500 to the condition, so the common
                    // `context.Response.StatusCode >= 500` retries connection failures and timeouts.
                    ex.response = Some((
                        apim_expr::ResponseData {
                            status: 500,
                            reason: "Internal Server Error".into(),
                            headers: Vec::new(),
                        },
                        apim_expr::BodyHandle::new(None),
                    ));
                }
                Some(e)
            }
        };
        let again = retries < count
            && eval_condition(
                &p.condition,
                p.condition_explained.as_deref(),
                ex,
                rt,
                plan,
                "condition",
            )?;
        if !again {
            note!(ex, format!("retry: done after {} attempt(s)", retries + 1));
            fact!(
                ex,
                crate::explain::Fact::RetryDone {
                    attempts: retries + 1,
                    reason: if retries >= count {
                        format!("all {count} retries used")
                    } else {
                        "the condition is false".into()
                    },
                }
            );
            return match failure {
                Some(e) => Err(e),
                None => Ok(Flow::Continue),
            };
        }
        let pause = if fast && retries == 0 {
            Duration::ZERO
        } else {
            let unit = ((rt.seed ^ (retries as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15)) % 1000)
                as f64
                / 1000.0;
            wait(interval, delta, max, retries, unit)
        };
        retries += 1;
        note!(
            ex,
            format!("retry: attempt {} after {:?}", retries + 1, pause)
        );
        fact!(
            ex,
            crate::explain::Fact::Wait {
                next_attempt: retries + 1,
                wait_ms: pause.as_millis() as u64,
                why: if fast && retries == 1 {
                    "first-fast-retry".into()
                } else {
                    match (delta, max) {
                        (Some(d), Some(m)) => format!(
                            "interval {interval}s, delta {d}s, max-interval {m}s, retry {retries}"
                        ),
                        (Some(d), None) => {
                            format!("interval {interval}s + delta {d}s × {}", retries - 1)
                        }
                        _ => format!("interval {interval}s"),
                    }
                },
            }
        );
        rt.clock.sleep(pause).await;
    }
}

#[cfg(test)]
mod tests {
    use super::wait;
    use std::time::Duration;

    #[test]
    fn wait_schedules_follow_the_documented_formulas() {
        let s = Duration::from_secs;
        assert_eq!(wait(10, None, None, 3, 0.5), s(10));
        assert_eq!(wait(10, Some(5), None, 2, 0.5), s(20));
        // The doc's worked example: interval = delta = 10, max 100 ⇒ ≈ 10, 20, 40, 80, 100, 100.
        let exp: Vec<u64> = (0..6)
            .map(|k| wait(10, Some(10), Some(100), k, 0.5).as_secs())
            .collect();
        assert_eq!(exp, [10, 20, 40, 80, 100, 100]);
    }
}
